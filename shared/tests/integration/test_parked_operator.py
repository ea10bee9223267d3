"""The operator endpoints of parked events, through create_service_app on real PostgreSQL and the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from halte_shared.bus import Delivery, make_producer
from halte_shared.events import ContactRequested, Envelope, Payload, encode, envelope_for
from halte_shared.failures import MessageRejected
from halte_shared.inbox import first_delivery
from halte_shared.parked import ParkedEvent
from halte_shared.runtime import ServiceRuntime
from halte_shared.settings import HalteSettings
from halte_shared.testing import Isolation, migrate
from halte_shared.web import create_service_app

pytestmark = pytest.mark.integration

SERVICE = "suppression"  # any service: only its plumbing tables are used here
PACKAGE = "halte_suppression"
TOPIC = "contact.requested"
GROUP = "contacts"
ADMIN = {"Authorization": "Bearer test-admin-token"}


def contact_request(name: str) -> ContactRequested:
    return ContactRequested(
        request_id=name,
        account_id="acc-1",
        phone="+33612345678",
        short_code="36111",
        raw_text="CONTACT",
        carrier="sim",
        received_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    )


class Service:
    """A runtime whose one consumer refuses the requests named in ``refused``."""

    def __init__(self, settings: HalteSettings) -> None:
        self.settings = settings
        self.refused: set[str] = set()
        self.runtime = ServiceRuntime(settings)
        self.runtime.add_consumer(
            group=GROUP, topics=[TOPIC], handler=self.handle, on_park=self.on_park, on_discard=self.on_discard
        )

    async def handle(self, envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        assert isinstance(payload, ContactRequested)
        if payload.request_id in self.refused:
            raise MessageRejected(f"request {payload.request_id} is refused")
        async with self.runtime.sessions() as session, session.begin():
            if await first_delivery(session, consumer=GROUP, event_id=envelope.id, delivery=delivery):
                await session.execute(text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": envelope.id})

    async def on_park(self, session: AsyncSession, parked: ParkedEvent) -> None:
        await session.execute(text("INSERT INTO hook_calls VALUES ('park', :id)"), {"id": parked.id})

    async def on_discard(self, session: AsyncSession, parked: ParkedEvent) -> None:
        assert parked.state == "discarded"
        await session.execute(text("INSERT INTO hook_calls VALUES ('discard', :id)"), {"id": parked.id})


@pytest.fixture
async def service(isolation: Isolation) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    await migrate(isolation, PACKAGE, SERVICE)
    settings = isolation.settings(HalteSettings, service=SERVICE)
    svc = Service(settings)
    async with svc.runtime.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id text PRIMARY KEY)"))
        await conn.execute(text("CREATE TABLE hook_calls (hook text NOT NULL, parked_id bigint NOT NULL)"))
    app = create_service_app(title="Halte test", runtime_factory=lambda: svc.runtime, routers=[], test_mode=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client,
    ):
        yield svc, client


async def publish(settings: HalteSettings, *payloads: Payload) -> list[str]:
    producer = make_producer(settings)
    await producer.start()
    try:
        ids = []
        for payload in payloads:
            envelope = envelope_for(payload, producer="test", occurred_at=datetime.now(UTC))
            await producer.send_and_wait(settings.topic(TOPIC), key=b"+33612345678", value=encode(envelope))
            ids.append(envelope.id)
        return ids
    finally:
        await producer.stop()


async def until_parked(client: httpx.AsyncClient, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = (await client.get("/v1/operator/parked", headers=ADMIN)).json()["items"]
        if len(items) >= count:
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} parked events after 30 s")


async def rows(svc: Service, query: str) -> list[tuple]:
    async with svc.runtime.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(query))).all()]


async def test_an_operator_lists_replays_and_discards_parked_events(service):
    svc, client = service
    svc.refused = {"first", "second"}
    first_id, second_id = await publish(svc.settings, contact_request("first"), contact_request("second"))

    first, second = await until_parked(client, 2)
    assert (first["event_id"], second["event_id"]) == (first_id, second_id)
    assert first["state"] == "parked" and first["consumer_group"] == GROUP and first["topic"] == TOPIC
    assert first["error_class"] == "message"
    assert first["error"] == "the handler refused the event (MessageRejected: request first is refused)"
    assert first["key"] == "+33612345678"
    assert await rows(svc, "SELECT hook, parked_id FROM hook_calls ORDER BY parked_id") == [
        ("park", first["id"]),
        ("park", second["id"]),
    ]

    # Replayed while the cause is still there: it stays parked, and the answer says why.
    answer = await client.post(f"/v1/operator/parked/{first['id']}/replay", headers=ADMIN)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "replay_failed"
    assert "request first is refused" in answer.json()["error"]["message"]
    assert (await client.get(f"/v1/operator/parked/{first['id']}", headers=ADMIN)).json()["state"] == "parked"

    # The cause fixed, the replay succeeds: handled once, marked replayed.
    svc.refused = {"second"}
    answer = await client.post(f"/v1/operator/parked/{first['id']}/replay", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "replayed" and answer.json()["resolved_at"]
    assert await rows(svc, "SELECT event_id FROM effects") == [(first_id,)]
    again = await client.post(f"/v1/operator/parked/{first['id']}/replay", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_resolved"

    # Discarded with a note, and the service's hook runs with it.
    assert (await client.post(f"/v1/operator/parked/{second['id']}/discard", headers=ADMIN, json={})).status_code == 422
    answer = await client.post(
        f"/v1/operator/parked/{second['id']}/discard", headers=ADMIN, json={"note": "test request, not a real one"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "discarded"
    assert answer.json()["resolution_note"] == "test request, not a real one"
    assert ("discard", second["id"]) in await rows(svc, "SELECT hook, parked_id FROM hook_calls")

    assert (await client.get("/v1/operator/parked", headers=ADMIN)).json()["items"] == []
    everything = (await client.get("/v1/operator/parked?state=all", headers=ADMIN)).json()["items"]
    assert [(p["id"], p["state"]) for p in everything] == [(first["id"], "replayed"), (second["id"], "discarded")]
    replayed = (await client.get("/v1/operator/parked?state=replayed&limit=1", headers=ADMIN)).json()["items"]
    assert [p["id"] for p in replayed] == [first["id"]]


async def test_the_operator_endpoints_need_the_operator_token_and_refuse_what_cannot_be(service):
    svc, client = service
    assert (await client.get("/v1/operator/parked")).status_code == 401
    assert (await client.post("/v1/operator/parked/1/replay")).status_code == 401
    assert (await client.post("/v1/operator/parked/1/discard", json={"note": "x"})).status_code == 401
    missing = await client.post("/v1/operator/parked/424242/replay", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert (await client.get("/v1/operator/parked?limit=0", headers=ADMIN)).status_code == 422
    assert (await client.get("/v1/operator/parked?state=lost", headers=ADMIN)).status_code == 422
    # An id beyond PostgreSQL's bigint is refused by name, not sent to the database.
    for method, path in (("GET", ""), ("POST", "/replay"), ("POST", "/discard")):
        huge = await client.request(
            method,
            f"/v1/operator/parked/{2**63}{path}",
            headers=ADMIN,
            json={"note": "x"} if "discard" in path else None,
        )
        assert huge.status_code == 422 and huge.json()["error"]["field"] == "parked_id", huge.text


async def test_a_replay_of_a_group_no_consumer_runs_is_refused(service):
    svc, client = service
    svc.refused = {"orphan"}
    await publish(svc.settings, contact_request("orphan"))
    [parked] = await until_parked(client, 1)
    async with svc.runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE parked_events SET consumer_group = 'renamed-group'"))
    answer = await client.post(f"/v1/operator/parked/{parked['id']}/replay", headers=ADMIN)
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "no_consumer"
    # Discarding needs no consumer: the note closes it (without a hook to call).
    answer = await client.post(f"/v1/operator/parked/{parked['id']}/discard", headers=ADMIN, json={"note": "gone"})
    assert answer.status_code == 200
