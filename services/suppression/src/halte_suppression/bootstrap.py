"""The composition root of the suppression service: every port wired once, with defaults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from halte_shared.bus import EventConsumer
from halte_shared.clock import Clock, monotonic
from halte_shared.notify import Notifications
from halte_shared.runtime import ServiceRuntime
from halte_suppression.config import Settings
from halte_suppression.entrypoints.consumers import (
    ACCOUNT_GROUP,
    OPTOUT_GROUP,
    SENDS_GROUP,
    account_handler,
    marketing_sends_handler,
    optout_handler,
)
from halte_suppression.handlers import SuppressionHandlers

log = structlog.get_logger("halte.suppression")

#: Channel of the notification sent when a change-feed row commits (migration 0003_feed_requests).
FEED_CHANNEL = "halte_suppression_feed"


class SuppressionRuntime(ServiceRuntime):
    """The service's runtime, carrying its handlers for the routes and the consumers."""

    settings: Settings
    handlers: SuppressionHandlers
    consumers: list[EventConsumer]
    notifications: Notifications


def housekeeping(runtime: SuppressionRuntime) -> Callable[[], Coroutine[Any, Any, None]]:
    """Return the loop that refreshes the feed-head metric and prunes old marketing sends."""
    settings = runtime.settings

    async def loop() -> None:
        next_prune = monotonic()
        while True:
            try:
                await runtime.handlers.refresh_latest_sequence()
                if monotonic() >= next_prune:
                    await runtime.handlers.prune_marketing_sends()
                    next_prune = monotonic() + settings.prune_interval_seconds
            except Exception as exc:
                log.warning("suppression housekeeping failed; it will run again", error=repr(exc))
            await asyncio.sleep(settings.metrics_refresh_seconds)

    return loop


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> SuppressionRuntime:
    """Build the runtime of the service: database, bus, relay, consumers."""
    runtime = SuppressionRuntime(settings, clock=clock)
    runtime.handlers = SuppressionHandlers(
        sessions=runtime.sessions,
        clock=runtime.clock,
        producer=settings.service_name,
        wake=runtime.relay.wake,
    )
    runtime.add_consumer(
        group=OPTOUT_GROUP,
        topics=["optout.requested", "optin.requested"],
        handler=optout_handler(runtime.handlers),
        on_park=runtime.handlers.keep_parked_optout_blocked,
        on_discard=runtime.handlers.release_discarded_optout,
    )
    runtime.add_consumer(group=ACCOUNT_GROUP, topics=["account.changed"], handler=account_handler(runtime.handlers))
    runtime.add_consumer(
        group=SENDS_GROUP, topics=["dispatch.decided"], batch_handler=marketing_sends_handler(runtime.handlers)
    )
    runtime.add_background("suppression-housekeeping", housekeeping(runtime))
    runtime.notifications = Notifications(settings.database_url, schema=settings.schema_name, channels=[FEED_CHANNEL])
    runtime.add_background("feed-notifications", runtime.notifications.run)
    return runtime
