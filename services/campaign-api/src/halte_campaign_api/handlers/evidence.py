"""Evidence for one number (SPEC rule 7): consent, messages with their decisions, opt-outs, erasures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from halte_campaign_api.adapters.tables import (
    contacts,
    decision_history,
    erasures,
    optins,
    optouts,
    recipients,
    suppression_state,
)
from halte_campaign_api.domain.campaigns import outcome_of
from halte_campaign_api.domain.phones import normalize_contact_phone
from halte_campaign_api.handlers.contacts import contact_view
from halte_campaign_api.handlers.optouts import optout_view
from halte_campaign_api.runtime import CampaignRuntime

MAX_MESSAGES = 500


async def evidence_for(runtime: CampaignRuntime, *, account_id: str, phone: str) -> dict[str, Any]:
    """Return everything this account's records prove about one number."""
    e164 = normalize_contact_phone(phone)
    now = runtime.clock.now()
    async with runtime.sessions() as session:
        contact = (
            await session.execute(select(contacts).where(contacts.c.account_id == account_id, contacts.c.phone == e164))
        ).first()
        messages = (
            await session.execute(
                select(recipients)
                .where(recipients.c.account_id == account_id, recipients.c.phone == e164)
                .order_by(recipients.c.requested_at.desc())
                .limit(MAX_MESSAGES)
            )
        ).all()
        history_rows = (
            (
                await session.execute(
                    select(decision_history)
                    .where(
                        decision_history.c.account_id == account_id,
                        decision_history.c.request_id.in_([m.request_id for m in messages]),
                    )
                    .order_by(decision_history.c.decided_at)
                )
            ).all()
            if messages
            else []
        )
        history: dict[str, list[dict[str, Any]]] = {}
        for h in history_rows:
            history.setdefault(h.request_id, []).append(
                {
                    "outcome": outcome_of(h.decision),
                    "reason": h.reason,
                    "final": h.final,
                    "decided_at": h.decided_at,
                    "scheduled_for": h.scheduled_for,
                }
            )
        optout_rows = (
            await session.execute(
                select(optouts)
                .where(optouts.c.account_id == account_id, optouts.c.phone == e164)
                .order_by(optouts.c.enforced_at)
            )
        ).all()
        optin_rows = (
            await session.execute(
                select(optins)
                .where(optins.c.account_id == account_id, optins.c.phone == e164)
                .order_by(optins.c.recorded_at)
            )
        ).all()
        erasure_rows = (
            await session.execute(
                select(erasures)
                .where(erasures.c.account_id == account_id, erasures.c.phone == e164)
                .order_by(erasures.c.id)
            )
        ).all()
        state = (
            await session.execute(
                select(suppression_state).where(
                    suppression_state.c.account_id == account_id, suppression_state.c.phone == e164
                )
            )
        ).first()
    return {
        "phone": e164,
        "suppressed": bool(state.suppressed) if state else False,
        "contact": contact_view(contact, now=now) if contact else None,
        "consent": contact_view(contact, now=now)["consent"] if contact else None,
        "messages": [
            {
                "request_id": m.request_id,
                "campaign_id": m.campaign_id,
                "purpose": m.purpose,
                "kind": m.kind,
                "sender": m.sender,
                "text": m.text,
                "segments": m.segments,
                "consent": m.consent,
                "requested_at": m.requested_at,
                "decision": {
                    "outcome": m.outcome,
                    "reason": m.reason,
                    "final": m.final,
                    "decided_at": m.decided_at,
                    "scheduled_for": m.scheduled_for,
                },
                "decisions": history.get(m.request_id, []),
                "sent_at": m.sent_at,
                "message_id": m.message_id,
                "delivery_status": m.delivery_status,
                "delivered_at": m.delivery_at,
            }
            for m in messages
        ],
        "optouts": [optout_view(r) for r in optout_rows],
        "optins": [
            {
                "id": r.optin_id,
                "channel": r.channel,
                "proof": r.proof,
                "received_at": r.received_at,
                "recorded_at": r.recorded_at,
            }
            for r in optin_rows
        ],
        "erasures": [
            {"reason": r.reason, "cause": r.cause, "contact_existed": r.contact_existed, "erased_at": r.erased_at}
            for r in erasure_rows
        ],
    }
