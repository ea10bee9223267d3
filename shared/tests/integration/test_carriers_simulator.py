"""The carrier simulator as a real HTTP service on real PostgreSQL, driven through SimulatorAdapter."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest

from halte_shared.carriers.base import CarrierPermanentError, CarrierTemporaryError, OutboundSms
from halte_shared.carriers.routing import CarrierRouter, RetryPolicy, RouteTable
from halte_shared.carriers.sim_adapter import SimulatorAdapter
from halte_shared.carriers.testing import (
    TEST_ADMIN_TOKEN,
    TEST_SIM_SECRET,
    run_receiver,
    run_simulator,
)
from halte_shared.infra import free_port
from halte_shared.testing import Isolation

pytestmark = pytest.mark.integration

PHONE = "+33612345678"


def sms(message_id: str | None = None, *, to: str = PHONE, text: str = "Votre code: 1234") -> OutboundSms:
    return OutboundSms(message_id=message_id or f"m-{uuid.uuid4().hex}", to=to, sender="36111", text=text)


def schema(iso: Isolation) -> str:
    return iso.schema("carrier_sim")


async def test_the_same_message_id_submitted_five_times_is_one_message(isolation: Isolation) -> None:
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation)) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        message = sms("optout-confirmation:abc")
        try:
            first = await adapter.submit(message)
            sequential = [await adapter.submit(message) for _ in range(2)]
            concurrent = await asyncio.gather(adapter.submit(message), adapter.submit(message))
        finally:
            await adapter.close()
        assert first.accepted and not first.duplicate
        assert all(r.duplicate and r.carrier_message_id == first.carrier_message_id for r in sequential + concurrent)
        listing = await sim.messages(message_id="optout-confirmation:abc")
        assert listing["count"] == 1
        assert listing["counts"] == {"messages": 1, "submissions": 5, "duplicates": 4}
        assert listing["messages"][0]["carrier_message_id"] == first.carrier_message_id


async def test_messages_survive_a_restart_of_the_simulator(isolation: Isolation) -> None:
    port = free_port()
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation), port=port) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        first = await adapter.submit(sms("durable-1"))
        await adapter.close()
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation), port=port) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        again = await adapter.submit(sms("durable-1"))
        await adapter.close()
        assert again.duplicate and again.carrier_message_id == first.carrier_message_id
        assert (await sim.messages())["count"] == 1


async def test_a_reused_key_with_another_text_is_refused_and_changes_nothing(isolation: Isolation) -> None:
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation)) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        await adapter.submit(sms("key-1", text="first"))
        with pytest.raises(CarrierPermanentError) as refused:
            await adapter.submit(sms("key-1", text="second"))
        await adapter.close()
        assert refused.value.code == "idempotency_key_reused"
        listing = await sim.messages()
        assert listing["count"] == 1 and listing["messages"][0]["text"] == "first"
        assert listing["counts"]["submissions"] == 1


async def test_injected_failures_are_temporary_throttled_or_permanent(isolation: Isolation) -> None:
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation)) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        await sim.control(fail_temporary=1, throttle=1, fail_permanent=1)
        with pytest.raises(CarrierTemporaryError) as unavailable:
            await adapter.submit(sms())
        with pytest.raises(CarrierTemporaryError) as throttled:
            await adapter.submit(sms())
        with pytest.raises(CarrierPermanentError) as rejected:
            await adapter.submit(sms())
        accepted = await adapter.submit(sms())
        await adapter.close()
        assert not unavailable.value.throttled and not unavailable.value.outcome_unknown
        assert throttled.value.throttled
        assert rejected.value.code == "rejected"
        assert accepted.accepted
        state = await sim.control()
        assert state["refused"] == {"temporary": 1, "throttled": 1, "permanent": 1}
        assert (await sim.messages())["count"] == 1


async def test_the_router_retries_temporary_failures_until_the_simulator_accepts(isolation: Isolation) -> None:
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation)) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        router = CarrierRouter(
            {"sim": adapter}, RouteTable(default="sim"), retry=RetryPolicy(max_attempts=4, base_delay=0.01)
        )
        await sim.control(fail_temporary=2)
        result = await router.submit(sms("retry-1"))
        await sim.control(fail_temporary=10)
        exhausted = await router.submit(sms("retry-2"))
        await router.close()
        assert result.accepted and result.attempts == 3
        assert not exhausted.accepted and exhausted.retryable and exhausted.attempts == 4
        assert (await sim.messages())["count"] == 1


async def test_a_delivery_report_reaches_inbound_signed(isolation: Isolation) -> None:
    async with (
        run_receiver() as (inbound, receiver),
        run_simulator(database_url=isolation.database_url, schema=schema(isolation), inbound_url=inbound) as sim,
    ):
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        await sim.control(dlr_failed_for=["+33699999999"])
        delivered = await adapter.submit(sms("dlr-ok"))
        failed = await adapter.submit(sms("dlr-ko", to="+33699999999"))
        await adapter.close()
        reports = await receiver.wait_for("/v1/carriers/sim/dlr", 2)
        by_id = {r.body["our_message_id"]: r for r in reports}
        assert all(r.signature_ok for r in reports), [r.signature_error for r in reports]
        assert by_id["dlr-ok"].body["status"] == "delivered"
        assert by_id["dlr-ok"].body["message_id"] == delivered.carrier_message_id
        assert by_id["dlr-ok"].body["to"] == PHONE
        assert by_id["dlr-ko"].body["status"] == "failed"
        assert by_id["dlr-ko"].body["message_id"] == failed.carrier_message_id
        assert set(by_id["dlr-ok"].body) == {"message_id", "our_message_id", "status", "to", "reported_at"}


async def test_a_delivery_report_is_retried_while_inbound_is_down(isolation: Isolation) -> None:
    async with (
        run_receiver() as (inbound, receiver),
        run_simulator(database_url=isolation.database_url, schema=schema(isolation), inbound_url=inbound) as sim,
    ):
        receiver.fail_next = 2
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        result = await adapter.submit(sms("dlr-retry"))
        await adapter.close()
        assert result.accepted  # a report problem never fails the submission
        [report] = await receiver.wait_for("/v1/carriers/sim/dlr")
        assert report.signature_ok
        await _until(lambda: _dlr_state(sim, "dlr-retry"), "sent")
        assert (await sim.messages(message_id="dlr-retry"))["messages"][0]["dlr_attempts"] == 3


async def test_a_report_left_pending_by_a_stop_is_sent_after_the_restart(isolation: Isolation) -> None:
    port = free_port()
    async with run_receiver() as (inbound, receiver):
        async with run_simulator(
            database_url=isolation.database_url, schema=schema(isolation), inbound_url=inbound, port=port
        ) as sim:
            await sim.control(dlr_delay_ms=60_000)
            adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
            await adapter.submit(sms("dlr-resumed"))
            await adapter.close()
        assert receiver.on("/v1/carriers/sim/dlr") == []
        async with run_simulator(
            database_url=isolation.database_url, schema=schema(isolation), inbound_url=inbound, port=port
        ):
            [report] = await receiver.wait_for("/v1/carriers/sim/dlr")
        assert report.body["our_message_id"] == "dlr-resumed"


async def test_an_unreachable_inbound_never_fails_a_submission(isolation: Isolation) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with run_simulator(
        database_url=isolation.database_url,
        schema=schema(isolation),
        inbound_url=dead,
        HALTE_CARRIER_SIM_DLR_ATTEMPTS=2,
    ) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        result = await adapter.submit(sms("dlr-nowhere"))
        await adapter.close()
        assert result.accepted
        await _until(lambda: _dlr_state(sim, "dlr-nowhere"), "gave_up")


async def test_an_injected_reply_reaches_inbound_signed(isolation: Isolation) -> None:
    async with (
        run_receiver() as (inbound, receiver),
        run_simulator(database_url=isolation.database_url, schema=schema(isolation), inbound_url=inbound) as sim,
    ):
        answer = await sim.inject_mo(**{"from": PHONE, "to": "36111", "text": "STOP"})
        again = await sim.inject_mo(
            **{"from": PHONE, "to": "36111", "text": "STOP", "message_id": answer["message_id"]}
        )
        [first, second] = await receiver.wait_for("/v1/carriers/sim/mo", 2)
        assert answer["delivered"] and answer["inbound_status"] == 200
        assert again["message_id"] == answer["message_id"]
        assert first.signature_ok and second.signature_ok
        assert first.body["from"] == PHONE and first.body["to"] == "36111" and first.body["text"] == "STOP"
        assert set(first.body) == {"message_id", "from", "to", "text", "received_at"}
        assert first.body["message_id"] == second.body["message_id"]


async def test_bad_requests_get_precise_errors_and_change_nothing(isolation: Isolation) -> None:
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation)) as sim:
        good = {"message_id": "x-1", "to": PHONE, "sender": "36111", "text": "hello"}
        async with httpx.AsyncClient(base_url=sim.url) as client:
            no_secret = await client.post("/v1/messages", json=good)
            wrong_secret = await client.post("/v1/messages", json=good, headers={"Authorization": "Bearer nope"})
            auth = {"Authorization": f"Bearer {TEST_SIM_SECRET}"}
            bad_phone = await client.post("/v1/messages", json={**good, "to": "0612"}, headers=auth)
            unknown_field = await client.post("/v1/messages", json={**good, "colour": "red"}, headers=auth)
            bad_key = await client.post("/v1/messages", json={**good, "message_id": "a b"}, headers=auth)
            listing_without_token = await client.get("/v1/messages")
            listing_with_sim_secret = await client.get("/v1/messages", headers=auth)
            control_bad = await client.post(
                "/v1/control", json={"fail_temporary": -1}, headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
            )
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
        assert no_secret.status_code == wrong_secret.status_code == 401
        assert no_secret.json()["error"]["code"] == "unauthorized"
        assert bad_phone.status_code == 422 and bad_phone.json()["error"]["field"] == "to"
        assert unknown_field.status_code == 422 and unknown_field.json()["error"]["code"] == "unknown_field"
        assert bad_key.status_code == 422 and bad_key.json()["error"]["field"] == "message_id"
        assert listing_without_token.status_code == listing_with_sim_secret.status_code == 401
        assert control_bad.status_code == 422 and control_bad.json()["error"]["field"] == "fail_temporary"
        assert health.status_code == 200 and ready.status_code == 200
        assert (await sim.messages())["count"] == 0


async def test_listing_filters_by_number(isolation: Isolation) -> None:
    async with run_simulator(database_url=isolation.database_url, schema=schema(isolation)) as sim:
        adapter = SimulatorAdapter(url=sim.url, secret=TEST_SIM_SECRET)
        for n in range(3):
            await adapter.submit(sms(f"a-{n}", to="+33611111111"))
        await adapter.submit(sms("b-0", to="+33622222222"))
        await adapter.close()
        assert (await sim.messages(to="+33611111111"))["count"] == 3
        assert (await sim.messages(to="+33622222222"))["messages"][0]["message_id"] == "b-0"
        assert (await sim.messages())["count"] == 4


async def test_the_simulator_runs_as_its_own_process(isolation: Isolation) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": isolation.database_url,
        "HALTE_CARRIER_SIM_SCHEMA": schema(isolation),
        "CARRIER_SIM_SECRET": TEST_SIM_SECRET,
        "ADMIN_TOKEN": TEST_ADMIN_TOKEN,
        "HALTE_ENV": "development",
        "PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "halte_shared.carriers.simulator",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _until(lambda: _ready(url), "ready", timeout=30)
        adapter = SimulatorAdapter(url=url, secret=TEST_SIM_SECRET)
        assert await adapter.ready()
        assert (await adapter.submit(sms("process-1"))).accepted
        await adapter.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=15)
    # uvicorn re-raises the signal it handled once shut down cleanly, as every service does.
    assert code in (0, -signal.SIGTERM)


def test_the_simulator_refuses_development_secrets_in_production(isolation: Isolation) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": isolation.database_url,
        "CARRIER_SIM_SECRET": "dev-sim-secret",
        "ADMIN_TOKEN": "a-real-operator-token-of-length",
        "HALTE_ENV": "production",
    }
    done = subprocess.run(
        [sys.executable, "-m", "halte_shared.carriers.simulator"], env=env, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert b"CARRIER_SIM_SECRET" in done.stdout


async def _ready(url: str) -> str:
    try:
        async with httpx.AsyncClient() as client:
            return "ready" if (await client.get(f"{url}/readyz", timeout=1)).status_code == 200 else "not ready"
    except httpx.HTTPError:
        return "down"


async def _dlr_state(sim, message_id: str) -> str:
    return (await sim.messages(message_id=message_id))["messages"][0]["dlr_state"]


async def _until(probe, expected: str, *, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = None
    while loop.time() < deadline:
        value = await probe()
        if value == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {value!r} after {timeout} s, expected {expected!r}")
