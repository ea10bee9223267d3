"""The transactional outbox: an event is a row written in the same transaction as the change.

The relay claims unpublished rows with ``FOR UPDATE SKIP LOCKED``, publishes them, and
marks them published in that same transaction.

A broker that loses its log (the embedded, memory-only broker after a restart; a topic
deleted and recreated on a real cluster) would silently drop events that were published
but not yet consumed. Published rows are therefore kept for a replay window, and the relay
watches the partitions it wrote to: when a partition's end offset falls below an offset
the broker had acknowledged, the log was lost, and every row published within the window
is published again. Consumers' inboxes make the repeats harmless. Several relays (replicas) therefore never
hold the same row at once; a relay that dies after publishing but before its commit
leaves the rows unpublished, so they are published again: at-least-once, made harmless
by the consumers' inbox. Per-key order is kept within one relay's batch; across
concurrent relays two events of one key may swap, which every handler tolerates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_shared import metrics
from halte_shared.events import Envelope, Payload, encode, envelope_for
from halte_shared.plumbing_tables import outbox_table
from halte_shared.sql import METADATA_FOR_PLUMBING

log = structlog.get_logger("halte.outbox")

OUTBOX = outbox_table(METADATA_FOR_PLUMBING)
#: How often the relay refreshes its backlog gauges and forgets rows past the replay window.
HOUSEKEEPING_SECONDS = 5.0


async def add_to_outbox(
    session: AsyncSession,
    payload: Payload,
    *,
    key: str | None,
    producer: str,
    occurred_at: datetime,
    event_id: str | None = None,
) -> Envelope:
    """Write an event into the outbox inside the caller's transaction and return its envelope."""
    envelope = envelope_for(payload, producer=producer, occurred_at=occurred_at, event_id=event_id)
    await session.execute(
        insert(OUTBOX).values(event_id=envelope.id, topic=envelope.type, key=key, envelope=encode(envelope))
    )
    return envelope


_INSERT_MANY = text(
    """
    INSERT INTO outbox (event_id, topic, key, envelope)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:topics AS text[]), CAST(:keys AS text[]), CAST(:envs AS bytea[]))
    """
)


async def add_many_to_outbox(
    session: AsyncSession, items: Sequence[tuple[Payload, str | None]], *, producer: str, occurred_at: datetime
) -> list[Envelope]:
    """Write (payload, key) events into the outbox inside the caller's transaction, in one statement."""
    # Arrays unnested by PostgreSQL: one statement text (one prepared plan) whatever the batch size.
    envelopes = [envelope_for(payload, producer=producer, occurred_at=occurred_at) for payload, _ in items]
    if envelopes:
        await session.execute(
            _INSERT_MANY,
            {
                "ids": [e.id for e in envelopes],
                "topics": [e.type for e in envelopes],
                "keys": [key for _, key in items],
                "envs": [encode(e) for e in envelopes],
            },
        )
    return envelopes


class OutboxRelay:
    """Publish outbox rows to the broker and mark them, forever, until stopped."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        service: str,
        topic_prefix: str = "",
        batch_size: int = 500,
        idle_seconds: float = 0.05,
        min_cycle_seconds: float = 0.01,
        retention_seconds: float = 3600.0,
        bootstrap_servers: str | None = None,
        continuity_check_seconds: float = 2.0,
    ) -> None:
        self._sessions = session_factory
        self._producer = producer
        self._service = service
        self._prefix = topic_prefix
        self._batch = batch_size
        self._idle = idle_seconds
        self._min_cycle = min_cycle_seconds
        self._retention = retention_seconds
        self._bootstrap = bootstrap_servers
        self._continuity_every = continuity_check_seconds
        #: Per partition, the first offset the broker gave our latest write there.
        self._acknowledged: dict[TopicPartition, int] = {}
        self._seen_end: dict[TopicPartition, int] = {}
        self._settled: dict[TopicPartition, int] = {}
        self._suspected: set[TopicPartition] = set()
        self._probe: AIOKafkaConsumer | None = None
        self._last_continuity_check = 0.0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.running = False
        #: Test hook: called after the broker acknowledged a batch and before it is marked.
        self.after_publish_hook: object | None = None

    def wake(self) -> None:
        """Tell the relay a row was just committed, so it need not wait for its next poll."""
        self._wake.set()

    async def start(self) -> None:
        self.running = True
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self._service}")

    async def stop(self) -> None:
        """Finish the batch in flight and stop."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._probe is not None:
            await self._probe.stop()
        self.running = False

    async def _run(self) -> None:
        backoff = 0.2
        next_housekeeping = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            cycle_started = loop.time()
            try:
                published = await self.publish_once()
                backoff = 0.2
            except (KafkaError, OSError, TimeoutError) as exc:
                metrics.OUTBOX_PUBLISH_ERRORS.labels(self._service).inc()
                log.warning(
                    "could not publish outbox events; they stay in the outbox and will be retried",
                    error=repr(exc),
                    retry_in_seconds=backoff,
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception as exc:
                metrics.OUTBOX_PUBLISH_ERRORS.labels(self._service).inc()
                log.error("outbox relay cycle failed; retrying", error=repr(exc), retry_in_seconds=backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            # By time, not by cycles: a relay woken for every STOP of a burst runs hundreds a second.
            if loop.time() >= next_housekeeping:
                next_housekeeping = loop.time() + HOUSEKEEPING_SECONDS
                await self._housekeeping()
            await self._check_broker_continuity()
            if published < self._batch:
                # Woken at once for an urgent row, but never more often than this: a burst of STOPs
                # is published in a few batches instead of one cycle (and transaction) per STOP.
                spacing = self._min_cycle - (loop.time() - cycle_started)
                if spacing > 0:
                    await asyncio.sleep(spacing)
                await self._sleep(self._idle if published else 0.5)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def publish_once(self) -> int:
        """Claim, publish and mark one batch; return how many rows were published."""
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(OUTBOX.c.seq, OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.envelope)
                    .where(OUTBOX.c.published_at.is_(None))
                    .order_by(OUTBOX.c.seq)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures = [
                await self._producer.send(
                    f"{self._prefix}{row.topic}",
                    key=row.key.encode() if row.key else None,
                    value=row.envelope,
                )
                for row in rows
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
            round_first: dict[TopicPartition, int] = {}
            for meta in results:
                assert not isinstance(meta, BaseException)
                tp = TopicPartition(meta.topic, meta.partition)
                round_first[tp] = min(round_first.get(tp, meta.offset), meta.offset)
            self._acknowledged.update(round_first)
            if callable(self.after_publish_hook):
                await self.after_publish_hook()  # type: ignore[operator]
            await session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.seq.in_([row.seq for row in rows]))
                .values(published_at=func.now(), attempts=OUTBOX.c.attempts + 1)
            )
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(self._service, row.topic).inc()
        return len(rows)

    async def _check_broker_continuity(self) -> None:
        """Republish the replay window if the broker lost a log we had written to."""
        loop = asyncio.get_running_loop()
        if (
            not self._bootstrap
            or not self._acknowledged
            or loop.time() - self._last_continuity_check < self._continuity_every
        ):
            return
        self._last_continuity_check = loop.time()
        try:
            if self._probe is None:
                self._probe = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap, client_id=f"{self._service}-outbox-probe"
                )
                await self._probe.start()
            # Judge only writes acknowledged before the previous check: a broker may answer an
            # offsets query with a view older than the acknowledgement it just sent.
            settled = self._settled
            self._settled = dict(self._acknowledged)
            if not settled:
                return
            ends = await asyncio.wait_for(self._probe.end_offsets(list(settled)), timeout=5)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.info("could not check the broker's logs this time", error=repr(exc))
            return
        # Two signs of a lost log: the end fell below the first offset of a settled write to
        # that partition (brokers report at least the last batch's base offset + 1), or below
        # an end seen earlier (a healthy log only grows). A sign must show twice in a row.
        lost = sorted(
            (
                tp
                for tp, first in settled.items()
                if tp in ends and (ends[tp] <= first or ends[tp] < self._seen_end.get(tp, 0))
            ),
            key=str,
        )
        for tp, end in ends.items():
            if tp not in lost:
                self._seen_end[tp] = max(self._seen_end.get(tp, 0), end)
        confirmed = [tp for tp in lost if tp in self._suspected]
        self._suspected = set(lost)
        if confirmed:
            await self.republish_window(reason=f"the broker no longer has what it acknowledged on {confirmed[0].topic}")

    async def republish_window(self, *, reason: str) -> int:
        """Mark every row published within the replay window as unpublished again."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.published_at >= func.now() - func.make_interval(0, 0, 0, 0, 0, 0, self._retention))
                .values(published_at=None)
            )
        self._acknowledged.clear()
        self._seen_end.clear()
        self._settled.clear()
        self._suspected.clear()
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        metrics.OUTBOX_REPLAYS.labels(self._service).inc()
        log.warning(
            "the broker lost events it had acknowledged; republishing the outbox's replay window",
            reason=reason,
            rows=count,
            window_seconds=self._retention,
        )
        self._wake.set()
        return count

    async def _housekeeping(self) -> None:
        """Refresh the backlog gauges and forget rows published long ago."""
        try:
            async with self._sessions() as session, session.begin():
                backlog, oldest = (
                    await session.execute(
                        select(func.count(), func.extract("epoch", func.now() - func.min(OUTBOX.c.created_at))).where(
                            OUTBOX.c.published_at.is_(None)
                        )
                    )
                ).one()
                metrics.OUTBOX_BACKLOG.labels(self._service).set(backlog or 0)
                metrics.OUTBOX_OLDEST_AGE.labels(self._service).set(float(oldest or 0))
                await session.execute(
                    OUTBOX.delete().where(
                        OUTBOX.c.published_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, self._retention)
                    )
                )
        except Exception as exc:
            log.warning("outbox housekeeping failed", error=repr(exc))


async def outbox_backlog(session: AsyncSession) -> int:
    """Return how many events wait in the outbox."""
    return int((await session.execute(select(func.count()).where(OUTBOX.c.published_at.is_(None)))).scalar_one())
