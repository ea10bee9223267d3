"""The composition root of the notifier service: every port wired once, with defaults."""

from __future__ import annotations

import structlog

from halte_notifier.adapters.carriers import Carriers, default_carriers
from halte_notifier.config import Settings
from halte_notifier.crash import CrashHook
from halte_notifier.handlers import GROUP_ACCOUNTS, GROUP_DELIVERIES, GROUP_REQUESTS, Notifier
from halte_notifier.sending import Sender
from halte_shared.clock import Clock
from halte_shared.runtime import ServiceRuntime

log = structlog.get_logger("halte.notifier")


class NotifierRuntime(ServiceRuntime):
    """The plumbing plus the notifier's handlers, its sender loop and its carriers."""

    def __init__(self, settings: Settings, *, clock: Clock | None, carriers: Carriers) -> None:
        super().__init__(settings, clock=clock)
        self.notifier_settings = settings
        self.carriers = carriers
        crash = CrashHook(step=settings.crash_at, test_mode=settings.test_mode)
        self.sender = Sender(
            sessions=self.sessions,
            carriers=carriers,
            clock=self.clock,
            settings=settings,
            crash=crash,
            on_committed=self.relay.wake,
        )
        self.notifier = Notifier(
            sessions=self.sessions, clock=self.clock, settings=settings, crash=crash, on_committed=self._committed
        )

    def _committed(self) -> None:
        self.relay.wake()
        self.sender.wake()

    async def start(self) -> None:
        """Open the carriers, start the plumbing and consumers, then the sender."""
        await self.carriers.start()
        await super().start()
        self.sender.start()
        log.info("the notifier is consuming and sending", consumers=[c.group_id for c in self.consumers])

    async def stop(self) -> None:
        """Let the sender finish the tries in flight, then stop the plumbing and close the carriers."""
        await self.sender.stop(grace_seconds=self.settings.shutdown_grace_seconds)
        await super().stop()
        await self.carriers.close()


def bootstrap(settings: Settings, *, clock: Clock | None = None, carriers: Carriers | None = None) -> NotifierRuntime:
    """Build the runtime of the service: database, bus, relay, consumers, sender, carriers."""
    runtime = NotifierRuntime(settings, clock=clock, carriers=carriers or default_carriers(settings))
    notifier = runtime.notifier
    runtime.add_consumer(group=GROUP_ACCOUNTS, topics=["account.changed"], handler=notifier.on_account_changed)
    runtime.add_consumer(
        group=GROUP_REQUESTS, topics=["optout.recorded", "contact.requested"], handler=notifier.on_request
    )
    runtime.add_consumer(group=GROUP_DELIVERIES, topics=["sms.delivery"], batch_handler=notifier.on_deliveries)
    return runtime
