"""The read side: answers to "is this number suppressed?", lists, evidence and the change feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_shared.clock import Clock
from halte_suppression.adapters.repository import Repository, SuppressionRow
from halte_suppression.domain.numbers import normalize_many

ENFORCING_KINDS = frozenset({"optout", "repeat", "resubscription"})


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    suppressed: list[str]
    checked: int
    invalid: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class FeedPage:
    changes: list[dict[str, Any]]
    latest_sequence: int
    as_of: datetime


async def status(sessions: async_sessionmaker[AsyncSession], *, account_id: str, phone: str) -> SuppressionRow | None:
    """Return an account's suppression row for a number (active or lifted), if any."""
    async with sessions() as session:
        return await Repository(session).get(account_id=account_id, phone=phone)


async def check_numbers(
    sessions: async_sessionmaker[AsyncSession], *, account_id: str, phones: list[str]
) -> CheckAnswer:
    """Tell which of many numbers (any format) an account has suppressed."""
    valid, invalid = normalize_many(phones)
    async with sessions() as session:
        found = set(await Repository(session).suppressed_among(account_id=account_id, phones=valid))
    # In the caller's order, once each.
    suppressed = list(dict.fromkeys(p for p in valid if p in found))
    return CheckAnswer(suppressed=suppressed, checked=len(valid), invalid=invalid)


async def list_page(
    sessions: async_sessionmaker[AsyncSession],
    *,
    account_id: str,
    after_phone: str | None,
    limit: int,
    include_lifted: bool = False,
) -> list[SuppressionRow]:
    """Return one page of an account's suppressions, ordered by number."""
    async with sessions() as session:
        return await Repository(session).list_page(
            account_id=account_id, after_phone=after_phone, limit=limit, include_lifted=include_lifted
        )


async def all_suppressions(
    sessions: async_sessionmaker[AsyncSession], *, account_id: str, page_size: int = 5_000
) -> AsyncIterator[SuppressionRow]:
    """Yield every active suppression of an account, a page (and a short transaction) at a time."""
    after: str | None = None
    while True:
        page = await list_page(sessions, account_id=account_id, after_phone=after, limit=page_size)
        for row in page:
            yield row
        if len(page) < page_size:
            return
        after = page[-1].phone


async def evidence(sessions: async_sessionmaker[AsyncSession], *, account_id: str, phone: str) -> dict[str, Any]:
    """Return every opt-out, repeat and resubscription record of a number for an account."""
    async with sessions() as session:
        repo = Repository(session)
        rows = await repo.evidence_of(account_id=account_id, phone=phone)
        current = await repo.get(account_id=account_id, phone=phone)
    return {
        "account_id": account_id,
        "phone": phone,
        "suppressed": bool(current and current.active),
        "since": current.since.isoformat() if current and current.active and current.since else None,
        "records": [evidence_record(r) for r in rows],
    }


def evidence_record(row: Any) -> dict[str, Any]:
    """Return one evidence row as the API shows it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "account_id": row.account_id,
        "phone": row.phone,
        "channel": row.channel,
        "short_code": row.short_code,
        "raw_text": row.raw_text,
        "proof": row.proof,
        "reason": row.reason,
        "received_at": row.received_at.isoformat(),
        "recorded_at": row.recorded_at.isoformat(),
        "enforced_at": row.recorded_at.isoformat() if row.kind in ENFORCING_KINDS else None,
        "source_event_id": row.source_event_id,
        "request_id": row.request_id,
        "sequence": row.sequence,
        "attribution": row.attribution,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
    }


async def unattributed(sessions: async_sessionmaker[AsyncSession], *, limit: int) -> list[dict[str, Any]]:
    """Return the latest opt-outs no account could be named for."""
    async with sessions() as session:
        return [evidence_record(r) for r in await Repository(session).unattributed(limit=limit)]


async def feed(sessions: async_sessionmaker[AsyncSession], clock: Clock, *, after: int, limit: int) -> FeedPage:
    """Return the changes after a sequence number, with the head of the feed seen in the same snapshot."""
    # Taken before the snapshot: the page is at least as current as `as_of` claims.
    as_of = clock.now()
    async with sessions() as session, session.begin():
        repo = Repository(session)
        await repo.set_snapshot()
        latest = await repo.latest_sequence()
        rows = await repo.changes_after(after=after, limit=limit)
    changes = [
        {
            "sequence": r.sequence,
            "account_id": r.account_id,
            "phone": r.phone,
            "action": r.action,
            "at": r.at.isoformat(),
            "request_id": r.request_id,
            "short_code": r.short_code,
        }
        for r in rows
    ]
    return FeedPage(changes=changes, latest_sequence=latest, as_of=as_of)
