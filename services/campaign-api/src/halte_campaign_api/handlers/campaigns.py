"""Campaigns: drafts, previews, launches (credits reserved, announced), cancellations, reports."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.tables import accounts, campaigns, contacts, recipients
from halte_campaign_api.domain.accounts import marketing_short_code
from halte_campaign_api.domain.campaigns import (
    MAX_AUDIENCE_PHONES,
    OUTCOMES,
    STATUSES,
    audience_summary,
    check_campaign_name,
    check_text_length,
    ensure_can_cancel,
    ensure_can_launch,
    reported_status,
    reservation_for,
)
from halte_campaign_api.domain.compose import KINDS, check_text
from halte_campaign_api.domain.consent import check_category, check_professions, classify_audience
from halte_campaign_api.domain.contacts import check_person_name, check_tags
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.informative import check_informative_text
from halte_campaign_api.domain.phones import is_french_number, normalize_contact_phone
from halte_campaign_api.domain.preview import Preview, preview
from halte_campaign_api.handlers.contacts import CONSENT_COLUMNS, check_limit, decode_cursor, encode_cursor
from halte_campaign_api.handlers.credits import record_movement
from halte_campaign_api.handlers.errors import NotFound
from halte_campaign_api.handlers.templates import require_informative_template
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.events import CampaignLaunched
from halte_shared.outbox import add_to_outbox
from halte_shared.signing import make_unsubscribe_token

log = structlog.get_logger("halte.campaign_api.campaigns")

#: How far ahead a campaign may be scheduled.
MAX_SCHEDULE_AHEAD = timedelta(days=366)
#: A send_at this much in the past is a mistake, not a clock skew.
PAST_TOLERANCE = timedelta(minutes=5)
DELIVERY_STATUSES = ("delivered", "failed", "expired", "rejected", "buffered", "accepted", "unknown")


def sender_for(account: dict[str, Any], *, kind: str, requested: str | None) -> str:
    """Return the short code a message of this account is sent from (one of its own)."""
    codes = list(account["short_codes"])
    if requested is not None:
        if requested not in codes:
            raise DomainError(
                "unknown_short_code", f"{requested!r} is not one of this account's short codes.", "short_code"
            )
        return requested
    if kind == "marketing":
        return marketing_short_code(codes) or codes[0]
    return codes[0]


def unsubscribe_url(runtime: CampaignRuntime, *, account_id: str, phone: str) -> str:
    """Return the platform's unsubscribe link for a number outside France (SPEC rule 3)."""
    token = make_unsubscribe_token(runtime.settings.unsubscribe_secret_value(), account_id=account_id, phone=phone)
    return f"{runtime.settings.unsubscribe_base_url()}/u/{token}"


def check_send_at(send_at: datetime | None, *, now: datetime) -> datetime | None:
    """Return a schedule inside the next year, or raise DomainError."""
    if send_at is None:
        return None
    if send_at.utcoffset() is None:
        raise DomainError("naive_datetime", "send_at must carry a time zone offset.", "send_at")
    if send_at < now - PAST_TOLERANCE:
        raise DomainError("send_at_in_past", "send_at is in the past.", "send_at")
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise DomainError("send_at_too_far", "send_at is more than a year ahead.", "send_at")
    return send_at


def check_kind(kind: object) -> str:
    """Return the message kind, or raise DomainError."""
    if kind not in KINDS:
        raise DomainError("invalid_kind", "kind must be 'marketing' or 'informative'.", "kind")
    return str(kind)


def check_defaults(defaults: dict[str, Any] | None) -> dict[str, str]:
    """Return the personalisation defaults (value used when a contact has none)."""
    result: dict[str, str] = {}
    for name, value in (defaults or {}).items():
        tidy = check_person_name(value, field=f"defaults.{name}")
        if tidy:
            result[name] = tidy
    return result


def preview_of(
    runtime: CampaignRuntime,
    *,
    account: dict[str, Any],
    text: str,
    kind: str,
    sender: str,
    defaults: dict[str, str],
    phone: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Preview:
    """Return the preview of a text for this account (a sample recipient, or a real one)."""
    french = True if phone is None else is_french_number(phone)
    url = None
    if kind == "marketing" and not french:
        assert phone is not None
        url = unsubscribe_url(runtime, account_id=account["id"], phone=phone)
    return preview(
        text=text,
        kind=kind,
        advertiser_name=account["name"],
        short_code=sender,
        sender=sender,
        destination_is_french=french,
        sample_fields=fields,
        field_defaults=defaults,
        credits_per_segment=runtime.settings.credits_per_segment,
        unsubscribe_url=url,
        account_mode=account["mode"],
    )


async def _account(session: AsyncSession, account_id: str) -> dict[str, Any]:
    row = (await session.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        raise NotFound("The account")
    return dict(row._mapping)


async def create_campaign(runtime: CampaignRuntime, *, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Record a draft campaign, refusing now what launching would refuse."""
    now = runtime.clock.now()
    name = check_campaign_name(body.get("name"))
    kind = check_kind(body.get("kind"))
    text = body.get("text")
    check_text(text)
    assert isinstance(text, str)
    check_text_length(text)
    if kind == "informative":
        check_informative_text(text)
    audience = body.get("audience") or {}
    tags = check_tags(audience.get("tags"), field="audience.tags")
    raw_phones = audience.get("phones") or []
    if len(raw_phones) > MAX_AUDIENCE_PHONES:
        raise DomainError(
            "too_many", f"audience.phones holds at most {MAX_AUDIENCE_PHONES} numbers.", "audience.phones"
        )
    phones = sorted({normalize_contact_phone(p, field="audience.phones") for p in raw_phones})
    defaults = check_defaults(body.get("defaults"))
    # What a marketing campaign concerns: customers and professionals are reached only when it says.
    category = check_category(body.get("category"))
    professions = check_professions(body.get("professions"))
    send_at = check_send_at(body.get("send_at"), now=now)
    async with runtime.sessions() as session, session.begin():
        account = await _account(session, account_id)
        sender = sender_for(account, kind=kind, requested=body.get("short_code"))
        # The sample composition raises what every recipient would (mode, sender, wrong STOP number).
        preview_of(runtime, account=account, text=text, kind=kind, sender=sender, defaults=defaults)
        await require_informative_template(session, account, kind=kind, text=text)
        campaign = {
            "id": str(uuid.uuid4()),
            "account_id": account_id,
            "name": name,
            "kind": kind,
            "text": text,
            "audience_tags": tags,
            "audience_phones": phones,
            "field_defaults": defaults,
            "category": category,
            "professions": professions,
            "sender": sender,
            "send_at": send_at,
            "status": "draft",
            "created_at": now,
            "updated_at": now,
        }
        await session.execute(campaigns.insert().values(**campaign))
    log.info("campaign drafted", account_id=account_id, campaign_id=campaign["id"], kind=kind)
    return await get_campaign(runtime, account_id=account_id, campaign_id=campaign["id"])


async def load_campaign(session: AsyncSession, *, account_id: str, campaign_id: str, lock: bool = False) -> Any:
    """Return the account's campaign row, or raise NotFound (another account's id included)."""
    try:
        uuid.UUID(campaign_id)
    except ValueError:
        raise NotFound("The campaign", "id") from None
    query = select(campaigns).where(campaigns.c.id == campaign_id, campaigns.c.account_id == account_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("The campaign", "id")
    return row


def audience_condition(campaign: Any) -> ColumnElement[bool]:
    """Return the SQL condition selecting a campaign's audience among the account's contacts."""
    parts: list[ColumnElement[bool]] = []
    if campaign.audience_tags:
        parts.append(contacts.c.tags.overlap(list(campaign.audience_tags)))
    if campaign.audience_phones:
        parts.append(contacts.c.phone.in_(list(campaign.audience_phones)))
    condition = or_(*parts) if parts else true()
    return and_(contacts.c.account_id == campaign.account_id, condition)


async def count_audience(session: AsyncSession, campaign: Any, *, cutoff: datetime | None = None) -> int:
    """Count the contacts a campaign would reach."""
    query = select(func.count()).select_from(contacts).where(audience_condition(campaign))
    if cutoff is not None:
        query = query.where(contacts.c.created_at <= cutoff)
    return int((await session.execute(query)).scalar_one())


async def audience_consent(
    session: AsyncSession, campaign: Any, *, account_non_commercial: bool, now: datetime
) -> dict[str, Any] | None:
    """Return how many of a marketing campaign's recipients the consent rule allows, and why not the others.

    Each distinct consent record of the audience is judged by the function the dispatcher decides
    with (halte_rules.consent), at the instant the campaign would be sent, so the groups are the
    refusals the dispatcher will report. Informative campaigns need no consent: None.
    """
    if campaign.kind != "marketing":
        return None
    at = campaign.send_at if campaign.send_at is not None and campaign.send_at > now else now
    columns = list(CONSENT_COLUMNS.values())
    query = select(*columns, func.count()).select_from(contacts).where(audience_condition(campaign)).group_by(*columns)
    if campaign.cutoff_at is not None:
        query = query.where(contacts.c.created_at <= campaign.cutoff_at)
    names = list(CONSENT_COLUMNS)
    records = [(dict(zip(names, row[:-1], strict=True)), int(row[-1])) for row in (await session.execute(query)).all()]
    return {
        "at": at,
        **classify_audience(
            records,
            at=at,
            category=campaign.category,
            professions=list(campaign.professions),
            account_non_commercial=account_non_commercial,
        ),
    }


async def get_preview(
    runtime: CampaignRuntime, *, account_id: str, campaign_id: str, phone: str | None
) -> dict[str, Any]:
    """Return the final text, encoding, segments and cost of a campaign, for a sample or real recipient."""
    async with runtime.sessions() as session:
        campaign = await load_campaign(session, account_id=account_id, campaign_id=campaign_id)
        account = await _account(session, account_id)
        fields = None
        e164 = None
        if phone is not None:
            e164 = normalize_contact_phone(phone)
            contact = (
                await session.execute(
                    select(contacts).where(contacts.c.account_id == account_id, contacts.c.phone == e164)
                )
            ).first()
            if contact is None:
                raise NotFound("The contact", "phone")
            fields = {"first_name": contact.first_name, "last_name": contact.last_name}
        count = campaign.audience_count if campaign.status != "draft" else await count_audience(session, campaign)
        consent = await audience_consent(
            session, campaign, account_non_commercial=account["non_commercial"], now=runtime.clock.now()
        )
    result = preview_of(
        runtime,
        account=account,
        text=campaign.text,
        kind=campaign.kind,
        sender=campaign.sender,
        defaults=dict(campaign.field_defaults),
        phone=e164,
        fields=fields,
    )
    return {
        **result.to_dict(),
        "sender": campaign.sender,
        "recipient": e164 or "sample",
        "destination_is_french": True if e164 is None else is_french_number(e164),
        "recipients": count,
        "estimated_cost": count * result.cost,
        "consent": consent,
    }


async def launch_campaign(runtime: CampaignRuntime, *, account_id: str, campaign_id: str) -> dict[str, Any]:
    """Reserve the campaign's credits, announce it, and hand it to the launcher to stream."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        campaign = await load_campaign(session, account_id=account_id, campaign_id=campaign_id, lock=True)
        ensure_can_launch(campaign.status)
        account = await _account(session, account_id)
        if campaign.kind == "informative":
            # The detector may have learnt since the draft: refuse before any credit is reserved.
            check_informative_text(campaign.text)
        sample = preview_of(
            runtime,
            account=account,
            text=campaign.text,
            kind=campaign.kind,
            sender=campaign.sender,
            defaults=dict(campaign.field_defaults),
        )
        await require_informative_template(session, account, kind=campaign.kind, text=campaign.text)
        recipients_count = await count_audience(session, campaign, cutoff=now)
        if recipients_count == 0:
            raise DomainError("empty_audience", "No contact of the address book matches the audience.", "audience")
        reserved = reservation_for(
            recipients=recipients_count,
            segments=sample.segments,
            credits_per_segment=runtime.settings.credits_per_segment,
        )
        await record_movement(
            session,
            account_id=account_id,
            kind="reservation",
            amount=reserved,
            cause=f"campaign:{campaign_id}",
            key=f"campaign:{campaign_id}:reservation",
            at=now,
            note=f"{recipients_count} recipients x {sample.segments} segment(s)",
        )
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(
                status="running",
                launched_at=now,
                updated_at=now,
                cutoff_at=now,
                audience_count=recipients_count,
                segments_estimate=sample.segments,
                reserved=reserved,
            )
        )
        await add_to_outbox(
            session,
            CampaignLaunched(
                campaign_id=campaign_id,
                account_id=account_id,
                name=campaign.name,
                kind=campaign.kind,
                sender=campaign.sender,
                text=campaign.text,
                recipients=recipients_count,
                reserved_credits=reserved,
                send_at=campaign.send_at,
                launched_at=now,
            ),
            key=account_id,
            producer=runtime.settings.service_name,
            occurred_at=now,
        )
    runtime.relay.wake()
    runtime.launcher.wake()
    log.info(
        "campaign launched; its recipients are being streamed to the dispatcher",
        account_id=account_id,
        campaign_id=campaign_id,
        recipients=recipients_count,
        reserved_credits=reserved,
        audience=audience_summary(campaign.audience_tags, campaign.audience_phones),
    )
    return await get_campaign(runtime, account_id=account_id, campaign_id=campaign_id)


async def refund_unused(session: AsyncSession, campaign: Any, *, at: datetime, why: str) -> int:
    """Give back what a campaign reserved and did not charge to any recipient (once)."""
    unused = int(campaign.reserved) - int(campaign.charged) - int(campaign.refunded)
    if unused <= 0:
        return 0
    await record_movement(
        session,
        account_id=campaign.account_id,
        kind="refund",
        amount=unused,
        cause=f"campaign:{campaign.id}",
        key=f"campaign:{campaign.id}:unused",
        at=at,
        note=why,
    )
    await session.execute(
        update(campaigns).where(campaigns.c.id == campaign.id).values(refunded=campaigns.c.refunded + unused)
    )
    return unused


async def cancel_campaign(runtime: CampaignRuntime, *, account_id: str, campaign_id: str) -> dict[str, Any]:
    """Stop a draft or running campaign; recipients not yet streamed are never requested."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        # Waits for a batch being streamed to commit, so the checkpoint is final.
        campaign = await load_campaign(session, account_id=account_id, campaign_id=campaign_id, lock=True)
        ensure_can_cancel(campaign.status)
        refunded = 0
        if campaign.status == "running":
            refunded = await refund_unused(session, campaign, at=now, why="cancelled before every recipient was sent")
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(status="cancelled", cancelled_at=now, updated_at=now)
        )
    log.info("campaign cancelled", account_id=account_id, campaign_id=campaign_id, refunded_credits=refunded)
    return await get_campaign(runtime, account_id=account_id, campaign_id=campaign_id)


async def campaign_counts(session: AsyncSession, campaign_id: str) -> dict[str, Any]:
    """Return the counts per outcome and delivery status, and the refunds of refused recipients."""
    rows = (
        await session.execute(
            select(
                recipients.c.outcome,
                recipients.c.delivery_status,
                func.count(),
                func.coalesce(func.sum(recipients.c.charged).filter(recipients.c.refunded), 0),
            )
            .where(recipients.c.campaign_id == campaign_id)
            .group_by(recipients.c.outcome, recipients.c.delivery_status)
        )
    ).all()
    outcomes = dict.fromkeys(OUTCOMES, 0)
    delivery = dict.fromkeys(DELIVERY_STATUSES, 0)
    refunded = 0
    reasons: dict[str, int] = {}
    for outcome, status, count, refund in rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + count
        if status:
            delivery[status] = delivery.get(status, 0) + count
        refunded += int(refund)
    reason_rows = (
        await session.execute(
            select(recipients.c.reason, func.count())
            .where(recipients.c.campaign_id == campaign_id, recipients.c.outcome.in_(("refused", "held")))
            .group_by(recipients.c.reason)
        )
    ).all()
    for reason, count in reason_rows:
        reasons[reason or "unknown"] = count
    return {"outcomes": outcomes, "delivery": delivery, "reasons": reasons, "refused_refunds": refunded}


def campaign_view(campaign: Any, counts: dict[str, Any]) -> dict[str, Any]:
    """Return a campaign as the API shows it."""
    pending = counts["outcomes"].get("pending", 0) + counts["outcomes"].get("held", 0)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "text": campaign.text,
        "audience": {"tags": list(campaign.audience_tags), "phones": list(campaign.audience_phones)},
        "defaults": dict(campaign.field_defaults),
        "category": campaign.category,
        "professions": list(campaign.professions),
        "sender": campaign.sender,
        "send_at": campaign.send_at,
        "status": reported_status(campaign.status, pending=pending),
        "created_at": campaign.created_at,
        "launched_at": campaign.launched_at,
        "dispatched_at": campaign.dispatched_at,
        "cancelled_at": campaign.cancelled_at,
        "recipients": campaign.audience_count,
        "streamed": campaign.streamed,
        "counts": counts["outcomes"],
        "delivery": counts["delivery"],
        "reasons": counts["reasons"],
        "credits": {
            "reserved": campaign.reserved,
            "charged": campaign.charged,
            "refunded": int(campaign.refunded) + counts["refused_refunds"],
        },
    }


async def get_campaign(runtime: CampaignRuntime, *, account_id: str, campaign_id: str) -> dict[str, Any]:
    """Return a campaign's status and counts per outcome."""
    async with runtime.sessions() as session:
        campaign = await load_campaign(session, account_id=account_id, campaign_id=campaign_id)
        counts = await campaign_counts(session, campaign_id)
    return campaign_view(campaign, counts)


def recipient_view(row: Any) -> dict[str, Any]:
    """Return one recipient's row as the report shows it."""
    return {
        "phone": row.phone,
        "request_id": row.request_id,
        "outcome": row.outcome,
        "reason": row.reason,
        "final": row.final,
        "segments": row.segments,
        "charged": row.charged,
        "refunded": row.refunded,
        "requested_at": row.requested_at,
        "scheduled_for": row.scheduled_for,
        "decided_at": row.decided_at,
        "sent_at": row.sent_at,
        "message_id": row.message_id,
        "delivery_status": row.delivery_status,
        "delivered_at": row.delivery_at,
    }


async def list_recipients(
    runtime: CampaignRuntime,
    *,
    account_id: str,
    campaign_id: str,
    outcome: str | None,
    cursor: str | None,
    limit: int | None,
) -> dict[str, Any]:
    """Return a page of a campaign's recipients in number order, filtered by outcome."""
    size = check_limit(limit)
    after = decode_cursor(cursor)
    if outcome is not None and outcome not in OUTCOMES:
        raise DomainError("invalid_outcome", f"outcome must be one of {', '.join(OUTCOMES)}.", "outcome")
    async with runtime.sessions() as session:
        await load_campaign(session, account_id=account_id, campaign_id=campaign_id)
        query = select(recipients).where(recipients.c.campaign_id == campaign_id)
        if outcome is not None:
            query = query.where(recipients.c.outcome == outcome)
        if after is not None:
            query = query.where(recipients.c.phone > after)
        rows = (await session.execute(query.order_by(recipients.c.phone).limit(size + 1))).all()
    return {
        "items": [recipient_view(r) for r in rows[:size]],
        "next_cursor": encode_cursor(rows[size - 1].phone) if len(rows) > size else None,
    }


async def list_campaigns(
    runtime: CampaignRuntime, *, account_id: str, status: str | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """Return a page of the account's campaigns, most recent first (without counts)."""
    size = check_limit(limit, default=50)
    position = decode_cursor(cursor)
    query = select(campaigns).where(campaigns.c.account_id == account_id)
    if status is not None:
        if status not in STATUSES:
            raise DomainError("invalid_filter", f"status must be one of {', '.join(STATUSES)}.", "status")
        query = query.where(campaigns.c.status == status)
    if position is not None:
        at_text, _, campaign_id = position.partition("|")
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor") from None
        if at.utcoffset() is None or len(campaign_id) != 36:
            raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor")
        query = query.where(
            or_(campaigns.c.created_at < at, and_(campaigns.c.created_at == at, campaigns.c.id < campaign_id))
        )
    async with runtime.sessions() as session:
        rows = (
            await session.execute(query.order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc()).limit(size + 1))
        ).all()
    last = rows[size - 1] if len(rows) > size else None
    empty = {"outcomes": {}, "delivery": {}, "reasons": {}, "refused_refunds": 0}
    items = []
    for row in rows[:size]:
        view = campaign_view(row, empty)
        for detail in ("counts", "delivery", "reasons"):
            view.pop(detail)
        items.append(view)
    return {
        "items": items,
        "next_cursor": encode_cursor(f"{last.created_at.isoformat()}|{last.id}") if last else None,
    }
