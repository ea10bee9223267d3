"""Exactly once under SIGKILL: the notifier as a real process, killed at each step, then restarted.

Each case publishes one account and the same ``optout.recorded`` five times, starts
``python -m halte_notifier serve`` with the test-only crash hook armed at one step, waits
for the kernel to kill it, checks what the crash left, restarts it without the hook and
checks the invariants: exactly one debit in the ledger, one ``billing.charged``, and
exactly one confirmation SMS at the real carrier simulator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from halte_shared.infra import free_port

from .conftest import Env, account_changed, eventually, french_mobile, isolated_env, new_account_id, optout

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class NotifierProcess:
    """`python -m halte_notifier serve` in its own session, its output in a log file."""

    def __init__(self, env: Env, log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def environment(self, crash_at: str | None) -> dict[str, str]:
        iso = self.env.iso
        values = {
            "DATABASE_URL": iso.database_url,
            "HALTE_DB_SCHEMA": iso.schema("notifier"),
            "KAFKA_BOOTSTRAP_SERVERS": iso.kafka_bootstrap,
            "HALTE_TOPIC_PREFIX": iso.topic_prefix,
            "HALTE_ENV": "test",
            "HALTE_TEST_MODE": "1",
            "ADMIN_TOKEN": "test-admin-token",
            "CARRIER_SIM_SECRET": "test-sim-secret",
            "HALTE_CARRIER_SIM_URL": self.env.sim.url,
            "PORT": str(self.port),
            "HALTE_NOTIFIER_LEASE_SECONDS": "2",
            "HALTE_NOTIFIER_POLL_SECONDS": "0.2",
            "HALTE_SHUTDOWN_GRACE_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        }
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("HALTE_", "KAFKA_", "DATABASE_"))}
        environment.update(values)
        if crash_at:
            environment["HALTE_NOTIFIER_CRASH_AT"] = crash_at
        return environment

    def start(self, *, crash_at: str | None = None) -> None:
        self.runs += 1
        log = open(self.log_dir / f"notifier-run{self.runs}.log", "wb")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "halte_notifier", "serve"],
            env=self.environment(crash_at),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def log(self) -> str:
        return (self.log_dir / f"notifier-run{self.runs}.log").read_text(errors="replace")[-4000:]

    async def wait_killed(self, *, timeout: float = 60.0) -> None:
        """Wait for the crash hook to SIGKILL the process."""
        assert self.process is not None
        returncode = await eventually(lambda: asyncio.sleep(0, result=self.process.poll()), timeout=timeout)
        assert returncode == -signal.SIGKILL, f"expected a SIGKILL, got {returncode}; log:\n{self.log()}"

    async def wait_ready(self, *, timeout: float = 60.0) -> None:
        async def ready() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, f"the notifier exited; log:\n{self.log()}"
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=timeout, interval=0.2)

    async def stop(self) -> None:
        """SIGTERM the process (a clean shutdown) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait, 10)


CRASH_POINTS = ("before_ledger_commit", "after_ledger_commit", "after_carrier_call")


async def kill_and_restart(env: Env, notifier: NotifierProcess, crash_at: str) -> None:
    """Run one crash scenario in its own world; raise AssertionError naming the step on failure."""
    account, phone = new_account_id(), french_mobile()
    await env.publish(account_changed(account), key=account)
    first = await env.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    for _ in range(4):
        await env.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone, envelope=first)

    notifier.start(crash_at=crash_at)
    await notifier.wait_killed()

    # What the crash left behind.
    charges = await env.scalar("SELECT count(*) FROM charges")
    at_carrier = len(await env.sent_to(phone))
    if crash_at == "before_ledger_commit":
        assert (charges, at_carrier) == (0, 0), "the uncommitted transaction left nothing"
    elif crash_at == "after_ledger_commit":
        assert (charges, at_carrier) == (1, 0), "charged and recorded, not yet sent"
        assert await env.scalar("SELECT state FROM messages") == "pending"
    else:
        assert (charges, at_carrier) == (1, 1), "sent, but the carrier's answer was never recorded"
        assert await env.scalar("SELECT state FROM messages") == "submitting"

    notifier.start()
    await notifier.wait_ready()
    await eventually(lambda: env.scalar("SELECT state = 'submitted' FROM messages"), timeout=30)
    await asyncio.sleep(1.5)  # room for a second SMS or a second debit to appear

    assert await env.scalar("SELECT count(*) FROM charges") == 1, "exactly one debit in the ledger"
    [sms] = await env.sent_to(phone)
    assert sms["text"].startswith("Boulangerie Martin : votre désinscription")
    # After the kill between the carrier call and its record, the same idempotency key was
    # submitted again once the lease ran out; the simulator recognised it and sent nothing.
    assert sms["submissions"] == (2 if crash_at == "after_carrier_call" else 1)
    charged = await env.topic("billing.charged")
    assert len({e.id for e in charged}) == 1, "one billing.charged event (a republished copy has the same id)"
    outbound = await env.topic("sms.outbound", linger=0.3)
    assert len({e.id for e in outbound}) == 1, "one sms.outbound event"
    assert await env.scalar("SELECT count(*) FROM inbox WHERE consumer = 'notifier-requests'") == 1


async def scenario(database_url: str, kafka_bootstrap: str, log_dir: Path, crash_at: str) -> None:
    async with isolated_env(database_url, kafka_bootstrap) as env:
        notifier = NotifierProcess(env, log_dir)
        try:
            await kill_and_restart(env, notifier, crash_at)
        except AssertionError as exc:
            raise AssertionError(f"killed at {crash_at}: {exc}\nlast log:\n{notifier.log()}") from exc
        finally:
            await notifier.stop()


async def test_killed_at_each_step_still_one_debit_and_one_sms(
    database_server_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    # The three scenarios run side by side, each in its own schema, topics and simulator:
    # a restart after SIGKILL waits for the dead member's session to expire, and waiting
    # three times in a row would triple the test's duration for nothing.
    for step in CRASH_POINTS:
        (tmp_path / step).mkdir()
    results = await asyncio.gather(
        *(scenario(database_server_url, kafka_bootstrap, tmp_path / step, step) for step in CRASH_POINTS),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]
