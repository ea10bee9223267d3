"""Fixtures of campaign-api's integration tests: the real app on real PostgreSQL and the real broker.

Each test gets its own schema and topic prefix (the ``isolation`` fixture), the service's
migrations and its runtime started through the FastAPI lifespan. The suppression service
and the dispatcher are ports of campaign-api: here they are small in-process
implementations (the cross-service path is the end-to-end suite's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from halte_campaign_api.adapters.ports import DispatchAnswer, ServiceUnavailable
from halte_campaign_api.config import Settings
from halte_campaign_api.entrypoints.http import create_app
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.events import DispatchRequested, Envelope, Payload, decode, encode, envelope_for
from halte_shared.testing import Isolation, migrate

ADMIN = {"Authorization": "Bearer test-admin-token"}
CONSENT = {
    "basis": "opt_in",
    "collected_at": "2025-06-01T10:00:00+02:00",
    "source": "website_form",
    "wording": "J'accepte de recevoir les offres par SMS",
}


@dataclass
class StubSuppression:
    """The suppression service's port: a set of suppressed numbers per account."""

    suppressed: dict[str, set[str]] = field(default_factory=dict)
    available: bool = True
    checks: int = 0
    reported: list[dict[str, str]] = field(default_factory=list)

    async def check(self, *, account_id: str, phones: list[str]) -> set[str]:
        self.checks += 1
        if not self.available:
            raise ServiceUnavailable("the suppression stub is down")
        return set(phones) & self.suppressed.get(account_id, set())

    async def record_optout(self, *, account_id: str, phone: str, channel: str) -> dict[str, Any]:
        if not self.available:
            raise ServiceUnavailable("the suppression stub is down")
        self.reported.append({"account_id": account_id, "phone": phone, "channel": channel})
        return {"recorded": True}


@dataclass
class StubDispatcher:
    """The dispatcher's port: answers a fixed decision and remembers the requests."""

    decision: str = "send"
    reason: str = "ok"
    available: bool = True
    requests: list[DispatchRequested] = field(default_factory=list)

    async def dispatch(self, request: DispatchRequested) -> DispatchAnswer:
        if not self.available:
            raise ServiceUnavailable("the dispatcher stub is down")
        self.requests.append(request)
        return DispatchAnswer(request_id=request.request_id, decision=self.decision, reason=self.reason)


@dataclass
class Service:
    settings: Settings
    app: Any
    http: httpx.AsyncClient
    suppression: StubSuppression
    dispatcher: StubDispatcher
    producer: AIOKafkaProducer
    lifespan: Any = None
    stopped: bool = False

    async def stop(self) -> None:
        """Stop the service as a shutdown would (consumers, relay, launcher, imports)."""
        if not self.stopped:
            self.stopped = True
            await self.http.aclose()
            await self.lifespan.__aexit__(None, None, None)

    @property
    def runtime(self) -> CampaignRuntime:
        runtime: CampaignRuntime = self.app.state.runtime
        return runtime

    async def publish(self, payload: Payload, *, key: str | None, event_id: str | None = None) -> Envelope:
        """Put an event on the broker as another service would."""
        envelope = envelope_for(payload, producer="test", occurred_at=datetime.now(UTC), event_id=event_id)
        await self.producer.send_and_wait(
            self.settings.topic(envelope.type), key=key.encode() if key else None, value=encode(envelope)
        )
        return envelope

    async def sql(self, query: str, **params: Any) -> list[Any]:
        async with self.runtime.sessions() as session:
            return list(await session.execute(text(query), params))

    async def scalar(self, query: str, **params: Any) -> Any:
        rows = await self.sql(query, **params)
        return rows[0][0] if rows else None

    async def account(self, *, short_code: str = "36111", mode: str = "marketing", credits: int = 1000, **extra: Any):
        """Create an account with credits; return (account id, headers with its key)."""
        response = await self.http.post(
            "/v1/accounts",
            headers=ADMIN,
            json={
                "name": "Boulangerie Dupont",
                "short_code": short_code,
                "mode": mode,
                "contact_info": "01 23 45 67 89",
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        if credits:
            topped = await self.http.post(
                f"/v1/accounts/{body['id']}/credits", headers=ADMIN, json={"amount": credits, "reason": "test"}
            )
            assert topped.status_code == 201, topped.text
        return body["id"], {"Authorization": f"Bearer {body['api_key']}"}

    async def contact(self, headers: dict[str, str], phone: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.put(f"/v1/contacts/{phone}", headers=headers, json={"consent": CONSENT, **fields})
        assert response.status_code in (200, 201), response.text
        return response.json()


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], *, what: str, timeout: float = 20.0
) -> Any:
    """Poll until check(probe()) holds, or fail after the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await probe()
        if check(value):
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: still {value!r} after {timeout} s")


async def read_topic(settings: Settings, topic: str, *, idle: float = 1.5, timeout: float = 30.0) -> list[Envelope]:
    """Read a topic from the start until nothing new arrives for ``idle`` seconds."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Envelope] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since = loop.time()
        while loop.time() < deadline and loop.time() - quiet_since < idle:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    found.append(decode(record.value or b"")[0])
                    quiet_since = loop.time()
    finally:
        await consumer.stop()
    return found


async def outbox_drained(service: Service) -> None:
    await eventually(
        lambda: service.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
        lambda n: n == 0,
        what="outbox backlog",
    )


async def _start(iso: Isolation, suppression: StubSuppression, dispatcher: StubDispatcher, **overrides: Any) -> Service:
    settings = iso.settings(Settings, service="campaign-api", HALTE_LAUNCHER_IDLE_SECONDS=0.2, **overrides)
    app = create_app(settings, suppression=suppression, dispatcher=dispatcher)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://campaign-api.test")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    return Service(settings, app, http, suppression, dispatcher, producer, lifespan)


@pytest.fixture
async def start(isolation: Isolation) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """Return a starter of the service for tests that stop and restart it (same schema and topics)."""
    await migrate(isolation, "halte_campaign_api", "campaign-api")
    services: list[Service] = []
    suppression = StubSuppression()
    dispatcher = StubDispatcher()

    async def starter(**overrides: Any) -> Service:
        started = await _start(isolation, suppression, dispatcher, **overrides)
        services.append(started)
        return started

    yield starter
    for started in reversed(services):
        await started.stop()
        await started.producer.stop()


@pytest.fixture(scope="module")
async def start_module(
    database_server_url: str, kafka_bootstrap: str
) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """Return a starter of services that run for a whole test module (their own schema and topics each)."""
    services: list[Service] = []

    async def starter(**overrides: Any) -> Service:
        iso = Isolation(database_server_url, kafka_bootstrap)
        await iso.create_topics()
        await migrate(iso, "halte_campaign_api", "campaign-api")
        started = await _start(iso, StubSuppression(), StubDispatcher(), **overrides)
        services.append(started)
        return started

    yield starter
    for started in reversed(services):
        await started.stop()
        await started.producer.stop()


@pytest.fixture(scope="session")
async def shared_service(database_server_url: str, kafka_bootstrap: str) -> AsyncIterator[Service]:
    """One running service for all of campaign-api's tests; they keep apart through their own accounts."""
    iso = Isolation(database_server_url, kafka_bootstrap)
    await iso.create_topics()
    await migrate(iso, "halte_campaign_api", "campaign-api")
    started = await _start(iso, StubSuppression(), StubDispatcher(), HALTE_SEND_BURST=1000, HALTE_IMPORT_BURST=100)
    yield started
    await started.stop()
    await started.producer.stop()


@pytest.fixture
async def service(shared_service: Service) -> Service:
    """The shared running service, with its stubbed ports reset."""
    shared_service.suppression.__init__()  # type: ignore[misc]
    shared_service.dispatcher.__init__()  # type: ignore[misc]
    return shared_service
