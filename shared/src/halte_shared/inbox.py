"""The inbox: "this consumer processed this event", written in the same transaction as the effect.

A handler calls :func:`first_delivery` inside its unit of work before doing anything; a
redelivered event (broker retry, relay republish, crash before the offset commit) finds
its row and the handler returns without a second effect.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halte_shared.bus import Delivery
from halte_shared.outbox import METADATA_FOR_PLUMBING
from halte_shared.plumbing_tables import inbox_table

INBOX = inbox_table(METADATA_FOR_PLUMBING)


async def first_delivery(session: AsyncSession, *, consumer: str, event_id: str, delivery: Delivery) -> bool:
    """Record the event as processed by this consumer; False when it already was."""
    result = await session.execute(
        insert(INBOX)
        .values(
            consumer=consumer,
            event_id=event_id,
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
        )
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(INBOX.c.event_id)
    )
    return result.first() is not None
