"""Replies and delivery reports in the database: the statements of the webhook path, built once.

Each statement is a module constant with bind parameters, so SQLAlchemy builds, keys and
compiles it once per process rather than once per request (the difference is most of a
webhook's CPU time). A record and its events stay one statement (adapters/outbox.py), its
``raw_payload`` evidence included; an unprocessable payload is one plain insert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from halte_inbound.adapters.outbox import insert_with_events, with_events
from halte_inbound.adapters.tables import delivery_reports, inbound_messages, unprocessable_payloads
from halte_shared.events import Envelope

_REPLY_COLUMNS = [c.name for c in inbound_messages.columns]
_RECORD_REPLY = with_events(
    insert(inbound_messages)
    .values({name: bindparam(name, type_=inbound_messages.c[name].type) for name in _REPLY_COLUMNS})
    .on_conflict_do_nothing(constraint="inbound_messages_carrier_message")
    .returning(inbound_messages.c.inbound_id)
)
_FIND_REPLY = select(inbound_messages.c.inbound_id).where(
    inbound_messages.c.carrier == bindparam("carrier"),
    inbound_messages.c.carrier_message_id == bindparam("carrier_message_id"),
)

_REPORT_COLUMNS = [c.name for c in delivery_reports.columns]
_RECORD_REPORT = with_events(
    insert(delivery_reports)
    .values({name: bindparam(name, type_=delivery_reports.c[name].type) for name in _REPORT_COLUMNS})
    .on_conflict_do_nothing(constraint="delivery_reports_carrier_report")
    .returning(delivery_reports.c.delivery_id)
)
_FIND_REPORT = select(delivery_reports.c.delivery_id).where(
    delivery_reports.c.carrier == bindparam("carrier"), delivery_reports.c.report_key == bindparam("report_key")
)

_RECORD_UNPROCESSABLE = insert(unprocessable_payloads).values(
    {c.name: bindparam(c.name, type_=c.type) for c in unprocessable_payloads.columns}
)


async def record_reply(
    connection: AsyncConnection, reply: dict[str, Any], envelopes: list[Envelope], *, key: str | None
) -> str | None:
    """Record a reply and its events once per (carrier, message id); return the existing id for a repeat."""
    if await insert_with_events(connection, _RECORD_REPLY, reply, envelopes, key=key):
        return None
    found = await connection.execute(
        _FIND_REPLY, {"carrier": reply["carrier"], "carrier_message_id": reply["carrier_message_id"]}
    )
    return str(found.scalar_one())


async def record_report(
    connection: AsyncConnection, report: dict[str, Any], envelopes: list[Envelope], *, key: str | None
) -> str | None:
    """Record a delivery report and its event once per (carrier, report key); return the existing id for a repeat."""
    if await insert_with_events(connection, _RECORD_REPORT, report, envelopes, key=key):
        return None
    found = await connection.execute(_FIND_REPORT, {"carrier": report["carrier"], "report_key": report["report_key"]})
    return str(found.scalar_one())


async def record_unprocessable(connection: AsyncConnection, payload: dict[str, Any]) -> None:
    """Keep an authenticated payload that could not be used, with the reason, for an operator to review."""
    await connection.execute(_RECORD_UNPROCESSABLE, payload)
