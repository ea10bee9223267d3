"""The composition root of the dispatcher service: every port wired once, with defaults."""

from __future__ import annotations

import asyncio

import structlog

from halte_dispatcher.adapters import repository as repo
from halte_dispatcher.adapters.account_keys import AccountKeyVerifier
from halte_dispatcher.adapters.carriers import Carriers, configured_rate, default_carriers
from halte_dispatcher.adapters.suppression_feed import HttpSuppressionFeed, SuppressionFeed
from halte_dispatcher.config import Settings
from halte_dispatcher.entrypoints.consumers import TOPICS, batch_handler
from halte_dispatcher.handlers import Dispatcher
from halte_shared.clock import Clock
from halte_shared.runtime import ReadinessReport, ServiceRuntime

CONSUMER_GROUP = "dispatcher"
log = structlog.get_logger("halte.dispatcher")
#: Held messages released per second when neither the settings nor the carriers say.
DEFAULT_RELEASE_RATE = 50.0


class DispatcherRuntime(ServiceRuntime):
    """The service's runtime, with the dispatcher and its ports attached for the routes."""

    dispatcher: Dispatcher
    account_keys: AccountKeyVerifier

    async def stop(self) -> None:
        """Let the carrier batch in flight finish (bounded by the grace period), then stop everything."""
        try:
            await asyncio.wait_for(self.dispatcher.finish_submissions(), timeout=self.settings.shutdown_grace_seconds)
        except TimeoutError:
            log.warning("the carrier batch in flight did not finish within the grace period; stopping anyway")
        await super().stop()

    async def readiness(self) -> ReadinessReport:
        """Check the plumbing, and report (without failing on it) whether the blocklist copy is current."""
        report = await super().readiness()
        try:
            async with self.sessions() as session:
                state = await repo.load_feed_state(session)
            now = self.clock.now()
            current = self.dispatcher.feed_current(state, now=now)
            since = f"{(now - state.caught_up_at).total_seconds():.1f} s ago" if state.caught_up_at else "never"
            # Not a readiness failure: informative messages still go while marketing waits.
            report.checks["suppression_feed"] = (
                "current" if current else f"stale: marketing is held (last proven current: {since})"
            )
        except Exception as exc:
            report.checks["suppression_feed"] = f"unknown: {exc!r}"[:200]
        return report


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    carriers: Carriers | None = None,
    suppression_feed: SuppressionFeed | None = None,
    account_keys: AccountKeyVerifier | None = None,
    loops: bool = True,
) -> DispatcherRuntime:
    """Build the runtime of the service: database, bus, relay, consumers, feed, release and sender loops."""
    runtime = DispatcherRuntime(settings, clock=clock)
    carriers = carriers if carriers is not None else default_carriers(settings)
    feed = suppression_feed or HttpSuppressionFeed(
        base_url=settings.suppression_url,
        token=settings.admin_token_value() or "",
        timeout=settings.suppression_feed_timeout_seconds,
    )
    runtime.account_keys = account_keys or AccountKeyVerifier(
        campaign_api_url=settings.campaign_api_url, ttl_seconds=settings.account_key_cache_seconds
    )
    dispatcher = Dispatcher(
        settings=settings,
        sessions=runtime.sessions,
        clock=runtime.clock,
        carriers=carriers,
        feed=feed,
        release_rate=settings.release_rate_per_second or configured_rate(carriers) or DEFAULT_RELEASE_RATE,
        wake_relay=runtime.relay.wake,
    )
    runtime.dispatcher = dispatcher
    if settings.test_break_suppression_check:
        log.warning("TEST FAULT INJECTED: the dispatcher ignores the blocklist (HALTE_TEST_BREAK_SUPPRESSION_CHECK=1)")

    runtime.add_consumer(
        group=CONSUMER_GROUP, topics=TOPICS, batch_handler=batch_handler(dispatcher), max_batch=settings.consumer_batch
    )

    if loops:

        async def sender() -> None:
            await carriers.start()
            await dispatcher.sender_loop()

        runtime.add_background("suppression-feed", dispatcher.feed_loop)
        runtime.add_background("hold-release", dispatcher.release_loop)
        runtime.add_background("carrier-sender", sender)
        runtime.add_background("dispatcher-housekeeping", dispatcher.housekeeping_loop)

    async def close_ports() -> None:
        await carriers.close()
        await feed.close()
        await runtime.account_keys.close()

    runtime.on_stop(close_ports)
    return runtime
