"""The dispatcher's SQL, set-based: one statement per batch, never one per recipient.

Arrays are passed whole and unnested by PostgreSQL, so a batch of a thousand recipients is a
handful of round trips and the statements keep one text (and one prepared plan) whatever the
batch size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from halte_dispatcher.adapters.tables import HELD, PENDING_ACCOUNT, REFUSED, SENDING, SUBMITTED
from halte_dispatcher.domain.decision import SUPPRESSION_FEED_STALE
from halte_dispatcher.domain.dispatch import AccountView
from halte_dispatcher.domain.suppression import Block, PendingOptout, blocks_by_pair
from halte_shared.inbox import InboxEntry, first_deliveries
from halte_shared.outbox import add_many_to_outbox

# The outbox and inbox writers for many rows at once are halte_shared's; re-exported for callers here.
__all__ = ["InboxEntry", "add_many_to_outbox", "first_deliveries"]

# -- accounts ---------------------------------------------------------------------------------

_UPSERT_ACCOUNT = text(
    """
    INSERT INTO accounts (account_id, name, mode, short_codes, contact_info, hours_profile,
                          window_start, window_end, active, non_commercial, changed_at)
    VALUES (:account_id, :name, :mode, CAST(:short_codes AS text[]), :contact_info, :hours_profile,
            :window_start, :window_end, :active, :non_commercial, :changed_at)
    ON CONFLICT (account_id) DO UPDATE SET
        name = excluded.name, mode = excluded.mode, short_codes = excluded.short_codes,
        contact_info = excluded.contact_info, hours_profile = excluded.hours_profile,
        window_start = excluded.window_start, window_end = excluded.window_end,
        active = excluded.active, non_commercial = excluded.non_commercial, changed_at = excluded.changed_at
    WHERE accounts.changed_at <= excluded.changed_at
    RETURNING account_id
    """
)


async def upsert_account(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Store an account's settings unless a newer change is already stored; True if stored."""
    return (await session.execute(_UPSERT_ACCOUNT, {"non_commercial": False, **values})).first() is not None


async def load_accounts(session: AsyncSession, account_ids: Iterable[str]) -> dict[str, AccountView]:
    """Return the known accounts among these ids."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    rows = await session.execute(
        text(
            "SELECT account_id, name, mode, short_codes, hours_profile, window_start, window_end, active, "
            "non_commercial FROM accounts WHERE account_id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": ids},
    )
    return {
        row.account_id: AccountView(
            account_id=row.account_id,
            name=row.name,
            mode=row.mode,
            short_codes=tuple(row.short_codes),
            hours_profile=row.hours_profile,
            window_start=row.window_start,
            window_end=row.window_end,
            active=row.active,
            non_commercial=row.non_commercial,
        )
        for row in rows
    }


# -- the local blocklist and its feed ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlocklistChange:
    """A change to apply to the local copy, from the feed or from an event."""

    account_id: str
    phone: str
    suppressed: bool
    sequence: int
    changed_at: datetime | None


_APPLY_CHANGES = text(
    """
    INSERT INTO blocklist (account_id, phone, suppressed, sequence, changed_at, applied_at)
    SELECT u.account_id, u.phone, u.suppressed, u.sequence, u.changed_at, :now
    FROM unnest(CAST(:accounts AS text[]), CAST(:phones AS text[]), CAST(:suppressed AS boolean[]),
                CAST(:sequences AS bigint[]), CAST(:changed AS timestamptz[]))
         AS u(account_id, phone, suppressed, sequence, changed_at)
    ON CONFLICT (account_id, phone) DO UPDATE SET
        suppressed = excluded.suppressed, sequence = excluded.sequence,
        changed_at = excluded.changed_at, applied_at = excluded.applied_at
    WHERE blocklist.sequence < excluded.sequence
    RETURNING account_id, phone, suppressed, changed_at
    """
)


async def apply_blocklist_changes(
    session: AsyncSession, changes: Sequence[BlocklistChange], *, now: datetime
) -> list[BlocklistChange]:
    """Apply changes newer than what the copy holds; return those that changed it."""
    latest: dict[tuple[str, str], BlocklistChange] = {}
    for change in changes:
        key = (change.account_id, change.phone)
        # One row per key per statement (PostgreSQL refuses to update a row twice in one command).
        if key not in latest or latest[key].sequence < change.sequence:
            latest[key] = change
    if not latest:
        return []
    batch = list(latest.values())
    rows = await session.execute(
        _APPLY_CHANGES,
        {
            "accounts": [c.account_id for c in batch],
            "phones": [c.phone for c in batch],
            "suppressed": [c.suppressed for c in batch],
            "sequences": [c.sequence for c in batch],
            "changed": [c.changed_at for c in batch],
            "now": now,
        },
    )
    applied = {(row.account_id, row.phone) for row in rows}
    return [c for c in batch if (c.account_id, c.phone) in applied]


@dataclass(frozen=True, slots=True)
class FeedState:
    applied_sequence: int
    caught_up_at: datetime | None
    latest_sequence: int
    journal_sequence: int = 0
    journal_caught_up_at: datetime | None = None


async def load_feed_state(session: AsyncSession) -> FeedState:
    """Return how far the local copy has followed suppression's feed and inbound's journal."""
    row = (
        await session.execute(
            text(
                "SELECT applied_sequence, caught_up_at, latest_sequence, journal_sequence, journal_caught_up_at "
                "FROM feed_state WHERE id = 1"
            )
        )
    ).one()
    return FeedState(
        row.applied_sequence, row.caught_up_at, row.latest_sequence, row.journal_sequence, row.journal_caught_up_at
    )


async def record_journal_progress(
    session: AsyncSession, *, applied_sequence: int, caught_up_at: datetime | None
) -> None:
    """Record how far inbound's journal was applied and, when read to its end, when that was proven."""
    await session.execute(
        text(
            """
            UPDATE feed_state SET
                journal_sequence = GREATEST(journal_sequence, :applied),
                journal_caught_up_at = CASE WHEN CAST(:caught_up_at AS timestamptz) IS NULL THEN journal_caught_up_at
                    ELSE GREATEST(journal_caught_up_at, CAST(:caught_up_at AS timestamptz)) END,
                journal_error = NULL
            WHERE id = 1
            """
        ),
        {"applied": applied_sequence, "caught_up_at": caught_up_at},
    )


async def record_journal_error(session: AsyncSession, *, error: str) -> None:
    """Remember why the last read of the journal failed (shown by readiness and logs)."""
    await session.execute(text("UPDATE feed_state SET journal_error = :error WHERE id = 1"), {"error": error[:1000]})


# -- pending opt-outs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """An opt-out request to block its number until suppression resolves it."""

    request_id: str
    phone: str
    short_code: str | None
    account_id: str | None
    channel: str | None
    source: str
    received_at: datetime | None
    acknowledged_at: datetime | None


_UPSERT_PENDING = text(
    """
    INSERT INTO pending_optouts (request_id, phone, short_code, account_id, channel, source,
                                 received_at, acknowledged_at, applied_at)
    SELECT u.request_id, u.phone, u.short_code, u.account_id, u.channel, u.source,
           u.received_at, u.acknowledged_at, :now
    FROM unnest(CAST(:ids AS text[]), CAST(:phones AS text[]), CAST(:codes AS text[]), CAST(:accounts AS text[]),
                CAST(:channels AS text[]), CAST(:sources AS text[]), CAST(:received AS timestamptz[]),
                CAST(:acknowledged AS timestamptz[]))
         AS u(request_id, phone, short_code, account_id, channel, source, received_at, acknowledged_at)
    ON CONFLICT (request_id) DO UPDATE SET
        phone = excluded.phone, short_code = excluded.short_code, account_id = excluded.account_id,
        channel = excluded.channel, source = COALESCE(pending_optouts.source, excluded.source),
        received_at = COALESCE(pending_optouts.received_at, excluded.received_at),
        acknowledged_at = COALESCE(pending_optouts.acknowledged_at, excluded.acknowledged_at),
        applied_at = COALESCE(pending_optouts.applied_at, excluded.applied_at)
    WHERE pending_optouts.phone IS NULL
    RETURNING request_id, resolved_at IS NULL AS unresolved, applied_at
    """
)


@dataclass(frozen=True, slots=True)
class StoredPending:
    """A request this statement stored: whether it still blocks, and since when the view knew of it."""

    unresolved: bool
    applied_at: datetime


async def upsert_pending(
    session: AsyncSession, records: Sequence[PendingRecord], *, now: datetime
) -> dict[str, StoredPending]:
    """Store requests not seen before (a request already known keeps what it had); return those stored."""
    unique = list({r.request_id: r for r in records}.values())
    if not unique:
        return {}
    rows = await session.execute(
        _UPSERT_PENDING,
        {
            "ids": [r.request_id for r in unique],
            "phones": [r.phone for r in unique],
            "codes": [r.short_code for r in unique],
            "accounts": [r.account_id for r in unique],
            "channels": [r.channel for r in unique],
            "sources": [r.source for r in unique],
            "received": [r.received_at for r in unique],
            "acknowledged": [r.acknowledged_at for r in unique],
            "now": now,
        },
    )
    return {row.request_id: StoredPending(bool(row.unresolved), row.applied_at) for row in rows}


_RESOLVE_PENDING = text(
    """
    INSERT INTO pending_optouts (request_id, resolved_at, applied_at)
    SELECT u.request_id, :now, :now FROM unnest(CAST(:ids AS text[])) AS u(request_id)
    ON CONFLICT (request_id) DO UPDATE SET resolved_at = excluded.resolved_at
    WHERE pending_optouts.resolved_at IS NULL
    RETURNING request_id, phone
    """
)


async def resolve_pending(
    session: AsyncSession, request_ids: Sequence[str], *, now: datetime
) -> list[tuple[str, str | None]]:
    """Mark requests resolved (remembering ones not seen yet); return (id, phone) of those resolved now."""
    if not request_ids:
        return []
    rows = await session.execute(_RESOLVE_PENDING, {"ids": sorted(set(request_ids)), "now": now})
    return [(row.request_id, row.phone) for row in rows]


_VIEW_OF = text(
    """
    WITH asked AS (
        SELECT * FROM unnest(CAST(:accounts AS text[]), CAST(:phones AS text[])) AS u(account_id, phone)
    )
    SELECT b.account_id, b.phone, NULL AS request_id, NULL AS short_code, NULL AS named_account, 0 AS sharers
    FROM asked a JOIN blocklist b ON b.account_id = a.account_id AND b.phone = a.phone AND b.suppressed
    UNION ALL
    SELECT NULL, p.phone, p.request_id, p.short_code, p.account_id,
           (SELECT count(*) FROM accounts x WHERE x.active AND p.short_code = ANY(x.short_codes))
    FROM pending_optouts p
    WHERE p.resolved_at IS NULL AND p.phone IN (SELECT phone FROM asked)
    """
)


async def blocks(
    session: AsyncSession, messages: Iterable[tuple[str, str, str | None]], *, ignore_suppressions: bool = False
) -> dict[tuple[str, str], Block]:
    """Return how the view blocks each (account, number) of these (account, number, sender) marketing messages."""
    unique = sorted(set(messages), key=lambda m: (m[0], m[1], m[2] or ""))
    if not unique or ignore_suppressions:
        return {}
    # One statement, so one snapshot: a resolve commits with the suppression it follows, and two
    # statements could see the request resolved but not yet the suppression.
    rows = await session.execute(_VIEW_OF, {"accounts": [a for a, _, _ in unique], "phones": [p for _, p, _ in unique]})
    suppressed: set[tuple[str, str]] = set()
    pending: dict[str, list[PendingOptout]] = {}
    for row in rows:
        if row.request_id is None:
            suppressed.add((row.account_id, row.phone))
        else:
            pending.setdefault(row.phone, []).append(
                PendingOptout(row.request_id, row.phone, row.short_code, row.named_account, int(row.sharers))
            )
    short_codes: dict[str, tuple[str, ...]] = {}
    if pending:
        concerned = {a for a, p, _ in unique if p in pending}
        short_codes = {a: view.short_codes for a, view in (await load_accounts(session, concerned)).items()}
    return blocks_by_pair(unique, suppressed=suppressed, pending=pending, short_codes=short_codes)


async def find_pending(session: AsyncSession, *, request_id: str) -> Any:
    """Return the opt-out request the view holds under this id, or None."""
    row = await session.execute(
        text(
            "SELECT request_id, phone, short_code, account_id, channel, source, received_at, acknowledged_at, "
            "applied_at, resolved_at FROM pending_optouts WHERE request_id = :id"
        ),
        {"id": request_id},
    )
    return row.first()


async def prune_resolved(session: AsyncSession, *, before: datetime) -> int:
    """Forget requests resolved before `before`; return how many."""
    result = await session.execute(text("DELETE FROM pending_optouts WHERE resolved_at < :before"), {"before": before})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def unresolved_optouts(session: AsyncSession) -> tuple[int, datetime | None]:
    """Return how many opt-out requests wait for suppression, and when the oldest was acknowledged."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS n, min(coalesce(acknowledged_at, applied_at)) AS oldest "
                "FROM pending_optouts WHERE resolved_at IS NULL AND phone IS NOT NULL"
            )
        )
    ).one()
    return int(row.n), row.oldest


async def record_feed_progress(
    session: AsyncSession, *, applied_sequence: int, latest_sequence: int, caught_up_at: datetime | None
) -> None:
    """Record what a poll applied and, when it reached the feed's end, when that was proven."""
    # GREATEST: several replicas poll the same feed; a slower one must not move the proof back.
    await session.execute(
        text(
            """
            UPDATE feed_state SET
                applied_sequence = GREATEST(applied_sequence, :applied),
                latest_sequence = GREATEST(latest_sequence, :latest),
                caught_up_at = CASE WHEN CAST(:caught_up_at AS timestamptz) IS NULL THEN caught_up_at
                                    ELSE GREATEST(caught_up_at, CAST(:caught_up_at AS timestamptz)) END,
                last_error = NULL
            WHERE id = 1
            """
        ),
        {"applied": applied_sequence, "latest": latest_sequence, "caught_up_at": caught_up_at},
    )


async def record_feed_error(session: AsyncSession, *, error: str) -> None:
    """Remember why the last poll failed (shown by readiness and logs)."""
    await session.execute(text("UPDATE feed_state SET last_error = :error WHERE id = 1"), {"error": error[:1000]})


# -- dispatches -------------------------------------------------------------------------------


@dataclass(slots=True)
class NewDispatch:
    """A decided request about to be stored."""

    request_id: str
    event_id: str
    account_id: str
    campaign_id: str | None
    phone: str
    kind: str
    request: dict[str, Any]
    state: str
    decision: str
    reason: str
    scheduled_for: datetime | None
    release_at: datetime | None
    send_by: datetime | None
    message_id: str
    priority: int
    next_attempt_at: datetime | None


_INSERT_DISPATCHES = text(
    """
    INSERT INTO dispatches (request_id, event_id, account_id, campaign_id, phone, kind, request, state,
                            decision, reason, scheduled_for, release_at, send_by, message_id, priority,
                            next_attempt_at, decided_at, updated_at)
    SELECT u.request_id, u.event_id, u.account_id, u.campaign_id, u.phone, u.kind, CAST(u.request AS jsonb),
           u.state, u.decision, u.reason, u.scheduled_for, u.release_at, u.send_by, u.message_id, u.priority,
           u.next_attempt_at, :now, :now
    FROM unnest(CAST(:request_ids AS text[]), CAST(:event_ids AS text[]), CAST(:account_ids AS text[]),
                CAST(:campaign_ids AS text[]), CAST(:phones AS text[]), CAST(:kinds AS text[]),
                CAST(:requests AS text[]), CAST(:states AS text[]), CAST(:decisions AS text[]),
                CAST(:reasons AS text[]), CAST(:scheduled AS timestamptz[]), CAST(:release AS timestamptz[]),
                CAST(:send_by AS timestamptz[]), CAST(:message_ids AS text[]), CAST(:priorities AS smallint[]),
                CAST(:next_attempt AS timestamptz[]))
         AS u(request_id, event_id, account_id, campaign_id, phone, kind, request, state, decision, reason,
              scheduled_for, release_at, send_by, message_id, priority, next_attempt_at)
    ON CONFLICT DO NOTHING
    RETURNING request_id
    """
)


async def insert_dispatches(session: AsyncSession, rows: Sequence[NewDispatch], *, now: datetime) -> set[str]:
    """Store decided requests; return the request ids stored (the others were decided before)."""
    if not rows:
        return set()
    result = await session.execute(
        _INSERT_DISPATCHES,
        {
            "request_ids": [r.request_id for r in rows],
            "event_ids": [r.event_id for r in rows],
            "account_ids": [r.account_id for r in rows],
            "campaign_ids": [r.campaign_id for r in rows],
            "phones": [r.phone for r in rows],
            "kinds": [r.kind for r in rows],
            "requests": [json.dumps(r.request, separators=(",", ":")) for r in rows],
            "states": [r.state for r in rows],
            "decisions": [r.decision for r in rows],
            "reasons": [r.reason for r in rows],
            "scheduled": [r.scheduled_for for r in rows],
            "release": [r.release_at for r in rows],
            "send_by": [r.send_by for r in rows],
            "message_ids": [r.message_id for r in rows],
            "priorities": [r.priority for r in rows],
            "next_attempt": [r.next_attempt_at for r in rows],
            "now": now,
        },
    )
    return {row.request_id for row in result}


@dataclass(frozen=True, slots=True)
class StoredDispatch:
    """A dispatch row as the loops and the HTTP API read it."""

    request_id: str
    account_id: str
    phone: str
    kind: str
    request: dict[str, Any]
    state: str
    decision: str
    reason: str
    scheduled_for: datetime | None
    send_by: datetime | None
    message_id: str
    attempts: int


_COLUMNS = (
    "request_id, account_id, phone, kind, request, state, decision, reason, scheduled_for, send_by, "
    "message_id, attempts"
)


def _stored(row: Any) -> StoredDispatch:
    request = row.request if isinstance(row.request, dict) else json.loads(row.request)
    return StoredDispatch(
        request_id=row.request_id,
        account_id=row.account_id,
        phone=row.phone,
        kind=row.kind,
        request=request,
        state=row.state,
        decision=row.decision,
        reason=row.reason,
        scheduled_for=row.scheduled_for,
        send_by=row.send_by,
        message_id=row.message_id,
        attempts=row.attempts,
    )


async def find_dispatch(
    session: AsyncSession, *, request_id: str, campaign_id: str | None, phone: str
) -> StoredDispatch | None:
    """Return the row that decided this request (by request id, or by campaign and number)."""
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM dispatches WHERE request_id = :request_id "
                "OR (CAST(:campaign_id AS text) IS NOT NULL AND campaign_id = :campaign_id AND phone = :phone) LIMIT 1"
            ),
            {"request_id": request_id, "campaign_id": campaign_id, "phone": phone},
        )
    ).first()
    return _stored(row) if row else None


async def claim_due_holds(
    session: AsyncSession, *, now: datetime, feed_current: bool, limit: int
) -> list[StoredDispatch]:
    """Lock held rows whose release time has come (feed-stale holds only once the feed is current)."""
    if limit <= 0:
        return []
    rows = await session.execute(
        text(
            f"""
            SELECT {_COLUMNS} FROM dispatches
            WHERE state = '{HELD}' AND release_at <= :now AND (reason <> '{SUPPRESSION_FEED_STALE}' OR :current)
            ORDER BY release_at, request_id
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
            """
        ),
        {"now": now, "current": feed_current, "limit": limit},
    )
    return [_stored(row) for row in rows]


async def claim_pending_accounts(session: AsyncSession, *, limit: int) -> list[StoredDispatch]:
    """Lock requests that waited for an account that is now known."""
    rows = await session.execute(
        text(
            f"""
            SELECT {", ".join("d." + c.strip() for c in _COLUMNS.split(","))} FROM dispatches d
            WHERE d.state = '{PENDING_ACCOUNT}' AND EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = d.account_id)
            LIMIT :limit
            FOR UPDATE OF d SKIP LOCKED
            """
        ),
        {"limit": limit},
    )
    return [_stored(row) for row in rows]


async def claim_due_sends(session: AsyncSession, *, now: datetime, limit: int) -> list[StoredDispatch]:
    """Lock decided sends waiting for a carrier, informative first, oldest first."""
    rows = await session.execute(
        text(
            f"""
            SELECT {_COLUMNS} FROM dispatches
            WHERE state = '{SENDING}' AND next_attempt_at <= :now
            ORDER BY priority, next_attempt_at
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
            """
        ),
        {"now": now, "limit": limit},
    )
    return [_stored(row) for row in rows]


@dataclass(slots=True)
class Transition:
    """A new state for a stored row (a re-evaluation, a carrier answer)."""

    request_id: str
    state: str
    decision: str
    reason: str
    scheduled_for: datetime | None = None
    release_at: datetime | None = None
    send_by: datetime | None = None
    next_attempt_at: datetime | None = None
    attempts: int | None = None
    carrier: str | None = None
    carrier_message_id: str | None = None
    submitted_at: datetime | None = None
    last_error: str | None = None


_APPLY_TRANSITIONS = text(
    """
    UPDATE dispatches d SET
        state = u.state, decision = u.decision, reason = u.reason, scheduled_for = u.scheduled_for,
        release_at = u.release_at, send_by = u.send_by, next_attempt_at = u.next_attempt_at,
        attempts = COALESCE(u.attempts, d.attempts), carrier = COALESCE(u.carrier, d.carrier),
        carrier_message_id = COALESCE(u.carrier_message_id, d.carrier_message_id),
        submitted_at = COALESCE(u.submitted_at, d.submitted_at), last_error = u.last_error, updated_at = :now
    FROM unnest(CAST(:request_ids AS text[]), CAST(:states AS text[]), CAST(:decisions AS text[]),
                CAST(:reasons AS text[]), CAST(:scheduled AS timestamptz[]), CAST(:release AS timestamptz[]),
                CAST(:send_by AS timestamptz[]), CAST(:next_attempt AS timestamptz[]), CAST(:attempts AS int[]),
                CAST(:carriers AS text[]), CAST(:carrier_ids AS text[]), CAST(:submitted AS timestamptz[]),
                CAST(:errors AS text[]))
         AS u(request_id, state, decision, reason, scheduled_for, release_at, send_by, next_attempt_at, attempts,
              carrier, carrier_message_id, submitted_at, last_error)
    WHERE d.request_id = u.request_id
    """
)


_APPLY_TRANSITIONS_FROM = text(_APPLY_TRANSITIONS.text + " AND d.state = :from_state RETURNING d.request_id")


async def apply_transitions(
    session: AsyncSession, transitions: Sequence[Transition], *, now: datetime, only_from: str | None = None
) -> set[str]:
    """Move rows to their new states in one statement; return the request ids moved.

    With ``only_from``, a row moves only if it is still in that state (another replica may
    have recorded it meanwhile).
    """
    if not transitions:
        return set()
    t = transitions
    statement = _APPLY_TRANSITIONS if only_from is None else _APPLY_TRANSITIONS_FROM
    result = await session.execute(
        statement,
        {
            "request_ids": [x.request_id for x in t],
            "states": [x.state for x in t],
            "decisions": [x.decision for x in t],
            "reasons": [x.reason for x in t],
            "scheduled": [x.scheduled_for for x in t],
            "release": [x.release_at for x in t],
            "send_by": [x.send_by for x in t],
            "next_attempt": [x.next_attempt_at for x in t],
            "attempts": [x.attempts for x in t],
            "carriers": [x.carrier for x in t],
            "carrier_ids": [x.carrier_message_id for x in t],
            "submitted": [x.submitted_at for x in t],
            "errors": [x.last_error for x in t],
            "now": now,
            **({} if only_from is None else {"from_state": only_from}),
        },
    )
    if only_from is None:
        return {x.request_id for x in t}
    return {row.request_id for row in result}


async def held_backlog(session: AsyncSession) -> int:
    """Return how many messages wait in a hold or for their account."""
    return int(
        (
            await session.execute(
                text(f"SELECT count(*) FROM dispatches WHERE state IN ('{HELD}', '{PENDING_ACCOUNT}')")
            )
        ).scalar_one()
    )


async def delete_finished(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` submitted or refused rows last changed before `before`; return how many."""
    result = await session.execute(
        text(
            f"""
            DELETE FROM dispatches WHERE request_id IN (
                SELECT request_id FROM dispatches
                WHERE state IN ('{SUBMITTED}', '{REFUSED}') AND updated_at < :before
                LIMIT :limit
            )
            """
        ),
        {"before": before, "limit": limit},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    """Return how many rows are in each state."""
    rows = await session.execute(text("SELECT state, count(*) AS n FROM dispatches GROUP BY state"))
    return {row.state: int(row.n) for row in rows}
