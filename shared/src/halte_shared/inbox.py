"""The inbox: "this consumer processed this event", written in the same transaction as the effect.

A handler calls :func:`first_delivery` inside its unit of work before doing anything; a
redelivered event (broker retry, relay republish, crash before the offset commit) finds
its row and the handler returns without a second effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
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


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One event to record in the inbox, with where it came from."""

    event_id: str
    topic: str
    partition: int | None
    offset: int | None


_INSERT_MANY = text(
    """
    INSERT INTO inbox (consumer, event_id, topic, partition, "offset")
    SELECT * FROM unnest(CAST(:consumers AS text[]), CAST(:ids AS text[]), CAST(:topics AS text[]),
                         CAST(:partitions AS int[]), CAST(:offsets AS bigint[]))
    ON CONFLICT DO NOTHING
    RETURNING event_id
    """
)


async def first_deliveries(session: AsyncSession, *, consumer: str, entries: Sequence[InboxEntry]) -> set[str]:
    """Record a batch of events as processed by a consumer; return the ids seen for the first time."""
    if not entries:
        return set()
    rows = await session.execute(
        _INSERT_MANY,
        {
            "consumers": [consumer] * len(entries),
            "ids": [e.event_id for e in entries],
            "topics": [e.topic for e in entries],
            "partitions": [e.partition for e in entries],
            "offsets": [e.offset for e in entries],
        },
    )
    return {row.event_id for row in rows}
