"""A consumer killed between the database commit and the offset commit causes no duplicate.

The service runs as a real process (bootstrap, consumers, relay) that receives a STOP,
commits its unit of work and is SIGKILLed at once, before the consumer loop can commit the
offset. A restarted service is handed the same event again by the broker: the inbox row
written with the suppression makes it a no-op, so there is still one suppression, one piece
of evidence and, once the outbox is relayed, one optout.recorded.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import text

from halte_shared.events import OptoutRecorded, OptoutRequested, encode, envelope_for
from halte_shared.testing import Isolation, migrate
from halte_suppression.entrypoints.http import create_app

from .conftest import eventually, fresh_phone, make_settings, read_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CRASHING_SERVICE = textwrap.dedent(
    """
    import asyncio, os, signal
    import halte_shared.bus as bus
    from halte_suppression.bootstrap import bootstrap
    from halte_suppression.config import Settings

    # A killed member keeps its place in the group until its session times out; a short
    # session lets the restarted service take over in seconds rather than in ten.
    RealConsumer = bus.AIOKafkaConsumer

    def short_session_consumer(*topics, **options):
        options.update(session_timeout_ms=3000, heartbeat_interval_ms=500)
        return RealConsumer(*topics, **options)

    bus.AIOKafkaConsumer = short_session_consumer

    async def main():
        runtime = bootstrap(Settings())

        async def hold_back():
            return 0

        async def crash():
            os.kill(os.getpid(), signal.SIGKILL)

        # The relay is held back so the outcome does not hang on whether it won a race with
        # the kill; the crash comes right after the handler's commit, before the offset commit.
        runtime.relay.publish_once = hold_back
        runtime.handlers.after_commit_hook = crash
        await runtime.start()
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_a_crash_between_database_commit_and_offset_commit_causes_no_duplicate(isolation: Isolation):
    await migrate(isolation, "halte_suppression", "suppression")
    settings = make_settings(isolation)
    phone = fresh_phone()
    stop = OptoutRequested(
        request_id="web:crash-1",
        channel="web",
        phone=phone,
        account_id="acc-crash",
        raw_text=None,
        received_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )
    envelope = envelope_for(stop, producer="test", occurred_at=datetime.now(UTC))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic("optout.requested"), key=phone.encode(), value=encode(envelope))
    finally:
        await producer.stop()

    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "HALTE_DB_SCHEMA": settings.schema_name,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "HALTE_TOPIC_PREFIX": settings.topic_prefix,
        "HALTE_ENV": "test",
        "ADMIN_TOKEN": "test-admin-token",
    }
    crashed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CRASHING_SERVICE], env=env, timeout=90, capture_output=True
    )
    assert crashed.returncode == -9, f"the service should have been killed after its commit: {crashed.stdout[-2000:]!r}"

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime

        async def count(query: str) -> int:
            async with runtime.sessions() as session:
                return int((await session.execute(text(query), {"p": phone})).scalar_one())

        assert await count("SELECT count(*) FROM suppressions WHERE phone = :p AND active") == 1, "committed before"
        before = REGISTRY.get_sample_value("halte_suppression_duplicates_total", {"kind": "event"}) or 0.0
        await eventually(
            lambda: REGISTRY.get_sample_value("halte_suppression_duplicates_total", {"kind": "event"}) or 0.0,
            lambda n: n - before >= 1,
            what="the broker redelivered the event whose offset was never committed",
            timeout=45,
        )
        recorded = await read_events(settings, "optout.recorded", expect=1, phones={phone}, linger=1.5)
        assert [(type(p), p.account_id) for _, p in recorded] == [(OptoutRecorded, "acc-crash")]
        assert await count("SELECT count(*) FROM suppressions WHERE phone = :p") == 1
        assert await count("SELECT count(*) FROM optout_evidence WHERE phone = :p") == 1
        assert await count("SELECT count(*) FROM suppression_changes WHERE phone = :p") == 1
        assert await count("SELECT count(*) FROM outbox WHERE topic = 'optout.recorded' AND key = :p") == 1
