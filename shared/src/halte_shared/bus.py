"""The bus on aiokafka: a keyed producer, and a consumer loop that commits only after the work.

Delivery is at-least-once (the embedded broker has no idempotent producer or
transactions), so every handler is idempotent through the inbox. The consumer loop fetches
a batch, hands each message to the handler, and commits the offsets of what it finished.
A failure is classified (failures.py) and decides what happens to the message:

* infrastructure (database, broker or another service away; a deadlock, a timeout, a
  missing migration): the consumer waits in place on that message, retrying without limit
  with a capped backoff, and never commits past it; the rest of the batch waits too;
* the message itself (undecodable, invalid, refused with ``MessageRejected``): parked at once;
* unknown (a bug): retried a few times, then parked.

Parking writes the message to ``parked_events`` in the service's schema (with the
consumer's ``on_park`` hook in the same transaction) and publishes it to ``<topic>.dlq``
with the error in its headers; both are retried like infrastructure, so a parked message
is never lost. Stopping interrupts a wait, commits only the messages actually handled and
leaves the group, so the unhandled one is redelivered to the next consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_shared import metrics
from halte_shared.events import Envelope, Payload, decode
from halte_shared.failures import Failure, FailureClass, classify, safe_trace
from halte_shared.observability import bind_event
from halte_shared.parked import ParkedEvent, ParkHook, park_message
from halte_shared.settings import HalteSettings
from halte_shared.topics import Topic, all_topic_specs, dead_letter_topic

log = structlog.get_logger("halte.bus")


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a message came from: enough to record it in the inbox and to dead-letter it."""

    topic: str  # the contract's name, without any test prefix
    partition: int
    offset: int
    key: str | None


Handler = Callable[[Envelope, Payload, Delivery], Awaitable[None]]
BatchHandler = Callable[[list[tuple[Envelope, Payload, Delivery]]], Awaitable[None]]


def make_producer(settings: HalteSettings, *, client_id: str | None = None) -> AIOKafkaProducer:
    """Create a producer that waits for every in-sync replica and batches briefly."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id or settings.service_name,
        acks="all",
        enable_idempotence=False,  # unsupported by the embedded broker; the inbox dedupes instead
        linger_ms=5,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


async def ensure_topics(bootstrap_servers: str, *, prefix: str = "", specs: Iterable[Topic] | None = None) -> None:
    """Create every topic of the table (and its dead-letter twin) that does not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="halte-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=f"{prefix}{spec.name}",
                num_partitions=spec.partitions,
                replication_factor=1,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for spec in (specs if specs is not None else all_topic_specs())
            if f"{prefix}{spec.name}" not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile: the goal is met
    finally:
        await admin.close()


class _Stopped(Exception):
    """The consumer is stopping: leave the message in hand unhandled, it will be redelivered."""


class _Revoked(Exception):
    """The partition in hand was given to another group member while we waited on it."""


@dataclass(frozen=True, slots=True)
class _Place:
    """The message (or batch) the consumer is working on."""

    tp: TopicPartition  # as the broker names it (with any test prefix)
    topic: str
    offset: int
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerState:
    """What a consumer is doing, for readiness, metrics and operators."""

    status: str  # "starting", "running", "stalled" or "stopped"
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    stalled_since: datetime | None = None
    stalled_seconds: float = 0.0
    failure: Failure | None = None
    attempts: int = 0

    @property
    def healthy(self) -> bool:
        """Say whether the consumer moves through its topics."""
        return self.status == "running"

    def describe(self) -> str:
        """Return one sentence, e.g. "stalled for 12 s on optout.requested: the database is unreachable (...)"."""
        if self.status != "stalled" or self.failure is None:
            return self.status
        return f"stalled for {self.stalled_seconds:.0f} s on {self.topic}: {self.failure.describe()}"


@dataclass(slots=True)
class _Stall:
    place: _Place
    since: datetime
    since_monotonic: float
    failure: Failure
    attempts: int


class EventConsumer:
    """A consumer group member: poll, handle, wait out the infrastructure, park poison, commit."""

    def __init__(
        self,
        *,
        settings: HalteSettings,
        group_id: str,
        topics: list[str],
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        producer: AIOKafkaProducer,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        on_park: ParkHook | None = None,
        on_discard: ParkHook | None = None,
        max_batch: int = 500,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 10.0,
        max_poll_interval_ms: int = 300_000,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self.settings = settings
        self.group = group_id  # as the service names it; parked_events rows carry this name
        self.group_id = f"{settings.topic_prefix}{group_id}"
        self.topics = topics
        self.on_park = on_park
        self.on_discard = on_discard
        self._handler = handler
        self._batch_handler = batch_handler
        self._producer = producer
        self._sessions = sessions
        self._max_batch = max_batch
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._max_poll_interval_ms = max_poll_interval_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._status = "starting"
        self._stall: _Stall | None = None
        self._paused = False
        self._poll_warned = False
        #: Offsets finished in the batch in hand, committed after it (or by stop() if it is cut short).
        self._progress: dict[TopicPartition, int] = {}
        self.running = False

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> ConsumerState:
        """Return what the consumer is doing now."""
        stall = self._stall
        if stall is None or not self.running:
            return ConsumerState(status=self._status)
        return ConsumerState(
            status="stalled",
            topic=stall.place.topic,
            partition=stall.place.tp.partition,
            offset=stall.place.offset,
            stalled_since=stall.since,
            stalled_seconds=time.monotonic() - stall.since_monotonic,
            failure=stall.failure,
            attempts=stall.attempts,
        )

    def _stalled_seconds_on(self, topic: str) -> float:
        stall = self._stall
        if stall is None or stall.place.topic != topic:
            return 0.0
        return time.monotonic() - stall.since_monotonic

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group and start consuming in the background."""
        self._consumer = AIOKafkaConsumer(
            *[self.settings.topic(t) for t in self.topics],
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.settings.service_name}-{self.group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_batch,
            max_poll_interval_ms=self._max_poll_interval_ms,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=min(1000, self.settings.kafka_session_timeout_ms // 3),
        )
        delay = 0.5
        while True:
            try:
                await self._consumer.start()
                break
            except KafkaError as exc:
                # The broker may be restarting; the service keeps trying rather than crash-looping.
                log.warning("cannot join the consumer group yet; retrying", group=self.group_id, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for topic in self.topics:
            metrics.CONSUMER_STALLED_SECONDS.labels(self.group_id, topic).set(0)
        self.running = True
        self._status = "running"
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.group_id}")

    async def stop(self) -> None:
        """Stop retrying, finish or abandon the message in hand, commit what was handled, leave the group."""
        self._stopping.set()
        grace = self.settings.shutdown_grace_seconds
        if self._task is not None and not self._task.done():
            # Keep a little of the grace period for the commit and for leaving the group.
            done, _ = await asyncio.wait({self._task}, timeout=max(grace - 2.0, grace / 2))
            if not done:
                log.warning(
                    "the consumer did not finish its message within the grace period; abandoning it "
                    "(it will be redelivered)",
                    group=self.group_id,
                )
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._commit_progress(attempts=1), timeout=1.0)
        if self._consumer is not None:
            await self._consumer.stop()
        self.running = False
        self._status = "stopped"
        self._stall = None

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        try:
            while not self._stopping.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=200, max_records=self._max_batch)
                except KafkaError as exc:
                    log.warning("could not fetch from the broker; retrying", group=self.group_id, error=str(exc))
                    await asyncio.sleep(1.0)
                    continue
                self._progress = {}
                try:
                    # One partition after another: while one waits out an outage, the others of
                    # the batch wait too, so nothing is committed out of order.
                    for tp, records in batches.items():
                        try:
                            await self._handle_partition_batch(tp, records)
                        except _Revoked:
                            log.warning(
                                "a partition was given to another group member while this one waited on it; "
                                "that member takes over its messages",
                                group=self.group_id,
                                topic=self.settings.logical_topic(tp.topic),
                                partition=tp.partition,
                            )
                except _Stopped:
                    log.info(
                        "stopping while waiting to handle a message; it will be redelivered after the restart",
                        group=self.group_id,
                    )
                await self._commit_progress()
                await self._record_lag(consumer)
        except Exception:
            log.exception("the consumer loop crashed; this consumer no longer consumes", group=self.group_id)
            self._status = "crashed"
            raise
        finally:
            self.running = False
            if self._status != "crashed":
                self._status = "stopped"

    async def _commit_progress(self, *, attempts: int = 5) -> None:
        assert self._consumer is not None
        progress, self._progress = self._progress, {}
        # A partition given away meanwhile is committed by its new owner; committing it here
        # would be refused (and could only rewind it).
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in progress.items() if tp in assigned}
        if offsets:
            await self._commit(offsets, attempts=attempts)

    async def _commit(self, offsets: dict[TopicPartition, int], *, attempts: int = 5) -> None:
        assert self._consumer is not None
        for attempt in range(attempts):
            try:
                await self._consumer.commit(offsets)
                return
            except KafkaError as exc:
                # A failed commit only means redelivery later, which the inbox absorbs.
                log.warning("offset commit failed", group=self.group_id, attempt=attempt + 1, error=str(exc))
                if attempt + 1 < attempts:
                    await asyncio.sleep(self._backoff * (2**attempt))

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched yet from this partition
            try:
                position = await consumer.position(tp)
            except KafkaError:
                continue
            lag = max(0, highwater - position)
            metrics.CONSUMER_LAG.labels(self.group_id, self.settings.logical_topic(tp.topic), tp.partition).set(lag)

    # -- handling ---------------------------------------------------------------------------

    async def _handle_partition_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        topic = self.settings.logical_topic(tp.topic)
        decoded: list[tuple[ConsumerRecord, tuple[Envelope, Payload, Delivery]]] = []
        for record in records:
            delivery = Delivery(topic=topic, partition=record.partition, offset=record.offset, key=_key_text(record))
            try:
                envelope, payload = decode(record.value or b"")
            except Exception as exc:
                await self._park(tp, record, delivery, classify(exc), exc)
                continue
            decoded.append((record, (envelope, payload, delivery)))
        if not decoded:
            self._progress[tp] = records[-1].offset + 1
            return
        with metrics.HANDLER_SECONDS.labels(self.group_id, topic).time():
            if self._batch_handler is not None:
                batch_handler = self._batch_handler
                items = [item for _, item in decoded]
                first = decoded[0][0]
                # Infrastructure failures retry the whole batch in place; any other failure
                # ends this at once so the batch can be split to find the culprit.
                gave_up = await self._until_done(
                    lambda: batch_handler(items),
                    _Place(tp, topic, first.offset),
                    what="handling a batch of events",
                    message_attempts=1,
                    unknown_attempts=1,
                )
                if gave_up is None:
                    metrics.CONSUMED.labels(self.group_id, topic, "ok").inc(len(items))
                    self._progress[tp] = records[-1].offset + 1
                    return
                log.warning(
                    "the batch handler failed; handling the batch message by message to isolate the cause",
                    group=self.group_id,
                    topic=topic,
                    size=len(items),
                    failure_class=gave_up[0].kind.value,
                    error=gave_up[0].error,
                )
            for record, item in decoded:
                await self._handle_one(tp, record, item)
                self._progress[tp] = record.offset + 1
        self._progress[tp] = records[-1].offset + 1

    async def _call_handler(self, item: tuple[Envelope, Payload, Delivery]) -> None:
        envelope, payload, delivery = item
        with bind_event(envelope.id, envelope.type):
            if self._handler is not None:
                await self._handler(envelope, payload, delivery)
            else:
                assert self._batch_handler is not None
                await self._batch_handler([item])

    async def _handle_one(
        self, tp: TopicPartition, record: ConsumerRecord, item: tuple[Envelope, Payload, Delivery]
    ) -> None:
        envelope, _, delivery = item
        gave_up = await self._until_done(
            lambda: self._call_handler(item),
            _Place(tp, delivery.topic, delivery.offset, envelope.id),
            what="handling an event",
            message_attempts=1,
            unknown_attempts=self._max_attempts,
        )
        if gave_up is None:
            metrics.CONSUMED.labels(self.group_id, delivery.topic, "ok").inc()
            return
        failure, error = gave_up
        await self._park(tp, record, delivery, failure, error)

    async def replay(self, parked: ParkedEvent) -> Failure | None:
        """Hand a parked message to this consumer's handler once, now; return the failure, or None."""
        delivery = Delivery(topic=parked.topic, partition=parked.partition, offset=parked.offset, key=parked.key)
        try:
            envelope, payload = decode(parked.value)
            await self._call_handler((envelope, payload, delivery))
        except Exception as exc:
            return classify(exc)
        metrics.CONSUMED.labels(self.group_id, parked.topic, "replayed").inc()
        return None

    # -- retrying ---------------------------------------------------------------------------

    async def _until_done(
        self,
        attempt: Callable[[], Awaitable[None]],
        place: _Place,
        *,
        what: str,
        message_attempts: int | None,
        unknown_attempts: int | None,
    ) -> tuple[Failure, Exception] | None:
        """Run ``attempt`` until it succeeds (None) or its failures exhaust their class's attempts.

        Infrastructure failures never exhaust: the consumer waits in place, keeping its group
        membership, until the attempt succeeds, the partition is given away, or it stops.
        """
        infra_delay = self._backoff
        failures = {FailureClass.MESSAGE: 0, FailureClass.UNKNOWN: 0}
        number = 0
        try:
            while True:
                number += 1
                try:
                    await self._attempt(attempt, interruptible=number > 1)
                    return None
                except (_Stopped, _Revoked):
                    raise
                except Exception as exc:
                    error = exc
                    failure = classify(exc)
                if failure.kind is FailureClass.INFRASTRUCTURE:
                    delay = infra_delay
                    infra_delay = min(infra_delay * 2, self._max_backoff)
                else:
                    failures[failure.kind] += 1
                    limit = message_attempts if failure.kind is FailureClass.MESSAGE else unknown_attempts
                    if limit is not None and failures[failure.kind] >= limit:
                        return failure, error
                    delay = min(self._backoff * 2 ** (failures[failure.kind] - 1), self._max_backoff)
                self._note_stall(place, failure, number)
                metrics.CONSUMER_RETRIES.labels(self.group_id, place.topic, failure.kind.value).inc()
                self._log_retry(place, failure, number, delay, what)
                await self._wait_before_retry(delay)
                if self._consumer is not None and place.tp not in self._consumer.assignment():
                    raise _Revoked()
        finally:
            self._end_stall(what)

    async def _attempt(self, attempt: Callable[[], Awaitable[None]], *, interruptible: bool) -> None:
        """Run one attempt; a retry (the infrastructure may hang) is abandoned when the consumer stops."""
        if not interruptible:
            await attempt()
            return
        if self._stopping.is_set():
            raise _Stopped()
        task = asyncio.ensure_future(attempt())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                # Cancelling rolls the attempt's transaction back; had it committed, the inbox
                # absorbs the redelivery.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task.cancelled() and self._stopping.is_set():
            raise _Stopped()
        task.result()

    async def _wait_before_retry(self, seconds: float) -> None:
        """Sleep before a retry, keeping the group membership alive; raise _Stopped when stopping."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        kept_at = -1.0
        while True:
            self._publish_stall()
            if loop.time() - kept_at >= 1.0:
                await self._keep_membership()
                kept_at = loop.time()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                # A quarter of a second at most: the stall gauge stays that fresh.
                await asyncio.wait_for(self._stopping.wait(), timeout=min(remaining, 0.25))
            except TimeoutError:
                continue
            raise _Stopped()

    async def _keep_membership(self) -> None:
        """Poll without taking records, so a long wait does not make aiokafka leave the group.

        aiokafka leaves the group when ``getmany`` is not called for max_poll_interval_ms;
        a rebalance then hands our partitions to another member, which is safe but slow and
        noisy. Every assigned partition is paused first, so this poll returns nothing of them
        and their positions stay where they are (the batch in hand is still ours to finish);
        a partition newly assigned by a rebalance may return records, which are put back.
        """
        consumer = self._consumer
        if consumer is None:
            return
        try:
            assigned = consumer.assignment()
            if assigned:
                consumer.pause(*assigned)
                self._paused = True
            returned = await consumer.getmany(timeout_ms=0)
            for tp, records in returned.items():
                if records:
                    consumer.seek(tp, records[0].offset)
        except KafkaError as exc:
            if not self._poll_warned:  # once per wait: the retry lines already say the consumer waits
                self._poll_warned = True
                log.info(
                    "could not poll the broker while waiting; the group membership may lapse (a redelivery, no loss)",
                    group=self.group_id,
                    error=repr(exc),
                )

    def _note_stall(self, place: _Place, failure: Failure, attempts: int) -> None:
        if self._stall is None or self._stall.place != place:
            if self._stall is not None:
                metrics.CONSUMER_STALLED_SECONDS.labels(self.group_id, self._stall.place.topic).set(0)
            self._stall = _Stall(place, datetime.now(UTC), time.monotonic(), failure, attempts)
        else:
            self._stall.failure = failure
            self._stall.attempts = attempts
        self._publish_stall()

    def _publish_stall(self) -> None:
        # Set while waiting (every second at least), not computed when scraped: several worker
        # processes share one exposition, which can read values but not call functions.
        if self._stall is not None:
            metrics.CONSUMER_STALLED_SECONDS.labels(self.group_id, self._stall.place.topic).set(
                self._stalled_seconds_on(self._stall.place.topic)
            )

    def _end_stall(self, what: str) -> None:
        stall, self._stall = self._stall, None
        if stall is not None:
            metrics.CONSUMER_STALLED_SECONDS.labels(self.group_id, stall.place.topic).set(0)
        self._poll_warned = False
        if self._paused and self._consumer is not None:
            self._paused = False
            assigned = self._consumer.assignment()
            if assigned:
                self._consumer.resume(*assigned)
        if stall is not None and stall.failure.kind is FailureClass.INFRASTRUCTURE and not self._stopping.is_set():
            log.info(
                "the consumer moves again after waiting for the infrastructure",
                group=self.group_id,
                topic=stall.place.topic,
                partition=stall.place.tp.partition,
                offset=stall.place.offset,
                waited_seconds=round(time.monotonic() - stall.since_monotonic, 1),
                attempts=stall.attempts,
                doing=what,
            )

    def _log_retry(self, place: _Place, failure: Failure, attempt: int, delay: float, what: str) -> None:
        stall = self._stall
        fields = {
            "group": self.group_id,
            "topic": place.topic,
            "partition": place.tp.partition,
            "offset": place.offset,
            "event_id": place.event_id,
            "doing": what,
            "failure_class": failure.kind.value,
            "reason": failure.reason,
            "error": failure.error,
            "attempt": attempt,
            "retry_in_seconds": round(delay, 2),
            "stalled_seconds": round(time.monotonic() - stall.since_monotonic, 1) if stall else 0.0,
        }
        if failure.kind is FailureClass.INFRASTRUCTURE:
            log.warning(
                f"{what} failed because {failure.reason}; the consumer waits on this message and retries "
                "until it succeeds (nothing is skipped or dead-lettered)",
                **fields,
            )
        else:
            log.warning(f"{what} failed ({failure.kind.value} cause); retrying a few times before parking it", **fields)

    # -- parking ----------------------------------------------------------------------------

    async def _park(
        self,
        tp: TopicPartition,
        record: ConsumerRecord,
        delivery: Delivery,
        failure: Failure,
        error: BaseException,
    ) -> None:
        """Record the message in parked_events and publish it to the dead-letter topic; never lose it."""
        place = _Place(tp, delivery.topic, delivery.offset)
        source_headers = list(record.headers or ())
        recorded = await self._record_parked(place, record, delivery, failure, source_headers)
        dlq = self.settings.topic(dead_letter_topic(delivery.topic))
        headers = [
            *source_headers,
            ("halte-error", failure.error.encode()),
            ("halte-error-class", failure.kind.value.encode()),
            ("halte-error-reason", failure.reason.encode()),
            ("halte-error-trace", safe_trace(error)[-4000:].encode()),
            ("halte-source-topic", delivery.topic.encode()),
            ("halte-source-partition", str(delivery.partition).encode()),
            ("halte-source-offset", str(delivery.offset).encode()),
            ("halte-consumer-group", self.group_id.encode()),
        ]

        async def publish() -> None:
            await self._producer.send_and_wait(dlq, key=record.key, value=record.value, headers=headers)

        # Without a row in parked_events the topic is the only record: keep trying whatever the error.
        limit = self._max_attempts if recorded else None
        gave_up = await self._until_done(
            publish, place, what="publishing to the dead-letter topic", message_attempts=limit, unknown_attempts=limit
        )
        if gave_up is not None:
            log.error(
                "could not publish a parked event to the dead-letter topic; it is recorded in parked_events only",
                group=self.group_id,
                topic=delivery.topic,
                dead_letter_topic=dlq,
                error=gave_up[0].error,
            )
        metrics.DEAD_LETTERED.labels(self.group_id, delivery.topic, failure.kind.value).inc()
        metrics.CONSUMED.labels(self.group_id, delivery.topic, "dead_lettered").inc()
        log.error(
            "an event could not be handled and was parked (dead-letter topic and parked_events); "
            "an operator can replay or discard it",
            group=self.group_id,
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            dead_letter_topic=dlq,
            recorded_in_parked_events=recorded,
            failure_class=failure.kind.value,
            reason=failure.reason,
            error=failure.error,
        )

    async def _record_parked(
        self,
        place: _Place,
        record: ConsumerRecord,
        delivery: Delivery,
        failure: Failure,
        headers: list[tuple[str, bytes]],
    ) -> bool:
        """Write the parked_events row (and run on_park with it); False when there is no database to write to."""
        sessions = self._sessions
        if sessions is None:
            return False

        async def write(*, hook: bool, error: str) -> None:
            async with sessions() as session, session.begin():
                parked = await park_message(
                    session,
                    group=self.group,
                    topic=delivery.topic,
                    partition=delivery.partition,
                    offset=delivery.offset,
                    key=delivery.key,
                    value=record.value or b"",
                    headers=headers,
                    failure=failure,
                    error=error,
                )
                if parked is not None and hook and self.on_park is not None:
                    await self.on_park(session, parked)

        text = failure.describe()
        gave_up = await self._until_done(
            lambda: write(hook=True, error=text),
            place,
            what="recording a parked event",
            message_attempts=self._max_attempts,
            unknown_attempts=self._max_attempts,
        )
        if gave_up is None:
            return True
        if self.on_park is not None:
            # A hook that keeps failing must not leave the message unrecorded: record it bare.
            log.error(
                "the on_park hook keeps failing; recording the parked event without it",
                group=self.group_id,
                topic=delivery.topic,
                offset=delivery.offset,
                error=gave_up[0].error,
            )
            text = f"{text} [on_park failed: {gave_up[0].error}]"
            gave_up = await self._until_done(
                lambda: write(hook=False, error=text),
                place,
                what="recording a parked event",
                message_attempts=self._max_attempts,
                unknown_attempts=self._max_attempts,
            )
            if gave_up is None:
                return True
        log.error(
            "could not record a parked event in parked_events; the dead-letter topic is its only record",
            group=self.group_id,
            topic=delivery.topic,
            offset=delivery.offset,
            error=gave_up[0].error,
        )
        return False


def _key_text(record: ConsumerRecord) -> str | None:
    # A key that is not UTF-8 must not crash the loop: it is kept readable instead.
    return record.key.decode("utf-8", "backslashreplace") if record.key else None


__all__ = [
    "BatchHandler",
    "ConsumerState",
    "Delivery",
    "EventConsumer",
    "Handler",
    "ensure_topics",
    "make_producer",
]
