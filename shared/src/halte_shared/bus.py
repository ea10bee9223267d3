"""The bus on aiokafka: a keyed producer, and a consumer loop that commits only after the work.

Delivery is at-least-once (the embedded broker has no idempotent producer or
transactions), so every handler is idempotent through the inbox. The consumer loop:
fetches a batch, hands each message to the handler with bounded retries and backoff,
sends a message that still fails (or that cannot be decoded at all) to ``<topic>.dlq``
with the error in its headers, and only then commits the offsets. Stopping lets the
batch in flight finish and commits it, so a SIGTERM never replays finished work.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from halte_shared import metrics
from halte_shared.events import Envelope, EventError, Payload, decode
from halte_shared.observability import bind_event
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


class EventConsumer:
    """A consumer group member: poll, handle with retries, dead-letter poison, commit."""

    def __init__(
        self,
        *,
        settings: HalteSettings,
        group_id: str,
        topics: list[str],
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        producer: AIOKafkaProducer,
        max_batch: int = 500,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self.settings = settings
        self.group_id = f"{settings.topic_prefix}{group_id}"
        self.topics = topics
        self._handler = handler
        self._batch_handler = batch_handler
        self._producer = producer
        self._max_batch = max_batch
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.running = False

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
        self.running = True
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.group_id}")

    async def stop(self) -> None:
        """Finish the batch in flight, commit it, leave the group."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self.settings.shutdown_grace_seconds)
            except TimeoutError:
                log.warning("consumer did not finish its batch within the grace period", group=self.group_id)
                self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
        self.running = False

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self._stopping.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_batch)
            except KafkaError as exc:
                log.warning("could not fetch from the broker; retrying", group=self.group_id, error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for tp, records in batches.items():
                await self._handle_partition_batch(tp, records)
            if batches:
                await self._commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
            await self._record_lag(consumer)
        self.running = False

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        for attempt in range(5):
            try:
                await self._consumer.commit(offsets)
                return
            except KafkaError as exc:
                # A failed commit only means redelivery later, which the inbox absorbs.
                log.warning("offset commit failed", group=self.group_id, attempt=attempt + 1, error=str(exc))
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

    async def _handle_partition_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        topic = self.settings.logical_topic(tp.topic)
        decoded: list[tuple[Envelope, Payload, Delivery]] = []
        for record in records:
            delivery = Delivery(
                topic=topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key.decode() if record.key else None,
            )
            try:
                envelope, payload = decode(record.value or b"")
            except EventError as exc:
                await self._dead_letter(record, delivery, exc)
                continue
            decoded.append((envelope, payload, delivery))
        with metrics.HANDLER_SECONDS.labels(self.group_id, topic).time():
            if self._batch_handler is not None and decoded:
                try:
                    await self._batch_handler(decoded)
                    metrics.CONSUMED.labels(self.group_id, topic, "ok").inc(len(decoded))
                except Exception as exc:
                    log.warning(
                        "batch handler failed; retrying message by message to isolate the cause",
                        group=self.group_id,
                        topic=topic,
                        size=len(decoded),
                        error=repr(exc),
                    )
                    for item in decoded:
                        await self._handle_one(item, records_by_offset={r.offset: r for r in records})
            else:
                by_offset = {r.offset: r for r in records}
                for item in decoded:
                    await self._handle_one(item, records_by_offset=by_offset)

    async def _handle_one(
        self, item: tuple[Envelope, Payload, Delivery], *, records_by_offset: dict[int, ConsumerRecord]
    ) -> None:
        envelope, payload, delivery = item
        last_error: BaseException | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                with bind_event(envelope.id, envelope.type):
                    if self._handler is not None:
                        await self._handler(envelope, payload, delivery)
                    else:
                        assert self._batch_handler is not None
                        await self._batch_handler([item])
                metrics.CONSUMED.labels(self.group_id, delivery.topic, "ok").inc()
                return
            except Exception as exc:
                last_error = exc
                log.warning(
                    "handling an event failed; will retry",
                    group=self.group_id,
                    event_id=envelope.id,
                    topic=delivery.topic,
                    attempt=attempt,
                    max_attempts=self._max_attempts,
                    error=repr(exc),
                )
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._backoff * (2 ** (attempt - 1)))
        assert last_error is not None
        await self._dead_letter(records_by_offset[delivery.offset], delivery, last_error)

    async def _dead_letter(self, record: ConsumerRecord, delivery: Delivery, error: BaseException) -> None:
        headers = [
            *list(record.headers or ()),
            ("halte-error", repr(error)[:2000].encode()),
            ("halte-error-trace", "".join(traceback.format_exception(error))[-4000:].encode()),
            ("halte-source-topic", delivery.topic.encode()),
            ("halte-source-partition", str(delivery.partition).encode()),
            ("halte-source-offset", str(delivery.offset).encode()),
            ("halte-consumer-group", self.group_id.encode()),
        ]
        dlq = self.settings.topic(dead_letter_topic(delivery.topic))
        while True:
            try:
                await self._producer.send_and_wait(dlq, key=record.key, value=record.value, headers=headers)
                break
            except KafkaError as exc:
                # Committing past a message we could not park would lose it: wait for the broker.
                log.error("could not write to the dead-letter topic; retrying", topic=dlq, error=str(exc))
                await asyncio.sleep(1.0)
        metrics.DEAD_LETTERED.labels(self.group_id, delivery.topic).inc()
        metrics.CONSUMED.labels(self.group_id, delivery.topic, "dead_lettered").inc()
        log.error(
            "an event could not be handled and was parked on the dead-letter topic",
            group=self.group_id,
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            dead_letter_topic=dlq,
            error=repr(error),
        )
