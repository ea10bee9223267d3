"""The plumbing on real PostgreSQL and the real broker: outbox, relay, inbox, dead letters."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from halte_shared.bus import Delivery, EventConsumer, make_producer
from halte_shared.db import make_engine, make_session_factory
from halte_shared.events import ContactRequested, Envelope, Payload, decode
from halte_shared.inbox import first_delivery
from halte_shared.outbox import OutboxRelay, add_to_outbox, outbox_backlog
from halte_shared.settings import HalteSettings
from halte_shared.testing import Isolation, migrate

pytestmark = pytest.mark.integration

SERVICE = "suppression"  # any service: only its plumbing tables (outbox, inbox) are used here
PACKAGE = "halte_suppression"


def contact_request(n: int) -> ContactRequested:
    return ContactRequested(
        request_id=f"req-{n}",
        account_id="acc-1",
        phone="+33612345678",
        short_code="36111",
        raw_text="CONTACT",
        carrier="sim",
        received_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )


@pytest.fixture
async def plumbing(isolation: Isolation):
    await migrate(isolation, PACKAGE, SERVICE)
    settings = isolation.settings(HalteSettings, service=SERVICE)
    engine = make_engine(settings.database_url, schema=settings.schema_name)
    sessions = make_session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id text PRIMARY KEY, n int NOT NULL)"))
    producer = make_producer(settings)
    await producer.start()
    yield settings, engine, sessions, producer
    await producer.stop()
    await engine.dispose()


async def write_events(sessions, count: int) -> list[str]:
    ids = []
    async with sessions() as session, session.begin():
        for n in range(count):
            envelope = await add_to_outbox(
                session, contact_request(n), key="+33612345678", producer="test", occurred_at=datetime.now(UTC)
            )
            ids.append(envelope.id)
    return ids


async def read_topic(settings: HalteSettings, topic: str, *, expect: int, timeout: float = 60.0) -> list[bytes]:
    """Read a topic from its start until ``expect`` records came (or the timeout), then a moment more.

    When fewer came, the assertion tells a slow read (a busy machine) from records the broker
    does not have, by the high watermarks its fetches reported. (The embedded broker's
    ListOffsets answers the last batch's base offset + 1, so end_offsets() cannot tell.)
    """
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(values) < expect and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                values.extend(r.value for r in records)
        # Linger a moment so a duplicate that would break the assertion has time to show.
        for records in (await consumer.getmany(timeout_ms=500)).values():
            values.extend(r.value for r in records)
        held = sum(consumer.highwater(tp) or 0 for tp in consumer.assignment())
    finally:
        await consumer.stop()
    assert len(values) >= expect, (
        f"read {len(values)} records of {topic} in {timeout} s, {expect} expected; "
        f"the broker's high watermarks add up to {held}"
    )
    return values


async def test_event_survives_a_relay_killed_between_publish_and_mark(plumbing, isolation):
    settings, engine, sessions, producer = plumbing
    [event_id] = await write_events(sessions, 1)

    # A real relay process, SIGKILLed (os._exit) after the broker acknowledged the batch
    # and before the transaction that marks the row commits.
    script = textwrap.dedent(
        """
        import asyncio, os
        from halte_shared.bus import make_producer
        from halte_shared.db import make_engine, make_session_factory
        from halte_shared.outbox import OutboxRelay
        from halte_shared.settings import HalteSettings

        async def main():
            settings = HalteSettings()
            engine = make_engine(settings.database_url, schema=settings.schema_name)
            producer = make_producer(settings)
            await producer.start()
            relay = OutboxRelay(session_factory=make_session_factory(engine), producer=producer,
                                service="crashing", topic_prefix=settings.topic_prefix)
            async def crash():
                await producer.flush()
                os.kill(os.getpid(), 9)
            relay.after_publish_hook = crash
            await relay.publish_once()

        asyncio.run(main())
        """
    )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "HALTE_DB_SCHEMA": settings.schema_name,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "HALTE_TOPIC_PREFIX": settings.topic_prefix,
        "HALTE_ENV": "test",
    }
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], env=env, timeout=60)
    assert result.returncode == -9, "the relay process should have been killed mid-publish"

    async with sessions() as session:
        assert await outbox_backlog(session) == 1, "the row must still be unpublished after the crash"

    # A fresh relay publishes it again: the event is now on the topic twice.
    relay = OutboxRelay(session_factory=sessions, producer=producer, service="t", topic_prefix=settings.topic_prefix)
    assert await relay.publish_once() == 1
    async with sessions() as session:
        assert await outbox_backlog(session) == 0

    # A consumer with the inbox applies the effect once.
    handled: list[str] = []

    async def handler(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        handled.append(envelope.id)
        async with sessions() as session, session.begin():
            if await first_delivery(session, consumer="effects", event_id=envelope.id, delivery=delivery):
                await session.execute(text("INSERT INTO effects (event_id, n) VALUES (:id, 1)"), {"id": envelope.id})

    consumer = EventConsumer(
        settings=settings, group_id="effects", topics=["contact.requested"], handler=handler, producer=producer
    )
    await consumer.start()
    try:
        for _ in range(100):
            if len(handled) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
    assert handled == [event_id, event_id], "the event was delivered twice (published twice)"
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, n FROM effects"))).all()
    assert [tuple(r) for r in rows] == [(event_id, 1)], "the duplicate had no second effect"


async def test_poison_message_goes_to_the_dead_letter_topic_and_consumption_goes_on(plumbing):
    settings, engine, sessions, producer = plumbing
    await producer.send_and_wait(settings.topic("contact.requested"), key=b"+33612345678", value=b"{not json")
    good_ids = await write_events(sessions, 1)
    relay = OutboxRelay(session_factory=sessions, producer=producer, service="t", topic_prefix=settings.topic_prefix)
    await relay.publish_once()
    # A well-formed event that the handler keeps failing on (an unknown cause): retried, then parked too.
    failing = ContactRequested(**{**contact_request(99).model_dump(), "request_id": "always-fails"})
    async with sessions() as session, session.begin():
        await add_to_outbox(session, failing, key="+33612345678", producer="test", occurred_at=datetime.now(UTC))
    more_ids = await write_events(sessions, 1)
    await relay.publish_once()

    handled: list[str] = []

    async def handler(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        assert isinstance(payload, ContactRequested)
        if payload.request_id == "always-fails":
            raise RuntimeError("this event breaks the handler")
        handled.append(envelope.id)

    consumer = EventConsumer(
        settings=settings,
        group_id="dlq-test",
        topics=["contact.requested"],
        handler=handler,
        producer=producer,
        backoff_seconds=0.01,
    )
    await consumer.start()
    try:
        for _ in range(100):
            if len(handled) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
    assert handled == good_ids + more_ids, "consumption went on past both poison messages"

    parked = await read_topic(settings, "contact.requested.dlq", expect=2)
    assert len(parked) == 2
    assert parked[0] == b"{not json"
    _, payload = decode(parked[1])
    assert isinstance(payload, ContactRequested) and payload.request_id == "always-fails"


async def test_dead_letter_headers_name_the_error(plumbing):
    settings, engine, sessions, producer = plumbing
    await producer.send_and_wait(settings.topic("contact.requested"), value=b'{"id": "x"}')
    consumer = EventConsumer(
        settings=settings,
        group_id="dlq-headers",
        topics=["contact.requested"],
        handler=lambda *a: asyncio.sleep(0),
        producer=producer,
    )
    await consumer.start()
    reader = AIOKafkaConsumer(
        settings.topic("contact.requested.dlq"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await reader.start()
    try:
        record = await asyncio.wait_for(reader.getone(), timeout=20)
    finally:
        await reader.stop()
        await consumer.stop()
    headers = dict(record.headers)
    assert b"not an event envelope" in headers["halte-error"]
    assert headers["halte-error-class"] == b"message", "an undecodable message is parked at once"
    assert headers["halte-source-topic"] == b"contact.requested"


async def test_two_relays_never_lose_or_double_publish_a_row(plumbing):
    settings, engine, sessions, producer = plumbing
    ids = await write_events(sessions, 3000)
    second_producer = make_producer(settings)
    await second_producer.start()
    relays = [
        OutboxRelay(
            session_factory=sessions, producer=p, service="t", topic_prefix=settings.topic_prefix, batch_size=100
        )
        for p in (producer, second_producer)
    ]

    async def drain(relay: OutboxRelay) -> int:
        total = 0
        while (n := await relay.publish_once()) > 0:
            total += n
            await asyncio.sleep(0)
        return total

    try:
        counts = await asyncio.gather(*(drain(r) for r in relays))
    finally:
        await second_producer.stop()
    assert sum(counts) == 3000
    assert all(c > 0 for c in counts), f"both relays should have taken rows: {counts}"
    published = await read_topic(settings, "contact.requested", expect=3000)
    seen = [decode(v)[0].id for v in published]
    assert sorted(seen) == sorted(ids), "every row published exactly once"


async def test_outbox_republishes_what_a_restarted_memory_only_broker_forgot(isolation, embedded_broker_factory):
    from halte_shared.bus import ensure_topics

    broker = embedded_broker_factory()
    await migrate(isolation, PACKAGE, SERVICE)
    settings = isolation.settings(HalteSettings, service=SERVICE, KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers)
    await ensure_topics(broker.bootstrap_servers, prefix=settings.topic_prefix)
    engine = make_engine(settings.database_url, schema=settings.schema_name)
    sessions = make_session_factory(engine)
    producer = make_producer(settings)
    await producer.start()
    relay = OutboxRelay(
        session_factory=sessions,
        producer=producer,
        service="t",
        topic_prefix=settings.topic_prefix,
        bootstrap_servers=broker.bootstrap_servers,
        continuity_check_seconds=0.1,
    )
    try:
        ids = await write_events(sessions, 20)
        assert await relay.publish_once() == 20
        # Published, acknowledged, not consumed yet: then the broker restarts empty.
        broker.stop()
        broker.start()
        await ensure_topics(broker.bootstrap_servers, prefix=settings.topic_prefix)
        await relay.start()
        values = await read_topic(settings, "contact.requested", expect=20, timeout=30)
    finally:
        await relay.stop()
        await producer.stop()
        await engine.dispose()
    assert sorted(decode(v)[0].id for v in values) == sorted(ids), "every forgotten event came back"


async def test_batch_writers_match_the_single_row_ones(plumbing):
    from halte_shared.inbox import InboxEntry, first_deliveries
    from halte_shared.outbox import add_many_to_outbox

    settings, engine, sessions, producer = plumbing
    async with sessions() as session, session.begin():
        envelopes = await add_many_to_outbox(
            session,
            [(contact_request(n), "+33612345678") for n in range(3)],
            producer="test",
            occurred_at=datetime.now(UTC),
        )
        entries = [InboxEntry(e.id, "contact.requested", 0, n) for n, e in enumerate(envelopes)]
        assert await first_deliveries(session, consumer="batch", entries=entries) == {e.id for e in envelopes}
        assert await first_deliveries(session, consumer="batch", entries=entries) == set(), "a redelivery is seen"
        assert await outbox_backlog(session) == 3
    relay = OutboxRelay(session_factory=sessions, producer=producer, service="t", topic_prefix=settings.topic_prefix)
    assert await relay.publish_once() == 3
    published = await read_topic(settings, "contact.requested", expect=3)
    assert sorted(decode(v)[0].id for v in published) == sorted(e.id for e in envelopes)
