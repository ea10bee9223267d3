"""The dispatcher's Kafka consumer: thin, it turns deliveries into handler calls.

One consumer group reads the four topics the dispatcher needs (a group join costs seconds on
some brokers, and one loop is enough): each batch the bus hands over comes from one partition
of one topic, and goes to that topic's handler.
"""

from __future__ import annotations

from halte_dispatcher.adapters.repository import BlocklistChange, InboxEntry
from halte_dispatcher.handlers import Dispatcher, Incoming
from halte_shared.bus import BatchHandler, Delivery
from halte_shared.events import AccountChanged, DispatchRequested, Envelope, OptinRecorded, OptoutRecorded, Payload

TOPICS = ["dispatch.requested", "account.changed", "optout.recorded", "optin.recorded"]
Batch = list[tuple[Envelope, Payload, Delivery]]


def _inbox(envelope: Envelope, delivery: Delivery) -> InboxEntry:
    return InboxEntry(envelope.id, delivery.topic, delivery.partition, delivery.offset)


async def handle_requests(dispatcher: Dispatcher, batch: Batch) -> None:
    """Decide a batch of ``dispatch.requested``."""
    items = [
        Incoming(event_id=envelope.id, request=payload, inbox=_inbox(envelope, delivery), raw=envelope.payload)
        for envelope, payload, delivery in batch
        if isinstance(payload, DispatchRequested)
    ]
    await dispatcher.decide_requests(items)


async def handle_accounts(dispatcher: Dispatcher, batch: Batch) -> None:
    """Record ``account.changed`` events, in order."""
    for envelope, payload, delivery in batch:
        if isinstance(payload, AccountChanged):
            await dispatcher.record_account(payload, inbox=_inbox(envelope, delivery))


async def handle_blocklist(dispatcher: Dispatcher, batch: Batch) -> None:
    """Apply ``optout.recorded`` and ``optin.recorded`` to the local blocklist copy (the fast path)."""
    changes: list[BlocklistChange] = []
    inbox: list[InboxEntry] = []
    for envelope, payload, delivery in batch:
        if isinstance(payload, OptoutRecorded):
            changes.append(
                BlocklistChange(payload.account_id, payload.phone, True, payload.sequence, payload.recorded_at)
            )
        elif isinstance(payload, OptinRecorded):
            changes.append(
                BlocklistChange(payload.account_id, payload.phone, False, payload.sequence, payload.recorded_at)
            )
        else:
            continue
        inbox.append(_inbox(envelope, delivery))
    await dispatcher.apply_blocklist_events(changes, inbox)


def batch_handler(dispatcher: Dispatcher) -> BatchHandler:
    """Return the consumer's batch handler, routing each batch by its topic."""
    routes = {
        "dispatch.requested": handle_requests,
        "account.changed": handle_accounts,
        "optout.recorded": handle_blocklist,
        "optin.recorded": handle_blocklist,
    }

    async def handle(batch: Batch) -> None:
        if batch:
            await routes[batch[0][2].topic](dispatcher, batch)

    return handle
