"""An opt-out is never dead-lettered for the infrastructure, and a poison one keeps its number blocked.

On the real broker and PostgreSQL: the database refuses the opt-out consumer's statements for a
while (its table renamed away, then its connections terminated in a loop), and events that
cannot be processed (an unknown version, an unusable number) are parked, announced as pending on
the change feed, and resolved only by an operator.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY

from halte_shared.db import libpq_url
from halte_suppression.entrypoints.consumers import OPTOUT_GROUP

from .conftest import Service, eventually, fresh_phone, fresh_short_code
from .test_consumers import stop

pytestmark = pytest.mark.integration


def group_of(service: Service) -> str:
    """Return the consumer group's name on the broker (metrics and readiness use it)."""
    return f"{service.settings.topic_prefix}{OPTOUT_GROUP}"


async def dead_letters(service: Service, *, phones: set[str], timeout: float = 3.0) -> list[bytes]:
    """Return the messages of optout.requested's dead-letter topic that concern these numbers."""
    consumer = AIOKafkaConsumer(
        service.settings.topic("optout.requested.dlq"),
        bootstrap_servers=service.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(r.value for r in records if r.key and r.key.decode() in phones)
    finally:
        await consumer.stop()
    return found


async def suppressed(service: Service, account_id: str, phone: str) -> bool:
    value = await service.scalar(
        "SELECT active FROM suppressions WHERE account_id = :a AND phone = :p", a=account_id, p=phone
    )
    return bool(value)


async def feed_rows(service: Service, *, request_id: str) -> list[dict]:
    feed = (await service.http.get("/v1/feed", params={"after": 0, "limit": 10_000})).json()
    return [c for c in feed["changes"] if c["request_id"] == request_id]


def retries(service: Service, failure_class: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "halte_consumer_retries_total",
            {"group": group_of(service), "topic": "optout.requested", "class": failure_class},
        )
        or 0.0
    )


async def test_a_missing_table_stalls_the_optout_consumer_visibly_and_the_stop_is_recorded_after(service: Service):
    code, phone = fresh_short_code(), fresh_phone()
    account_id = f"acc-{code}"
    await service.learn_account(account_id, code)
    before = retries(service, "infrastructure")
    async with service.runtime.engine.begin() as connection:
        await connection.exec_driver_sql("ALTER TABLE processed_requests RENAME TO processed_requests_away")
    try:
        await service.publish(stop(phone, code), key=phone)
        await eventually(lambda: retries(service, "infrastructure"), lambda n: n >= before + 2, what="retries")
        ready = (await service.http.get("/readyz")).json()
        assert ready["status"] == "not_ready"
        sentence = ready["checks"][f"consumer:{group_of(service)}"]
        assert sentence.startswith("stalled for") and "optout.requested" in sentence, sentence
        assert not await suppressed(service, account_id, phone)
    finally:
        async with service.runtime.engine.begin() as connection:
            await connection.exec_driver_sql("ALTER TABLE processed_requests_away RENAME TO processed_requests")
    await eventually(
        lambda: suppressed(service, account_id, phone), bool, what="the STOP recorded once the table is back"
    )
    await eventually(
        lambda: service.http.get("/readyz"), lambda r: r.status_code == 200, what="the service ready again"
    )
    assert await dead_letters(service, phones={phone}) == []
    parked = (await service.http.get("/v1/operator/parked", params={"state": "all"})).json()["items"]
    assert [p for p in parked if p["key"] == phone] == []


async def test_connections_terminated_in_a_loop_lose_no_stop_and_park_none(service: Service):
    code = fresh_short_code()
    account_id = f"acc-{code}"
    await service.learn_account(account_id, code)
    phones = [fresh_phone() for _ in range(10)]
    admin = await asyncpg.connect(libpq_url(service.settings.database_url))
    stop_killing = asyncio.Event()

    async def kill_connections() -> None:
        while not stop_killing.is_set():
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND pid <> pg_backend_pid()",
                service.settings.service_name,
            )
            await asyncio.sleep(0.03)

    killer = asyncio.create_task(kill_connections())
    try:
        for phone in phones:
            await service.publish(stop(phone, code), key=phone)
        await asyncio.sleep(3)
    finally:
        stop_killing.set()
        await killer
        await admin.close()
    for phone in phones:
        await eventually(lambda p=phone: suppressed(service, account_id, p), bool, what=f"{phone} recorded")
    assert await dead_letters(service, phones=set(phones)) == []
    parked = (await service.http.get("/v1/operator/parked", params={"state": "all"})).json()["items"]
    assert [p for p in parked if p["key"] in phones] == []


async def test_a_poison_optout_keeps_its_number_blocked_until_an_operator_discards_it(service: Service):
    code, phone = fresh_short_code(), fresh_phone()
    await service.learn_account(f"acc-{code}", code)
    request_id = f"sim:{uuid.uuid4()}"
    # A newer producer's version this build cannot read: the envelope is refused by the decoder.
    envelope = {
        "id": str(uuid.uuid4()),
        "type": "optout.requested",
        "version": 99,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "inbound",
        "payload": {"request_id": request_id, "channel": "sms", "phone": phone, "short_code": code, "new": 1},
    }
    await service.producer.send_and_wait(
        service.settings.topic("optout.requested"), key=phone.encode(), value=json.dumps(envelope).encode()
    )
    [pending] = await eventually(
        lambda: feed_rows(service, request_id=request_id), lambda rows: len(rows) == 1, what="the pending row"
    )
    assert (pending["action"], pending["phone"], pending["short_code"]) == ("pending", phone, code)
    assert len(await dead_letters(service, phones={phone})) == 1, "the contract's dead-letter topic has it too"
    [parked] = [
        p
        for p in (await service.http.get("/v1/operator/parked")).json()["items"]
        if p["key"] == phone and p["consumer_group"] == OPTOUT_GROUP
    ]
    assert parked["error_class"] == "message" and parked["state"] == "parked"

    discarded = await service.http.post(
        f"/v1/operator/parked/{parked['id']}/discard", json={"note": "version 99 read by hand: a test STOP"}
    )
    assert discarded.status_code == 200, discarded.text
    rows = await feed_rows(service, request_id=request_id)
    assert [r["action"] for r in rows] == ["pending", "resolve"]


async def test_an_optout_whose_number_cannot_be_used_is_parked_at_once(service: Service):
    code = fresh_short_code()
    await service.learn_account(f"acc-{code}", code)
    before = retries(service, "unknown")
    bad = stop("+99912345678", code)  # the E.164 shape, no such country
    await service.publish(bad, key="+99912345678")
    items = await eventually(
        lambda: service.http.get("/v1/operator/parked"),
        lambda r: any(p["key"] == "+99912345678" for p in r.json()["items"]),
        what="the event parked",
    )
    [parked] = [p for p in items.json()["items"] if p["key"] == "+99912345678"]
    assert parked["error_class"] == "message", parked
    assert retries(service, "unknown") == before, "a message's own defect is not retried"
