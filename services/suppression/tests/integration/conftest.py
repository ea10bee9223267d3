"""Fixtures of the suppression service's integration tests: the real service on real infrastructure.

A test module gets its own schema and topic prefix (an `Isolation`, as the `isolation`
fixture makes), the service's migrations, and the runtime started through its FastAPI
lifespan (bootstrap → consumers, relay, background loops), plus an HTTP client on the app
and a producer for events. The service is shared by the tests of a module because joining
consumer groups on the embedded broker takes seconds; each test keeps to its own accounts,
short codes and numbers (`fresh_phone`, `fresh_short_code`), so none sees another's rows.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from halte_shared.events import AccountChanged, Envelope, Payload, decode, encode, envelope_for
from halte_shared.testing import Isolation, migrate
from halte_suppression.bootstrap import SuppressionRuntime
from halte_suppression.config import Settings
from halte_suppression.entrypoints.http import create_app

ADMIN = {"Authorization": "Bearer test-admin-token"}
_numbers = itertools.count(random.Random().randrange(1_000_000, 8_000_000))
_codes = itertools.count(random.Random().randrange(100, 800))


def fresh_phone() -> str:
    """Return a valid French mobile number no other test of the session uses."""
    return f"+3361{next(_numbers):07d}"


def fresh_short_code() -> str:
    """Return a short code no other test of the session uses."""
    return f"36{next(_codes):03d}"


@dataclass
class Service:
    settings: Settings
    runtime: SuppressionRuntime
    http: httpx.AsyncClient
    producer: AIOKafkaProducer

    async def publish(self, payload: Payload, *, key: str | None, event_id: str | None = None) -> Envelope:
        """Put an event on the broker as another service would (its envelope, its topic)."""
        envelope = envelope_for(payload, producer="test", occurred_at=datetime.now(UTC), event_id=event_id)
        await self.publish_envelope(envelope, key=key)
        return envelope

    async def publish_envelope(self, envelope: Envelope, *, key: str | None) -> None:
        await self.producer.send_and_wait(
            self.settings.topic(envelope.type), key=key.encode() if key else None, value=encode(envelope)
        )

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.runtime.sessions() as session:
            return list(await session.execute(text(query), params))

    async def scalar(self, query: str, **params: Any) -> Any:
        rows = await self.sql(query, **params)
        return rows[0][0] if rows else None

    async def learn_account(
        self, account_id: str, *short_codes: str, allow_resubscribe: bool = False, changed_at: datetime | None = None
    ) -> None:
        """Publish an account.changed and wait until the service stored it."""
        await self.publish(
            AccountChanged(
                account_id=account_id,
                name=f"Shop {account_id}",
                mode="marketing",
                short_codes=list(short_codes),
                contact_info="contact@example.test",
                allow_resubscribe=allow_resubscribe,
                changed_at=changed_at or datetime.now(UTC),
            ),
            key=account_id,
        )
        await eventually(
            lambda: self.scalar("SELECT count(*) FROM account_short_codes WHERE account_id = :a", a=account_id),
            lambda n: n == len(short_codes),
            what=f"account {account_id} learned",
        )


async def eventually(
    probe: Callable[[], Awaitable[Any] | Any], accept: Callable[[Any], bool], *, what: str, timeout: float = 20.0
) -> Any:
    """Poll `probe` (sync or async) until `accept` holds, failing with `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if accept(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what} (last value: {value!r})")


async def read_events(
    settings: Settings,
    topic: str,
    *,
    expect: int,
    phones: set[str] | None = None,
    timeout: float = 20.0,
    linger: float = 0.5,
) -> list[tuple[Envelope, Payload]]:
    """Read a topic from the start until `expect` events (for `phones`) came, then a little longer for extras."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[tuple[Envelope, Payload]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def poll() -> None:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    envelope, payload = decode(record.value or b"")
                    if phones is None or getattr(payload, "phone", None) in phones:
                        events.append((envelope, payload))

        while len(events) < expect and loop.time() < deadline:
            await poll()
        end = loop.time() + linger
        while loop.time() < end:
            await poll()
    finally:
        await consumer.stop()
    return events


def make_settings(iso: Isolation, **overrides: Any) -> Settings:
    return iso.settings(Settings, service="suppression", HALTE_SUPPRESSION_METRICS_SECONDS=0.5, **overrides)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def service(database_server_url: str, kafka_bootstrap: str) -> AsyncIterator[Service]:
    isolation = Isolation(database_server_url, kafka_bootstrap)
    await isolation.create_topics()
    await migrate(isolation, "halte_suppression", "suppression")
    settings = make_settings(isolation)
    app = create_app(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=0)
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://suppression", headers=ADMIN) as http:
                yield Service(settings=settings, runtime=app.state.runtime, http=http, producer=producer)
    finally:
        await producer.stop()
