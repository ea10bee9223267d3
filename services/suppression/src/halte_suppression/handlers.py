"""What happens on each command: record an opt-out, lift by consent, learn accounts and sends.

Every handler is one unit of work: the inbox row (for events), the effect, the evidence, the
change-feed row and the outbox event commit together or not at all. A redelivered event
finds its inbox row; a request received twice under the same request id (a carrier retry
the inbound service passed on, a client retrying a POST) finds its ``processed_requests``
row; either way the handler returns without a second effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_shared.bus import Delivery
from halte_shared.clock import Clock
from halte_shared.events import OptinRecorded, OptoutRecorded
from halte_shared.inbox import first_delivery
from halte_shared.outbox import add_to_outbox
from halte_shared.parked import ParkedEvent
from halte_suppression import metrics
from halte_suppression.adapters.repository import Repository, SuppressionRow
from halte_suppression.domain.attribution import Attribution, attribute_optout
from halte_suppression.domain.commands import LearnAccount, MarketingSend, RecordOptin, RecordOptout
from halte_suppression.domain.confirmation import confirmation_account
from halte_suppression.domain.limits import MAX_PROOF, MAX_RAW_TEXT, clip
from halte_suppression.domain.numbers import masked
from halte_suppression.domain.parked import OPTOUT_REQUESTED, read_parked_optout
from halte_suppression.domain.resubscription import (
    ActiveSuppression,
    Resubscription,
    decide_account_consent,
    decide_start_reply,
)
from halte_suppression.domain.retention import attribution_window_start, prune_before, worth_remembering

log = structlog.get_logger("halte.suppression")


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """The consumer and delivery an event came through (for the inbox)."""

    consumer: str
    event_id: str
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    """What an opt-out did for one account."""

    account_id: str
    new: bool
    since: datetime | None
    channel: str | None
    sequence: int | None


@dataclass(frozen=True, slots=True)
class OptoutResult:
    duplicate: bool = False
    attribution: Attribution | None = None
    outcomes: tuple[AccountOutcome, ...] = ()


@dataclass(frozen=True, slots=True)
class OptinResult:
    duplicate: bool = False
    lifted: tuple[tuple[str, int], ...] = ()
    refused: tuple[tuple[str, str], ...] = ()


@dataclass
class _Committed:
    """What a unit of work did, reported (metrics, logs, relay) only once it committed."""

    new: list[tuple[str, str, datetime]] = field(default_factory=list)  # (account, channel, received_at)
    repeats: int = 0
    lifted: list[str] = field(default_factory=list)  # channels
    refused: list[str] = field(default_factory=list)  # reasons
    unattributed: int = 0
    max_sequence: int = 0


def _new_id() -> str:
    return str(uuid.uuid4())


class SuppressionHandlers:
    """The service layer: one method per command, each a unit of work."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        producer: str,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.producer = producer
        self.wake = wake
        #: Test hook: awaited after a unit of work commits, before the caller (e.g. the
        #: consumer loop, which then commits the offset) regains control.
        self.after_commit_hook: Callable[[], Awaitable[None]] | None = None
        self._latest_sequence = 0

    # -- opt-outs ---------------------------------------------------------------------
    async def record_optout(self, command: RecordOptout, *, inbox: InboxEntry | None = None) -> OptoutResult:
        """Attribute an opt-out and record it per account: a new suppression or a repeat."""
        now = self.clock.now()
        done = _Committed()
        async with self.sessions() as session, session.begin():
            if inbox is not None and not await first_delivery(
                session, consumer=inbox.consumer, event_id=inbox.event_id, delivery=inbox.delivery
            ):
                self._note_duplicate("event", command.request_id)
                return OptoutResult(duplicate=True)
            repo = Repository(session)
            if not await repo.claim_request(f"optout:{command.request_id}", at=now):
                self._note_duplicate("request", command.request_id)
                return OptoutResult(duplicate=True)
            attribution, recent = await self._attribute(repo, command)
            if not attribution.attributed:
                await self._keep_unattributed(repo, command, now=now)
                done.unattributed += 1
                # Until an account on its short code is known, the feed keeps the number blocked.
                sequence = await repo.add_request_change(
                    action="pending",
                    request_id=command.request_id,
                    phone=command.phone,
                    short_code=command.short_code,
                    account_id=command.account_id,
                    at=now,
                )
                done.max_sequence = max(done.max_sequence, sequence)
                result = OptoutResult(attribution=attribution)
            else:
                outcomes = await self._apply_optout(
                    session, repo, command, attribution=attribution, recent=recent, now=now, done=done
                )
                done.max_sequence = max(
                    done.max_sequence,
                    await repo.add_request_change(action="resolve", request_id=command.request_id, at=now),
                )
                result = OptoutResult(attribution=attribution, outcomes=outcomes)
        await self._after_commit(done, now=now)
        return result

    async def _attribute(self, repo: Repository, command: RecordOptout) -> tuple[Attribution, dict[str, datetime]]:
        owners: list[str] = []
        recent: dict[str, datetime] = {}
        if command.short_code:
            owners = await repo.accounts_on_short_code(command.short_code)
            recent = await repo.recent_senders(
                phone=command.phone,
                short_code=command.short_code,
                since=attribution_window_start(command.received_at),
            )
        attribution = attribute_optout(
            account_id=command.account_id,
            short_code=command.short_code,
            accounts_on_code=owners,
            recent_senders=recent,
        )
        return attribution, recent

    async def _keep_unattributed(self, repo: Repository, command: RecordOptout, *, now: datetime) -> None:
        await repo.add_evidence(
            id=_new_id(),
            kind="unattributed",
            account_id=None,
            phone=command.phone,
            channel=command.channel,
            short_code=command.short_code,
            raw_text=clip(command.raw_text, MAX_RAW_TEXT),
            carrier=command.carrier,
            request_id=command.request_id,
            source_event_id=command.source_event_id,
            received_at=command.received_at,
            recorded_at=now,
            attribution="unattributed",
        )
        log.warning(
            "an opt-out arrived on a short code no account is known for; it is kept as unattributed evidence "
            "and will be applied as soon as an account on that short code becomes known",
            short_code=command.short_code,
            channel=command.channel,
            phone=masked(command.phone),
            request_id=command.request_id,
        )

    async def _apply_optout(
        self,
        session: AsyncSession,
        repo: Repository,
        command: RecordOptout,
        *,
        attribution: Attribution,
        recent: dict[str, datetime],
        now: datetime,
        done: _Committed,
        note: str | None = None,
    ) -> tuple[AccountOutcome, ...]:
        rows = await repo.lock_for_optout(phone=command.phone, account_ids=attribution.accounts, at=now)
        new_accounts = [a for a in attribution.accounts if not rows[a].active]
        confirm = confirmation_account(channel=command.channel, new_accounts=new_accounts, recent_senders=recent)
        explanation = attribution.explanation if note is None else f"{note}:{attribution.explanation}"
        evidence = {
            "phone": command.phone,
            "channel": command.channel,
            "short_code": command.short_code,
            "raw_text": clip(command.raw_text, MAX_RAW_TEXT),
            "carrier": command.carrier,
            "request_id": command.request_id,
            "source_event_id": command.source_event_id,
            "received_at": command.received_at,
            "recorded_at": now,
            "attribution": explanation,
        }
        outcomes: list[AccountOutcome] = []
        for account in attribution.accounts:
            row = rows[account]
            if row.active:
                await repo.add_evidence(id=_new_id(), kind="repeat", account_id=account, **evidence)
                done.repeats += 1
                outcomes.append(AccountOutcome(account, False, row.since, row.channel, row.sequence))
        # Numbers are drawn last: the counter row stays locked until commit (see repository).
        sequences = await repo.allocate_sequences(len(new_accounts)) if new_accounts else []
        for account, sequence in zip(new_accounts, sequences, strict=True):
            evidence_id = _new_id()
            await repo.add_evidence(id=evidence_id, kind="optout", account_id=account, sequence=sequence, **evidence)
            await repo.activate(
                account_id=account,
                phone=command.phone,
                since=command.received_at,
                channel=command.channel,
                short_code=command.short_code,
                evidence_id=evidence_id,
                sequence=sequence,
                at=now,
            )
            await repo.add_change(
                sequence=sequence,
                account_id=account,
                phone=command.phone,
                action="suppress",
                at=now,
                evidence_id=evidence_id,
            )
            await add_to_outbox(
                session,
                OptoutRecorded(
                    optout_id=evidence_id,
                    account_id=account,
                    phone=command.phone,
                    channel=command.channel,  # type: ignore[arg-type]
                    short_code=command.short_code,
                    raw_text=clip(command.raw_text, MAX_RAW_TEXT),
                    received_at=command.received_at,
                    recorded_at=now,
                    confirmation_due=account == confirm,
                    source_event_id=command.source_event_id,
                    sequence=sequence,
                ),
                key=command.phone,
                producer=self.producer,
                occurred_at=now,
            )
            done.new.append((account, command.channel, command.received_at))
            done.max_sequence = max(done.max_sequence, sequence)
            outcomes.append(AccountOutcome(account, True, command.received_at, command.channel, sequence))
            log.info(
                "opt-out recorded: the number is now suppressed for the account",
                account_id=account,
                phone=masked(command.phone),
                channel=command.channel,
                short_code=command.short_code,
                attribution=explanation,
                sequence=sequence,
                confirmation_due=account == confirm,
            )
        if done.repeats:
            log.info(
                "repeated opt-out for a number already suppressed; kept as evidence, nothing else changes",
                accounts=[o.account_id for o in outcomes if not o.new],
                phone=masked(command.phone),
                channel=command.channel,
            )
        order = {a: i for i, a in enumerate(attribution.accounts)}
        return tuple(sorted(outcomes, key=lambda o: order[o.account_id]))

    # -- re-subscriptions -------------------------------------------------------------
    async def record_optin(self, command: RecordOptin, *, inbox: InboxEntry | None = None) -> OptinResult:
        """Lift suppressions that a new explicit consent allows to lift, with the consent as evidence."""
        now = self.clock.now()
        done = _Committed()
        async with self.sessions() as session, session.begin():
            if inbox is not None and not await first_delivery(
                session, consumer=inbox.consumer, event_id=inbox.event_id, delivery=inbox.delivery
            ):
                self._note_duplicate("event", command.request_id)
                return OptinResult(duplicate=True)
            repo = Repository(session)
            if not await repo.claim_request(f"optin:{command.request_id}", at=now):
                self._note_duplicate("request", command.request_id)
                return OptinResult(duplicate=True)
            rows = await repo.lock_active_of_phone(command.phone)
            decision = await self._decide_optin(repo, command, rows)
            proof = clip(command.proof if command.channel == "api" else (command.raw_text or command.proof), MAX_PROOF)
            evidence = {
                "phone": command.phone,
                "channel": command.channel,
                "short_code": command.short_code,
                "raw_text": clip(command.raw_text, MAX_RAW_TEXT),
                "proof": proof,
                "request_id": command.request_id,
                "source_event_id": command.source_event_id,
                "received_at": command.received_at,
                "recorded_at": now,
            }
            for account, reason in decision.refused:
                done.refused.append(reason)
                if account not in rows:
                    log.info(
                        "re-subscription request with nothing to lift: the number is not suppressed for the account",
                        account_id=account,
                        phone=masked(command.phone),
                        channel=command.channel,
                    )
                    continue
                # A refusal is evidence where a suppression stays in force despite the request.
                await repo.add_evidence(
                    id=_new_id(), kind="resubscription_refused", account_id=account, reason=reason, **evidence
                )
                log.info(
                    "re-subscription refused; the suppression stays in force",
                    account_id=account,
                    phone=masked(command.phone),
                    channel=command.channel,
                    reason=reason,
                )
            lifted: list[tuple[str, int]] = []
            sequences = await repo.allocate_sequences(len(decision.lift)) if decision.lift else []
            for account, sequence in zip(decision.lift, sequences, strict=True):
                evidence_id = _new_id()
                await repo.add_evidence(
                    id=evidence_id, kind="resubscription", account_id=account, sequence=sequence, **evidence
                )
                await repo.lift(
                    account_id=account, phone=command.phone, evidence_id=evidence_id, sequence=sequence, at=now
                )
                await repo.add_change(
                    sequence=sequence,
                    account_id=account,
                    phone=command.phone,
                    action="lift",
                    at=now,
                    evidence_id=evidence_id,
                )
                await add_to_outbox(
                    session,
                    OptinRecorded(
                        optin_id=evidence_id,
                        account_id=account,
                        phone=command.phone,
                        channel=command.channel,  # type: ignore[arg-type]
                        proof=proof or "",
                        received_at=command.received_at,
                        recorded_at=now,
                        source_event_id=command.source_event_id,
                        sequence=sequence,
                    ),
                    key=command.phone,
                    producer=self.producer,
                    occurred_at=now,
                )
                lifted.append((account, sequence))
                done.lifted.append(command.channel)
                done.max_sequence = max(done.max_sequence, sequence)
                log.info(
                    "suppression lifted by a new explicit consent",
                    account_id=account,
                    phone=masked(command.phone),
                    channel=command.channel,
                    sequence=sequence,
                )
        await self._after_commit(done, now=now)
        return OptinResult(lifted=tuple(lifted), refused=decision.refused)

    async def _decide_optin(
        self, repo: Repository, command: RecordOptin, rows: dict[str, SuppressionRow]
    ) -> Resubscription:
        active = {a: ActiveSuppression(a, r.channel or "", r.short_code) for a, r in rows.items()}
        if command.channel == "api":
            if command.account_id is None:
                return Resubscription((), (("", "account_missing"),))
            return decide_account_consent(account_id=command.account_id, proof=command.proof, active=active)
        owners = await repo.accounts_on_short_code(command.short_code) if command.short_code else []
        return decide_start_reply(
            short_code=command.short_code,
            raw_text=command.raw_text,
            account_id=command.account_id,
            accounts_on_code=owners,
            active=active,
            allows_resubscribe=await repo.allows_resubscribe(active),
        )

    # -- opt-out events that could not be processed ---------------------------------------
    async def keep_parked_optout_blocked(self, session: AsyncSession, parked: ParkedEvent) -> None:
        """Announce a parked opt-out as pending on the feed, so its number stays blocked (domain/parked.py)."""
        optout = read_parked_optout(topic=parked.topic, value=parked.value, key=parked.key, parked_id=parked.id)
        if optout is None:
            if parked.topic == OPTOUT_REQUESTED:
                log.error(
                    "an opt-out event that could not be processed names no usable number; nothing can be blocked "
                    "for it: an operator must read it in parked_events",
                    parked_id=parked.id,
                    error=parked.error,
                )
            return
        await Repository(session).add_request_change(
            action="pending",
            request_id=optout.request_id,
            phone=optout.phone,
            short_code=optout.short_code,
            account_id=optout.account_id,
            at=self.clock.now(),
        )
        metrics.OPTOUTS_PARKED.inc()
        log.error(
            "an opt-out event could not be processed and was parked; its number stays blocked for every account "
            "on its short code until an operator replays or discards it",
            parked_id=parked.id,
            request_id=optout.request_id,
            phone=masked(optout.phone),
            short_code=optout.short_code,
            error=parked.error,
        )

    async def release_discarded_optout(self, session: AsyncSession, parked: ParkedEvent) -> None:
        """Resolve the pending request of a parked opt-out an operator discarded."""
        optout = read_parked_optout(topic=parked.topic, value=parked.value, key=parked.key, parked_id=parked.id)
        if optout is None:
            return
        repo = Repository(session)
        await repo.add_request_change(action="resolve", request_id=optout.request_id, at=self.clock.now())
        log.warning(
            "an operator discarded a parked opt-out event; the dispatcher no longer blocks its number for it",
            parked_id=parked.id,
            request_id=optout.request_id,
            note=parked.resolution_note,
        )

    # -- what other services tell us ----------------------------------------------------
    async def learn_account(self, command: LearnAccount) -> None:
        """Remember an account's short codes, then apply any opt-out that waited for them."""
        now = self.clock.now()
        done = _Committed()
        async with self.sessions() as session, session.begin():
            repo = Repository(session)
            applied = await repo.upsert_account(
                account_id=command.account_id,
                allow_resubscribe=command.allow_resubscribe,
                active=command.active,
                changed_at=command.changed_at,
            )
            if not applied:
                log.info(
                    "ignored an account description older than the one already stored",
                    account_id=command.account_id,
                    changed_at=command.changed_at.isoformat(),
                )
                return
            await repo.replace_short_codes(account_id=command.account_id, short_codes=command.short_codes)
            for row in await repo.pending_unattributed(command.short_codes):
                waiting = RecordOptout(
                    request_id=row.request_id,
                    channel=row.channel,
                    phone=row.phone,
                    received_at=row.received_at,
                    source_event_id=row.source_event_id,
                    short_code=row.short_code,
                    raw_text=row.raw_text,
                    carrier=row.carrier,
                )
                attribution, recent = await self._attribute(repo, waiting)
                if not attribution.attributed:
                    continue
                await self._apply_optout(
                    session, repo, waiting, attribution=attribution, recent=recent, now=now, done=done, note="late"
                )
                await repo.mark_resolved(evidence_id=row.id, at=now, attribution=f"late:{attribution.explanation}")
                done.max_sequence = max(
                    done.max_sequence,
                    await repo.add_request_change(action="resolve", request_id=row.request_id, at=now),
                )
                log.warning(
                    "an opt-out kept as unattributed is now applied: an account on its short code became known",
                    short_code=row.short_code,
                    accounts=list(attribution.accounts),
                    phone=masked(row.phone),
                    received_at=row.received_at.isoformat(),
                )
        await self._after_commit(done, now=now)

    async def remember_marketing_sends(self, sends: Sequence[MarketingSend]) -> int:
        """Remember who sent marketing to whom from which short code (for attribution); return how many."""
        now = self.clock.now()
        recent = [s for s in sends if worth_remembering(sent_at=s.sent_at, now=now)]
        if recent:
            async with self.sessions() as session, session.begin():
                await Repository(session).remember_sends(recent)
        return len(recent)

    async def prune_marketing_sends(self) -> int:
        """Forget marketing sends older than the attribution window; return how many."""
        before = prune_before(self.clock.now())
        total = 0
        while True:
            async with self.sessions() as session, session.begin():
                pruned = await Repository(session).prune_sends(before=before)
            total += pruned
            if pruned < 10_000:
                break
        if total:
            metrics.MARKETING_SENDS_PRUNED.inc(total)
            log.info("forgot marketing sends older than the 90-day attribution window", count=total)
        return total

    async def refresh_latest_sequence(self) -> int:
        """Read the feed's head from the database and publish it as a metric."""
        async with self.sessions() as session:
            latest = await Repository(session).latest_sequence()
        self._latest_sequence = max(self._latest_sequence, latest)
        metrics.LATEST_SEQUENCE.set(self._latest_sequence)
        return latest

    # -- bookkeeping ------------------------------------------------------------------
    def _note_duplicate(self, kind: str, request_id: str) -> None:
        metrics.DUPLICATES.labels(kind).inc()
        log.info(
            "this request was already handled (redelivery or retry); ignored without a second effect",
            duplicate_of=kind,
            request_id=request_id,
        )

    async def _after_commit(self, done: _Committed, *, now: datetime) -> None:
        for _account, channel, received_at in done.new:
            metrics.OPTOUTS_RECORDED.labels(channel).inc()
            metrics.STOP_TO_SUPPRESSION.observe(max(0.0, (now - received_at).total_seconds()))
        if done.repeats:
            metrics.OPTOUT_REPEATS.inc(done.repeats)
        for channel in done.lifted:
            metrics.OPTINS_RECORDED.labels(channel).inc()
        for reason in done.refused:
            metrics.OPTINS_REFUSED.labels(reason).inc()
        if done.unattributed:
            metrics.OPTOUTS_UNATTRIBUTED.inc(done.unattributed)
        if done.max_sequence:
            self._latest_sequence = max(self._latest_sequence, done.max_sequence)
            metrics.LATEST_SEQUENCE.set(self._latest_sequence)
            self.wake()
        if self.after_commit_hook is not None:
            await self.after_commit_hook()
