"""Read side: the evidence of confirmations and CONTACT replies, and the templates in force."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from halte_notifier.adapters import repository as repo
from halte_notifier.domain.language import LANGUAGES
from halte_notifier.domain.templates import DEFAULT_TEMPLATES, PURPOSES


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def confirmations(
    session: AsyncSession, *, account_id: str | None, phone: str | None, limit: int
) -> dict[str, Any]:
    """Return every reply sent (or tried) for an account and/or number, with charge and tries."""
    rows, charges, submissions, throttled = await repo.evidence(
        session, account_id=account_id, phone=phone, limit=limit
    )
    items = []
    for m in rows:
        charge = charges.get(m.message_id)
        items.append(
            {
                "message_id": m.message_id,
                "purpose": m.purpose,
                "cause_event_id": m.cause_event_id,
                "account_id": m.account_id,
                "phone": m.phone,
                "sender": m.sender,
                "text": m.text,
                "encoding": m.encoding,
                "segments": m.segments,
                "state": m.state,
                "tries": m.tries,
                "attempt": m.attempt,
                "next_attempt_at": _iso(m.next_attempt_at) if m.state == "pending" else None,
                "carrier": m.carrier,
                "carrier_message_id": m.carrier_message_id,
                "delivery_status": m.delivery_status,
                "last_error": m.last_error,
                "created_at": _iso(m.created_at),
                "submitted_at": _iso(m.submitted_at),
                "delivered_at": _iso(m.delivered_at),
                "charge": (
                    {
                        "charge_id": charge.charge_id,
                        "amount": charge.amount,
                        "reason": charge.reason,
                        "charged_at": _iso(charge.charged_at),
                    }
                    if charge
                    else None
                ),
                "submissions": [
                    {
                        "submission_id": s.submission_id,
                        "attempt": s.attempt,
                        "tries": s.tries,
                        "carrier": s.carrier,
                        "carrier_message_id": s.carrier_message_id,
                        "outcome": s.outcome,
                        "error": s.error,
                        "delivery_status": s.delivery_status,
                        "started_at": _iso(s.started_at),
                        "answered_at": _iso(s.answered_at),
                        "reported_at": _iso(s.reported_at),
                    }
                    for s in submissions.get(m.message_id, [])
                ],
            }
        )
    return {
        "account_id": account_id,
        "phone": phone,
        "count": len(items),
        "items": items,
        "throttled_contact_requests": [
            {
                "request_id": r.request_id,
                "account_id": r.account_id,
                "phone": r.phone,
                "raw_text": r.raw_text,
                "received_at": _iso(r.received_at),
                "handled_at": _iso(r.handled_at),
            }
            for r in throttled
        ],
    }


async def templates(session: AsyncSession, account_id: str) -> dict[str, Any]:
    """Return the text in force for each purpose and language of an account, and whether it is its own."""
    own = await repo.list_templates(session, account_id)
    items = []
    for purpose in PURPOSES:
        for language in LANGUAGES:
            custom = own.get((purpose, language))
            items.append(
                {
                    "purpose": purpose,
                    "language": language,
                    "text": custom[0] if custom else DEFAULT_TEMPLATES[(purpose, language)],
                    "source": "account" if custom else "default",
                    "updated_at": _iso(custom[1]) if custom else None,
                }
            )
    return {"account_id": account_id, "templates": items}
