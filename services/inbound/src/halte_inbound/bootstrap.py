"""The composition root of the inbound service: every port wired once, with defaults."""

from __future__ import annotations

from halte_inbound.adapters.carriers import CarrierRegistry
from halte_inbound.config import Settings
from halte_inbound.handlers import ACCOUNTS_CONSUMER, on_account_changed
from halte_inbound.runtime import InboundRuntime
from halte_shared.bus import Delivery
from halte_shared.clock import Clock
from halte_shared.events import AccountChanged, Envelope, Payload


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    carriers: CarrierRegistry | None = None,
    consume: bool = True,
) -> InboundRuntime:
    """Build the runtime of the service: database, bus, relay, the account.changed consumer, carriers.

    ``consume=False`` leaves the consumer out: the runtime then only serves HTTP and
    publishes its outbox (tests that seed accounts directly; joining a consumer group
    costs the embedded broker's five-second initial rebalance delay).
    """
    runtime = InboundRuntime(settings, clock=clock, carriers=carriers)
    if not consume:
        return runtime

    async def account_changed(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        await on_account_changed(runtime, envelope, payload, delivery)

    runtime.add_consumer(group=ACCOUNTS_CONSUMER, topics=[AccountChanged.TYPE], handler=account_changed)
    return runtime
