"""The opt-out lane: the dispatcher's view of every opt-out, kept current apart from the dispatch queue.

Two sources are followed, each by its own task, with long polls answered on commit
(docs/stop-enforcement.md):

- **inbound's opt-out journal**: every opt-out acknowledged to a carrier (or confirmed on the
  unsubscribe page, or reported to 33700), in commit order. Each entry becomes a *pending
  opt-out* that blocks its number at once, before the event has even reached the broker.
- **suppression's change feed**: the authoritative suppress/lift changes, plus ``pending`` (a
  request suppression cannot apply yet) and ``resolve`` (a request applied, which unblocks
  the accounts it was not attributed to).

The view is *current* at an instant when each source was read to its end by a request sent
no longer than the bound (HALTE_SUPPRESSION_MAX_LAG_SECONDS) before it: then every opt-out
acknowledged up to ``now - bound`` is in the view. Marketing is handed to a carrier only
while the view is current (handlers.py). Currency is a property of this process's own reads,
so each replica proves it for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_dispatcher import metrics
from halte_dispatcher.adapters import repository as repo
from halte_dispatcher.adapters.optout_journal import JournalPage, JournalUnavailable, OptoutJournal
from halte_dispatcher.adapters.suppression_feed import FeedPage, FeedUnavailable, SuppressionFeed
from halte_dispatcher.domain.suppression import is_feed_current
from halte_shared.clock import Clock
from halte_shared.db import make_engine, make_session_factory

log = structlog.get_logger("halte.dispatcher.optouts")

Source = Literal["journal", "feed"]
SOURCES: tuple[Source, ...] = ("journal", "feed")
_SOURCE_NAMES = {"journal": "inbound's opt-out journal", "feed": "suppression's change feed"}
#: Resolved requests are kept longer than inbound keeps its journal, so a late entry is born resolved.
RESOLVED_RETENTION = timedelta(days=15)


@dataclass
class _Follower:
    """What this process knows of one source."""

    cursor: int | None = None
    confirmed_at: datetime | None = None
    failing_since: float | None = None
    last_logged: float = 0.0
    error: str | None = None


@dataclass
class PollResult:
    """What one read of a source did."""

    applied: int = 0
    caught_up: bool = False
    resolved: int = 0
    blocked_phones: set[str] = field(default_factory=set)


class OptoutView:
    """What this process knows of the opt-out sources, shared by the lane's readers and safe across threads.

    The followers run in a thread of their own (OptoutLaneThread) while decisions read
    :meth:`current` and :meth:`watch` on the service's event loop: single attribute reads are
    atomic, the watches are guarded by a lock, and callbacks are handed to the service's loop.
    """

    def __init__(self, *, max_lag: timedelta) -> None:
        self.max_lag = max_lag
        self.followers: dict[Source, _Follower] = {source: _Follower() for source in SOURCES}
        self._watches: list[set[str]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Called after suppression resolved requests, and after a failing source answers again.
        self.on_resolved: Callable[[], None] = lambda: None
        self.on_current_again: Callable[[], None] = lambda: None

    def current(self, now: datetime) -> bool:
        """Tell whether every opt-out acknowledged up to ``now - bound`` is in the view."""
        return all(
            is_feed_current(confirmed_at=f.confirmed_at, now=now, max_lag=self.max_lag) for f in self.followers.values()
        )

    def describe(self, now: datetime) -> dict[str, str]:
        """Return, per source, a sentence saying whether it is current and why not."""
        answer: dict[str, str] = {}
        for source, follower in self.followers.items():
            confirmed = follower.confirmed_at
            if is_feed_current(confirmed_at=confirmed, now=now, max_lag=self.max_lag):
                assert confirmed is not None
                answer[source] = f"current (read to its end {(now - confirmed).total_seconds():.1f} s ago)"
                continue
            since = f"{(now - confirmed).total_seconds():.1f} s ago" if confirmed else "never"
            reason = f"; last error: {follower.error}" if follower.error else ""
            answer[source] = f"stale: marketing is held (last read to its end: {since}{reason})"[:300]
        return answer

    @contextlib.contextmanager
    def watch(self) -> Iterator[set[str]]:
        """Collect the numbers newly blocked while the block runs (a carrier batch checks each message)."""
        touched: set[str] = set()
        with self._lock:
            self._watches.append(touched)
        try:
            yield touched
        finally:
            with self._lock:
                self._watches.remove(touched)

    def blocked(self, phones: set[str]) -> None:
        """Tell every watch these numbers were just blocked (after the commit that blocks them)."""
        if phones:
            with self._lock:
                for touched in self._watches:
                    touched.update(phones)

    def serve_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand callbacks to `loop` from now on (the service's loop, when followers run in a thread)."""
        self._loop = loop

    def call(self, callback: Callable[[], None]) -> None:
        """Run a callback on the service's loop, whichever thread asks."""
        if self._loop is None:
            callback()
        else:
            self._loop.call_soon_threadsafe(callback)


class OptoutLane:
    """Follow the journal and the feed into the local view, and tell whether that view is current."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        journal: OptoutJournal,
        feed: SuppressionFeed,
        max_lag: timedelta,
        long_poll_seconds: float,
        retry_seconds: float,
        page_size: int,
        view: OptoutView | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.journal = journal
        self.feed = feed
        self.max_lag = max_lag
        # A long poll ends with an empty page that proves currency again: it must come well within the bound.
        self.long_poll_seconds = min(long_poll_seconds, max_lag.total_seconds() / 4)
        self.retry_seconds = retry_seconds
        self.page_size = page_size
        self.view = view or OptoutView(max_lag=max_lag)
        self._followers = self.view.followers

    def reader_on(
        self, sessions: async_sessionmaker[AsyncSession], journal: OptoutJournal, feed: SuppressionFeed
    ) -> OptoutLane:
        """Return a lane sharing this one's view, reading through other connections (another thread's)."""
        return OptoutLane(
            sessions=sessions,
            clock=self.clock,
            journal=journal,
            feed=feed,
            max_lag=self.max_lag,
            long_poll_seconds=self.long_poll_seconds,
            retry_seconds=self.retry_seconds,
            page_size=self.page_size,
            view=self.view,
        )

    # -- what the handlers ask -----------------------------------------------------------

    def current(self, now: datetime) -> bool:
        """Tell whether every opt-out acknowledged up to ``now - bound`` is in the view."""
        return self.view.current(now)

    def describe(self, now: datetime) -> dict[str, str]:
        """Return, per source, a sentence saying whether it is current and why not."""
        return self.view.describe(now)

    def watch(self) -> contextlib.AbstractContextManager[set[str]]:
        """Collect the numbers newly blocked while the block runs (a carrier batch checks each message)."""
        return self.view.watch()

    # -- following ---------------------------------------------------------------------------

    async def follow(self, source: Source) -> None:
        """Follow one source forever: read a page, apply it, wait on the source for the next change."""
        read = self.poll_journal if source == "journal" else self.poll_feed
        caught_up = False
        while True:
            try:
                result = await read(wait=self.long_poll_seconds if caught_up else 0.0)
                caught_up = result.caught_up
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a source down (or our database) is retried, never fatal
                caught_up = False
                message = str(exc) if isinstance(exc, (JournalUnavailable, FeedUnavailable)) else repr(exc)
                await self._failed(source, message)
                await asyncio.sleep(self.retry_seconds)

    async def poll_once(self) -> bool:
        """Read one page of each source without waiting; return True when a source has more."""
        more = False
        for source, read in (("journal", self.poll_journal), ("feed", self.poll_feed)):
            try:
                more |= not (await read(wait=0.0)).caught_up
            except (JournalUnavailable, FeedUnavailable) as exc:
                await self._failed(source, str(exc))  # type: ignore[arg-type]
        return more

    async def _cursor(self, source: Source) -> int:
        follower = self._followers[source]
        if follower.cursor is None:
            async with self.sessions() as session:
                state = await repo.load_feed_state(session)
            follower.cursor = state.journal_sequence if source == "journal" else state.applied_sequence
        return follower.cursor

    async def poll_journal(self, *, wait: float = 0.0) -> PollResult:
        """Read the journal after the cursor (waiting up to `wait` for an entry) and apply it."""
        cursor = await self._cursor("journal")
        started = self.clock.now()
        page = await self.journal.fetch(after=cursor, limit=self.page_size, wait=wait)
        if page.latest_sequence < cursor:
            raise JournalUnavailable(
                f"inbound's opt-out journal ends at {page.latest_sequence}, behind the {cursor} already applied "
                "here (was its database replaced?); an operator must check the dispatcher's view"
            )
        if page.earliest_sequence is not None and page.earliest_sequence > cursor + 1 and page.entries:
            log.warning(
                "inbound's opt-out journal no longer holds entries this dispatcher never read; suppression's "
                "feed still carries every opt-out they recorded",
                first_missing=cursor + 1,
                earliest_kept=page.earliest_sequence,
            )
        return await self._apply_journal(page, cursor=cursor, started=started)

    async def _apply_journal(self, page: JournalPage, *, cursor: int, started: datetime) -> PollResult:
        last = max([cursor, *(e.sequence for e in page.entries)])
        caught_up = last >= page.latest_sequence
        now = self.clock.now()
        records = [
            repo.PendingRecord(
                request_id=e.request_id,
                phone=e.phone,
                short_code=e.short_code,
                account_id=e.account_id,
                channel=e.channel,
                source="inbound",
                received_at=e.received_at,
                acknowledged_at=e.acknowledged_at,
            )
            for e in page.entries
        ]
        async with self.sessions() as session, session.begin():
            stored = await repo.upsert_pending(session, records, now=now)
            await repo.record_journal_progress(
                session, applied_sequence=last, caught_up_at=started if caught_up else None
            )
        result = PollResult(applied=len(page.entries), caught_up=caught_up)
        # acknowledged_at is the database's real time: compared with the real time, not a test clock.
        real_now = datetime.now(UTC)
        for entry in page.entries:
            known = stored.get(entry.request_id)
            if known is None:
                continue  # seen before, by this replica or another
            # applied_at is when the view first blocked the number (by suppression's feed, if that came first).
            metrics.STOP_TO_AWARE.observe(max(0.0, (known.applied_at - entry.received_at).total_seconds()))
            applied_real = real_now - (now - known.applied_at)
            metrics.ACKNOWLEDGED_TO_AWARE.observe(max(0.0, (applied_real - entry.acknowledged_at).total_seconds()))
            if known.unresolved:
                result.blocked_phones.add(entry.phone)
        self._advanced("journal", last=last, caught_up=caught_up, started=started)
        self.view.blocked(result.blocked_phones)
        if result.blocked_phones:
            log.info(
                "acknowledged opt-outs are now blocked for marketing, ahead of suppression's record",
                requests=len(result.blocked_phones),
            )
        return result

    async def poll_feed(self, *, wait: float = 0.0) -> PollResult:
        """Read suppression's feed after the cursor (waiting up to `wait` for a change) and apply it."""
        cursor = await self._cursor("feed")
        started = self.clock.now()
        page = await self.feed.fetch(after=cursor, limit=self.page_size, wait=wait)
        if page.latest_sequence < cursor:
            # The feed went backwards (its store was reset?): what we hold can no longer be
            # proven current, and sequences we skip could be opt-outs. Fail closed, loudly.
            raise FeedUnavailable(
                f"the suppression feed's latest sequence {page.latest_sequence} is behind the "
                f"{cursor} already applied here; the local copy needs an operator's resync"
            )
        return await self._apply_feed(page, cursor=cursor, started=started)

    async def _apply_feed(self, page: FeedPage, *, cursor: int, started: datetime) -> PollResult:
        last = max([cursor, *(c.sequence for c in page.changes)])
        caught_up = last >= page.latest_sequence
        now = self.clock.now()
        changes = [
            repo.BlocklistChange(c.account_id, c.phone, c.action == "suppress", c.sequence, c.at)
            for c in page.changes
            if c.action in ("suppress", "lift") and c.account_id is not None and c.phone is not None
        ]
        pending = [
            repo.PendingRecord(
                request_id=c.request_id,
                phone=c.phone,
                short_code=c.short_code,
                account_id=c.account_id,
                channel=None,
                source="suppression",
                received_at=None,
                acknowledged_at=None,
            )
            for c in page.changes
            if c.action == "pending" and c.request_id is not None and c.phone is not None
        ]
        resolved_ids = [c.request_id for c in page.changes if c.action == "resolve" and c.request_id is not None]
        async with self.sessions() as session, session.begin():
            applied = await repo.apply_blocklist_changes(session, changes, now=now)
            stored = await repo.upsert_pending(session, pending, now=now)
            resolved = await repo.resolve_pending(session, resolved_ids, now=now)
            await repo.record_feed_progress(
                session,
                applied_sequence=last,
                latest_sequence=page.latest_sequence,
                caught_up_at=started if caught_up else None,
            )
        result = PollResult(applied=len(page.changes), caught_up=caught_up, resolved=len(resolved))
        result.blocked_phones = {c.phone for c in applied if c.suppressed}
        result.blocked_phones |= {p.phone for p in pending if (k := stored.get(p.request_id)) and k.unresolved}
        for change in applied:
            if change.suppressed and change.changed_at is not None:
                metrics.FEED_CHANGE_TO_AWARE.observe(max(0.0, (now - change.changed_at).total_seconds()))
        self._advanced("feed", last=last, caught_up=caught_up, started=started)
        self.view.blocked(result.blocked_phones)
        if applied:
            log.info(
                "blocklist copy updated",
                suppressed=sum(1 for c in applied if c.suppressed),
                lifted=sum(1 for c in applied if not c.suppressed),
            )
        if resolved:
            self.view.call(self.view.on_resolved)
        metrics.FEED_LAG.set(0.0 if caught_up else self._age("feed", now))
        return result

    def _advanced(self, source: Source, *, last: int, caught_up: bool, started: datetime) -> None:
        follower = self._followers[source]
        follower.cursor = max(follower.cursor or 0, last)
        if caught_up:
            follower.confirmed_at = started if follower.confirmed_at is None else max(follower.confirmed_at, started)
            metrics.OPTOUT_SOURCE_AGE.labels(source).set(0.0)
        if follower.failing_since is not None:
            log.info(
                f"{_SOURCE_NAMES[source]} answers again; marketing held for it will be released",
                down_seconds=round(time.monotonic() - follower.failing_since, 1),
            )
            follower.failing_since = None
            follower.error = None
            self.view.call(self.view.on_current_again)

    def _age(self, source: Source, now: datetime) -> float:
        confirmed = self._followers[source].confirmed_at
        return (now - confirmed).total_seconds() if confirmed else float("inf")

    async def _failed(self, source: Source, error: str) -> None:
        follower = self._followers[source]
        metrics.OPTOUT_SOURCE_ERRORS.labels(source).inc()
        now = self.clock.now()
        age = self._age(source, now)
        metrics.OPTOUT_SOURCE_AGE.labels(source).set(age)
        if source == "feed":
            metrics.FEED_LAG.set(age)
        mono = time.monotonic()
        if follower.failing_since is None:
            follower.failing_since = mono
        follower.error = error[:300]
        # Every read fails while a source is down: one line every ten seconds is enough.
        if mono - follower.last_logged >= 10.0:
            follower.last_logged = mono
            log.warning(
                f"cannot read {_SOURCE_NAMES[source]}; marketing sends are held once the view is older "
                f"than {self.max_lag.total_seconds():g} s",
                error=error,
                age_seconds=None if age == float("inf") else round(age, 1),
            )
        with contextlib.suppress(Exception):
            async with self.sessions() as session, session.begin():
                if source == "journal":
                    await repo.record_journal_error(session, error=error)
                else:
                    await repo.record_feed_error(session, error=error)

    # -- housekeeping ----------------------------------------------------------------------------

    async def refresh_gauges(self) -> None:
        """Publish the sources' ages and the opt-out requests suppression has not resolved."""
        now = self.clock.now()
        for source in SOURCES:
            metrics.OPTOUT_SOURCE_AGE.labels(source).set(min(self._age(source, now), 1e9))
        async with self.sessions() as session:
            count, oldest = await repo.unresolved_optouts(session)
        metrics.UNRESOLVED_OPTOUTS.set(count)
        metrics.UNRESOLVED_OPTOUT_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)

    async def forget_resolved(self) -> int:
        """Delete requests resolved longer ago than the journal is kept; return how many."""
        async with self.sessions() as session, session.begin():
            return await repo.prune_resolved(session, before=self.clock.now() - RESOLVED_RETENTION)


class OptoutLaneThread:
    """Run the lane's followers in a thread of their own: no campaign's work on the service's loop delays them.

    The service's event loop decides batches of thousands of recipients and makes hundreds of
    carrier calls a second; a follower sharing it would wait its turn behind them. In a thread
    with its own event loop, database connections and HTTP clients, a follower gets the
    interpreter within the switch interval (5 ms) whenever it has work, and the view it
    maintains is read by the service's loop through OptoutView.
    """

    def __init__(
        self,
        lane: OptoutLane,
        *,
        database_url: str,
        schema: str,
        application_name: str,
        journal_factory: Callable[[], OptoutJournal],
        feed_factory: Callable[[], SuppressionFeed],
    ) -> None:
        self.lane = lane
        self._database_url = database_url
        self._schema = schema
        self._application_name = application_name
        self._journal_factory = journal_factory
        self._feed_factory = feed_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    async def run(self) -> None:
        """Run the followers' thread until cancelled (a background task of the service)."""
        self.lane.view.serve_on(asyncio.get_running_loop())
        started = threading.Event()
        thread = threading.Thread(target=self._main, args=(started,), name="optout-lane", daemon=True)
        thread.start()
        try:
            await asyncio.to_thread(started.wait, 30)
            await asyncio.Event().wait()
        finally:
            if self._loop is not None and self._stopping is not None:
                self._loop.call_soon_threadsafe(self._stopping.set)
            await asyncio.shield(asyncio.to_thread(thread.join, 10))

    def _main(self, started: threading.Event) -> None:
        try:
            asyncio.run(self._follow(started))
        except Exception as exc:  # noqa: BLE001 - the view then ages and marketing holds: fail closed, loudly
            log.error("the opt-out lane's thread stopped; marketing will be held", error=repr(exc))

    async def _follow(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        started.set()
        engine = make_engine(
            self._database_url, schema=self._schema, pool_size=2, application_name=self._application_name
        )
        journal, feed = self._journal_factory(), self._feed_factory()
        reader = self.lane.reader_on(make_session_factory(engine), journal, feed)
        tasks = [asyncio.create_task(reader.follow(source), name=f"optouts:{source}") for source in SOURCES]
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await journal.close()
            await feed.close()
            await engine.dispose()
