"""SIGKILL the dispatcher process mid-campaign, start it again: one decision, one SMS per recipient.

The dispatcher runs as its own process (``python -m halte_dispatcher serve``), on the real broker
and PostgreSQL, submitting to the real carrier simulator at a limited rate so that the kill
lands while messages are being decided and submitted. The simulator keeps every message it
accepted in PostgreSQL, with how many times it was submitted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from halte_dispatcher.config import Settings
from halte_dispatcher.testing import (
    ACCOUNT,
    Inbound,
    Suppression,
    account_changed,
    phone,
    produce,
    read_events,
    request,
)
from halte_shared.carriers.testing import RunningSimulator
from halte_shared.db import make_engine
from halte_shared.infra import free_port
from halte_shared.testing import Isolation, migrate

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RECIPIENTS = 600


class DispatcherProcess:
    """The dispatcher as a child process, with its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "halte_dispatcher", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self) -> None:
        self.process = self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        async with httpx.AsyncClient() as client:
            while loop.time() < deadline:
                assert self.process.poll() is None, f"the dispatcher exited; see {self.log_path}"
                try:
                    if (await client.get(f"{self.url}/readyz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the dispatcher did not become ready; see {self.log_path}")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


async def test_killing_the_dispatcher_mid_campaign_gives_one_decision_and_one_sms_per_recipient(
    isolation: Isolation, simulator: RunningSimulator, suppression: Suppression, inbound: Inbound, tmp_path: Path
) -> None:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    env = {
        **os.environ,
        "DATABASE_URL": isolation.database_url,
        "HALTE_DB_SCHEMA": isolation.schema("dispatcher"),
        "KAFKA_BOOTSTRAP_SERVERS": isolation.kafka_bootstrap,
        "HALTE_TOPIC_PREFIX": isolation.topic_prefix,
        "HALTE_ENV": "test",
        "ADMIN_TOKEN": "test-admin-token",
        "CARRIER_SIM_SECRET": "test-sim-secret",
        "HALTE_CARRIER_SIM_URL": simulator.url,
        # Slow enough that the kill lands with submissions in flight.
        "HALTE_CARRIERS": '{"sim": {"kind": "sim", "rate_per_second": 200}}',
        "HALTE_DISPATCH_SENDER_BATCH": "100",
        "HALTE_SUPPRESSION_URL": suppression.url,
        "HALTE_INBOUND_URL": inbound.url,
        "HALTE_SHUTDOWN_GRACE_SECONDS": "2",
        "PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    settings = Settings(**{k: v for k, v in env.items() if k.isupper()})  # type: ignore[arg-type]
    engine = make_engine(isolation.database_url, schema=isolation.schema("dispatcher"))
    sim_schema = isolation.schema("carrier_sim")
    dispatcher = DispatcherProcess(env, tmp_path / "dispatcher.log")

    async def scalar(sql: str) -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())

    async def wait_for(sql: str, at_least: int, *, timeout: float = 60.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (value := await scalar(sql)) < at_least:
            assert loop.time() < deadline, f"{sql} stayed at {value}, expected {at_least}; see {dispatcher.log_path}"
            await asyncio.sleep(0.02)
        return value

    # An informative campaign: it goes at any hour, so the wall clock of the test does not matter.
    campaign = [request(phone(n), campaign_id="camp-crash", kind="informative") for n in range(RECIPIENTS)]

    async def launch() -> None:
        # campaign-api emits a campaign over a moment: the kill finds requests still arriving.
        for start in range(0, RECIPIENTS, 50):
            await produce(settings, [(r, r.phone) for r in campaign[start : start + 50]])
            await asyncio.sleep(0.1)

    timings: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    try:
        await produce(settings, [(account_changed(), ACCOUNT)])
        await dispatcher.start()
        launching = asyncio.create_task(launch())
        await wait_for(f"SELECT count(*) FROM {sim_schema}.sim_messages", RECIPIENTS // 5)
        dispatcher.kill()
        killed_at = loop.time()
        decided_at_kill = await scalar("SELECT count(*) FROM dispatches")
        submitted_at_kill = await scalar(f"SELECT count(*) FROM {sim_schema}.sim_messages")
        await launching
        await dispatcher.start()
        timings["restart_ready"] = loop.time() - killed_at
        await wait_for("SELECT count(*) FROM dispatches WHERE state = 'submitted'", RECIPIENTS)
        timings["all_submitted"] = loop.time() - killed_at
    finally:
        dispatcher.stop()

    print(
        f"\nkilled with {decided_at_kill} of {RECIPIENTS} decided and {submitted_at_kill} at the carrier; "
        f"ready again after {timings['restart_ready']:.1f} s, all submitted after {timings['all_submitted']:.1f} s"
    )
    assert decided_at_kill < RECIPIENTS, "the kill should land while requests are still being decided"
    assert await scalar("SELECT count(*) FROM dispatches") == RECIPIENTS
    async with engine.connect() as conn:
        sim = (
            await conn.execute(
                text(
                    f"SELECT count(*) AS messages, count(DISTINCT to_number) AS phones, "
                    f"sum(submissions) AS submissions FROM {sim_schema}.sim_messages"
                )
            )
        ).one()
    await engine.dispose()
    assert (sim.messages, sim.phones) == (RECIPIENTS, RECIPIENTS), "each recipient got exactly one SMS"
    print(f"resubmissions answered as duplicates by the simulator's idempotency: {sim.submissions - sim.messages}")

    decided = await read_events(settings, "dispatch.decided", expect=RECIPIENTS)
    events_per_request: dict[str, set[str]] = defaultdict(set)
    for envelope, payload in decided:
        events_per_request[payload.request_id].add(envelope.id)
        assert (payload.decision, payload.final) == ("send", True)
    assert len(events_per_request) == RECIPIENTS
    assert all(len(ids) == 1 for ids in events_per_request.values()), "one decision event per recipient"

    outbound = await read_events(settings, "sms.outbound", expect=RECIPIENTS)
    per_message: dict[str, set[str]] = defaultdict(set)
    for envelope, payload in outbound:
        per_message[payload.message_id].add(envelope.id)
        assert payload.carrier == "sim" and payload.carrier_message_id
    assert len(per_message) == RECIPIENTS
    assert all(len(ids) == 1 for ids in per_message.values()), "one sms.outbound event per message"
