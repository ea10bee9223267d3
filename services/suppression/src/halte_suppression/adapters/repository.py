"""Reads and writes of the suppression service's tables, inside the caller's unit of work.

The change feed's sequence numbers come from a single-row counter (``sequence_counter``)
incremented with ``UPDATE ... RETURNING`` inside the transaction that writes the change.
The row lock that UPDATE takes is held until that transaction commits or rolls back, so a
second writer cannot draw a number before the first one's change is visible: commit order
equals sequence order. A reader polling ``after=N`` therefore never skips a change that
commits later with a lower number (the failure of a plain ``bigserial``, whose values are
drawn before commit and can become visible out of order), and a rolled-back transaction
returns its numbers with the counter, so the feed has no holes either. The price is that
writers of suppressions are serialised at the counter for the last moments of their
transaction, which is why handlers draw numbers last, just before commit: opt-outs are a
few per second, not thousands, so this costs nothing measurable. An advisory lock with
``max(sequence) + 1`` would give the same order; the counter row is simpler to reason about
and keeps ``latest_sequence`` a single-row read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from halte_suppression.adapters.tables import (
    account_short_codes,
    accounts,
    optout_evidence,
    processed_requests,
    recent_marketing_sends,
    sequence_counter,
    suppression_changes,
    suppressions,
)
from halte_suppression.domain.commands import MarketingSend


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    account_id: str
    phone: str
    active: bool
    since: datetime | None
    channel: str | None
    short_code: str | None
    sequence: int | None
    lifted_at: datetime | None


_SUPPRESSION_COLUMNS = (
    suppressions.c.account_id,
    suppressions.c.phone,
    suppressions.c.active,
    suppressions.c.since,
    suppressions.c.channel,
    suppressions.c.short_code,
    suppressions.c.sequence,
    suppressions.c.lifted_at,
)

#: The bulk check: one index probe per number on the (account_id, phone) key. `= ANY` of a
#: sorted array lets PostgreSQL walk the index once in key order instead of building a
#: hash of the whole account's list, as the equivalent unnest join plans it.
CHECK_SQL = "SELECT phone FROM suppressions WHERE account_id = $1 AND phone = ANY($2::text[]) AND active"


class Repository:
    """The service's storage, bound to one session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- idempotence ------------------------------------------------------------------
    async def claim_request(self, key: str, *, at: datetime) -> bool:
        """Record a request id as handled; False when it already was."""
        result = await self.session.execute(
            pg_insert(processed_requests)
            .values(request_key=key, recorded_at=at)
            .on_conflict_do_nothing(index_elements=["request_key"])
            .returning(processed_requests.c.request_key)
        )
        return result.first() is not None

    # -- accounts and attribution -----------------------------------------------------
    async def accounts_on_short_code(self, short_code: str) -> list[str]:
        rows = await self.session.execute(
            select(account_short_codes.c.account_id).where(account_short_codes.c.short_code == short_code)
        )
        return sorted(r[0] for r in rows)

    async def recent_senders(self, *, phone: str, short_code: str, since: datetime) -> dict[str, datetime]:
        rows = await self.session.execute(
            select(recent_marketing_sends.c.account_id, recent_marketing_sends.c.last_sent_at).where(
                recent_marketing_sends.c.phone == phone,
                recent_marketing_sends.c.short_code == short_code,
                recent_marketing_sends.c.last_sent_at >= since,
            )
        )
        return {r.account_id: r.last_sent_at for r in rows}

    async def allows_resubscribe(self, account_ids: Iterable[str]) -> dict[str, bool]:
        ids = list(account_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(accounts.c.account_id, accounts.c.allow_resubscribe).where(accounts.c.account_id.in_(ids))
        )
        return {r.account_id: bool(r.allow_resubscribe) for r in rows}

    async def upsert_account(
        self, *, account_id: str, allow_resubscribe: bool, active: bool, changed_at: datetime
    ) -> bool:
        """Store an account's description unless a newer one is stored; True when applied."""
        statement = pg_insert(accounts).values(
            account_id=account_id, allow_resubscribe=allow_resubscribe, active=active, changed_at=changed_at
        )
        result = await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["account_id"],
                set_={
                    "allow_resubscribe": statement.excluded.allow_resubscribe,
                    "active": statement.excluded.active,
                    "changed_at": statement.excluded.changed_at,
                },
                where=accounts.c.changed_at <= statement.excluded.changed_at,
            ).returning(accounts.c.account_id)
        )
        return result.first() is not None

    async def replace_short_codes(self, *, account_id: str, short_codes: Iterable[str]) -> None:
        await self.session.execute(delete(account_short_codes).where(account_short_codes.c.account_id == account_id))
        rows = [{"short_code": code, "account_id": account_id} for code in sorted(set(short_codes))]
        if rows:
            await self.session.execute(insert(account_short_codes), rows)

    async def remember_sends(self, sends: Sequence[MarketingSend]) -> None:
        """Upsert the latest send per (number, short code, account), keeping the latest time."""
        latest: dict[tuple[str, str, str], datetime] = {}
        for s in sends:
            key = (s.phone, s.short_code, s.account_id)
            if key not in latest or latest[key] < s.sent_at:
                latest[key] = s.sent_at
        if not latest:
            return
        keys = sorted(latest)  # a fixed order: two batches never wait on each other's rows in a cycle
        statement = pg_insert(recent_marketing_sends).values(
            [{"phone": p, "short_code": c, "account_id": a, "last_sent_at": latest[(p, c, a)]} for p, c, a in keys]
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["phone", "short_code", "account_id"],
                set_={
                    "last_sent_at": func.greatest(
                        recent_marketing_sends.c.last_sent_at, statement.excluded.last_sent_at
                    )
                },
            )
        )

    async def prune_sends(self, *, before: datetime, batch: int = 10_000) -> int:
        """Forget up to `batch` sends older than `before`; return how many."""
        doomed = (
            select(
                recent_marketing_sends.c.phone, recent_marketing_sends.c.short_code, recent_marketing_sends.c.account_id
            )
            .where(recent_marketing_sends.c.last_sent_at < before)
            .limit(batch)
        )
        result = await self.session.execute(
            delete(recent_marketing_sends).where(
                tuple_(
                    recent_marketing_sends.c.phone,
                    recent_marketing_sends.c.short_code,
                    recent_marketing_sends.c.account_id,
                ).in_(doomed)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- suppressions -----------------------------------------------------------------
    async def lock_for_optout(
        self, *, phone: str, account_ids: Sequence[str], at: datetime
    ) -> dict[str, SuppressionRow]:
        """Make sure a row exists for each account, lock them in account order, return them."""
        ids = sorted(set(account_ids))
        # A missing row cannot be locked, so two first STOPs would both insert; creating an
        # inactive row first (ON CONFLICT waits for a concurrent inserter) gives a row to lock.
        await self.session.execute(
            pg_insert(suppressions)
            .values([{"account_id": a, "phone": phone, "active": False, "updated_at": at} for a in ids])
            .on_conflict_do_nothing(index_elements=["account_id", "phone"])
        )
        rows = await self.session.execute(
            select(*_SUPPRESSION_COLUMNS)
            .where(suppressions.c.phone == phone, suppressions.c.account_id.in_(ids))
            .order_by(suppressions.c.account_id)
            .with_for_update()
        )
        return {r.account_id: SuppressionRow(*r) for r in rows}

    async def lock_active_of_phone(self, phone: str) -> dict[str, SuppressionRow]:
        """Lock and return every active suppression of a number, by account."""
        rows = await self.session.execute(
            select(*_SUPPRESSION_COLUMNS)
            .where(suppressions.c.phone == phone, suppressions.c.active)
            .order_by(suppressions.c.account_id)
            .with_for_update()
        )
        return {r.account_id: SuppressionRow(*r) for r in rows}

    async def activate(
        self,
        *,
        account_id: str,
        phone: str,
        since: datetime,
        channel: str,
        short_code: str | None,
        evidence_id: str,
        sequence: int,
        at: datetime,
    ) -> None:
        await self.session.execute(
            update(suppressions)
            .where(suppressions.c.account_id == account_id, suppressions.c.phone == phone)
            .values(
                active=True,
                since=since,
                channel=channel,
                short_code=short_code,
                evidence_id=evidence_id,
                sequence=sequence,
                lifted_at=None,
                updated_at=at,
            )
        )

    async def lift(self, *, account_id: str, phone: str, evidence_id: str, sequence: int, at: datetime) -> None:
        await self.session.execute(
            update(suppressions)
            .where(suppressions.c.account_id == account_id, suppressions.c.phone == phone)
            .values(active=False, evidence_id=evidence_id, sequence=sequence, lifted_at=at, updated_at=at)
        )

    async def allocate_sequences(self, count: int) -> list[int]:
        """Draw `count` consecutive feed numbers; the counter row stays locked until commit."""
        last = (
            await self.session.execute(
                update(sequence_counter)
                .where(sequence_counter.c.id == 1)
                .values(last_sequence=sequence_counter.c.last_sequence + count)
                .returning(sequence_counter.c.last_sequence)
            )
        ).scalar_one()
        return list(range(last - count + 1, last + 1))

    async def add_change(
        self, *, sequence: int, account_id: str, phone: str, action: str, at: datetime, evidence_id: str
    ) -> None:
        await self.session.execute(
            insert(suppression_changes).values(
                sequence=sequence, account_id=account_id, phone=phone, action=action, at=at, evidence_id=evidence_id
            )
        )

    async def add_request_change(
        self,
        *,
        action: str,
        request_id: str,
        at: datetime,
        phone: str | None = None,
        short_code: str | None = None,
        account_id: str | None = None,
    ) -> int:
        """Append a ``pending`` or ``resolve`` row for an opt-out request to the feed; return its sequence."""
        [sequence] = await self.allocate_sequences(1)
        await self.session.execute(
            insert(suppression_changes).values(
                sequence=sequence,
                action=action,
                request_id=request_id,
                phone=phone,
                short_code=short_code,
                account_id=account_id,
                at=at,
            )
        )
        return sequence

    async def add_evidence(self, **values: Any) -> None:
        await self.session.execute(insert(optout_evidence).values(**values))

    async def pending_unattributed(self, short_codes: Iterable[str]) -> list[Any]:
        """Lock and return unattributed opt-outs received on these short codes, oldest first."""
        codes = sorted(set(short_codes))
        if not codes:
            return []
        rows = await self.session.execute(
            select(optout_evidence)
            .where(
                optout_evidence.c.kind == "unattributed",
                optout_evidence.c.resolved_at.is_(None),
                optout_evidence.c.short_code.in_(codes),
            )
            .order_by(optout_evidence.c.received_at, optout_evidence.c.id)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def mark_resolved(self, *, evidence_id: str, at: datetime, attribution: str) -> None:
        await self.session.execute(
            update(optout_evidence)
            .where(optout_evidence.c.id == evidence_id)
            .values(resolved_at=at, attribution=attribution)
        )

    # -- reads ------------------------------------------------------------------------
    async def get(self, *, account_id: str, phone: str) -> SuppressionRow | None:
        row = (
            await self.session.execute(
                select(*_SUPPRESSION_COLUMNS).where(
                    suppressions.c.account_id == account_id, suppressions.c.phone == phone
                )
            )
        ).first()
        return SuppressionRow(*row) if row else None

    async def suppressed_among(self, *, account_id: str, phones: list[str]) -> list[str]:
        """Return which of `phones` (E.164) the account has suppressed."""
        if not phones:
            return []
        # The driver directly: at 10,000 numbers a call, building SQLAlchemy rows and binding
        # through its type layer costs as much as the query itself.
        connection: AsyncConnection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        records = await driver.fetch(CHECK_SQL, account_id, sorted(set(phones)))
        return [r[0] for r in records]

    async def list_page(
        self, *, account_id: str, after_phone: str | None, limit: int, include_lifted: bool
    ) -> list[SuppressionRow]:
        conditions = [suppressions.c.account_id == account_id, suppressions.c.sequence.is_not(None)]
        if not include_lifted:
            conditions.append(suppressions.c.active)
        if after_phone is not None:
            conditions.append(suppressions.c.phone > after_phone)
        rows = await self.session.execute(
            select(*_SUPPRESSION_COLUMNS).where(and_(*conditions)).order_by(suppressions.c.phone).limit(limit)
        )
        return [SuppressionRow(*r) for r in rows]

    async def evidence_of(self, *, account_id: str, phone: str) -> list[Any]:
        rows = await self.session.execute(
            select(optout_evidence)
            .where(optout_evidence.c.account_id == account_id, optout_evidence.c.phone == phone)
            .order_by(optout_evidence.c.recorded_at, optout_evidence.c.received_at, optout_evidence.c.id)
        )
        return list(rows)

    async def unattributed(self, *, limit: int) -> list[Any]:
        rows = await self.session.execute(
            select(optout_evidence)
            .where(optout_evidence.c.kind == "unattributed")
            .order_by(optout_evidence.c.recorded_at.desc(), optout_evidence.c.id)
            .limit(limit)
        )
        return list(rows)

    async def latest_sequence(self) -> int:
        return int(
            (
                await self.session.execute(select(sequence_counter.c.last_sequence).where(sequence_counter.c.id == 1))
            ).scalar_one()
        )

    async def changes_after(self, *, after: int, limit: int) -> list[Any]:
        rows = await self.session.execute(
            select(suppression_changes)
            .where(suppression_changes.c.sequence > after)
            .order_by(suppression_changes.c.sequence)
            .limit(limit)
        )
        return list(rows)

    async def set_snapshot(self) -> None:
        """Make the rest of this read-only transaction see one consistent snapshot."""
        await self.session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
