"""The inbound service's runtime: the shared plumbing plus the carrier registry."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import timedelta

import structlog

from halte_inbound.adapters import journal
from halte_inbound.adapters.carriers import CarrierRegistry
from halte_inbound.adapters.database import make_webhook_engine
from halte_inbound.config import Settings
from halte_shared.clock import Clock
from halte_shared.notify import Notifications
from halte_shared.runtime import ServiceRuntime

log = structlog.get_logger("halte.inbound")

#: Under load the relay is busy anyway; waking it for every committed row would make it run
#: one transaction per row instead of one per batch.
RELAY_NUDGE_SECONDS = 0.02
#: Journal entries are kept as long as the optout.requested topic keeps its events (topics.py).
JOURNAL_RETENTION = timedelta(days=14)
JOURNAL_PRUNE_SECONDS = 3600.0


class InboundRuntime(ServiceRuntime):
    """Own the connections and loops of the inbound service, and its carriers."""

    settings: Settings

    def __init__(self, settings: Settings, *, clock: Clock | None = None, carriers: CarrierRegistry | None = None):
        engine = make_webhook_engine(
            settings.database_url,
            schema=settings.schema_name,
            pool_size=settings.db_pool_size,
            application_name=settings.service_name,
        )
        super().__init__(settings, clock=clock, engine=engine)
        self.carriers = carriers or CarrierRegistry.from_settings(settings)
        self._nudged_at = 0.0
        # Record and event ids need uniqueness, not secrecy: a generator seeded once from the
        # OS spares a getrandom system call per id, which the webhook path makes three of.
        self._ids = random.Random()
        self.notifications = Notifications(
            settings.database_url, schema=settings.schema_name, channels=[journal.JOURNAL_CHANNEL]
        )
        self.add_background("journal-notifications", self.notifications.run)
        self.add_background("journal-housekeeping", self._prune_journal_forever)

    def new_id(self) -> str:
        """Return a fresh random (version 4) UUID for a record or an event."""
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def nudge_relay(self, *, urgent: bool = False) -> None:
        """Tell the outbox relay rows were committed: at once when urgent, else at most once per RELAY_NUDGE_SECONDS."""
        now = time.monotonic()
        if urgent or now - self._nudged_at >= RELAY_NUDGE_SECONDS:
            self._nudged_at = now
            self.relay.wake()

    async def _prune_journal_forever(self) -> None:
        while True:
            try:
                pruned = await journal.prune(self.sessions, older_than=JOURNAL_RETENTION)
                if pruned:
                    log.info("forgot opt-out journal entries older than the retention", count=pruned)
            except Exception as exc:
                log.warning("pruning the opt-out journal failed; it will run again", error=repr(exc))
            await asyncio.sleep(JOURNAL_PRUNE_SECONDS)
