"""Kannel end to end: phones (fakesmsc) -> bearerbox -> smsbox get-url -> inbound (uvicorn) -> the real broker.

The Debian kannel packages play the operator's network: ``fakesmsc`` sends "Stop SMS",
"arrêt" in UCS-2 and "CONTACT" from French national-format numbers to the short code
36111; smsbox calls the inbound service's ``/v1/kannel/kannel/mo`` exactly as it would in
production (``mo-recode`` off, so the UCS-2 reply arrives as UTF-16BE bytes); the test
reads optout.requested and contact.requested off the broker and finds E.164 numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from halte_inbound.config import Settings
from halte_inbound.testing import KANNEL_TOKEN, account, read_topic
from halte_shared.bus import make_producer
from halte_shared.db import make_engine
from halte_shared.events import ContactRequested, OptoutRequested, encode, envelope_for
from halte_shared.testing import Isolation, migrate

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
MISSING = [str(p) for p in (BEARERBOX, SMSBOX, FAKESMSC) if not p.exists()]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.kannel,
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING), reason=f"Kannel is not installed (apt-get install kannel kannel-extras): {MISSING}"
    ),
]

SHORT_CODE = "36111"
# fakesmsc lines: sender, receiver, type, message. "ucs2" takes the URL-encoded UTF-16BE bytes.
PHONE_MESSAGES = [
    f"0612345678 {SHORT_CODE} text Stop SMS",
    f"0698765432 {SHORT_CODE} ucs2 %00a%00r%00r%00%ea%00t",  # "arrêt"
    f"0611223344 {SHORT_CODE} text CONTACT",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int, *, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{what} is not listening on port {port} after {timeout:.0f} s")


def kannel_conf(workdir: Path, *, ports: dict[str, int], inbound_port: int) -> Path:
    get_url = (
        f"http://127.0.0.1:{inbound_port}/v1/kannel/kannel/mo"
        f"?from=%p&to=%P&text=%a&ts=%t&id=%I&coding=%c&charset=%C&token={KANNEL_TOKEN}"
    )
    conf = workdir / "kannel.conf"
    conf.write_text(
        textwrap.dedent(
            f"""
            group = core
            admin-port = {ports["admin"]}
            admin-password = halte-test
            smsbox-port = {ports["smsbox"]}
            box-allow-ip = "127.0.0.1"
            log-file = "{workdir}/bearerbox.log"
            log-level = 0

            group = smsc
            smsc = fake
            smsc-id = fake
            port = {ports["smsc"]}
            connect-allow-ip = "127.0.0.1"

            group = smsbox
            bearerbox-host = 127.0.0.1
            bearerbox-port = {ports["smsbox"]}
            sendsms-port = {ports["sendsms"]}
            log-file = "{workdir}/smsbox.log"
            log-level = 0
            http-request-retry = 3
            http-queue-delay = 1

            group = sms-service
            keyword = default
            catch-all = true
            max-messages = 0
            omit-empty = true
            get-url = "{get_url}"
            """
        )
    )
    return conf


@contextlib.asynccontextmanager
async def process(*command: str, log: Path, stdin: bool = False, env: dict[str, str] | None = None):
    """Run a child process for the block; stop it (TERM, then KILL) whatever happens."""
    with log.open("ab") as output:  # noqa: ASYNC230 - opening a log file does not block
        child = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), timeout=10)
            except TimeoutError:
                child.kill()
                await child.wait()


async def wait_for_log(path: Path, needle: str, *, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if needle in read_log(path):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{path.name} did not say {needle!r} in {timeout:.0f} s:\n{tail(path)}")


async def wait_for_account(settings: Settings, account_id: str, *, timeout: float = 30) -> None:
    """Wait until the service's directory holds the account (consumed from account.changed)."""
    engine = make_engine(settings.database_url, schema=settings.schema_name, pool_size=1)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            async with engine.connect() as conn:
                found = (
                    await conn.execute(text("SELECT 1 FROM accounts WHERE account_id = :id"), {"id": account_id})
                ).first()
            if found:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"account {account_id} did not reach the inbound directory in {timeout:.0f} s")
    finally:
        await engine.dispose()


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def tail(path: Path, lines: int = 25) -> str:
    return f"--- {path.name} ---\n" + "\n".join(read_log(path).splitlines()[-lines:])


@pytest.fixture
async def inbound_process(isolation: Isolation, tmp_path: Path) -> AsyncIterator[tuple[int, object]]:
    """Run `python -m halte_inbound serve` on a free port, on this test's schema and topics."""
    await migrate(isolation, "halte_inbound", "inbound")
    port = free_port()
    carriers = [
        {
            "id": "kannel",
            "kind": "kannel",
            "token_env": "KANNEL_INBOUND_TOKEN",
            "default_region": "FR",
            "short_codes": [SHORT_CODE],
        }
    ]
    env = {
        **os.environ,
        "DATABASE_URL": isolation.database_url,
        "HALTE_DB_SCHEMA": isolation.schema("inbound"),
        "KAFKA_BOOTSTRAP_SERVERS": isolation.kafka_bootstrap,
        "HALTE_TOPIC_PREFIX": isolation.topic_prefix,
        "HALTE_ENV": "test",
        "ADMIN_TOKEN": "test-admin-token",
        "HALTE_INBOUND_CARRIERS": json.dumps(carriers),
        "KANNEL_INBOUND_TOKEN": KANNEL_TOKEN,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "inbound.log"
    async with process(sys.executable, "-m", "halte_inbound", "serve", log=log, env=env) as child:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while True:
                assert child.returncode is None, f"inbound exited ({child.returncode})\n{tail(log)}"
                try:
                    if (await client.get("/readyz", timeout=2)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert loop.time() < deadline, f"inbound not ready in 60 s\n{tail(log)}"
                await asyncio.sleep(0.2)
        yield port, log


async def test_stop_arret_and_contact_from_phones_through_kannel_reach_the_broker_with_e164_numbers(
    isolation: Isolation, inbound_process, tmp_path: Path
):
    port, inbound_log = inbound_process
    settings = isolation.settings(Settings, service="inbound")

    # The account that owns the short code, announced the way campaign-api announces it.
    producer = make_producer(settings, client_id="campaign-api-test")
    await producer.start()
    try:
        shop = account("acc-fr", short_codes=[SHORT_CODE], name="Boulangerie Dupont")
        envelope = envelope_for(shop, producer="campaign-api", occurred_at=shop.changed_at)
        await producer.send_and_wait(settings.topic("account.changed"), key=b"acc-fr", value=encode(envelope))
    finally:
        await producer.stop()
    await wait_for_account(settings, "acc-fr")

    ports = {name: free_port() for name in ("admin", "smsbox", "smsc", "sendsms")}
    conf = kannel_conf(tmp_path, ports=ports, inbound_port=port)
    logs = [tmp_path / name for name in ("bearerbox.out", "smsbox.out", "fakesmsc.out", "bearerbox.log", "smsbox.log")]

    def diagnostics() -> str:
        return "\n".join(tail(p) for p in [*logs, inbound_log])

    async with process(str(BEARERBOX), str(conf), log=tmp_path / "bearerbox.out"):
        await wait_for_port(ports["smsc"], timeout=20, what="bearerbox's fake SMSC")
        async with process(str(SMSBOX), str(conf), log=tmp_path / "smsbox.out"):
            await wait_for_port(ports["sendsms"], timeout=20, what="smsbox")
            fakesmsc = [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(ports["smsc"]), "-i", "0.2"]
            async with process(*fakesmsc, log=tmp_path / "fakesmsc.out", stdin=True) as phones:
                assert phones.stdin is not None
                # Interactive mode sends each line as typed (no random choice). It reads stdin
                # through stdio after a select(), so lines written together would sit in its
                # buffer: type them one at a time and wait for each to be sent.
                for number, line in enumerate(PHONE_MESSAGES, start=1):
                    phones.stdin.write(f"{line}\n".encode())
                    await phones.stdin.drain()
                    await wait_for_log(tmp_path / "fakesmsc.out", f"sent message {number}", timeout=15)

                optouts = await read_topic(settings, "optout.requested", expect=2, timeout=45, linger=0)
                contacts = await read_topic(settings, "contact.requested", expect=1, timeout=20, linger=0)

    stops = sorted((p for _, p in optouts), key=lambda p: p.phone)
    assert len(stops) == 2, f"expected 2 opt-outs, got {stops}\n{diagnostics()}"
    assert all(isinstance(p, OptoutRequested) for p in stops)
    assert [(p.phone, p.raw_text, p.short_code, p.channel, p.carrier) for p in stops] == [
        ("+33612345678", "Stop SMS", SHORT_CODE, "sms", "kannel"),
        ("+33698765432", "arrêt", SHORT_CODE, "sms", "kannel"),
    ]
    assert len(contacts) == 1, f"expected 1 contact request, got {contacts}\n{diagnostics()}"
    [(_, contact)] = contacts
    assert isinstance(contact, ContactRequested)
    assert (contact.phone, contact.account_id, contact.short_code, contact.raw_text) == (
        "+33611223344",
        "acc-fr",
        SHORT_CODE,
        "CONTACT",
    )
