"""The dispatcher's Kafka consumer: thin, it turns deliveries into handler calls.

One consumer group reads the two topics the dispatcher needs (a group join costs seconds on
some brokers, and one loop is enough): each batch the bus hands over comes from one partition
of one topic, and goes to that topic's handler. Opt-outs do not come this way: they have a
lane of their own that no campaign's backlog can delay (optout_lane.py).
"""

from __future__ import annotations

from halte_dispatcher.adapters.repository import InboxEntry
from halte_dispatcher.handlers import Dispatcher, Incoming
from halte_shared.bus import BatchHandler, Delivery
from halte_shared.events import AccountChanged, DispatchRequested, Envelope, Payload

TOPICS = ["dispatch.requested", "account.changed"]
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


def batch_handler(dispatcher: Dispatcher) -> BatchHandler:
    """Return the consumer's batch handler, routing each batch by its topic."""
    routes = {
        "dispatch.requested": handle_requests,
        "account.changed": handle_accounts,
    }

    async def handle(batch: Batch) -> None:
        if batch:
            await routes[batch[0][2].topic](dispatcher, batch)

    return handle
