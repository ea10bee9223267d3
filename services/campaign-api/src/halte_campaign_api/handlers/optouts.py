"""The account's opt-outs (learned from optout.recorded) and the ones it reports itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select

from halte_campaign_api.adapters.ports import ServiceUnavailable
from halte_campaign_api.adapters.tables import optouts
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.phones import normalize_contact_phone
from halte_campaign_api.handlers.contacts import check_limit, decode_cursor, encode_cursor
from halte_campaign_api.handlers.errors import NotFound, Unavailable
from halte_campaign_api.runtime import CampaignRuntime

log = structlog.get_logger("halte.campaign_api.optouts")


def optout_view(row: Any) -> dict[str, Any]:
    """Return an opt-out as the API shows it."""
    return {
        "id": row.optout_id,
        "phone": row.phone,
        "channel": row.channel,
        "short_code": row.short_code,
        "raw_text": row.raw_text,
        "received_at": row.received_at,
        "enforced_at": row.enforced_at,
        "contact_erased": row.contact_erased,
    }


async def list_optouts(
    runtime: CampaignRuntime, *, account_id: str, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """Return a page of the account's opt-outs, most recent first."""
    size = check_limit(limit)
    position = decode_cursor(cursor)
    query = select(optouts).where(optouts.c.account_id == account_id)
    if position is not None:
        at_text, _, optout_id = position.partition("|")
        try:
            at: datetime | None = datetime.fromisoformat(at_text)
        except ValueError:
            at = None
        if at is None or at.utcoffset() is None or not optout_id or len(optout_id) > 64:
            raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor")
        query = query.where(
            or_(optouts.c.enforced_at < at, and_(optouts.c.enforced_at == at, optouts.c.optout_id < optout_id))
        )
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                query.order_by(optouts.c.enforced_at.desc(), optouts.c.optout_id.desc()).limit(size + 1)
            )
        ).all()
    last = rows[size - 1] if len(rows) > size else None
    return {
        "items": [optout_view(r) for r in rows[:size]],
        "next_cursor": encode_cursor(f"{last.enforced_at.isoformat()}|{last.optout_id}") if last else None,
    }


async def get_optouts(runtime: CampaignRuntime, *, account_id: str, phone: str) -> dict[str, Any]:
    """Return one number's opt-outs for the account (404 when it never opted out)."""
    e164 = normalize_contact_phone(phone)
    async with runtime.sessions() as session:
        rows = (
            await session.execute(
                select(optouts)
                .where(optouts.c.account_id == account_id, optouts.c.phone == e164)
                .order_by(optouts.c.enforced_at.desc())
            )
        ).all()
    if not rows:
        raise NotFound("An opt-out for this number", "phone")
    return {"phone": e164, "optouts": [optout_view(r) for r in rows], **optout_view(rows[0])}


async def report_optout(runtime: CampaignRuntime, *, account_id: str, phone: str, channel: str) -> dict[str, Any]:
    """Hand an opt-out the account received elsewhere to the suppression service."""
    e164 = normalize_contact_phone(phone)
    try:
        answer = await runtime.suppression.record_optout(account_id=account_id, phone=e164, channel=channel)
    except ServiceUnavailable as exc:
        log.warning("an opt-out reported by an account could not be handed over", account_id=account_id, error=str(exc))
        raise Unavailable(
            "suppression_unavailable", "The opt-out could not be recorded now; nothing was changed. Retry."
        ) from exc
    log.info("an opt-out reported by the account was handed to the suppression service", account_id=account_id)
    return {
        "status": "accepted",
        "phone": e164,
        "channel": channel,
        "message": "The opt-out is recorded by the suppression service; the number leaves the address book "
        "as soon as it is enforced.",
        "suppression": answer,
    }
