"""The sender: hand pending replies to a carrier, once, and record what the carrier answered.

Each pass leases due messages (transaction A: state ``submitting``, ``lease_until``, the
try counted, the submission row started), calls the carrier with the submission id as
the idempotency key, then records the answer (transaction B: the submission's outcome,
the message's state, and on acceptance the ``sms.outbound`` event). A process that dies
between A and B leaves the message ``submitting``; when the lease runs out, a sender
takes it again and submits the *same* id, which a carrier that honours idempotency keys
answers with its first acceptance instead of a second SMS (README "The one window").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_notifier import metrics
from halte_notifier.adapters import repository as repo
from halte_notifier.adapters.carriers import Carriers
from halte_notifier.config import Settings
from halte_notifier.crash import CrashHook
from halte_notifier.domain.identifiers import submission_id_for
from halte_notifier.domain.retry import GiveUp, after_failed_try
from halte_shared.carriers.base import OutboundSms, SubmitResult
from halte_shared.clock import Clock
from halte_shared.events import SmsOutbound
from halte_shared.outbox import add_to_outbox

log = structlog.get_logger("halte.notifier")


class Sender:
    """Submit due messages to the carriers, forever, until cancelled."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        carriers: Carriers,
        clock: Clock,
        settings: Settings,
        crash: CrashHook,
        on_committed: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._carriers = carriers
        self._clock = clock
        self._settings = settings
        self._crash = crash
        self._on_committed = on_committed
        self._policy = settings.retry_policy()
        self._lease = timedelta(seconds=settings.lease_seconds)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.send_concurrency)
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Tell the sender a message was just recorded, so it need not wait for its next poll."""
        self._wake.set()

    def start(self) -> None:
        """Start the sending loop in the background."""
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name="notifier-sender")

    async def stop(self, *, grace_seconds: float) -> None:
        """Finish the pass in flight (its carrier answers recorded), then stop."""
        self._stopping.set()
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace_seconds)
        except TimeoutError:
            # The leases of what was in flight run out and another sender takes it over.
            log.warning("the sender did not finish its pass within the grace period; abandoning it")
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def run(self) -> None:
        """Send due messages until stopped; a failing pass is logged and retried."""
        backoff = 0.5
        last_gauges = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                sent = await self.send_due()
                backoff = 0.5
            except Exception as exc:
                log.error(
                    "a sending pass failed; pending replies stay pending and will be tried again",
                    error=repr(exc),
                    retry_in_seconds=backoff,
                )
                sent = 0
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            if loop.time() - last_gauges > 5.0:
                await self.refresh_gauges()
                last_gauges = loop.time()
            if sent < self._settings.send_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_seconds)
                self._wake.clear()

    async def refresh_gauges(self) -> None:
        """Update the pending-messages and parked-events gauges."""
        try:
            async with self._sessions() as session:
                metrics.PENDING_MESSAGES.set(await repo.count_unsent(session))
                metrics.PARKED_EVENTS.set(await repo.count_parked(session))
        except Exception as exc:
            log.warning("could not refresh the notifier's gauges", error=repr(exc))

    async def send_due(self) -> int:
        """Lease the messages whose try is due, submit them, record the answers; return how many."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            claimed = await repo.claim_due(
                session, now=now, lease_until=now + self._lease, limit=self._settings.send_batch
            )
            for row in claimed:
                await repo.start_submission(
                    session,
                    submission_id=submission_id_for(row.message_id, row.attempt),
                    message_id=row.message_id,
                    attempt=row.attempt,
                    now=now,
                )
        for row in claimed:
            if row.previous_state == "submitting":
                log.warning(
                    "taking over a reply whose previous try never recorded an answer (crash or hang); "
                    "resubmitting it under the same idempotency key",
                    message_id=row.message_id,
                    attempt=row.attempt,
                )
        if claimed:
            await asyncio.gather(*(self._try(row) for row in claimed))
        return len(claimed)

    async def _try(self, row: Any) -> None:
        submission_id = submission_id_for(row.message_id, row.attempt)
        async with self._limit:
            try:
                sms = OutboundSms(
                    message_id=submission_id,
                    to=row.phone,
                    sender=row.sender,
                    text=row.text,
                    encoding=row.encoding,
                    kind="informative",
                )
            except ValueError as exc:
                result = SubmitResult(carrier="", carrier_message_id=None, accepted=False, error=str(exc))
            else:
                try:
                    result = await self._carriers.submit(sms)
                except Exception as exc:
                    # The router turns carrier errors into results; anything else is a bug
                    # whose outcome we cannot know, so the same id is tried again later.
                    log.error("the carrier router raised instead of answering", error=repr(exc))
                    result = SubmitResult(
                        carrier="",
                        carrier_message_id=None,
                        accepted=False,
                        retryable=True,
                        outcome_unknown=True,
                        error=repr(exc),
                    )
        self._crash("after_carrier_call")
        await self._record(row, submission_id=submission_id, result=result)

    async def _record(self, row: Any, *, submission_id: str, result: SubmitResult) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            if result.accepted:
                await self._record_handed_over(session, row, submission_id=submission_id, result=result, now=now)
            elif result.outcome_unknown and not result.retryable:
                # A carrier without idempotency keys may or may not hold the message: the
                # router does not resend (a second SMS would reach the phone). The carrier's
                # delivery report, which names our id, settles it either way.
                await self._record_handed_over(session, row, submission_id=submission_id, result=result, now=now)
            else:
                await self._record_failure(session, row, submission_id=submission_id, result=result, now=now)
        self._on_committed()

    async def _record_handed_over(
        self, session: AsyncSession, row: Any, *, submission_id: str, result: SubmitResult, now: datetime
    ) -> None:
        unknown = not result.accepted
        first = await repo.record_submission_answer(
            session,
            submission_id=submission_id,
            outcome="unknown" if unknown else "accepted",
            carrier=result.carrier,
            carrier_message_id=result.carrier_message_id,
            error=result.error if unknown else None,
            now=now,
        )
        if not first:
            return
        await repo.mark_accepted(
            session,
            message_id=row.message_id,
            attempt=row.attempt,
            carrier=result.carrier,
            carrier_message_id=result.carrier_message_id,
            error=(
                f"the carrier may or may not have taken the SMS ({result.error}); waiting for its delivery report"
                if unknown
                else None
            ),
            now=now,
        )
        await add_to_outbox(
            session,
            SmsOutbound(
                message_id=submission_id,
                request_id=row.cause_event_id,
                account_id=row.account_id,
                purpose=row.purpose,
                phone=row.phone,
                sender=row.sender,
                text=row.text,
                kind="informative",
                encoding=row.encoding,
                segments=row.segments,
                carrier=result.carrier,
                carrier_message_id=result.carrier_message_id,
                submitted_at=now,
            ),
            key=row.phone,
            producer=self._settings.service_name,
            occurred_at=now,
        )
        if unknown:
            log.error(
                "a carrier without idempotency keys may or may not have the reply; not resending it, "
                "its delivery report will tell",
                message_id=row.message_id,
                purpose=row.purpose,
                carrier=result.carrier,
                error=result.error,
            )
            return
        metrics.CONFIRMATIONS.labels("sent").inc()
        log.info(
            "reply accepted by the carrier",
            message_id=row.message_id,
            purpose=row.purpose,
            carrier=result.carrier,
            carrier_message_id=result.carrier_message_id,
            carrier_recognised_resubmission=result.duplicate,
        )

    async def _record_failure(
        self, session: AsyncSession, row: Any, *, submission_id: str, result: SubmitResult, now: datetime
    ) -> None:
        permanent = not result.retryable
        error = result.error or "the carrier did not accept the message"
        first = await repo.record_submission_answer(
            session,
            submission_id=submission_id,
            outcome="refused" if permanent else "failed",
            carrier=result.carrier or None,
            carrier_message_id=None,
            error=error,
            now=now,
        )
        if not first:
            return
        decision = after_failed_try(
            tries=row.tries, now=now, policy=self._policy, permanent=permanent, carrier_accepted=False
        )
        if isinstance(decision, GiveUp):
            if await repo.mark_failed_final(
                session,
                message_id=row.message_id,
                attempt=row.attempt,
                error=f"{error}; {decision.reason}",
                now=now,
                from_states=("submitting",),
            ):
                metrics.CONFIRMATIONS.labels("failed_final").inc()
                log.error(
                    "a reply could not be handed to any carrier; it stays failed in the evidence",
                    message_id=row.message_id,
                    purpose=row.purpose,
                    account_id=row.account_id,
                    tries=row.tries,
                    error=error,
                )
            return
        # The carrier refused this try or its outcome is unknown to a carrier that honours
        # our key: the next try re-uses the same submission id (never a new one here).
        if await repo.schedule_retry(
            session,
            message_id=row.message_id,
            attempt=row.attempt,
            next_attempt=row.attempt,
            at=decision.at,
            error=error,
            now=now,
            from_states=("submitting",),
        ):
            metrics.CONFIRMATIONS.labels("failed_retry").inc()
            log.warning(
                "a carrier did not take a reply; it will be tried again",
                message_id=row.message_id,
                purpose=row.purpose,
                retry_at=decision.at.isoformat(),
                tries=row.tries,
                error=error,
            )
