"""SQL of the notifier: every read and write of its tables, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halte_notifier.adapters.tables import (
    accounts,
    charges,
    contact_requests,
    messages,
    pending_events,
    reply_templates,
    submissions,
)
from halte_notifier.domain.accounts import AccountProfile

#: States in which a message still waits for a carrier to accept it.
UNSENT_STATES = ("pending", "submitting")


async def lock_account(session: AsyncSession, account_id: str) -> None:
    """Serialise, until commit, the work of this transaction with any other on the same account."""
    # Parking an event and resuming the parked ones must not interleave: without the lock
    # an event parked while account.changed commits would wait for a change that already came.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"notifier.account:{account_id}"}
    )


# -- accounts -------------------------------------------------------------------------


def _profile(row: Any) -> AccountProfile:
    return AccountProfile(
        account_id=row.account_id,
        name=row.name,
        contact_info=row.contact_info,
        short_codes=tuple(row.short_codes or ()),
        mode=row.mode,
        active=row.active,
        changed_at=row.changed_at,
    )


async def get_account(session: AsyncSession, account_id: str) -> AccountProfile | None:
    """Return the local copy of an account, or None when no account.changed named it yet."""
    row = (await session.execute(select(accounts).where(accounts.c.account_id == account_id))).first()
    return _profile(row) if row else None


async def save_account(session: AsyncSession, profile: AccountProfile) -> bool:
    """Store an account's copy unless a newer one is stored; return whether it was written."""
    values = {
        "account_id": profile.account_id,
        "name": profile.name,
        "contact_info": profile.contact_info,
        "short_codes": list(profile.short_codes),
        "mode": profile.mode,
        "active": profile.active,
        "changed_at": profile.changed_at,
    }
    upsert = insert(accounts).values(**values)
    statement = upsert.on_conflict_do_update(
        index_elements=[accounts.c.account_id],
        set_={**{k: upsert.excluded[k] for k in values if k != "account_id"}, "updated_at": func.now()},
        where=accounts.c.changed_at <= upsert.excluded.changed_at,
    ).returning(accounts.c.account_id)
    return (await session.execute(statement)).first() is not None


# -- templates ------------------------------------------------------------------------


async def get_template(session: AsyncSession, *, account_id: str, purpose: str, language: str) -> str | None:
    """Return an account's own template for a purpose and language, if it set one."""
    return (
        await session.execute(
            select(reply_templates.c.text).where(
                reply_templates.c.account_id == account_id,
                reply_templates.c.purpose == purpose,
                reply_templates.c.language == language,
            )
        )
    ).scalar_one_or_none()


async def put_template(
    session: AsyncSession, *, account_id: str, purpose: str, language: str, body: str, now: datetime
) -> None:
    """Create or replace an account's template."""
    statement = insert(reply_templates).values(
        account_id=account_id, purpose=purpose, language=language, text=body, updated_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[reply_templates.c.account_id, reply_templates.c.purpose, reply_templates.c.language],
            set_={"text": statement.excluded.text, "updated_at": statement.excluded.updated_at},
        )
    )


async def delete_template(session: AsyncSession, *, account_id: str, purpose: str, language: str) -> bool:
    """Remove an account's template (the default applies again); return whether one existed."""
    result = await session.execute(
        delete(reply_templates)
        .where(
            reply_templates.c.account_id == account_id,
            reply_templates.c.purpose == purpose,
            reply_templates.c.language == language,
        )
        .returning(reply_templates.c.account_id)
    )
    return result.first() is not None


async def list_templates(session: AsyncSession, account_id: str) -> dict[tuple[str, str], tuple[str, datetime]]:
    """Return an account's own templates by (purpose, language)."""
    rows = await session.execute(select(reply_templates).where(reply_templates.c.account_id == account_id))
    return {(r.purpose, r.language): (r.text, r.updated_at) for r in rows}


# -- pending events -------------------------------------------------------------------


async def park(
    session: AsyncSession, *, event_id: str, account_id: str, topic: str, reason: str, envelope: bytes, now: datetime
) -> None:
    """Keep an event until its account can be answered for."""
    await session.execute(
        insert(pending_events)
        .values(event_id=event_id, account_id=account_id, topic=topic, reason=reason, envelope=envelope, parked_at=now)
        .on_conflict_do_update(index_elements=[pending_events.c.event_id], set_={"reason": reason})
    )


async def parked_for(session: AsyncSession, account_id: str) -> list[tuple[str, str, bytes]]:
    """Return the events parked for an account, oldest first: (event_id, topic, envelope)."""
    rows = await session.execute(
        select(pending_events.c.event_id, pending_events.c.topic, pending_events.c.envelope)
        .where(pending_events.c.account_id == account_id)
        .order_by(pending_events.c.parked_at, pending_events.c.event_id)
    )
    return [(r.event_id, r.topic, bytes(r.envelope)) for r in rows]


async def unpark(session: AsyncSession, event_id: str) -> None:
    """Forget a parked event (it was handled)."""
    await session.execute(delete(pending_events).where(pending_events.c.event_id == event_id))


async def count_parked(session: AsyncSession) -> int:
    """Return how many events wait for their account."""
    return int((await session.execute(select(func.count()).select_from(pending_events))).scalar_one())


# -- charges and messages (the send intent) -------------------------------------------


async def insert_charge(session: AsyncSession, **values: Any) -> bool:
    """Write a charge unless its cause was already charged; return whether it was written."""
    result = await session.execute(
        insert(charges)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[charges.c.cause_event_id, charges.c.reason])
        .returning(charges.c.charge_id)
    )
    return result.first() is not None


async def insert_message(session: AsyncSession, **values: Any) -> bool:
    """Write a message to send unless it exists; return whether it was written."""
    result = await session.execute(
        insert(messages).values(**values).on_conflict_do_nothing().returning(messages.c.message_id)
    )
    return result.first() is not None


async def count_unsent(session: AsyncSession) -> int:
    """Return how many messages wait for a carrier's acceptance."""
    statement = select(func.count()).select_from(messages).where(messages.c.state.in_(UNSENT_STATES))
    return int((await session.execute(statement)).scalar_one())


# -- CONTACT requests -----------------------------------------------------------------


async def replies_since(session: AsyncSession, *, account_id: str, phone: str, since: datetime) -> list[datetime]:
    """Return when the CONTACT replies to a number from an account were decided since `since`."""
    rows = await session.execute(
        select(contact_requests.c.handled_at).where(
            contact_requests.c.account_id == account_id,
            contact_requests.c.phone == phone,
            contact_requests.c.outcome == "replied",
            contact_requests.c.handled_at > since,
        )
    )
    return [r.handled_at for r in rows]


async def record_contact_request(session: AsyncSession, **values: Any) -> bool:
    """Record a CONTACT request's outcome; return False when it was recorded before."""
    result = await session.execute(
        insert(contact_requests)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[contact_requests.c.request_id])
        .returning(contact_requests.c.request_id)
    )
    return result.first() is not None


# -- sending --------------------------------------------------------------------------


async def claim_due(session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int) -> list[Any]:
    """Lease up to `limit` messages whose try is due, or whose previous holder's lease ran out.

    Each returned row is the message after the claim, plus ``previous_state``
    ("submitting" means the previous holder died or hung mid-try).
    """
    due = (
        select(messages.c.message_id, messages.c.state.label("previous_state"))
        .where(
            or_(
                and_(messages.c.state == "pending", messages.c.next_attempt_at <= now),
                and_(messages.c.state == "submitting", messages.c.lease_until < now),
            )
        )
        .order_by(messages.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    # Two replicas never hold one row at once (SKIP LOCKED), and the lease makes a row taken
    # by a sender that died come back after lease_until without anybody having to notice.
    result = await session.execute(
        update(messages)
        .where(messages.c.message_id == due.c.message_id)
        .values(state="submitting", lease_until=lease_until, tries=messages.c.tries + 1, updated_at=now)
        .returning(*messages.c, due.c.previous_state)
    )
    return list(result.all())


async def start_submission(
    session: AsyncSession, *, submission_id: str, message_id: str, attempt: int, now: datetime
) -> None:
    """Record that a try of this submission id begins (the same id again after a crash or a temporary error)."""
    statement = insert(submissions).values(
        submission_id=submission_id, message_id=message_id, attempt=attempt, tries=1, started_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[submissions.c.submission_id],
            set_={
                "tries": submissions.c.tries + 1,
                "answered_at": None,
                "outcome": None,
                "error": None,
                "started_at": now,
            },
        )
    )


async def record_submission_answer(
    session: AsyncSession,
    *,
    submission_id: str,
    outcome: str,
    carrier: str | None,
    carrier_message_id: str | None,
    error: str | None,
    now: datetime,
) -> bool:
    """Record the carrier's answer to a try; False when another sender already recorded it."""
    result = await session.execute(
        update(submissions)
        .where(submissions.c.submission_id == submission_id, submissions.c.answered_at.is_(None))
        .values(outcome=outcome, carrier=carrier, carrier_message_id=carrier_message_id, error=error, answered_at=now)
        .returning(submissions.c.submission_id)
    )
    return result.first() is not None


async def mark_accepted(
    session: AsyncSession,
    *,
    message_id: str,
    attempt: int,
    carrier: str,
    carrier_message_id: str | None,
    now: datetime,
    error: str | None = None,
) -> None:
    """Record that a carrier accepted the message's current attempt."""
    # A delivery report can beat this transaction (the simulator reports fast): it may
    # already have moved the state to delivered, which must stay.
    await session.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.attempt == attempt)
        .values(
            state=case((messages.c.state == "submitting", "submitted"), else_=messages.c.state),
            carrier=carrier,
            carrier_message_id=carrier_message_id,
            submitted_at=func.coalesce(messages.c.submitted_at, now),
            lease_until=None,
            last_error=error,
            updated_at=now,
        )
    )


async def schedule_retry(
    session: AsyncSession,
    *,
    message_id: str,
    attempt: int,
    next_attempt: int,
    at: datetime,
    error: str,
    now: datetime,
    from_states: Sequence[str],
) -> bool:
    """Put a message back in line for another try; False if it moved on meanwhile."""
    result = await session.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.attempt == attempt, messages.c.state.in_(from_states))
        .values(
            state="pending",
            attempt=next_attempt,
            next_attempt_at=at,
            lease_until=None,
            last_error=error,
            updated_at=now,
        )
        .returning(messages.c.message_id)
    )
    return result.first() is not None


async def mark_failed_final(
    session: AsyncSession, *, message_id: str, attempt: int, error: str, now: datetime, from_states: Sequence[str]
) -> bool:
    """Give up on a message; False if it moved on meanwhile."""
    result = await session.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.attempt == attempt, messages.c.state.in_(from_states))
        .values(state="failed_final", next_attempt_at=None, lease_until=None, last_error=error, updated_at=now)
        .returning(messages.c.message_id)
    )
    return result.first() is not None


# -- delivery reports -----------------------------------------------------------------


async def submissions_matching(
    session: AsyncSession, *, carrier_ids: Sequence[str], submission_ids: Sequence[str]
) -> list[Any]:
    """Return our submissions named by delivery reports (by carrier message id or by our id), with their message."""
    if not carrier_ids and not submission_ids:
        return []
    conditions = []
    if carrier_ids:
        conditions.append(submissions.c.carrier_message_id.in_(list(carrier_ids)))
    if submission_ids:
        conditions.append(submissions.c.submission_id.in_(list(submission_ids)))
    rows = await session.execute(
        select(
            submissions.c.submission_id,
            submissions.c.attempt.label("submission_attempt"),
            submissions.c.carrier.label("submission_carrier"),
            submissions.c.carrier_message_id.label("submission_carrier_message_id"),
            messages.c.message_id,
            messages.c.attempt,
            messages.c.tries,
            messages.c.state,
        )
        .join(messages, messages.c.message_id == submissions.c.message_id)
        .where(or_(*conditions))
    )
    return list(rows.all())


async def record_submission_report(
    session: AsyncSession, *, submission_id: str, status: str, carrier_message_id: str | None, now: datetime
) -> None:
    """Keep a delivery report's status on the submission it names."""
    await session.execute(
        update(submissions)
        .where(submissions.c.submission_id == submission_id)
        .values(
            delivery_status=status,
            reported_at=now,
            carrier_message_id=func.coalesce(submissions.c.carrier_message_id, carrier_message_id),
        )
    )


async def mark_delivered(session: AsyncSession, *, message_id: str, now: datetime) -> bool:
    """Record that the message reached the phone (whatever attempt did it); False if it already was."""
    result = await session.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.state != "delivered")
        .values(
            state="delivered",
            delivery_status="delivered",
            delivered_at=now,
            next_attempt_at=None,
            lease_until=None,
            updated_at=now,
        )
        .returning(messages.c.message_id)
    )
    return result.first() is not None


async def set_delivery_status(session: AsyncSession, *, message_id: str, status: str, now: datetime) -> None:
    """Keep the latest non-final delivery status on the message."""
    await session.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.state != "delivered")
        .values(delivery_status=status, updated_at=now)
    )


# -- evidence -------------------------------------------------------------------------


async def evidence(
    session: AsyncSession, *, account_id: str | None, phone: str | None, limit: int
) -> tuple[list[Any], dict[str, Any], dict[str, list[Any]], list[Any]]:
    """Return messages, their charges and submissions, and throttled CONTACT requests, newest first."""
    conditions = []
    request_conditions = [contact_requests.c.outcome == "throttled"]
    if account_id is not None:
        conditions.append(messages.c.account_id == account_id)
        request_conditions.append(contact_requests.c.account_id == account_id)
    if phone is not None:
        conditions.append(messages.c.phone == phone)
        request_conditions.append(contact_requests.c.phone == phone)
    rows = list(
        (
            await session.execute(
                select(messages).where(*conditions).order_by(messages.c.created_at.desc()).limit(limit)
            )
        ).all()
    )
    ids = [r.message_id for r in rows]
    charge_rows = (await session.execute(select(charges).where(charges.c.message_id.in_(ids)))).all() if ids else []
    submission_rows = (
        (
            await session.execute(
                select(submissions).where(submissions.c.message_id.in_(ids)).order_by(submissions.c.attempt)
            )
        ).all()
        if ids
        else []
    )
    by_message: dict[str, list[Any]] = {}
    for row in submission_rows:
        by_message.setdefault(row.message_id, []).append(row)
    throttled = list(
        (
            await session.execute(
                select(contact_requests)
                .where(*request_conditions)
                .order_by(contact_requests.c.handled_at.desc())
                .limit(limit)
            )
        ).all()
    )
    return rows, {c.message_id: c for c in charge_rows}, by_message, throttled
