"""The composition root of the dispatcher service: every port wired once, with defaults."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from halte_dispatcher.adapters.account_keys import AccountKeyVerifier
from halte_dispatcher.adapters.carriers import Carriers, configured_rate, default_carriers
from halte_dispatcher.adapters.optout_journal import HttpOptoutJournal, OptoutJournal
from halte_dispatcher.adapters.suppression_feed import HttpSuppressionFeed, SuppressionFeed
from halte_dispatcher.config import Settings
from halte_dispatcher.entrypoints.consumers import TOPICS, batch_handler
from halte_dispatcher.handlers import Dispatcher
from halte_dispatcher.optout_lane import OptoutLane, OptoutLaneThread
from halte_shared.clock import Clock
from halte_shared.runtime import ReadinessReport, ServiceRuntime

CONSUMER_GROUP = "dispatcher"
log = structlog.get_logger("halte.dispatcher")
#: Held messages released per second when neither the settings nor the carriers say.
DEFAULT_RELEASE_RATE = 50.0
#: Where inbound listens under `make run` when HALTE_INBOUND_URL is not set.
DEFAULT_INBOUND_URL = "http://127.0.0.1:8002"


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
        """Check the plumbing, and report (without failing on it) whether the opt-out view is current."""
        report = await super().readiness()
        # Not a readiness failure: informative messages still go while marketing waits.
        for source, sentence in self.dispatcher.lane.describe(self.clock.now()).items():
            report.checks[f"optouts:{source}"] = sentence
        return report


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    carriers: Carriers | None = None,
    suppression_feed: SuppressionFeed | None = None,
    optout_journal: OptoutJournal | None = None,
    account_keys: AccountKeyVerifier | None = None,
    loops: bool = True,
) -> DispatcherRuntime:
    """Build the runtime of the service: database, bus, relay, consumers, opt-out lane, release and sender loops."""
    runtime = DispatcherRuntime(settings, clock=clock)
    carriers = carriers if carriers is not None else default_carriers(settings)
    token = settings.admin_token_value() or ""

    def make_feed() -> SuppressionFeed:
        return suppression_feed or HttpSuppressionFeed(
            base_url=settings.suppression_url, token=token, timeout=settings.suppression_feed_timeout_seconds
        )

    def make_journal() -> OptoutJournal:
        return optout_journal or HttpOptoutJournal(
            base_url=settings.inbound_url or DEFAULT_INBOUND_URL,
            token=token,
            timeout=settings.suppression_feed_timeout_seconds,
        )

    # The service's own clients (a step-by-step test polls through them); the lane's thread makes its own.
    feed, journal = make_feed(), make_journal()
    runtime.account_keys = account_keys or AccountKeyVerifier(
        campaign_api_url=settings.campaign_api_url, ttl_seconds=settings.account_key_cache_seconds
    )
    lane = OptoutLane(
        sessions=runtime.sessions,
        clock=runtime.clock,
        journal=journal,
        feed=feed,
        max_lag=timedelta(seconds=settings.suppression_max_lag_seconds),
        long_poll_seconds=settings.optout_long_poll_seconds,
        retry_seconds=settings.suppression_poll_seconds,
        page_size=settings.suppression_feed_page,
    )
    dispatcher = Dispatcher(
        settings=settings,
        sessions=runtime.sessions,
        clock=runtime.clock,
        carriers=carriers,
        lane=lane,
        release_rate=settings.release_rate_per_second or configured_rate(carriers) or DEFAULT_RELEASE_RATE,
        wake_relay=runtime.relay.wake,
    )
    # A resolved opt-out may release holds on a shared short code; a view current again releases stale holds.
    lane.view.on_resolved = lane.view.on_current_again = dispatcher.release_wake.set
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

        lane_thread = OptoutLaneThread(
            lane,
            database_url=settings.database_url,
            schema=settings.schema_name,
            application_name=f"{settings.service_name}-optouts",
            journal_factory=make_journal,
            feed_factory=make_feed,
        )
        runtime.add_background("optout-lane", lane_thread.run)
        runtime.add_background("hold-release", dispatcher.release_loop)
        runtime.add_background("carrier-sender", sender)
        runtime.add_background("dispatcher-housekeeping", dispatcher.housekeeping_loop)

    async def close_ports() -> None:
        await carriers.close()
        await feed.close()
        await journal.close()
        await runtime.account_keys.close()

    runtime.on_stop(close_ports)
    return runtime
