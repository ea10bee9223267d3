"""The consumer on real PostgreSQL and the real broker: outages are waited out, poison is parked, stops are prompt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from halte_shared.bus import Delivery, EventConsumer, make_producer
from halte_shared.db import async_url, make_engine, make_session_factory
from halte_shared.events import ContactRequested, Envelope, Payload, encode, envelope_for
from halte_shared.failures import MessageRejected
from halte_shared.inbox import first_delivery
from halte_shared.parked import ParkedEvent
from halte_shared.runtime import ServiceRuntime
from halte_shared.settings import HalteSettings
from halte_shared.testing import Isolation, migrate

pytestmark = pytest.mark.integration

SERVICE = "suppression"  # any service: only its plumbing tables (inbox, parked_events) are used here
PACKAGE = "halte_suppression"
TOPIC = "contact.requested"
PHONE = "+33612345678"


def contact_request(n: int | str) -> ContactRequested:
    return ContactRequested(
        request_id=f"req-{n}",
        account_id="acc-1",
        phone=PHONE,
        short_code="36111",
        raw_text="CONTACT",
        carrier="sim",
        received_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )


class DatabaseProxy:
    """A TCP front to the test database that a test cuts (refused, connections dropped) and restores."""

    def __init__(self, database_url: str) -> None:
        self._upstream = async_url(database_url)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return self._upstream.set(host="127.0.0.1", port=self.port, query={}).render_as_string(hide_password=False)

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = self._upstream.query.get("host") or self._upstream.host or "127.0.0.1"
        socket_dir = socket_dir if isinstance(socket_dir, str) else socket_dir[0]
        if socket_dir.startswith("/"):
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{self._upstream.port or 5432}")
        return await asyncio.open_connection(socket_dir, self._upstream.port or 5432)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop every open one, as a database that went away."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self._server = None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await self._connect_upstream()
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, upstream_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.transport.abort()

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        self._writers -= {client_writer, upstream_writer}


@pytest.fixture
async def world(isolation: Isolation) -> AsyncIterator[tuple[HalteSettings, AsyncEngine, AIOKafkaProducer]]:
    await migrate(isolation, PACKAGE, SERVICE)
    settings = isolation.settings(HalteSettings, service=SERVICE)
    engine = make_engine(settings.database_url, schema=settings.schema_name)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id text PRIMARY KEY, n int NOT NULL)"))
        await conn.execute(text("CREATE TABLE hook_calls (hook text NOT NULL, parked_id bigint NOT NULL)"))
    producer = make_producer(settings)
    await producer.start()
    yield settings, engine, producer
    await producer.stop()
    await engine.dispose()


async def publish(settings: HalteSettings, producer: AIOKafkaProducer, *payloads: Payload) -> list[str]:
    ids = []
    for payload in payloads:
        envelope = envelope_for(payload, producer="test", occurred_at=datetime.now(UTC))
        await producer.send_and_wait(settings.topic(TOPIC), key=PHONE.encode(), value=encode(envelope))
        ids.append(envelope.id)
    return ids


async def read_topic(settings: HalteSettings, topic: str, *, expect: int, timeout: float = 15.0) -> list:
    reader = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await reader.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=300)).values():
                records.extend(batch)
        for batch in (await reader.getmany(timeout_ms=700)).values():
            records.extend(batch)
    finally:
        await reader.stop()
    return records


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


async def parked_rows(engine: AsyncEngine) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT * FROM parked_events ORDER BY id"))).all())


def recording_handler(
    sessions: async_sessionmaker[AsyncSession], handled: list[str], *, group: str = "effects"
) -> Callable[[Envelope, Payload, Delivery], Awaitable[None]]:
    async def handler(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        async with sessions() as session, session.begin():
            if await first_delivery(session, consumer=group, event_id=envelope.id, delivery=delivery):
                await session.execute(text("INSERT INTO effects (event_id, n) VALUES (:id, 1)"), {"id": envelope.id})
        handled.append(envelope.id)

    return handler


async def test_an_unreachable_database_stalls_the_consumer_visibly_and_loses_nothing(world, isolation):
    settings, engine, producer = world
    proxy = DatabaseProxy(settings.database_url)
    await proxy.start()
    handler_engine = make_engine(proxy.url, schema=settings.schema_name, pool_size=2)
    handled: list[str] = []
    runtime = ServiceRuntime(settings)
    consumer = runtime.add_consumer(
        group="effects", topics=[TOPIC], handler=recording_handler(make_session_factory(handler_engine), handled)
    )
    await runtime.start()
    try:
        await eventually(lambda: consumer.state.status == "running", what="the consumer runs")
        await proxy.cut()
        cut_at = time.monotonic()
        [event_id] = await publish(settings, producer, contact_request(1))
        await eventually(lambda: consumer.state.status == "stalled", what="the consumer stalls")
        await asyncio.sleep(1.2)

        state = consumer.state
        assert state.topic == TOPIC and state.failure is not None
        assert state.failure.kind.value == "infrastructure"
        report = await runtime.readiness()
        assert not report.ready
        check = report.checks[f"consumer:{consumer.group_id}"]
        assert check.startswith("stalled for "), check
        assert f"s on {TOPIC}: the database is unreachable (ConnectionRefusedError" in check, check
        assert report.checks["database"] == "ok", "the service's own database connection is fine"
        labels = {"group": consumer.group_id, "topic": TOPIC}
        assert (REGISTRY.get_sample_value("halte_consumer_stalled_seconds", labels) or 0) >= 1.0
        retries = {**labels, "class": "infrastructure"}
        assert (REGISTRY.get_sample_value("halte_consumer_retries_total", retries) or 0) >= 2

        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - cut_at)))
        assert handled == [], "nothing can be handled while the database is away"
        await proxy.start()
        await eventually(lambda: handled == [event_id], what="the event is handled after the recovery")
        await eventually(lambda: consumer.state.status == "running", what="the consumer runs again")
        assert (await runtime.readiness()).checks[f"consumer:{consumer.group_id}"] == "running"
        assert REGISTRY.get_sample_value("halte_consumer_stalled_seconds", labels) == 0.0
    finally:
        await runtime.stop()
        await handler_engine.dispose()
        await proxy.cut()

    async with engine.connect() as conn:
        effects = (await conn.execute(text("SELECT event_id, n FROM effects"))).all()
    assert [tuple(r) for r in effects] == [(event_id, 1)], "handled exactly once"
    assert await parked_rows(engine) == [], "an outage parks nothing"
    assert await read_topic(settings, f"{TOPIC}.dlq", expect=0, timeout=1.0) == [], "an outage dead-letters nothing"


async def test_a_batch_failing_on_the_infrastructure_is_retried_whole_not_split(world):
    settings, engine, producer = world
    calls: list[int] = []
    outage: list[float] = []  # when the outage ends: two seconds after the first call

    async def batch_handler(items: list[tuple[Envelope, Payload, Delivery]]) -> None:
        calls.append(len(items))
        outage.append(outage[0] if outage else time.monotonic() + 2.0)
        if time.monotonic() < outage[0]:
            raise ConnectionResetError(104, "Connection reset by peer")

    ids = await publish(settings, producer, *(contact_request(n) for n in range(5)))
    consumer = EventConsumer(
        settings=settings,
        group_id="batch",
        topics=[TOPIC],
        batch_handler=batch_handler,
        producer=producer,
        backoff_seconds=0.05,
        max_backoff_seconds=0.5,
    )
    await consumer.start()
    try:
        await eventually(lambda: bool(outage) and time.monotonic() > outage[0] + 0.6, what="the outage ends")
        await eventually(lambda: consumer.state.status == "running", what="the consumer runs again")
    finally:
        await consumer.stop()
    assert len(calls) >= 3, calls
    assert set(calls) == {5}, f"the batch was never split: {calls}"
    assert len(ids) == 5
    assert await read_topic(settings, f"{TOPIC}.dlq", expect=0, timeout=1.0) == []


async def test_a_message_failure_is_parked_at_once_with_the_hook_in_the_same_transaction(world):
    settings, engine, producer = world
    sessions = make_session_factory(engine)
    attempts: list[str] = []
    handled: list[str] = []

    async def handler(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        attempts.append(envelope.id)
        assert isinstance(payload, ContactRequested)
        if payload.request_id == "req-refused":
            raise MessageRejected("the account of this request does not exist")
        handled.append(envelope.id)

    async def on_park(session: AsyncSession, parked: ParkedEvent) -> None:
        await session.execute(text("INSERT INTO hook_calls (hook, parked_id) VALUES ('park', :id)"), {"id": parked.id})

    refused_id, good_id = await publish(settings, producer, contact_request("refused"), contact_request("good"))
    consumer = EventConsumer(
        settings=settings,
        group_id="refusals",
        topics=[TOPIC],
        handler=handler,
        producer=producer,
        sessions=sessions,
        on_park=on_park,
    )
    await consumer.start()
    try:
        await eventually(lambda: handled == [good_id], what="the next event is handled")
    finally:
        await consumer.stop()
    assert attempts == [refused_id, good_id], "a message failure is not retried"

    [row] = await parked_rows(engine)
    assert row.consumer_group == "refusals" and row.topic == TOPIC and row.state == "parked"
    assert row.error_class == "message"
    assert row.error == "the handler refused the event (MessageRejected: the account of this request does not exist)"
    assert row.event_id == refused_id and row.key == PHONE
    async with engine.connect() as conn:
        hooks = (await conn.execute(text("SELECT hook, parked_id FROM hook_calls"))).all()
    assert [tuple(h) for h in hooks] == [("park", row.id)]

    [dead] = await read_topic(settings, f"{TOPIC}.dlq", expect=1)
    headers = dict(dead.headers)
    assert headers["halte-error-class"] == b"message"
    assert headers["halte-source-topic"] == TOPIC.encode()
    assert bytes(row.value) == dead.value
    labels = {"group": consumer.group_id, "topic": TOPIC, "class": "message"}
    assert REGISTRY.get_sample_value("halte_dead_lettered_total", labels) == 1.0


async def test_an_unknown_failure_is_parked_after_its_bounded_retries(world):
    settings, engine, producer = world
    attempts: list[str] = []

    async def handler(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        attempts.append(envelope.id)
        raise RuntimeError("this event breaks the handler")

    [event_id] = await publish(settings, producer, contact_request("bug"))
    consumer = EventConsumer(
        settings=settings,
        group_id="bugs",
        topics=[TOPIC],
        handler=handler,
        producer=producer,
        sessions=make_session_factory(engine),
        backoff_seconds=0.01,
    )
    await consumer.start()
    try:
        await eventually(lambda: parked_rows(engine), what="the event is parked")
    finally:
        await consumer.stop()
    assert attempts == [event_id] * 4, "retried three times after the first attempt, then parked"
    [row] = await parked_rows(engine)
    assert row.error_class == "unknown"
    assert "RuntimeError: this event breaks the handler" in row.error
    [dead] = await read_topic(settings, f"{TOPIC}.dlq", expect=1)
    assert dict(dead.headers)["halte-error-class"] == b"unknown"


async def test_an_undecodable_message_is_parked_in_the_table_too(world):
    settings, engine, producer = world
    await producer.send_and_wait(settings.topic(TOPIC), key=b"\xff\xfe", value=b"{not json\x00")
    consumer = EventConsumer(
        settings=settings,
        group_id="garbage",
        topics=[TOPIC],
        handler=lambda *a: asyncio.sleep(0),
        producer=producer,
        sessions=make_session_factory(engine),
    )
    await consumer.start()
    try:
        await eventually(lambda: parked_rows(engine), what="the message is parked")
    finally:
        await consumer.stop()
    [row] = await parked_rows(engine)
    assert row.error_class == "message" and row.event_id is None
    assert bytes(row.value) == b"{not json\x00", "the raw bytes are kept exactly"


async def test_a_stop_during_an_endless_wait_is_prompt_and_the_message_goes_to_the_next_consumer(world):
    settings, engine, producer = world
    first_seen: list[str] = []
    blocked: list[str] = []

    first_id, stuck_id, last_id = await publish(settings, producer, *(contact_request(n) for n in range(3)))

    async def failing(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        first_seen.append(envelope.id)
        if envelope.id == stuck_id:
            if blocked:
                await asyncio.sleep(3600)  # a later attempt hangs, as a connect to a dead host can
            blocked.append(envelope.id)
            raise ConnectionRefusedError(111, "Connect call failed")

    consumer = EventConsumer(
        settings=settings,
        group_id="handover",
        topics=[TOPIC],
        handler=failing,
        producer=producer,
        sessions=make_session_factory(engine),
        backoff_seconds=0.05,
    )
    await consumer.start()
    await eventually(lambda: len(first_seen) >= 3, what="the stuck message was retried")
    started = time.monotonic()
    await consumer.stop()
    took = time.monotonic() - started
    assert took < 3.0, f"stopping took {took:.1f} s"
    assert first_seen[0] == first_id and last_id not in first_seen, "the message after the stuck one waited"

    handled: list[str] = []
    successor = EventConsumer(
        settings=settings,
        group_id="handover",
        topics=[TOPIC],
        handler=recording_handler(make_session_factory(engine), handled, group="handover"),
        producer=producer,
    )
    await successor.start()
    try:
        await eventually(lambda: len(handled) >= 2, what="the successor handles what was left")
        await asyncio.sleep(0.5)
    finally:
        await successor.stop()
    assert handled == [stuck_id, last_id], "only the handled message was committed"
    assert await parked_rows(engine) == []


async def test_a_long_wait_keeps_the_group_membership(world):
    settings, engine, producer = world
    outage: list[float] = []  # when the outage ends: six seconds after the first attempt
    handled: list[str] = []

    async def handler(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        outage.append(outage[0] if outage else time.monotonic() + 6.0)
        if time.monotonic() < outage[0]:
            raise TimeoutError()
        handled.append(envelope.id)

    consumer = EventConsumer(
        settings=settings,
        group_id="patient",
        topics=[TOPIC],
        handler=handler,
        producer=producer,
        max_poll_interval_ms=2000,  # aiokafka leaves a group it is not polled for that long
    )
    await consumer.start()
    try:
        await eventually(lambda: bool(consumer._consumer and consumer._consumer.assignment()), what="assignment")
        coordinator = consumer._consumer._coordinator  # type: ignore[union-attr]
        generation = coordinator.generation
        [event_id] = await publish(settings, producer, contact_request("patient"))
        await eventually(lambda: handled == [event_id], what="the event is handled after the outage")
        assert coordinator.generation == generation, "no rebalance: the consumer stayed in its group"
    finally:
        await consumer.stop()
