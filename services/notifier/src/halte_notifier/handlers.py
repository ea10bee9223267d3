"""What the notifier does on each event: answer opt-outs and CONTACT requests, follow deliveries.

The exactly-once design (README "Exactly once"): the first transaction, in the consumer,
writes the inbox row, the charge (unique on cause and reason), the message to send
(state ``pending``, id derived from the cause) and the ``billing.charged`` event, and
commits them together. Nothing is sent from here: :mod:`halte_notifier.sending` takes
pending messages, hands each to a carrier with its idempotency key, and records the
answer in a second transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_notifier import metrics
from halte_notifier.adapters import repository as repo
from halte_notifier.adapters.tables import messages
from halte_notifier.config import Settings
from halte_notifier.crash import CrashHook
from halte_notifier.domain.accounts import AccountProfile
from halte_notifier.domain.identifiers import Purpose, charge_id_for, message_id_for
from halte_notifier.domain.language import language_for
from halte_notifier.domain.retry import GiveUp, after_failed_try, classify_delivery
from halte_notifier.domain.sender import choose_sender
from halte_notifier.domain.templates import text_for
from halte_notifier.domain.throttle import contact_reply_allowed
from halte_shared.bus import Delivery
from halte_shared.clock import Clock
from halte_shared.events import (
    AccountChanged,
    BillingCharged,
    ContactRequested,
    Envelope,
    OptoutRecorded,
    Payload,
    SmsDelivery,
    decode,
    encode,
)
from halte_shared.inbox import first_delivery
from halte_shared.outbox import add_to_outbox
from halte_shared.sms import measure

log = structlog.get_logger("halte.notifier")

GROUP_ACCOUNTS = "notifier-accounts"
GROUP_REQUESTS = "notifier-requests"
GROUP_DELIVERIES = "notifier-deliveries"

#: Every reply costs one credit, whatever its length (SPEC rule 5, reference/002).
CREDITS_PER_REPLY = 1

Outcome = Literal["recorded", "duplicate", "parked", "throttled", "not_due"]
Cause: TypeAlias = OptoutRecorded | ContactRequested


class Notifier:
    """Handle the notifier's events, each in one unit of work."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        crash: CrashHook,
        on_committed: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._crash = crash
        self._on_committed = on_committed
        self._policy = settings.retry_policy()
        self._contact_limit = settings.contact_limit()

    # -- account.changed ------------------------------------------------------------

    async def on_account_changed(self, envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        """Keep the account's copy and answer whatever waited for it."""
        assert isinstance(payload, AccountChanged)
        resumed = 0
        async with self._sessions() as session, session.begin():
            if not await first_delivery(session, consumer=GROUP_ACCOUNTS, event_id=envelope.id, delivery=delivery):
                return
            await repo.lock_account(session, payload.account_id)
            written = await repo.save_account(
                session,
                AccountProfile(
                    account_id=payload.account_id,
                    name=payload.name,
                    contact_info=payload.contact_info,
                    short_codes=tuple(payload.short_codes),
                    mode=payload.mode,
                    active=payload.active,
                    changed_at=payload.changed_at,
                ),
            )
            if not written:
                log.info("ignored an account change older than the one already known", account_id=payload.account_id)
            for event_id, _topic, raw in await repo.parked_for(session, payload.account_id):
                parked_envelope, parked = decode(raw)
                assert isinstance(parked, OptoutRecorded | ContactRequested)
                outcome = await self._answer(session, envelope=parked_envelope, cause=parked)
                if outcome != "parked":
                    await repo.unpark(session, event_id)
                    resumed += 1
        if resumed:
            log.info(
                "answered the opt-outs and CONTACT requests that waited for this account",
                account_id=payload.account_id,
                resumed=resumed,
            )
            self._on_committed()

    # -- optout.recorded and contact.requested ----------------------------------------

    async def on_request(self, envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        """Answer an opt-out (confirmation due) or a CONTACT request, exactly once."""
        assert isinstance(payload, OptoutRecorded | ContactRequested)
        async with self._sessions() as session, session.begin():
            if not await first_delivery(session, consumer=GROUP_REQUESTS, event_id=envelope.id, delivery=delivery):
                metrics.CONFIRMATIONS.labels("duplicate").inc()
                log.info("this event was already handled; no second SMS, no second charge", topic=delivery.topic)
                return
            if isinstance(payload, OptoutRecorded) and not payload.confirmation_due:
                log.info("opt-out recorded with no confirmation due; nothing to send", optout_id=payload.optout_id)
                return
            outcome = await self._answer(session, envelope=envelope, cause=payload)
            if outcome == "recorded":
                self._crash("before_ledger_commit")
        if outcome == "recorded":
            self._crash("after_ledger_commit")
            self._on_committed()

    async def _answer(self, session: AsyncSession, *, envelope: Envelope, cause: Cause) -> Outcome:
        """Charge and record the reply a cause calls for, or park it until its account is known."""
        purpose: Purpose
        if isinstance(cause, OptoutRecorded):
            purpose, cause_id = "optout_confirmation", cause.optout_id
        else:
            purpose, cause_id = "contact_reply", cause.request_id
        await repo.lock_account(session, cause.account_id)
        account = await repo.get_account(session, cause.account_id)
        sender = choose_sender(requested=cause.short_code, short_codes=account.short_codes) if account else None
        now = self._clock.now()
        if account is None or sender is None:
            reason = "account_unknown" if account is None else "no_short_code"
            # Parked (or kept parked, with the current reason) rather than retried or
            # dead-lettered: the account.changed that unblocks it resumes it.
            await repo.park(
                session,
                event_id=envelope.id,
                account_id=cause.account_id,
                topic=envelope.type,
                reason=reason,
                envelope=encode(envelope),
                now=now,
            )
            log.warning(
                "cannot answer yet: the account is unknown or has no short code; parked until it changes",
                account_id=cause.account_id,
                purpose=purpose,
                reason=reason,
            )
            return "parked"
        message_id = message_id_for(purpose=purpose, cause_event_id=cause_id)
        if isinstance(cause, ContactRequested):
            previous = await repo.replies_since(
                session, account_id=cause.account_id, phone=cause.phone, since=self._contact_limit.window_start(now)
            )
            allowed = contact_reply_allowed(previous_replies=previous, now=now, rule=self._contact_limit)
            first = await repo.record_contact_request(
                session,
                request_id=cause.request_id,
                account_id=cause.account_id,
                phone=cause.phone,
                outcome="replied" if allowed else "throttled",
                message_id=message_id if allowed else None,
                raw_text=cause.raw_text[:500],
                received_at=cause.received_at,
                handled_at=now,
            )
            if not first:
                metrics.CONFIRMATIONS.labels("duplicate").inc()
                return "duplicate"
            if not allowed:
                metrics.CONFIRMATIONS.labels("throttled").inc()
                log.warning(
                    "CONTACT reply throttled: this number already got the maximum for the window; no SMS, no charge",
                    account_id=cause.account_id,
                    limit=self._contact_limit.limit,
                    window_hours=self._contact_limit.window.total_seconds() / 3600,
                )
                return "throttled"
        language = language_for(cause.phone)
        custom = await repo.get_template(session, account_id=account.account_id, purpose=purpose, language=language)
        body = text_for(
            purpose=purpose,
            language=language,
            custom=custom,
            advertiser=account.name,
            contact=account.contact_info,
            short_code=sender,
        )
        size = measure(body)
        charge_id = charge_id_for(purpose=purpose, cause_event_id=cause_id)
        charged = await repo.insert_charge(
            session,
            charge_id=charge_id,
            account_id=account.account_id,
            reason=purpose,
            cause_event_id=cause_id,
            phone=cause.phone,
            message_id=message_id,
            amount=CREDITS_PER_REPLY,
            charged_at=now,
        )
        if not charged:
            metrics.CONFIRMATIONS.labels("duplicate").inc()
            log.info("this cause was already charged and answered; nothing more to do", purpose=purpose)
            return "duplicate"
        await repo.insert_message(
            session,
            message_id=message_id,
            purpose=purpose,
            cause_event_id=cause_id,
            account_id=account.account_id,
            phone=cause.phone,
            sender=sender,
            text=body,
            encoding=size.encoding,
            segments=size.segments,
            state="pending",
            attempt=1,
            tries=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        await add_to_outbox(
            session,
            BillingCharged(
                charge_id=charge_id,
                account_id=account.account_id,
                amount=CREDITS_PER_REPLY,
                reason=purpose,
                cause_event_id=cause_id,
                phone=cause.phone,
                message_id=message_id,
                charged_at=now,
            ),
            key=account.account_id,
            producer=self._settings.service_name,
            occurred_at=now,
        )
        log.info("reply recorded and charged one credit; it will be sent now", purpose=purpose, message_id=message_id)
        return "recorded"

    # -- sms.delivery -----------------------------------------------------------------

    async def on_deliveries(self, batch: list[tuple[Envelope, Payload, Delivery]]) -> None:
        """Follow the delivery reports of our replies (most reports are other services' and are skipped)."""
        reports = [(e, p, d) for e, p, d in batch if isinstance(p, SmsDelivery)]
        if not reports:
            return
        retries = 0
        carrier_ids = {p.carrier_message_id for _, p, _ in reports}
        # A carrier that reports through our own URL (Kannel's dlr-url) names the submission
        # by our id, so its report is matched even when a crash left the answer unrecorded.
        our_ids = {p.message_id for _, p, _ in reports if p.message_id} | carrier_ids
        async with self._sessions() as session, session.begin():
            rows = await repo.submissions_matching(
                session, carrier_ids=sorted(carrier_ids), submission_ids=sorted(our_ids)
            )
            if not rows:
                return
            by_submission = {r.submission_id: r for r in rows}
            by_carrier_id = {
                (r.submission_carrier, r.submission_carrier_message_id): r
                for r in rows
                if r.submission_carrier_message_id
            }
            for envelope, report, delivery in reports:
                row = (
                    by_submission.get(report.message_id or "")
                    or by_carrier_id.get((report.carrier, report.carrier_message_id))
                    or by_submission.get(report.carrier_message_id)
                )
                if row is None:
                    continue
                if not await first_delivery(
                    session, consumer=GROUP_DELIVERIES, event_id=envelope.id, delivery=delivery
                ):
                    continue
                retries += await self._apply_report(session, submission=row, report=report)
        if retries:
            self._on_committed()

    async def _apply_report(self, session: AsyncSession, *, submission: Any, report: SmsDelivery) -> int:
        """Apply one delivery report to its message; return 1 when it scheduled a retry."""
        now = self._clock.now()
        await repo.record_submission_report(
            session,
            submission_id=submission.submission_id,
            status=report.status,
            carrier_message_id=report.carrier_message_id,
            now=now,
        )
        message = (
            await session.execute(
                select(messages).where(messages.c.message_id == submission.message_id).with_for_update()
            )
        ).one()
        verdict = classify_delivery(report.status)
        if verdict == "delivered":
            if await repo.mark_delivered(session, message_id=message.message_id, now=now):
                log.info("reply delivered to the phone", message_id=message.message_id, purpose=message.purpose)
            return 0
        if verdict == "in_progress":
            await repo.set_delivery_status(session, message_id=message.message_id, status=report.status, now=now)
            return 0
        if message.state in ("delivered", "failed_final") or submission.submission_attempt != message.attempt:
            # An older attempt's failure (already retried) or a message already settled.
            return 0
        error = f"the carrier reported the SMS {report.status}" + (
            f" (code {report.error_code})" if report.error_code else ""
        )
        decision = after_failed_try(
            tries=message.tries, now=now, policy=self._policy, permanent=False, carrier_accepted=True
        )
        live_states = ("submitted", "submitting", "pending")
        if isinstance(decision, GiveUp):
            if await repo.mark_failed_final(
                session,
                message_id=message.message_id,
                attempt=message.attempt,
                error=error,
                now=now,
                from_states=live_states,
            ):
                metrics.CONFIRMATIONS.labels("failed_final").inc()
                log.error(
                    "a reply could not be delivered after the last try; it stays failed in the evidence",
                    message_id=message.message_id,
                    purpose=message.purpose,
                    account_id=message.account_id,
                    tries=message.tries,
                    error=error,
                )
            return 0
        if await repo.schedule_retry(
            session,
            message_id=message.message_id,
            attempt=message.attempt,
            next_attempt=message.attempt + 1,
            at=decision.at,
            error=error,
            now=now,
            from_states=live_states,
        ):
            metrics.CONFIRMATIONS.labels("failed_retry").inc()
            log.warning(
                "a reply was not delivered; it will be sent again",
                message_id=message.message_id,
                purpose=message.purpose,
                retry_at=decision.at.isoformat(),
                tries=message.tries,
                error=error,
            )
            return 1
        return 0
