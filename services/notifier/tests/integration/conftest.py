"""Fixtures of the notifier's integration tests: the real carrier simulator, the service, the topics.

Starting the service costs seconds (joining three consumer groups), so the in-process
tests share one running notifier and one simulator (the ``world`` fixture); each test
works on its own account and its own phone numbers, and asserts only on those. The
crash tests run the service as real processes in worlds of their own.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from halte_notifier.bootstrap import NotifierRuntime, bootstrap
from halte_notifier.config import Settings
from halte_notifier.entrypoints.http import router
from halte_shared.carriers.testing import RunningSimulator, run_simulator
from halte_shared.db import make_engine
from halte_shared.events import (
    AccountChanged,
    ContactRequested,
    Envelope,
    OptoutRecorded,
    Payload,
    decode,
    encode,
    envelope_for,
)
from halte_shared.testing import Isolation, migrate
from halte_shared.web import create_service_app

ADMIN = {"Authorization": "Bearer test-admin-token"}
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
_numbers = itertools.count(random.randrange(10_000_000, 80_000_000))
_MIGRATING = asyncio.Lock()


def french_mobile() -> str:
    """Return a French mobile number no other test of this session uses."""
    return f"+336{next(_numbers):08d}"


def new_account_id() -> str:
    return f"acc-{next(_numbers)}"


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll `check` until it returns a truthy value, or fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {last!r})")


def notifier_settings(iso: Isolation, **overrides: Any) -> Settings:
    """Return the notifier's settings for a test: fast retries, short leases, test mode."""
    values: dict[str, Any] = {
        "HALTE_TEST_MODE": True,
        "HALTE_NOTIFIER_LEASE_SECONDS": 2,
        "HALTE_NOTIFIER_RETRY_FIRST_DELAY_SECONDS": 0.2,
        "HALTE_NOTIFIER_RETRY_MAX_DELAY_SECONDS": 0.5,
        "HALTE_NOTIFIER_POLL_SECONDS": 0.2,
    }
    values.update(overrides)
    settings: Settings = iso.settings(Settings, service="notifier", **values)
    return settings


@dataclass
class Env:
    """One isolated world: schema and topics, the simulator, a producer, the notifier's database."""

    iso: Isolation
    sim: RunningSimulator
    producer: AIOKafkaProducer
    engine: AsyncEngine
    runtime: NotifierRuntime | None = None

    async def publish(self, payload: Payload, *, key: str, envelope: Envelope | None = None) -> Envelope:
        """Put an event on its topic as another service's outbox relay would."""
        envelope = envelope or envelope_for(payload, producer="test", occurred_at=datetime.now(UTC))
        await self.producer.send_and_wait(
            f"{self.iso.topic_prefix}{envelope.type}", key=key.encode(), value=encode(envelope)
        )
        return envelope

    async def scalar(self, sql: str, **params: Any) -> Any:
        """Run one query in the notifier's schema; return the first column of the first row."""
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def sent_to(self, phone: str) -> list[dict[str, Any]]:
        """Return what reached this phone at the carrier simulator."""
        return list((await self.sim.messages(to=phone))["messages"])

    async def topic(self, topic: str, *, linger: float = 1.0) -> list[Envelope]:
        """Return every event on a topic so far (waiting `linger` seconds for late ones)."""
        consumer = AIOKafkaConsumer(
            f"{self.iso.topic_prefix}{topic}",
            bootstrap_servers=self.iso.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[Envelope] = []
        try:
            deadline = asyncio.get_running_loop().time() + linger
            while asyncio.get_running_loop().time() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend(decode(r.value)[0] for r in records)
        finally:
            await consumer.stop()
        return found

    def http(self) -> httpx.AsyncClient:
        """Return a client of the running notifier's HTTP API (same routes, same runtime)."""
        assert self.runtime is not None
        app = create_service_app(
            title="notifier under test", runtime_factory=lambda: self.runtime, routers=[router], test_mode=True
        )
        app.state.runtime = self.runtime
        return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notifier")


@asynccontextmanager
async def isolated_env(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Env]:
    """Create a fresh schema, topic prefix and simulator; yield them as an Env."""
    iso = Isolation(database_url, kafka_bootstrap)
    await iso.create_topics()
    # Alembic keeps its migration context in module globals: one migration at a time.
    async with _MIGRATING:
        await migrate(iso, "halte_notifier", "notifier")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    engine = make_engine(database_url, schema=iso.schema("notifier"), pool_size=2)
    try:
        async with run_simulator(database_url=database_url, schema=iso.schema("carrier_sim")) as sim:
            yield Env(iso=iso, sim=sim, producer=producer, engine=engine)
    finally:
        await producer.stop()
        await engine.dispose()


@pytest.fixture(scope="session")
async def world(database_server_url: str, kafka_bootstrap: str) -> AsyncIterator[Env]:
    """A world whose notifier runs in this process for every in-process test (max 3 tries)."""
    async with isolated_env(database_server_url, kafka_bootstrap) as env:
        settings = notifier_settings(env.iso, HALTE_CARRIER_SIM_URL=env.sim.url, HALTE_NOTIFIER_MAX_TRIES=3)
        env.runtime = bootstrap(settings)
        await env.runtime.start()
        try:
            yield env
        finally:
            await env.runtime.stop()


def account_changed(account_id: str, **overrides: Any) -> AccountChanged:
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": "Boulangerie Martin",
        "mode": "marketing",
        "short_codes": ["36111"],
        "contact_info": "01 23 45 67 89",
        "changed_at": T0,
    }
    values.update(overrides)
    return AccountChanged(**values)


def optout(optout_id: str, *, account_id: str, phone: str, **overrides: Any) -> OptoutRecorded:
    values: dict[str, Any] = {
        "optout_id": optout_id,
        "account_id": account_id,
        "phone": phone,
        "channel": "sms",
        "short_code": "36111",
        "raw_text": "STOP",
        "received_at": T0,
        "recorded_at": T0,
        "confirmation_due": True,
        "source_event_id": f"src-{optout_id}",
        "sequence": 1,
    }
    values.update(overrides)
    return OptoutRecorded(**values)


def contact(request_id: str, *, account_id: str, phone: str) -> ContactRequested:
    return ContactRequested(
        request_id=request_id,
        account_id=account_id,
        phone=phone,
        short_code="36111",
        raw_text="CONTACT",
        carrier="sim",
        received_at=T0,
    )
