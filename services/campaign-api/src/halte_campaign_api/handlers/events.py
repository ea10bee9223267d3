"""What campaign-api does on the events it consumes; each effect commits with its inbox row.

- ``optout.recorded``: the number leaves the account's address book at once (SPEC rule 5:
  kept only on the suppression list); in the same transaction the opt-out and the erasure
  are recorded as evidence, and this service's copy of the list is updated (imports and
  upserts refuse the number from then on).
- ``optin.recorded``: the number is on the list no more; the renewed consent (the raw
  message as proof) is recorded, on the contact too (re-created if the opt-out erased it).
- ``dispatch.decided``: each recipient's outcome, reason and schedule; a final refusal
  refunds what the recipient was charged (aggregated per campaign in a batch).
- ``sms.outbound`` / ``sms.delivery``: when a message left and what the carrier said of it;
  a report that arrives before its message waits in ``deliveries``.
- ``billing.charged``: the notifier's opt-out confirmations and CONTACT replies, debited
  once per charge. Only the confirmation may overdraw (it is legally due, SPEC rule 5); a
  CONTACT reply the balance cannot cover is charged what is left and the rest waived,
  since the reply has already gone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.tables import (
    accounts,
    contacts,
    decision_history,
    deliveries,
    optins,
    optouts,
    recipients,
    suppression_state,
)
from halte_campaign_api.domain.campaigns import outcome_of
from halte_campaign_api.domain.consent import consent_values
from halte_campaign_api.domain.errors import DomainError, safe_text
from halte_campaign_api.handlers.contacts import erase_contact, lock_address_book
from halte_campaign_api.handlers.credits import lock_balance, record_movement
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.bus import Delivery
from halte_shared.events import (
    BillingCharged,
    DispatchDecided,
    Envelope,
    OptinRecorded,
    OptoutRecorded,
    Payload,
    SmsDelivery,
    SmsOutbound,
)
from halte_shared.inbox import first_delivery

log = structlog.get_logger("halte.campaign_api.events")

OPTOUT_GROUP = "campaign-api.optouts"
REPORTS_GROUP = "campaign-api.reports"
BILLING_GROUP = "campaign-api.billing"
TERMINAL_DELIVERY = frozenset({"delivered", "failed", "expired", "rejected"})


async def _account_exists(session: AsyncSession, account_id: str) -> bool:
    return (await session.execute(select(accounts.c.id).where(accounts.c.id == account_id))).first() is not None


async def _set_suppression(
    session: AsyncSession, *, account_id: str, phone: str, suppressed: bool, sequence: int, at: datetime
) -> None:
    statement = insert(suppression_state).values(
        account_id=account_id, phone=phone, suppressed=suppressed, sequence=sequence, changed_at=at
    )
    # The suppression service numbers the changes of a (account, number): an older one arriving late loses.
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[suppression_state.c.account_id, suppression_state.c.phone],
            set_={"suppressed": suppressed, "sequence": sequence, "changed_at": at},
            where=suppression_state.c.sequence < statement.excluded.sequence,
        )
    )


async def _currently_suppressed(session: AsyncSession, *, account_id: str, phone: str) -> bool:
    state = (
        await session.execute(
            select(suppression_state.c.suppressed).where(
                suppression_state.c.account_id == account_id, suppression_state.c.phone == phone
            )
        )
    ).scalar_one_or_none()
    return bool(state)


async def on_optout_recorded(
    runtime: CampaignRuntime, envelope: Envelope, payload: OptoutRecorded, delivery: Delivery
) -> None:
    """Erase the number from the account's address book and keep the evidence."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        if not await first_delivery(session, consumer=OPTOUT_GROUP, event_id=envelope.id, delivery=delivery):
            return
        if not await _account_exists(session, payload.account_id):
            log.warning(
                "an opt-out names an account this service does not know; ignored", account_id=payload.account_id
            )
            return
        await lock_address_book(session, payload.account_id)
        await _set_suppression(
            session,
            account_id=payload.account_id,
            phone=payload.phone,
            suppressed=True,
            sequence=payload.sequence,
            at=payload.recorded_at,
        )
        erased = False
        if await _currently_suppressed(session, account_id=payload.account_id, phone=payload.phone):
            erased = await erase_contact(
                session,
                account_id=payload.account_id,
                phone=payload.phone,
                reason="optout",
                cause=f"optout:{payload.optout_id}",
                at=now,
                record_absent=True,
            )
        else:
            log.info("an opt-out older than the number's latest opt-in arrived late; recorded as evidence only")
        await session.execute(
            insert(optouts)
            .values(
                optout_id=payload.optout_id,
                account_id=payload.account_id,
                phone=payload.phone,
                channel=payload.channel,
                short_code=payload.short_code,
                # Texts from phones may carry what PostgreSQL cannot store (NUL): kept escaped.
                raw_text=safe_text(payload.raw_text) if payload.raw_text is not None else None,
                received_at=payload.received_at,
                enforced_at=payload.recorded_at,
                sequence=payload.sequence,
                source_event_id=payload.source_event_id,
                contact_erased=erased,
            )
            .on_conflict_do_nothing(index_elements=[optouts.c.optout_id])
        )
    log.info(
        "opt-out enforced: the number left the account's address book",
        account_id=payload.account_id,
        optout_id=payload.optout_id,
        channel=payload.channel,
        contact_erased=erased,
    )


async def on_optin_recorded(
    runtime: CampaignRuntime, envelope: Envelope, payload: OptinRecorded, delivery: Delivery
) -> None:
    """Lift the number's suppression here and record the renewed consent with its proof."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        if not await first_delivery(session, consumer=OPTOUT_GROUP, event_id=envelope.id, delivery=delivery):
            return
        if not await _account_exists(session, payload.account_id):
            log.warning("an opt-in names an account this service does not know; ignored", account_id=payload.account_id)
            return
        await lock_address_book(session, payload.account_id)
        await _set_suppression(
            session,
            account_id=payload.account_id,
            phone=payload.phone,
            suppressed=False,
            sequence=payload.sequence,
            at=payload.recorded_at,
        )
        await session.execute(
            insert(optins)
            .values(
                optin_id=payload.optin_id,
                account_id=payload.account_id,
                phone=payload.phone,
                channel=payload.channel,
                proof=safe_text(payload.proof),
                received_at=payload.received_at,
                recorded_at=payload.recorded_at,
                sequence=payload.sequence,
            )
            .on_conflict_do_nothing(index_elements=[optins.c.optin_id])
        )
        if await _currently_suppressed(session, account_id=payload.account_id, phone=payload.phone):
            return  # a later opt-out already won: the consent is evidence only
        try:
            consent = consent_values(
                {
                    "basis": "opt_in",
                    "collected_at": payload.received_at,
                    "source": f"{payload.channel}_optin",
                    "wording": payload.proof,
                },
                now=max(now, payload.received_at),
            )
        except DomainError as err:
            log.warning("an opt-in's proof is not a usable consent record; kept as evidence only", code=err.code)
            return
        values = {
            "consent_basis": consent["basis"],
            "consent_collected_at": consent["collected_at"],
            "consent_source": consent["source"],
            "consent_wording": consent["wording"],
            "consent_last_purchase_at": None,
            "consent_profession": None,
            "consent_purchase_categories": [],
        }
        statement = insert(contacts).values(
            account_id=payload.account_id, phone=payload.phone, tags=[], created_at=now, updated_at=now, **values
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[contacts.c.account_id, contacts.c.phone], set_={**values, "updated_at": now}
            )
        )
    log.info("opt-in recorded: the number may receive marketing again", account_id=payload.account_id)


async def on_billing_charged(
    runtime: CampaignRuntime, envelope: Envelope, payload: BillingCharged, delivery: Delivery
) -> None:
    """Debit the account for a confirmation or a CONTACT reply, once per charge."""
    async with runtime.sessions() as session, session.begin():
        if not await first_delivery(session, consumer=BILLING_GROUP, event_id=envelope.id, delivery=delivery):
            return
        if not await _account_exists(session, payload.account_id):
            log.warning("a charge names an account this service does not know; ignored", account_id=payload.account_id)
            return
        amount = payload.amount
        note = "opt-out confirmation SMS" if payload.reason == "optout_confirmation" else "CONTACT reply SMS"
        if payload.reason != "optout_confirmation":
            balance = await lock_balance(session, payload.account_id)
            affordable = min(amount, max(0, balance))
            if affordable < amount:
                log.warning(
                    "a CONTACT reply was charged only what the balance covered; the rest is waived",
                    account_id=payload.account_id,
                    charge_id=payload.charge_id,
                    waived=amount - affordable,
                )
                note = f"{note}; {amount - affordable} credit(s) waived: no credit left"
                amount = affordable
            if amount == 0:
                return
        recorded = await record_movement(
            session,
            account_id=payload.account_id,
            kind=payload.reason,
            amount=amount,
            cause=f"{payload.reason}:{payload.cause_event_id}",
            key=f"billing:{payload.charge_id}",
            at=payload.charged_at,
            event_id=envelope.id,
            note=note,
        )
    if recorded.created:
        log.info("charge recorded", account_id=payload.account_id, reason=payload.reason, amount=amount)


# -- reports --------------------------------------------------------------------------------


def _latest_decisions(decisions: list[DispatchDecided]) -> dict[str, DispatchDecided]:
    # One update per recipient: a final decision beats a hold, then the most recent wins.
    latest: dict[str, DispatchDecided] = {}
    for decision in decisions:
        current = latest.get(decision.request_id)
        if current is None or (decision.final, decision.decided_at) >= (current.final, current.decided_at):
            latest[decision.request_id] = decision
    return latest


async def _apply_decisions(session: AsyncSession, decisions: list[DispatchDecided], *, now: datetime) -> None:
    # The history keeps every decision (a redelivery is the same row, so nothing doubles);
    # the recipient row below keeps only the latest, for reports.
    await session.execute(
        insert(decision_history)
        .values(
            [
                {
                    "request_id": d.request_id,
                    "account_id": d.account_id,
                    "decision": d.decision,
                    "reason": d.reason,
                    "final": d.final,
                    "scheduled_for": d.scheduled_for,
                    "decided_at": d.decided_at,
                }
                for d in decisions
            ]
        )
        .on_conflict_do_nothing()
    )
    refunds: dict[tuple[str, str | None], list[tuple[str, int]]] = defaultdict(list)
    for decision in _latest_decisions(decisions).values():
        row = (
            await session.execute(
                update(recipients)
                .where(
                    recipients.c.request_id == decision.request_id,
                    recipients.c.account_id == decision.account_id,
                    # A final decision is never replaced by a hold that arrives late.
                    or_(~recipients.c.final, decision.final),
                )
                .values(
                    outcome=outcome_of(decision.decision),
                    reason=decision.reason,
                    final=decision.final,
                    scheduled_for=decision.scheduled_for,
                    decided_at=decision.decided_at,
                )
                .returning(recipients.c.campaign_id, recipients.c.charged, recipients.c.refunded, recipients.c.purpose)
            )
        ).first()
        if row is None:
            continue
        if decision.decision == "refuse" and decision.final and not row.refunded and row.charged > 0:
            await session.execute(
                update(recipients).where(recipients.c.request_id == decision.request_id).values(refunded=True)
            )
            refunds[(decision.account_id, row.campaign_id)].append((decision.request_id, int(row.charged)))
        elif decision.decision != "refuse" and row.refunded and row.purpose == "unit":
            await _charge_again(session, decision, charged=int(row.charged), now=now)
    for (account_id, campaign_id), refused in sorted(refunds.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        total = sum(amount for _, amount in refused)
        if campaign_id is None:
            for request_id, amount in refused:
                await record_movement(
                    session,
                    account_id=account_id,
                    kind="refund",
                    amount=amount,
                    cause=f"message:{request_id}",
                    key=f"message:{request_id}:refund",
                    at=now,
                    note="refused by the dispatcher",
                )
            continue
        await record_movement(
            session,
            account_id=account_id,
            kind="refund",
            amount=total,
            cause=f"campaign:{campaign_id}",
            # One batch of decisions is applied once (its inbox rows commit with it): the key names it.
            key=f"campaign:{campaign_id}:refused:{refused[0][0]}",
            at=now,
            note=f"{len(refused)} recipient(s) refused by the dispatcher",
        )


async def _charge_again(session: AsyncSession, decision: DispatchDecided, *, charged: int, now: datetime) -> None:
    # The dispatcher acted on a unit send whose call timed out and whose credits were released.
    balance = await lock_balance(session, decision.account_id)
    await session.execute(
        update(recipients).where(recipients.c.request_id == decision.request_id).values(refunded=False)
    )
    if balance < charged:
        log.error(
            "a unit send the dispatcher accepted after its call failed could not be charged again: no credit left",
            account_id=decision.account_id,
            request_id=decision.request_id,
        )
        return
    await record_movement(
        session,
        account_id=decision.account_id,
        kind="debit",
        amount=charged,
        cause=f"message:{decision.request_id}",
        key=f"message:{decision.request_id}:late-debit",
        at=now,
        note="the dispatcher accepted the message after its call had failed",
    )


async def _apply_outbound(session: AsyncSession, message: SmsOutbound) -> None:
    if message.request_id is not None:
        await session.execute(
            update(recipients)
            .where(recipients.c.request_id == message.request_id)
            .values(
                message_id=message.message_id,
                carrier=message.carrier,
                carrier_message_id=message.carrier_message_id,
                sent_at=message.submitted_at,
            )
        )
    else:
        # The notifier's confirmations and CONTACT replies: evidence of every message sent.
        await session.execute(
            insert(recipients)
            .values(
                request_id=f"msg:{message.message_id}",
                account_id=message.account_id,
                campaign_id=message.campaign_id,
                purpose=message.purpose,
                phone=message.phone,
                kind=message.kind,
                sender=message.sender,
                text=safe_text(message.text),
                segments=message.segments,
                charged=0,
                credits_reserved=True,
                requested_at=message.submitted_at,
                outcome="sent",
                reason=message.purpose,
                final=True,
                decided_at=message.submitted_at,
                message_id=message.message_id,
                carrier=message.carrier,
                carrier_message_id=message.carrier_message_id,
                sent_at=message.submitted_at,
            )
            .on_conflict_do_nothing(index_elements=[recipients.c.request_id])
        )
    # A delivery report that came first.
    early = (
        await session.execute(
            select(deliveries)
            .where(
                or_(
                    deliveries.c.message_id == message.message_id,
                    and_(
                        deliveries.c.carrier == message.carrier,
                        deliveries.c.carrier_message_id == (message.carrier_message_id or ""),
                    ),
                )
            )
            .order_by(deliveries.c.received_at.desc())
        )
    ).all()
    for report in early:
        await _set_delivery(
            session,
            message_id=message.message_id,
            carrier=message.carrier,
            carrier_message_id=message.carrier_message_id,
            status=report.status,
            at=report.reported_at or report.received_at,
        )


async def _set_delivery(
    session: AsyncSession,
    *,
    message_id: str | None,
    carrier: str,
    carrier_message_id: str | None,
    status: str,
    at: datetime,
) -> None:
    match = []
    if message_id:
        match.append(recipients.c.message_id == message_id)
    if carrier_message_id:
        match.append(and_(recipients.c.carrier == carrier, recipients.c.carrier_message_id == carrier_message_id))
    if not match:
        return
    condition = or_(recipients.c.delivery_at.is_(None), recipients.c.delivery_at <= at)
    if status not in TERMINAL_DELIVERY:
        # An intermediate report never replaces a final one, whatever their order.
        condition = and_(
            condition,
            or_(recipients.c.delivery_status.is_(None), ~recipients.c.delivery_status.in_(TERMINAL_DELIVERY)),
        )
    await session.execute(
        update(recipients).where(or_(*match), condition).values(delivery_status=status, delivery_at=at)
    )


async def _apply_delivery(session: AsyncSession, report: SmsDelivery) -> None:
    await session.execute(
        insert(deliveries)
        .values(
            delivery_id=report.delivery_id,
            carrier=report.carrier,
            carrier_message_id=report.carrier_message_id,
            message_id=report.message_id,
            status=report.status,
            error_code=report.error_code,
            reported_at=report.reported_at,
            received_at=report.received_at,
        )
        .on_conflict_do_nothing(index_elements=[deliveries.c.delivery_id])
    )
    await _set_delivery(
        session,
        message_id=report.message_id,
        carrier=report.carrier,
        carrier_message_id=report.carrier_message_id,
        status=report.status,
        at=report.reported_at or report.received_at,
    )


async def on_reports(runtime: CampaignRuntime, batch: list[tuple[Envelope, Payload, Delivery]]) -> None:
    """Apply a batch of decisions, outbound messages and delivery reports in one transaction."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        decided: list[DispatchDecided] = []
        outbound: list[SmsOutbound] = []
        reports: list[SmsDelivery] = []
        for envelope, payload, delivery in batch:
            if not await first_delivery(session, consumer=REPORTS_GROUP, event_id=envelope.id, delivery=delivery):
                continue
            if isinstance(payload, DispatchDecided):
                decided.append(payload)
            elif isinstance(payload, SmsOutbound):
                outbound.append(payload)
            elif isinstance(payload, SmsDelivery):
                reports.append(payload)
        if decided:
            await _apply_decisions(session, decided, now=now)
        for message in outbound:
            await _apply_outbound(session, message)
        for report in reports:
            await _apply_delivery(session, report)


def consent_snapshot_json(consent: dict[str, Any]) -> dict[str, Any]:
    """Return consent values with instants written ISO 8601 (for JSONB)."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in consent.items()}
