"""Writing a record and the events that announce it, atomically, in one statement compiled once.

A carrier webhook is answered only after its record and events are durable, so the work
between the request and the commit is the price of every acknowledgement.
:func:`with_events` turns a record's ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` into
one statement (a data-modifying CTE) that also writes the outbox rows, only if the record
was new: a carrier's retry adds nothing. Run in autocommit, the statement is its own
transaction: both or neither. The events travel as arrays (``unnest``), so the statement's
shape never depends on how many there are; built once at import with bind parameters, it
is compiled once. The rows have exactly the shape halte_shared.outbox.add_to_outbox
writes, and the relay publishes them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import LargeBinary, String, bindparam, exists, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert

from halte_shared.events import Envelope, encode
from halte_shared.outbox import OUTBOX

_EVENTS = (
    func.unnest(
        bindparam("event_ids", type_=ARRAY(String)),
        bindparam("event_topics", type_=ARRAY(String)),
        bindparam("event_envelopes", type_=ARRAY(LargeBinary)),
    )
    .table_valued("event_id", "topic", "envelope", with_ordinality="position")
    .render_derived(name="events")
)


def with_events(record: ReturningInsert[Any]) -> ReturningInsert[Any]:
    """Return one statement inserting `record` and, only if it inserted, the events bound as arrays."""
    recorded = record.cte("recorded")
    return (
        insert(OUTBOX)
        .add_cte(recorded)
        .from_select(
            ["event_id", "topic", "key", "envelope"],
            select(_EVENTS.c.event_id, _EVENTS.c.topic, bindparam("event_key", type_=String), _EVENTS.c.envelope)
            .where(exists(select(recorded.c[0])))
            .order_by(_EVENTS.c.position),
        )
        .returning(OUTBOX.c.seq)
    )


async def insert_with_events(
    connection: AsyncConnection,
    statement: ReturningInsert[Any],
    record: Mapping[str, Any],
    envelopes: Sequence[Envelope],
    *,
    key: str | None,
) -> bool:
    """Run a :func:`with_events` statement; return True when the record was new (and its events written)."""
    if not envelopes:
        raise ValueError("insert_with_events needs at least one event: it tells a new record by its outbox rows")
    parameters = {
        **record,
        "event_ids": [e.id for e in envelopes],
        "event_topics": [e.type for e in envelopes],
        "event_envelopes": [encode(e) for e in envelopes],
        "event_key": key,
    }
    return len((await connection.execute(statement, parameters)).all()) > 0
