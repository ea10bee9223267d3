"""Unit sends (``POST /v1/messages``): the same composition and policy as campaigns, answered at once.

The message is composed as a campaign's would be (the contact's fields and consent when
the number is in the address book), its credits are debited and its report row written
in one transaction, then the dispatcher decides synchronously (``POST /v1/dispatch``).
A refusal refunds the debit. If the dispatcher cannot be reached the client gets a 503,
the debit is refunded and the row says ``dispatcher_unavailable`` (never "sent"); should
the dispatcher have decided after all (a timeout after it acted), its ``dispatch.decided``
event corrects the row and charges again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.ports import DispatchAnswer, ServiceUnavailable
from halte_campaign_api.adapters.tables import accounts, contacts, recipients
from halte_campaign_api.domain.campaigns import check_text_length, outcome_of
from halte_campaign_api.domain.compose import compose
from halte_campaign_api.domain.consent import check_category, check_professions
from halte_campaign_api.domain.phones import is_french_number, normalize_contact_phone
from halte_campaign_api.handlers.campaigns import check_kind, check_send_at, sender_for, unsubscribe_url
from halte_campaign_api.handlers.contacts import consent_of
from halte_campaign_api.handlers.credits import record_movement
from halte_campaign_api.handlers.errors import NotFound, Unavailable
from halte_campaign_api.handlers.templates import require_informative_template
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.events import ConsentSnapshot, DispatchRequested
from halte_shared.sms import measure

log = structlog.get_logger("halte.campaign_api.messages")

UNIT_SENDS = Counter("halte_campaign_api_unit_sends_total", "Unit sends, by decision.", ["decision"])


async def refund_recipient(session: AsyncSession, *, request_id: str, at: datetime, why: str) -> int:
    """Refund what one message was charged, once; return the credits given back."""
    row = (
        await session.execute(
            update(recipients)
            .where(recipients.c.request_id == request_id, ~recipients.c.refunded, recipients.c.charged > 0)
            .values(refunded=True)
            .returning(recipients.c.account_id, recipients.c.charged)
        )
    ).first()
    if row is None:
        return 0
    await record_movement(
        session,
        account_id=row.account_id,
        kind="refund",
        amount=int(row.charged),
        cause=f"message:{request_id}",
        key=f"message:{request_id}:refund",
        at=at,
        note=why,
    )
    return int(row.charged)


async def send_message(runtime: CampaignRuntime, *, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Compose, charge and have the dispatcher decide one SMS; return the decision."""
    now = runtime.clock.now()
    phone = normalize_contact_phone(body.get("phone"))
    kind = check_kind(body.get("kind"))
    text = body.get("text")
    if isinstance(text, str):
        check_text_length(text)
    send_at = check_send_at(body.get("send_at"), now=now)
    category = check_category(body.get("category"))
    professions = check_professions(body.get("professions"))
    async with runtime.sessions() as session:
        account_row = (await session.execute(select(accounts).where(accounts.c.id == account_id))).first()
        if account_row is None:
            raise NotFound("The account")
        account = dict(account_row._mapping)
        contact = (
            await session.execute(
                select(contacts).where(contacts.c.account_id == account_id, contacts.c.phone == phone)
            )
        ).first()
    sender = sender_for(account, kind=kind, requested=body.get("short_code"))
    french = is_french_number(phone)
    url = unsubscribe_url(runtime, account_id=account_id, phone=phone) if kind == "marketing" and not french else None
    composed = compose(
        text,  # type: ignore[arg-type]  # checked by compose
        kind=kind,
        advertiser_name=account["name"],
        short_code=sender,
        sender=sender,
        destination_is_french=french,
        fields={"first_name": contact.first_name, "last_name": contact.last_name} if contact else {},
        unsubscribe_url=url,
        account_mode=account["mode"],
    )
    await require_informative_template(runtime, account, kind=kind, text=text)
    size = measure(composed.text, credits_per_segment=runtime.settings.credits_per_segment)
    consent = consent_of(contact) if contact is not None else None
    request_id = str(uuid.uuid4())
    request = DispatchRequested(
        request_id=request_id,
        account_id=account_id,
        campaign_id=None,
        phone=phone,
        kind=kind,  # type: ignore[arg-type]
        sender=sender,
        text=composed.text,
        segments=size.segments,
        postal_code=contact.postal_code if contact else None,
        consent=ConsentSnapshot(**consent) if consent else None,
        send_at=send_at,
        account_mode=account["mode"],
        hours_profile=account["hours_profile"],
        window_start=account["window_start"],
        window_end=account["window_end"],
        credits_reserved=True,
        unsubscribe_url=url,
        category=category,
        professions=professions,
        account_non_commercial=account["non_commercial"],
        requested_at=now,
    )
    async with runtime.sessions() as session, session.begin():
        await record_movement(
            session,
            account_id=account_id,
            kind="debit",
            amount=size.cost,
            cause=f"message:{request_id}",
            key=f"message:{request_id}:debit",
            at=now,
            note=f"unit send, {size.segments} segment(s)",
        )
        await session.execute(
            recipients.insert().values(
                request_id=request_id,
                account_id=account_id,
                campaign_id=None,
                purpose="unit",
                phone=phone,
                kind=kind,
                sender=sender,
                text=composed.text,
                segments=size.segments,
                charged=size.cost,
                credits_reserved=True,
                consent={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in consent.items()}
                if consent
                else None,
                postal_code=request.postal_code,
                send_at=send_at,
                requested_at=now,
            )
        )
    try:
        answer = await runtime.dispatcher.dispatch(request)
    except ServiceUnavailable as exc:
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(recipients)
                .where(recipients.c.request_id == request_id, recipients.c.outcome == "pending")
                .values(outcome="refused", reason="dispatcher_unavailable", final=False, decided_at=now)
            )
            await refund_recipient(session, request_id=request_id, at=now, why="the dispatcher could not be reached")
        UNIT_SENDS.labels("unavailable").inc()
        log.warning(
            "a unit send was not sent: the dispatcher could not be reached; credits released",
            account_id=account_id,
            request_id=request_id,
            error=str(exc),
        )
        raise Unavailable(
            "dispatcher_unavailable", "The message could not be handed to the dispatcher; nothing was sent. Retry."
        ) from exc
    await record_answer(runtime, request_id=request_id, answer=answer, at=runtime.clock.now())
    UNIT_SENDS.labels(answer.decision).inc()
    return {
        "request_id": request_id,
        "decision": answer.decision,
        "reason": answer.reason,
        "next_window_start": answer.next_window_start,
        "phone": phone,
        "sender": sender,
        "final_text": composed.text,
        "encoding": size.encoding,
        "segments": size.segments,
        "cost": size.cost if answer.decision != "refuse" else 0,
    }


async def record_answer(runtime: CampaignRuntime, *, request_id: str, answer: DispatchAnswer, at: datetime) -> None:
    """Record the dispatcher's synchronous decision (unless its event already brought a final one)."""
    outcome = outcome_of(answer.decision)
    final = answer.decision != "hold"
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(recipients)
            .where(recipients.c.request_id == request_id, ~recipients.c.final)
            .values(
                outcome=outcome,
                reason=answer.reason or None,
                final=final,
                scheduled_for=answer.next_window_start if answer.decision == "hold" else None,
                decided_at=at,
            )
        )
        if answer.decision == "refuse":
            await refund_recipient(session, request_id=request_id, at=at, why=f"refused: {answer.reason}")
