"""What happens on each command: one database transaction records the input and its events together.

Every handler here writes the record and its outbox events in one transaction and
returns only after the commit, so the HTTP layer answers 2xx only for what is durable
(a crash before the commit loses nothing: the carrier did not get its 2xx and retries).
Idempotence comes from unique keys: a carrier's retry hits the (carrier, message id)
constraint, writes nothing and is answered as a duplicate. Carrier webhooks, the hot
path, write the record and its events in a single statement (adapters/outbox.py); the
rarer writes use an ordinary session transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy.dialects.postgresql import insert

from halte_inbound import metrics
from halte_inbound.adapters.carriers import Carrier
from halte_inbound.adapters.database import autocommit
from halte_inbound.adapters.directory import apply_account, routes_for_short_code
from halte_inbound.adapters.records import record_reply, record_report
from halte_inbound.adapters.tables import spam_reports, web_optouts
from halte_inbound.domain.delivery import report_key
from halte_inbound.domain.kannel import DeliveryStatus
from halte_inbound.domain.routing import ReplyPlan, normalise_short_code, plan_reply, sender_e164
from halte_inbound.domain.text import storable
from halte_inbound.runtime import InboundRuntime
from halte_shared.bus import Delivery
from halte_shared.events import (
    AccountChanged,
    ContactRequested,
    Envelope,
    InboundReceived,
    OptinRequested,
    OptoutRequested,
    Payload,
    SmsDelivery,
    envelope_for,
)
from halte_shared.inbox import first_delivery
from halte_shared.outbox import add_to_outbox

log = structlog.get_logger("halte.inbound")

ACCOUNTS_CONSUMER = "inbound-accounts"


# -- commands ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiveReply:
    """A reply from a phone, as a carrier handed it over."""

    carrier: Carrier
    carrier_message_id: str
    raw_from: str
    raw_to: str
    text: str
    text_encoding: str | None = None
    received_at: datetime | None = None
    raw_payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class ReceiveDeliveryReport:
    """A carrier's report on a message we sent."""

    carrier: Carrier
    carrier_message_id: str
    message_id: str | None
    raw_to: str | None
    status: DeliveryStatus
    raw_status: str
    error_code: str | None = None
    reported_at: datetime | None = None
    raw_payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class SpamReport:
    """One number reported through 33700 against a short code or sender."""

    phone: str
    target: str
    target_kind: Literal["short_code", "sender"]
    reported_at: datetime | None = None


# -- results -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of a webhook: the record's id, and whether it was new."""

    record_id: str
    duplicate: bool
    plan: ReplyPlan | None = None


@dataclass(frozen=True, slots=True)
class SpamReportOutcome:
    request_id: str | None
    status: Literal["published", "duplicate"]


# -- replies -------------------------------------------------------------------------


def _optin_proof(command: ReceiveReply, *, phone: str, short_code: str, received_at: datetime) -> str:
    return (
        f"SMS reply {command.text!r} from {phone} to short code {short_code}, received by carrier "
        f"{command.carrier.id} (message {command.carrier_message_id}) at {received_at.isoformat()}"
    )


async def receive_reply(runtime: InboundRuntime, command: ReceiveReply) -> Recorded:
    """Record a reply, classify it and write its events, once per (carrier, message id)."""
    now = runtime.clock.now()
    received_at = command.received_at or now
    text = storable(command.text)
    producer = runtime.settings.service_name
    inbound_id = runtime.new_id()
    async with autocommit(runtime.engine) as connection:
        routes = await routes_for_short_code(connection, normalise_short_code(command.raw_to))
        plan = plan_reply(
            text=text,
            raw_from=command.raw_from,
            raw_to=command.raw_to,
            default_region=command.carrier.config.default_region,
            carrier_short_codes=command.carrier.config.short_codes,
            accounts=routes,
        )
        events: list[Payload] = [
            InboundReceived(
                inbound_id=inbound_id,
                carrier=command.carrier.id,
                carrier_message_id=command.carrier_message_id,
                phone=plan.phone,
                raw_from=command.raw_from,
                short_code=plan.short_code,
                text=text,
                classification=plan.classification,
                account_ids=list(plan.account_ids),
                received_at=received_at,
            )
        ]
        if plan.phone is not None:
            events.extend(
                _reply_events(
                    command, plan=plan, phone=plan.phone, text=text, inbound_id=inbound_id, received_at=received_at
                )
            )
        reply = {
            "inbound_id": inbound_id,
            "carrier": command.carrier.id,
            "carrier_message_id": command.carrier_message_id,
            "raw_from": command.raw_from,
            "phone": plan.phone,
            "short_code": plan.short_code,
            "text": text,
            "text_encoding": (command.text_encoding or "")[:32] or None,
            "classification": plan.classification,
            "account_ids": list(plan.account_ids),
            "unroutable": plan.unroutable,
            "received_at": received_at,
            "recorded_at": now,
            "raw_payload": command.raw_payload,
        }
        envelopes = [envelope_for(e, producer=producer, occurred_at=now, event_id=runtime.new_id()) for e in events]
        existing = await record_reply(connection, reply, envelopes, key=plan.phone or command.raw_from)
        if existing is not None:
            return Recorded(existing, duplicate=True, plan=plan)
    # A STOP must reach suppression (the client's view, the confirmation) without waiting for a batch.
    runtime.nudge_relay(urgent=plan.optout)
    metrics.CLASSIFIED.labels(plan.classification).inc()
    _log_reply(command, plan=plan, inbound_id=inbound_id)
    return Recorded(inbound_id, duplicate=False, plan=plan)


def _reply_events(
    command: ReceiveReply, *, plan: ReplyPlan, phone: str, text: str, inbound_id: str, received_at: datetime
) -> list[Payload]:
    events: list[Payload] = []
    if plan.optout:
        events.append(
            OptoutRequested(
                request_id=inbound_id,
                channel="sms",
                phone=phone,
                short_code=plan.short_code,
                account_id=None,
                raw_text=text,
                carrier=command.carrier.id,
                received_at=received_at,
            )
        )
    for account_id in plan.optin_account_ids:
        events.append(
            OptinRequested(
                request_id=f"{inbound_id}:{account_id}",
                channel="sms",
                phone=phone,
                short_code=plan.short_code,
                account_id=account_id,
                raw_text=text,
                proof=_optin_proof(command, phone=phone, short_code=plan.short_code, received_at=received_at),
                received_at=received_at,
            )
        )
    for account_id in plan.contact_account_ids:
        events.append(
            ContactRequested(
                request_id=f"{inbound_id}:{account_id}",
                account_id=account_id,
                phone=phone,
                short_code=plan.short_code,
                raw_text=text,
                carrier=command.carrier.id,
                received_at=received_at,
            )
        )
    return events


def _log_reply(command: ReceiveReply, *, plan: ReplyPlan, inbound_id: str) -> None:
    context = {
        "inbound_id": inbound_id,
        "carrier": command.carrier.id,
        "carrier_message_id": command.carrier_message_id,
        "short_code": plan.short_code,
        "classification": plan.classification,
    }
    if plan.unroutable is not None:
        metrics.UNROUTABLE.labels(plan.unroutable).inc()
        explanation = {
            "invalid_sender": "its sender is not a phone number we can read, so no opt-out can be published",
            "short_code_not_served": "its short code is not one this carrier serves (see HALTE_INBOUND_CARRIERS)",
            "unknown_short_code": "no active account uses its short code (as far as account.changed told us)",
        }[plan.unroutable]
        log.warning(
            f"a reply was recorded and acknowledged but could not be routed: {explanation}",
            reason=plan.unroutable,
            raw_from_length=len(command.raw_from),
            optout_published=plan.optout,
            **context,
        )
    if plan.optout:
        log.info("a STOP reply was recorded and its opt-out request queued for publication", **context)
    elif plan.classification == "optin" and not plan.optin_account_ids:
        log.info("a START reply was recorded but no account on its short code allows re-subscription", **context)
    elif plan.classification == "contact" and plan.contact_account_ids:
        log.info(
            "a CONTACT reply was recorded; a contact request was queued per account",
            **context,
            accounts=len(plan.contact_account_ids),
        )


# -- delivery reports ------------------------------------------------------------------


async def receive_delivery_report(runtime: InboundRuntime, command: ReceiveDeliveryReport) -> Recorded:
    """Record a delivery report and publish it as sms.delivery, once per (carrier, message, status)."""
    now = runtime.clock.now()
    region = command.carrier.config.default_region
    phone = sender_e164(command.raw_to, default_region=region) if command.raw_to else None
    key = report_key(message_ref=command.carrier_message_id, status=command.status, raw_status=command.raw_status)
    delivery_id = runtime.new_id()
    report = {
        "delivery_id": delivery_id,
        "carrier": command.carrier.id,
        "report_key": key,
        "carrier_message_id": command.carrier_message_id,
        "message_id": command.message_id,
        "phone": phone,
        "status": command.status,
        "raw_status": command.raw_status,
        "error_code": command.error_code,
        "reported_at": command.reported_at,
        "received_at": now,
    }
    event = SmsDelivery(**{k: v for k, v in report.items() if k != "report_key"})
    envelope = envelope_for(event, producer=runtime.settings.service_name, occurred_at=now, event_id=runtime.new_id())
    async with autocommit(runtime.engine) as connection:
        existing = await record_report(
            connection,
            {**report, "raw_payload": command.raw_payload},
            [envelope],
            key=phone or command.message_id or command.carrier_message_id,
        )
    if existing is not None:
        return Recorded(existing, duplicate=True)
    runtime.nudge_relay()
    return Recorded(delivery_id, duplicate=False)


_ERROR_CODE = re.compile(r"\berr:(\w{1,16})")


def smsc_error_code(answer: str | None) -> str | None:
    """Return the "err:NNN" of an SMPP receipt text (Kannel's %A), or None."""
    match = _ERROR_CODE.search(answer or "")
    return match.group(1) if match else None


# -- the unsubscribe page and spam reports ---------------------------------------------


async def confirm_web_optout(runtime: InboundRuntime, *, account_id: str, phone: str, language: str) -> str:
    """Record an opt-out confirmed on the unsubscribe page and queue its optout.requested (channel web)."""
    now = runtime.clock.now()
    request_id = runtime.new_id()
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            insert(web_optouts).values(
                request_id=request_id, account_id=account_id, phone=phone, language=language, received_at=now
            )
        )
        await add_to_outbox(
            session,
            OptoutRequested(
                request_id=request_id,
                channel="web",
                phone=phone,
                short_code=None,
                account_id=account_id,
                raw_text=None,
                carrier=None,
                received_at=now,
            ),
            key=phone,
            producer=runtime.settings.service_name,
            occurred_at=now,
        )
    runtime.nudge_relay(urgent=True)
    metrics.WEB_OPTOUTS.inc()
    log.info("an opt-out was confirmed on the unsubscribe page", request_id=request_id, account_id=account_id)
    return request_id


async def receive_spam_reports(runtime: InboundRuntime, reports: Sequence[SpamReport]) -> list[SpamReportOutcome]:
    """Record reported numbers and queue one optout.requested (channel spam_report) per new report."""
    now = runtime.clock.now()
    outcomes: list[SpamReportOutcome] = []
    async with runtime.sessions() as session, session.begin():
        for report in reports:
            request_id = runtime.new_id()
            inserted = (
                await session.execute(
                    insert(spam_reports)
                    .values(
                        request_id=request_id,
                        phone=report.phone,
                        target=report.target,
                        target_kind=report.target_kind,
                        reported_at=report.reported_at,
                        received_at=now,
                    )
                    .on_conflict_do_nothing(constraint="spam_reports_once")
                    .returning(spam_reports.c.request_id)
                )
            ).first()
            if inserted is None:
                outcomes.append(SpamReportOutcome(None, "duplicate"))
                continue
            await add_to_outbox(
                session,
                OptoutRequested(
                    request_id=request_id,
                    channel="spam_report",
                    phone=report.phone,
                    short_code=report.target,
                    account_id=None,
                    raw_text=None,
                    carrier=None,
                    received_at=report.reported_at or now,
                ),
                key=report.phone,
                producer=runtime.settings.service_name,
                occurred_at=now,
            )
            outcomes.append(SpamReportOutcome(request_id, "published"))
    runtime.nudge_relay(urgent=True)
    published = sum(1 for o in outcomes if o.status == "published")
    metrics.SPAM_REPORTS.labels("published").inc(published)
    metrics.SPAM_REPORTS.labels("duplicate").inc(len(outcomes) - published)
    log.info("a batch of 33700 spam reports was recorded", published=published, duplicates=len(outcomes) - published)
    return outcomes


# -- accounts ----------------------------------------------------------------------------


async def on_account_changed(runtime: InboundRuntime, envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
    """Keep the short code -> accounts directory current from account.changed (once per event)."""
    if not isinstance(payload, AccountChanged):
        return
    async with runtime.sessions() as session, session.begin():
        if not await first_delivery(session, consumer=ACCOUNTS_CONSUMER, event_id=envelope.id, delivery=delivery):
            return
        applied = await apply_account(session, payload)
    log.info(
        "account directory updated" if applied else "an older account.changed arrived late and was ignored",
        account_id=payload.account_id,
        short_codes=payload.short_codes,
        active=payload.active,
    )


async def sync_accounts(runtime: InboundRuntime, accounts: Sequence[AccountChanged]) -> int:
    """Apply account states handed over by an operator (the documented sync); return how many were newer."""
    applied = 0
    async with runtime.sessions() as session, session.begin():
        for account in accounts:
            applied += int(await apply_account(session, account))
    log.info("account directory synchronised by an operator", received=len(accounts), applied=applied)
    return applied
