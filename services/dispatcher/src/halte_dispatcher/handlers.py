"""What the dispatcher does: decide each request once, hold, release, check again, submit.

The life of one recipient request (one ``dispatches`` row):

1. **Decision** (consumer of ``dispatch.requested``, or ``POST /v1/dispatch``): in one
   transaction the inbox row, the decision row (unique on request id and on campaign and
   number: a redelivery or a second replica finds it and does nothing) and ``dispatch.decided``
   in the outbox. A ``send`` is only an intent: state ``sending`` with its ``message_id``, the
   carrier's idempotency key.
2. **Hold** (``held``): evaluated again at ``release_at`` by the release loop, paced at the
   carriers' rate so a night's backlog spreads over the morning; an opt-out received meanwhile
   wins. A ``suppression_feed_stale`` hold is released once the blocklist copy is current again.
   Marketing for an account not known yet waits (``pending_account``) until ``account.changed``.
3. **Submission** (sender loop): right before the carrier call, the last check against the
   local blocklist copy, its currency, and the window's deadline. A number suppressed since the
   ``send`` was published gets a corrected final ``refuse``/``suppressed``; a stale copy puts the
   message back on hold (``suppression_feed_stale``, not final); a window that closed meanwhile
   re-evaluates it. Then the router submits it, and the carrier's answer is recorded with
   ``sms.outbound`` (carrier message id included, for delivery reports) in one transaction.

Crash safety: the carrier call happens inside the transaction that claimed the rows; a crash
before the commit leaves them ``sending`` and they are submitted again with the same
``message_id``. The simulator answers such a resubmission as a duplicate; a carrier that
ignores idempotency keys (Kannel, SMPP) could deliver the SMS twice in that window, the
"exactly-once-ish" edge documented in the report. A submission whose outcome the router could
not learn on such a carrier is never resent (at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_dispatcher import metrics
from halte_dispatcher.adapters import repository as repo
from halte_dispatcher.adapters.carriers import Carriers, configured_rate
from halte_dispatcher.adapters.tables import HELD, PENDING_ACCOUNT, REFUSED, SENDING, SUBMITTED
from halte_dispatcher.config import Settings
from halte_dispatcher.domain.decision import (
    ACCOUNT_UNKNOWN,
    CARRIER_REJECTED,
    OPTOUT_PENDING,
    SUPPRESSED,
    SUPPRESSION_FEED_STALE,
    Decision,
)
from halte_dispatcher.domain.dispatch import AccountView, Outcome, decide
from halte_dispatcher.domain.policy import PolicyInput, evaluate
from halte_dispatcher.domain.suppression import Block
from halte_dispatcher.optout_lane import OptoutLane
from halte_dispatcher.pacing import ReleasePacer
from halte_shared.carriers.base import OutboundSms, SubmitResult
from halte_shared.clock import Clock
from halte_shared.events import AccountChanged, DispatchDecided, DispatchRequested, Payload, SmsOutbound
from halte_shared.failures import FailureClass, classify
from halte_shared.sms import encoding_for

log = structlog.get_logger("halte.dispatcher")

REQUESTS_CONSUMER = "dispatcher-requests"
ACCOUNTS_CONSUMER = "dispatcher-accounts"
_MESSAGE_NAMESPACE = uuid.UUID("6f1d2c1e-4a5b-4d0e-9a51-2f7c3b8e9d10")
#: Pending-account requests re-evaluated per release cycle (they are new decisions, not paced).
PENDING_BATCH = 1000
#: A message held for an opt-out on a shared short code is looked at again this often until suppression attributes it.
OPTOUT_PENDING_RECHECK = timedelta(seconds=1)
#: Recipients whose policy is evaluated between two yields to the event loop: the opt-out lane and
#: the HTTP routes share this process, and a campaign's batch must not stall them for long.
DECIDE_SLICE = 200


class SuppressedMeanwhile(Exception):
    """A marketing message whose number opted out after its batch's check, before its carrier call."""


class ViewStaleMeanwhile(Exception):
    """A marketing message whose opt-out view stopped being current before its carrier call."""


def message_id_for(request_id: str) -> str:
    """Return the carrier idempotency key of a request: the same request always gets the same one."""
    return f"m-{uuid.uuid5(_MESSAGE_NAMESPACE, request_id).hex}"


@functools.lru_cache(maxsize=1024)
def _encoding(text: str) -> str:
    # A campaign sends one text to every recipient: measure it once.
    return encoding_for(text)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request to decide, with where it came from (None: the HTTP API, no inbox row).

    ``raw`` is the payload as it came off the wire, when there is one: it is stored as is,
    which spares serialising every request again.
    """

    event_id: str
    request: DispatchRequested
    inbox: repo.InboxEntry | None = None
    raw: dict[str, Any] | None = None


@dataclass
class _Answered:
    """What a carrier batch decided, kept to be recorded again if its transaction is lost."""

    transitions: list[repo.Transition] = field(default_factory=list)
    events: list[tuple[Payload, str | None]] = field(default_factory=list)
    published: list[Decision] = field(default_factory=list)
    #: When the carriers' answers were in: set once no carrier call remains.
    at: datetime | None = None

    def record(
        self,
        transition: repo.Transition,
        event: tuple[Payload, str | None] | None,
        decision: Decision | None,
    ) -> None:
        """Keep a row's new state, the event announcing it and the decision it publishes."""
        self.transitions.append(transition)
        if event is not None:
            self.events.append(event)
        if decision is not None:
            self.published.append(decision)


@dataclass(frozen=True, slots=True)
class DecisionView:
    """The answer about one request: the decision in force and, for a hold, when it may go."""

    request_id: str
    decision: str
    reason: str
    next_window_start: datetime | None


def _release_at(decision: Decision, *, now: datetime) -> datetime:
    """Return when a hold is looked at again: its window's start, soon for a pending opt-out, else at once."""
    if decision.next_window_start is not None:
        return decision.next_window_start
    # A feed-stale hold is due at once and released when the view is current again.
    return now + OPTOUT_PENDING_RECHECK if decision.reason == OPTOUT_PENDING else now


def _priority(kind: str) -> int:
    # An informative SMS (a code, an appointment) must not queue behind a marketing campaign.
    return 0 if kind == "informative" else 1


class Dispatcher:
    """The dispatcher's handlers and loops, over its database, clock, carriers and feed."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        carriers: Carriers,
        lane: OptoutLane,
        release_rate: float,
        wake_relay: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.carriers = carriers
        self.lane = lane
        self.release_rate = release_rate
        self.pacer = ReleasePacer(release_rate)
        self._wake_relay = wake_relay
        self.sender_wake = asyncio.Event()
        self.release_wake = asyncio.Event()
        # Claimed rows are submitted inside their transaction: a batch is at most ~2 s of the
        # carriers' rate, so a crash can leave only that many "sent but not recorded".
        rate = configured_rate(carriers)
        self.claim_size = settings.sender_batch if rate is None else min(settings.sender_batch, max(10, int(rate * 2)))
        self._submitting = asyncio.Lock()
        self.stopping = False

    # -- shared views ------------------------------------------------------------------------

    async def _blocks(
        self, session: AsyncSession, messages: Iterable[tuple[str, str, str | None]]
    ) -> dict[tuple[str, str], Block]:
        """Return how the opt-out view blocks each (account, number) of these marketing messages."""
        # Test mode only (config refuses it otherwise): the end-to-end invariant checker must
        # be shown to catch a dispatcher that ignores opt-outs.
        return await repo.blocks(session, messages, ignore_suppressions=self.settings.test_break_suppression_check)

    @staticmethod
    def _marketing(requests: Iterable[Any]) -> list[tuple[str, str, str | None]]:
        return [(r.account_id, r.phone, r.sender) for r in requests if r.kind == "marketing"]

    def _producer(self) -> str:
        return self.settings.service_name

    def _decided_event(
        self, request: DispatchRequested, decision: Decision, *, at: datetime
    ) -> tuple[Payload, str | None]:
        payload = DispatchDecided(
            request_id=request.request_id,
            account_id=request.account_id,
            campaign_id=request.campaign_id,
            phone=request.phone,
            kind=request.kind,
            decision=decision.decision,
            reason=decision.reason,
            final=decision.is_final,
            scheduled_for=decision.next_window_start,
            segments=request.segments,
            sender=request.sender,
            decided_at=at,
        )
        return payload, request.phone

    async def _publish(
        self, session: AsyncSession, events: Sequence[tuple[Payload, str | None]], *, at: datetime
    ) -> None:
        await repo.add_many_to_outbox(session, events, producer=self._producer(), occurred_at=at)

    def _after_commit(self, decisions: Sequence[Decision], *, sends: bool) -> None:
        # Counted per batch: a campaign's thousands of identical labels cost one increment.
        for (decision, reason), count in Counter((d.decision, d.reason) for d in decisions).items():
            metrics.DECISIONS.labels(decision, reason).inc(count)
        if decisions:
            self._wake_relay()
        if sends:
            self.sender_wake.set()

    # -- 1. decisions ------------------------------------------------------------------------

    async def decide_requests(self, items: Sequence[Incoming], *, consumer: str = REQUESTS_CONSUMER) -> int:
        """Decide every request not decided before, in one transaction; return how many were new."""
        now = self.clock.now()
        published: list[Decision] = []
        sends = False
        async with self.sessions() as session, session.begin():
            entries = [item.inbox for item in items if item.inbox is not None]
            fresh = await repo.first_deliveries(session, consumer=consumer, entries=entries)
            todo: list[Incoming] = []
            seen_requests: set[str] = set()
            seen_recipients: set[tuple[str, str]] = set()
            for item in items:
                if item.inbox is not None and item.event_id not in fresh:
                    continue  # this event was processed before
                request = item.request
                recipient = (request.campaign_id or "", request.phone)
                if request.request_id in seen_requests or (request.campaign_id and recipient in seen_recipients):
                    continue  # the same recipient twice in one batch: the first one decides
                seen_requests.add(request.request_id)
                seen_recipients.add(recipient)
                todo.append(item)
            if not todo:
                return 0
            current = self.lane.current(now)
            accounts = await repo.load_accounts(session, (i.request.account_id for i in todo))
            blocks = await self._blocks(session, self._marketing(i.request for i in todo))
            rows: list[repo.NewDispatch] = []
            outcomes: dict[str, Outcome] = {}
            for index, item in enumerate(todo):
                if index and index % DECIDE_SLICE == 0:
                    await asyncio.sleep(0)
                request = item.request
                block = blocks.get((request.account_id, request.phone))
                outcome = decide(
                    request,
                    accounts.get(request.account_id),
                    suppressed=block == "suppressed",
                    optout_pending=block == "pending",
                    feed_current=current,
                    now=now,
                )
                outcomes[request.request_id] = outcome
                rows.append(self._new_row(item, outcome, now=now))
            inserted = await repo.insert_dispatches(session, rows, now=now)
            events = []
            for item in todo:
                if item.request.request_id not in inserted:
                    continue  # decided before (a redelivery under another event id, or the HTTP API)
                decision = outcomes[item.request.request_id].decision
                events.append(self._decided_event(item.request, decision, at=now))
                published.append(decision)
                sends |= decision.decision == "send"
            await self._publish(session, events, at=now)
        self._after_commit(published, sends=sends)
        return len(published)

    def _new_row(self, item: Incoming, outcome: Outcome, *, now: datetime) -> repo.NewDispatch:
        request = item.request
        decision = outcome.decision
        state, release_at, next_attempt = REFUSED, None, None
        if decision.decision == "send":
            state, next_attempt = SENDING, now
        elif decision.reason == ACCOUNT_UNKNOWN:
            state = PENDING_ACCOUNT
        elif decision.decision == "hold":
            state, release_at = HELD, _release_at(decision, now=now)
        return repo.NewDispatch(
            request_id=request.request_id,
            event_id=item.event_id,
            account_id=request.account_id,
            campaign_id=request.campaign_id,
            phone=request.phone,
            kind=request.kind,
            request=item.raw if item.raw is not None else request.model_dump(mode="json"),
            state=state,
            decision=decision.decision,
            reason=decision.reason,
            scheduled_for=decision.next_window_start,
            release_at=release_at,
            send_by=outcome.send_by,
            message_id=message_id_for(request.request_id),
            priority=_priority(request.kind),
            next_attempt_at=next_attempt,
        )

    async def dispatch_one(self, request: DispatchRequested) -> DecisionView:
        """Decide one request from the HTTP API (idempotent on request id) and return the decision in force."""
        await self.decide_requests([Incoming(event_id=f"http:{request.request_id}", request=request)])
        async with self.sessions() as session:
            row = await repo.find_dispatch(
                session, request_id=request.request_id, campaign_id=request.campaign_id, phone=request.phone
            )
        assert row is not None, "the request was just decided"
        return DecisionView(row.request_id, row.decision, row.reason, row.scheduled_for)

    # -- accounts and the blocklist fast path ------------------------------------------------

    async def record_account(self, payload: AccountChanged, *, inbox: repo.InboxEntry) -> None:
        """Store an account's settings (newest change wins) and release requests that waited for it."""
        async with self.sessions() as session, session.begin():
            if not await repo.first_deliveries(session, consumer=ACCOUNTS_CONSUMER, entries=[inbox]):
                return  # processed before
            stored = await repo.upsert_account(
                session,
                values={
                    "account_id": payload.account_id,
                    "name": payload.name,
                    "mode": payload.mode,
                    "short_codes": list(payload.short_codes),
                    "contact_info": payload.contact_info,
                    "hours_profile": payload.hours_profile,
                    "window_start": payload.window_start,
                    "window_end": payload.window_end,
                    "active": payload.active,
                    "non_commercial": payload.non_commercial,
                    "changed_at": payload.changed_at,
                },
            )
        if stored:
            log.info("account settings updated", account_id=payload.account_id, mode=payload.mode)
            self.release_wake.set()

    # -- the opt-out view ----------------------------------------------------------------------

    async def poll_feed_once(self) -> bool:
        """Read one page of inbound's journal and of suppression's feed and apply them; True when more wait."""
        return await self.lane.poll_once()

    # -- 2. holds ----------------------------------------------------------------------------

    async def release_due(self) -> int:
        """Re-evaluate due holds (paced) and requests whose account became known; return how many."""
        now = self.clock.now()
        published: list[Decision] = []
        sends = False
        async with self.sessions() as session, session.begin():
            current = self.lane.current(now)
            holds = await repo.claim_due_holds(
                session, now=now, feed_current=current, limit=min(self.pacer.available(), self.settings.sender_batch)
            )
            pending = await repo.claim_pending_accounts(session, limit=PENDING_BATCH)
            rows = holds + pending
            if not rows:
                return 0
            accounts = await repo.load_accounts(session, (r.account_id for r in rows))
            requests = {row.request_id: DispatchRequested.model_validate(row.request) for row in rows}
            blocks = await self._blocks(session, self._marketing(requests.values()))
            transitions: list[repo.Transition] = []
            events = []
            for row in rows:
                request = requests[row.request_id]
                block = blocks.get((row.account_id, row.phone))
                outcome = decide(
                    request,
                    accounts.get(row.account_id),
                    suppressed=block == "suppressed",
                    optout_pending=block == "pending",
                    feed_current=current,
                    now=now,
                )
                transitions.append(self._transition(row, outcome, now=now))
                if self._changes_decision(row, outcome.decision):
                    events.append(self._decided_event(request, outcome.decision, at=now))
                    published.append(outcome.decision)
                    sends |= outcome.decision.decision == "send"
            await repo.apply_transitions(session, transitions, now=now)
            await self._publish(session, events, at=now)
        self.pacer.spend(len(holds))
        self._after_commit(published, sends=sends)
        if holds:
            sent = sum(1 for d in published if d.decision == "send")
            log.info("held messages released and evaluated again", released=len(holds), sends=sent)
        return len(rows)

    @staticmethod
    def _changes_decision(row: repo.StoredDispatch, decision: Decision) -> bool:
        # A hold evaluated again into the same hold (same reason, same release) is no news.
        return not (
            decision.decision == row.decision
            and decision.reason == row.reason
            and decision.next_window_start == row.scheduled_for
        )

    @staticmethod
    def _transition(row: repo.StoredDispatch, outcome: Outcome, *, now: datetime) -> repo.Transition:
        decision = outcome.decision
        if decision.decision == "send":
            return repo.Transition(
                row.request_id, SENDING, "send", decision.reason, send_by=outcome.send_by, next_attempt_at=now
            )
        if decision.decision == "refuse":
            return repo.Transition(row.request_id, REFUSED, "refuse", decision.reason)
        if decision.reason == ACCOUNT_UNKNOWN:
            return repo.Transition(row.request_id, PENDING_ACCOUNT, "hold", decision.reason)
        return repo.Transition(
            row.request_id,
            HELD,
            "hold",
            decision.reason,
            scheduled_for=decision.next_window_start,
            release_at=_release_at(decision, now=now),
        )

    # -- 3. submission -----------------------------------------------------------------------

    async def submit_due(self) -> int:
        """Check again and submit a batch of decided sends; return how many rows were handled."""
        async with self._submitting:
            if self.stopping:
                return 0
            return await self._submit_batch()

    async def finish_submissions(self) -> None:
        """Let the batch in flight finish and start no other (a clean stop never resends)."""
        async with self._submitting:
            self.stopping = True

    async def _submit_batch(self) -> int:
        # Opt-outs the view learns while this batch is in flight (a batch can take seconds at the
        # carriers' rate): each message is checked against them again right before its carrier call.
        with self.lane.watch() as blocked_meanwhile:
            return await self._submit_watched(blocked_meanwhile)

    async def _submit_watched(self, blocked_meanwhile: set[str]) -> int:
        answered = _Answered()
        try:
            return await self._submit_claimed(blocked_meanwhile, answered)
        except Exception as exc:
            # The carriers answered, but the transaction that claimed the rows was lost (a dropped
            # connection, a database restart): their answers must still be recorded, or a message
            # handed over would be decided again (and, a STOP meanwhile, reported refused although
            # it left before the STOP).
            if answered.at is None or classify(exc).kind is not FailureClass.INFRASTRUCTURE:
                raise
            await self._record_answers(answered, error=exc)
            return len(answered.transitions)

    async def _submit_claimed(self, blocked_meanwhile: set[str], answered: _Answered) -> int:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            rows = await repo.claim_due_sends(session, now=now, limit=self.claim_size)
            if not rows:
                return 0
            current = self.lane.current(now)
            requests = {row.request_id: DispatchRequested.model_validate(row.request) for row in rows}
            blocks = await self._blocks(session, self._marketing(requests.values()))
            late = [r for r in rows if r.kind == "marketing" and r.send_by is not None and now >= r.send_by]
            accounts = await repo.load_accounts(session, (r.account_id for r in late)) if late else {}
            ready: list[tuple[repo.StoredDispatch, DispatchRequested]] = []
            for row in rows:
                request = requests[row.request_id]
                correction = self._last_check(
                    row,
                    request,
                    block=blocks.get((row.account_id, row.phone)),
                    current=current,
                    account=accounts.get(row.account_id),
                    now=now,
                )
                if correction is None:
                    ready.append((row, request))
                else:
                    answered.record(*self._correction(row, request, correction, at=now))
            results = await self._submit_all(ready, blocked_meanwhile=blocked_meanwhile)
            # From here on nothing reads the database before the answers are kept in `answered`.
            answered.at = self.clock.now()
            for (row, request), result in zip(ready, results, strict=True):
                if isinstance(result, ViewStaleMeanwhile):
                    log.info(
                        "the opt-out view stopped being current while the message waited for its carrier call; "
                        "it is held",
                        request_id=row.request_id,
                    )
                    stale = Outcome(Decision.hold(SUPPRESSION_FEED_STALE))
                    answered.record(*self._correction(row, request, stale, at=answered.at))
                elif isinstance(result, SuppressedMeanwhile):
                    # Not submitted: the next batch's last check decides it against the view as it is then.
                    log.info(
                        "an opt-out of this number arrived while the message waited for its carrier call; "
                        "it is not submitted and is checked again",
                        request_id=row.request_id,
                        account_id=row.account_id,
                    )
                    answered.transitions.append(self._send_again(row, at=answered.at))
                else:
                    answered.record(*self._record_result(row, request, result, at=answered.at))
            await repo.apply_transitions(session, answered.transitions, now=answered.at)
            await self._publish(session, answered.events, at=answered.at)
        self._after_commit(answered.published, sends=False)
        if answered.events:
            self._wake_relay()
        return len(rows)

    async def _record_answers(self, answered: _Answered, *, error: BaseException) -> None:
        """Record carrier answers whose claim was lost, in transactions of their own, until the database takes them."""
        assert answered.at is not None
        log.warning(
            "the carriers answered but the batch's transaction was lost; recording their answers again",
            messages=len(answered.transitions),
            error=classify(error).describe(),
        )
        pause = 0.2
        while True:
            try:
                async with self.sessions() as session, session.begin():
                    # Only rows still waiting: the lost transaction may have committed after all.
                    moved = await repo.apply_transitions(
                        session, answered.transitions, now=answered.at, only_from=SENDING
                    )
                    events = [e for e in answered.events if getattr(e[0], "request_id", None) in moved]
                    await self._publish(session, events, at=answered.at)
                break
            except Exception as exc:
                if classify(exc).kind is not FailureClass.INFRASTRUCTURE:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        self._after_commit(answered.published, sends=False)
        self._wake_relay()

    def _correction(
        self, row: repo.StoredDispatch, request: DispatchRequested, outcome: Outcome, *, at: datetime
    ) -> tuple[repo.Transition, tuple[Payload, str | None], Decision]:
        """Return the new state, event and decision of a message that is not submitted after all."""
        return (
            self._transition(row, outcome, now=at),
            self._decided_event(request, outcome.decision, at=at),
            outcome.decision,
        )

    @staticmethod
    def _send_again(row: repo.StoredDispatch, *, at: datetime) -> repo.Transition:
        return repo.Transition(
            row.request_id,
            SENDING,
            "send",
            row.reason,
            send_by=row.send_by,
            next_attempt_at=at,
            attempts=row.attempts,
        )

    def _last_check(
        self,
        row: repo.StoredDispatch,
        request: DispatchRequested,
        *,
        block: Block | None,
        current: bool,
        account: AccountView | None,
        now: datetime,
    ) -> Outcome | None:
        """Return the corrected outcome of a decided send that may no longer go, or None if it may."""
        if row.kind != "marketing":
            return None
        if block is not None:
            # The send was published already; this final refuse (or hold) corrects it (see the module docstring).
            log.info(
                "an opt-out arrived after the send decision; the message is not submitted",
                request_id=row.request_id,
                account_id=row.account_id,
                block=block,
            )
            return Outcome(Decision.refuse(SUPPRESSED) if block == "suppressed" else Decision.hold(OPTOUT_PENDING))
        if not current:
            return Outcome(Decision.hold(SUPPRESSION_FEED_STALE))
        if row.send_by is not None and now >= row.send_by:
            outcome = decide(request, account, suppressed=False, feed_current=True, now=now)
            return (
                None if outcome.decision.decision == "send" and outcome.send_by and now < outcome.send_by else outcome
            )
        return None

    async def _submit_all(
        self, ready: Sequence[tuple[repo.StoredDispatch, DispatchRequested]], *, blocked_meanwhile: set[str]
    ) -> list[SubmitResult | BaseException]:
        semaphore = asyncio.Semaphore(self.settings.sender_concurrency)

        async def one(row: repo.StoredDispatch, request: DispatchRequested) -> SubmitResult:
            sms = OutboundSms(
                message_id=row.message_id,
                to=request.phone,
                sender=request.sender,
                text=request.text,
                encoding=_encoding(request.text),  # type: ignore[arg-type]
                kind=request.kind,
            )
            async with semaphore:
                if row.kind == "marketing":
                    if row.phone in blocked_meanwhile:
                        raise SuppressedMeanwhile(row.request_id)
                    if not self.lane.current(self.clock.now()):
                        raise ViewStaleMeanwhile(row.request_id)
                return await self.carriers.submit(sms)

        return list(await asyncio.gather(*(one(row, request) for row, request in ready), return_exceptions=True))

    def _record_result(
        self,
        row: repo.StoredDispatch,
        request: DispatchRequested,
        result: SubmitResult | BaseException,
        *,
        at: datetime,
    ) -> tuple[repo.Transition, tuple[Payload, str | None] | None, Decision | None]:
        attempts = row.attempts + 1
        if isinstance(result, BaseException):
            if isinstance(result, ValueError):
                # The SMS cannot even be built (empty sender or text): no carrier will ever take it.
                return self._rejected(row, request, "invalid", str(result), attempts=attempts)
            log.error(
                "submitting a message failed unexpectedly; it will be retried",
                request_id=row.request_id,
                error=repr(result),
            )
            return self._retry_later(row, error=repr(result), attempts=attempts, at=at), None, None
        if result.accepted or result.outcome_unknown:
            outcome = "duplicate" if result.duplicate else ("accepted" if result.accepted else "outcome_unknown")
            metrics.SUBMISSIONS.labels(result.carrier, outcome).inc()
            if not result.accepted:
                # At most once: the carrier may have it and ignores our key, so it is not resent.
                log.warning(
                    "the carrier's answer was lost; the message counts as submitted and is not resent",
                    request_id=row.request_id,
                    carrier=result.carrier,
                    error=result.error,
                )
            transition = repo.Transition(
                row.request_id,
                SUBMITTED,
                "send",
                row.reason,
                attempts=attempts,
                carrier=result.carrier,
                carrier_message_id=result.carrier_message_id,
                submitted_at=at,
                last_error=None if result.accepted else result.error,
            )
            event = SmsOutbound(
                message_id=row.message_id,
                request_id=request.request_id,
                account_id=request.account_id,
                campaign_id=request.campaign_id,
                purpose="campaign" if request.campaign_id else "unit",
                phone=request.phone,
                sender=request.sender,
                text=request.text,
                kind=request.kind,
                encoding=_encoding(request.text),  # type: ignore[arg-type]
                segments=request.segments,
                carrier=result.carrier,
                carrier_message_id=result.carrier_message_id,
                submitted_at=at,
            )
            return transition, (event, request.phone), None
        if result.retryable and attempts < self.settings.max_submit_attempts:
            metrics.SUBMISSIONS.labels(result.carrier, "retry_later").inc()
            return self._retry_later(row, error=result.error or "", attempts=attempts, at=at), None, None
        return self._rejected(row, request, result.carrier, result.error or "", attempts=attempts)

    def _retry_later(self, row: repo.StoredDispatch, *, error: str, attempts: int, at: datetime) -> repo.Transition:
        delay = min(300.0, 2.0**attempts)
        return repo.Transition(
            row.request_id,
            SENDING,
            "send",
            row.reason,
            send_by=row.send_by,
            next_attempt_at=at + timedelta(seconds=delay),
            attempts=attempts,
            last_error=error[:1000],
        )

    def _rejected(
        self, row: repo.StoredDispatch, request: DispatchRequested, carrier: str, error: str, *, attempts: int
    ) -> tuple[repo.Transition, tuple[Payload, str | None], Decision]:
        metrics.SUBMISSIONS.labels(carrier, "rejected").inc()
        log.warning("the carrier refused the message for good", request_id=row.request_id, carrier=carrier, error=error)
        decision = Decision.refuse(CARRIER_REJECTED)
        transition = repo.Transition(
            row.request_id, REFUSED, "refuse", CARRIER_REJECTED, attempts=attempts, last_error=error[:1000]
        )
        return transition, self._decided_event(request, decision, at=self.clock.now()), decision

    # -- the policy probe --------------------------------------------------------------------

    async def probe(
        self,
        *,
        phone: str,
        kind: str,
        at: datetime,
        postal_code: str | None,
        sender: str | None,
        account_id: str | None,
    ) -> Decision:
        """Return the policy's decision for a message at `at` (phone in E.164), with the account's view if known."""
        now = self.clock.now()
        account: AccountView | None = None
        suppressed: bool | None = None
        pending = False
        current = False
        if account_id is not None:
            current = self.lane.current(now)
            async with self.sessions() as session:
                account = (await repo.load_accounts(session, [account_id])).get(account_id)
                if kind == "marketing":
                    block = (await self._blocks(session, [(account_id, phone, sender)])).get((account_id, phone))
                    suppressed, pending = block == "suppressed", block == "pending"
        policy = PolicyInput.probe(
            phone=phone,
            kind=kind,  # type: ignore[arg-type]
            postal_code=postal_code,
            sender=sender,
            account_id=account_id,
            account_mode="notification" if account and account.mode == "notification" else "marketing",
            short_codes=account.short_codes if account else (),
            hours_profile=account.hours_profile if account else "strict",
            window_start=account.window_start if account else None,
            window_end=account.window_end if account else None,
            suppressed=suppressed,
            suppression_current=current,
            optout_pending=pending,
        )
        return evaluate(policy, now=at)

    # -- loops -------------------------------------------------------------------------------

    async def release_loop(self) -> None:
        """Release due holds forever, paced."""
        await _forever(
            "hold release",
            self.release_due,
            idle=self.settings.release_poll_seconds,
            wake=self.release_wake,
            busy=lambda n: bool(n),
        )

    async def sender_loop(self) -> None:
        """Submit decided sends forever."""
        await _forever(
            "carrier submission",
            self.submit_due,
            idle=self.settings.sender_poll_seconds,
            wake=self.sender_wake,
            busy=lambda n: bool(n),
        )

    async def housekeeping_loop(self) -> None:
        """Refresh the held-backlog gauge every few seconds and forget finished dispatches past retention."""
        cycles = 0
        while True:
            try:
                async with self.sessions() as session:
                    metrics.HELD_BACKLOG.set(await repo.held_backlog(session))
                await self.lane.refresh_gauges()
                if cycles % 60 == 0:
                    await self.forget_finished()
                    await self.lane.forget_resolved()
            except Exception as exc:
                log.warning("dispatcher housekeeping failed; will try again", error=repr(exc))
            cycles += 1
            await asyncio.sleep(5.0)

    async def forget_finished(self) -> int:
        """Delete submitted and refused dispatches older than the retention; return how many."""
        # Kept long enough to absorb any redelivery (topics keep 7 days), no longer: a row holds
        # the recipient's number and consent snapshot, and the evidence lives in campaign-api.
        cutoff = self.clock.now() - timedelta(days=self.settings.retention_days)
        deleted = 0
        while True:
            async with self.sessions() as session, session.begin():
                count = await repo.delete_finished(session, before=cutoff, limit=5000)
            deleted += count
            if count < 5000:
                break
        if deleted:
            log.info("finished dispatches past their retention were deleted", deleted=deleted)
        return deleted


async def _forever(
    name: str,
    step: Callable[[], Awaitable[object]],
    *,
    idle: float,
    wake: asyncio.Event | None,
    busy: Callable[[object], bool],
) -> None:
    """Run `step` until cancelled: again at once while busy, else after `idle` or a wake-up."""
    failures = 0
    while True:
        try:
            result = await step()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            pause = min(5.0, 0.2 * 2 ** min(failures, 5))
            log.error(f"the {name} loop failed; retrying", error=repr(exc), retry_in_seconds=pause)
            await asyncio.sleep(pause)
            continue
        if busy(result):
            await asyncio.sleep(0)
            continue
        if wake is None:
            await asyncio.sleep(idle)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=idle)
            wake.clear()
