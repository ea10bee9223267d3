"""The opt-out journal in the database: number its committed entries, read a page with its head, prune it.

Rows are written by a trigger on the outbox (migration 0004_optout_journal), never by this
module: see docs/stop-enforcement.md for why the journal is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Column, DateTime, SmallInteger, String, Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_inbound.adapters.tables import metadata

#: Channel of the notification sent when a journal entry commits (payload: the schema).
JOURNAL_CHANNEL = "halte_optout_journal"

optout_journal = Table(
    "optout_journal",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("sequence", BigInteger, nullable=True, unique=True),
    Column("request_id", String(200), nullable=False, unique=True),
    Column("event_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("phone", String(16), nullable=False),
    Column("short_code", String(32), nullable=True),
    Column("account_id", String(128), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=False),
)

optout_journal_head = Table(
    "optout_journal_head",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One acknowledged opt-out request."""

    sequence: int
    request_id: str
    channel: str
    phone: str
    short_code: str | None
    account_id: str | None
    received_at: datetime
    acknowledged_at: datetime


@dataclass(frozen=True, slots=True)
class JournalPage:
    """Entries after a sequence, the journal's head, and the oldest entry still kept."""

    entries: list[JournalEntry]
    latest_sequence: int
    earliest_sequence: int | None


_UNNUMBERED = text("SELECT EXISTS (SELECT 1 FROM optout_journal WHERE sequence IS NULL)")
_LOCK_HEAD = text("SELECT last_sequence FROM optout_journal_head WHERE id = 1 FOR UPDATE")
_NUMBER = text(
    """
    UPDATE optout_journal j SET sequence = :head + t.n
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM optout_journal WHERE sequence IS NULL) t
    WHERE j.id = t.id
    """
)
_MOVE_HEAD = text("UPDATE optout_journal_head SET last_sequence = last_sequence + :count WHERE id = 1")


async def number_committed(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Number the committed entries that have none yet, after the head; return how many.

    Writers take no shared lock (a STOP's transaction must not wait for another's commit); the
    readers number entries instead, one at a time under the head row's lock. Every entry
    committed before this call begins gets a number here or from an earlier call, and numbers
    appear together with the head that covers them: gap-free, and no entry can later appear
    below a number a reader has passed.
    """
    async with sessions() as session, session.begin():
        if not (await session.execute(_UNNUMBERED)).scalar_one():
            return 0
        head = (await session.execute(_LOCK_HEAD)).scalar_one()
        numbered = int((await session.execute(_NUMBER, {"head": head})).rowcount or 0)  # type: ignore[attr-defined]
        if numbered:
            await session.execute(_MOVE_HEAD, {"count": numbered})
    return numbered


async def read_page(sessions: async_sessionmaker[AsyncSession], *, after: int, limit: int) -> JournalPage:
    """Number what was committed, then return the entries after `after` (at most `limit`) and the head."""
    await number_committed(sessions)
    async with sessions() as session, session.begin():
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        latest = (
            await session.execute(select(optout_journal_head.c.last_sequence).where(optout_journal_head.c.id == 1))
        ).scalar_one()
        earliest = (await session.execute(select(func.min(optout_journal.c.sequence)))).scalar_one()
        rows = await session.execute(
            select(
                optout_journal.c.sequence,
                optout_journal.c.request_id,
                optout_journal.c.channel,
                optout_journal.c.phone,
                optout_journal.c.short_code,
                optout_journal.c.account_id,
                optout_journal.c.received_at,
                optout_journal.c.acknowledged_at,
            )
            .where(optout_journal.c.sequence > after, optout_journal.c.sequence <= latest)
            .order_by(optout_journal.c.sequence)
            .limit(limit)
        )
        entries = [JournalEntry(*row) for row in rows]
    return JournalPage(entries=entries, latest_sequence=int(latest), earliest_sequence=earliest)


async def prune(sessions: async_sessionmaker[AsyncSession], *, older_than: timedelta) -> int:
    """Forget entries acknowledged longer ago than `older_than`; return how many (the head keeps counting)."""
    # The database's clock, like acknowledged_at's: a test clock moved ahead must not prune.
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than.total_seconds())
    async with sessions() as session, session.begin():
        result = await session.execute(delete(optout_journal).where(optout_journal.c.acknowledged_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
