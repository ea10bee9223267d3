"""The end-to-end harness: the real stack as processes, with a real carrier, driven over HTTP only.

:class:`Platform` starts what ``make run`` starts (``halte_shared.stack.Stack``, in test
mode so ``PUT /v1/test/clock`` exists, on free ports), plus the carrier: the simulator
process (``python -m halte_shared.carriers.simulator``) or a Kannel gateway with fakesmsc
(``halte_shared.kannel_gateway``). Tests then talk to the services the way clients,
carriers and operators do: :class:`Api` wraps the public HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from invariants import DeadLetter

from halte_shared.carriers.webhooks import signed_request
from halte_shared.infra import EmbeddedPostgres, ensure_database, free_port
from halte_shared.kannel_gateway import KannelGateway, contract_mo_url
from halte_shared.stack import CARRIER_SIM as SIMULATOR
from halte_shared.stack import SERVICES, Stack
from halte_shared.topics import DLQ_SUFFIX

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.2, what: str = "the condition"
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = probe()
        except (httpx.HTTPError, AssertionError, KeyError) as exc:
            result, last = None, exc
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class Platform:
    """The five services, PostgreSQL, the broker and one carrier, as separate processes."""

    workdir: Path
    carrier: str = "sim"  # "sim": every SMS to the simulator; "kannel": Kannel, but `sim_prefixes` to the simulator
    sim_prefixes: tuple[str, ...] = ("+3367",)
    extra_env: dict[str, str] = field(default_factory=dict)
    admin_token: str = field(default_factory=lambda: "e2e-admin-" + secrets.token_hex(12))
    sim_secret: str = field(default_factory=lambda: "e2e-sim-" + secrets.token_hex(12))
    kannel_token: str = field(default_factory=lambda: "e2e-kannel-" + secrets.token_hex(12))
    short_codes: list[str] = field(default_factory=lambda: ["36111"])
    #: "shared": the simulator keeps its rows in the platform's database, as under ``make run``;
    #: "own": in a PostgreSQL of its own, so faults of the platform's database leave the carrier alone.
    carrier_database: str = "shared"

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.ports = {name: free_port() for name in (*SERVICES, SIMULATOR)}
        self.kannel: KannelGateway | None = None
        self.stack: Stack | None = None
        self.carrier_postgres: EmbeddedPostgres | None = None
        self._carrier_database_url: str | None = None
        #: How far ahead of real time the services' clocks were moved (see set_clock).
        self.clock_offset = timedelta(0)

    # -- addresses ---------------------------------------------------------------------
    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def simulator_url(self) -> str:
        return self.url(SIMULATOR)

    def carrier_env(self) -> dict[str, str]:
        """Return the environment that points the senders and inbound at this platform's carrier."""
        inbound = self.url("inbound")
        env = {
            "ADMIN_TOKEN": self.admin_token,
            "CARRIER_SIM_SECRET": self.sim_secret,
            "KANNEL_INBOUND_TOKEN": self.kannel_token,
            "UNSUBSCRIBE_SECRET": "e2e-unsubscribe-" + secrets.token_hex(8),
            "HALTE_PUBLIC_INBOUND_URL": inbound,
            "LOG_LEVEL": "WARNING",
            # As under `make run`: the webhooks are served by two worker processes.
            "HALTE_INBOUND_WORKERS": "2",
            # Low enough for the rate-limit test to reach it with a few dozen requests.
            "HALTE_SEND_RATE_PER_SECOND": "5",
            "HALTE_SEND_BURST": "20",
        }
        if self.carrier == "kannel":
            assert self.kannel is not None
            kannel = {
                "kind": "kannel",
                "url": f"http://127.0.0.1:{self.kannel.sendsms_port}",
                "username": self.kannel.username,
                "password": self.kannel.password,
                "secret": self.kannel_token,
            }
            env.update(
                {
                    "HALTE_CARRIERS": json.dumps({"sim": {"kind": "sim"}, "kannel": kannel}),
                    "HALTE_DEFAULT_CARRIER": "kannel",
                    "HALTE_CARRIER_ROUTES": ",".join(f"{prefix}=sim" for prefix in self.sim_prefixes),
                    "HALTE_INBOUND_CARRIERS": json.dumps(
                        [
                            {"id": "sim", "kind": "json", "secret_env": "CARRIER_SIM_SECRET", "default_region": "FR"},
                            {
                                "id": "kannel",
                                "kind": "kannel",
                                "token_env": "KANNEL_INBOUND_TOKEN",
                                "default_region": "FR",
                            },
                        ]
                    ),
                }
            )
        return env

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> Platform:
        """Start PostgreSQL, the broker, the carrier and the five services; wait until all are ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        database_url = None
        if server := os.environ.get("DATABASE_URL"):
            database_url = ensure_database(server, f"halte_e2e_{os.getpid()}_{secrets.token_hex(3)}")
        self.stack = Stack(
            workdir=self.workdir,
            ports=dict(self.ports),
            database_url=database_url,
            kafka_bootstrap_servers=None,
            broker_port=None,
            test_mode=True,
        )
        try:
            self.stack.start_infrastructure()
            if self.carrier == "kannel":
                self.kannel = KannelGateway(
                    self.workdir / "kannel",
                    mo_url=contract_mo_url(inbound_url=self.url("inbound"), carrier="kannel", token=self.kannel_token),
                ).start()
            if self.carrier_database == "own":
                self.carrier_postgres = EmbeddedPostgres(self.workdir / "carrier-postgres")
                self._carrier_database_url = ensure_database(self.carrier_postgres.start(), "carrier")
            self.stack.extra_env = {**self.carrier_env(), **self.extra_env}
            for name in (SIMULATOR, *SERVICES):
                self._start_process(name)
            for name in (SIMULATOR, *SERVICES):
                self.stack.wait_ready(name)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_process(self, name: str) -> None:
        """Start one process of the stack, the simulator on its own database when it has one."""
        assert self.stack is not None
        env = self.stack.extra_env
        if name == SIMULATOR and self._carrier_database_url:
            self.stack.extra_env = {**env, "DATABASE_URL": self._carrier_database_url}
        try:
            self.stack.start_service(name)
        finally:
            self.stack.extra_env = env

    def stop(self) -> None:
        """Stop everything this platform started."""
        if self.stack is not None:
            self.stack.stop_services()
        if self.kannel is not None:
            self.kannel.stop()
        if self.stack is not None:
            self.stack.stop_infrastructure()
        if self.carrier_postgres is not None:
            self.carrier_postgres.stop()

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- operating -------------------------------------------------------------------------
    def restart_service(
        self, name: str, *, kill: bool = True, timeout: float = 90, stop_timeout: float = 60
    ) -> tuple[int | None, float]:
        """SIGKILL (or SIGTERM) a service, start it again, wait until ready; return its exit code and stop time."""
        assert self.stack is not None
        started = time.monotonic()
        if kill:
            self.stack.kill_service(name)
            code = None
        else:
            code = self.stack.stop_service(name, timeout=stop_timeout)
        stopped_in = time.monotonic() - started
        # A new process must not run on the system time, even for the second before the clock
        # endpoint answers: it starts with the offset the others run on.
        self.stack.extra_env["HALTE_TEST_CLOCK_OFFSET_SECONDS"] = str(self.clock_offset.total_seconds())
        self._start_process(name)
        self.stack.wait_ready(name, timeout=timeout)
        return code, stopped_in

    def wait_all_ready(self, timeout: float = 90) -> None:
        assert self.stack is not None
        for name in (SIMULATOR, *SERVICES):
            self.stack.wait_ready(name, timeout=timeout)

    def revive_exited(self, *, timeout: float = 90) -> dict[str, int | None]:
        """Start again every process that exited (as ``make run`` and Kubernetes do); return their exit codes."""
        assert self.stack is not None
        exited = {
            name: process.process.returncode
            for name, process in self.stack.services.items()
            if process.process is not None and process.process.poll() is not None
        }
        for name in exited:
            self.stack.extra_env["HALTE_TEST_CLOCK_OFFSET_SECONDS"] = str(self.clock_offset.total_seconds())
            self._start_process(name)
        for name in exited:
            self.stack.wait_ready(name, timeout=timeout)
        return exited

    # -- infrastructure faults (halte_shared.stack; FaultUnavailable when the server is not ours) --------
    def terminate_database_connections(self, *, for_seconds: float, interval: float = 0.1) -> int:
        """Terminate every connection to the platform's database every `interval` for `for_seconds`."""
        assert self.stack is not None
        return self.stack.terminate_database_connections(for_seconds=for_seconds, interval=interval)

    def restart_database(self, *, down_seconds: float) -> None:
        """Stop PostgreSQL for `down_seconds` and start it again on the same data directory and socket."""
        assert self.stack is not None
        self.stack.restart_database(down_seconds=down_seconds)

    def freeze_broker(self, *, for_seconds: float) -> None:
        """SIGSTOP the broker for `for_seconds`, then SIGCONT it."""
        assert self.stack is not None
        self.stack.freeze_broker(for_seconds=for_seconds)

    def set_clock(self, instant: datetime) -> timedelta:
        """Move every service's clock to `instant` (it keeps running from there); return the offset."""
        for name in SERVICES:
            self._put_clock(name, instant)
        self.clock_offset = instant - datetime.now(UTC)
        return self.clock_offset

    def _put_clock(self, name: str, instant: datetime) -> None:
        response = httpx.put(
            f"{self.url(name)}/v1/test/clock",
            json={"now": instant.isoformat()},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )
        assert response.status_code == 200, f"{name} refused the clock: {response.status_code} {response.text}"

    def reset_clock(self) -> None:
        """Put every service back on the system time."""
        for name in SERVICES:
            httpx.delete(
                f"{self.url(name)}/v1/test/clock", headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=10
            )
        self.clock_offset = timedelta(0)

    def post_carrier_mo(
        self,
        *,
        sender: str,
        to: str,
        text: str,
        message_id: str | None = None,
        carrier: str = "sim",
        received_at: datetime | None = None,
        timeout: float = 10,
    ) -> httpx.Response:
        """Play a carrier: POST a signed reply webhook to inbound (signed on the services' clock)."""
        payload = {
            "message_id": message_id or "mo-" + secrets.token_hex(8),
            "from": sender,
            "to": to,
            "text": text,
            "received_at": (received_at or self.service_now()).isoformat(),
        }
        # The signature's freshness is real time (a replay window is about wall clocks, not the
        # platform's simulated one); the reply's received_at is on the services' clock.
        body, headers = signed_request(self.sim_secret, payload)
        return httpx.post(
            f"{self.url('inbound')}/v1/carriers/{carrier}/mo", content=body, headers=headers, timeout=timeout
        )

    def service_now(self) -> datetime:
        """Return the services' notion of now (real time plus the offset the test set)."""
        return datetime.now(UTC) + self.clock_offset

    def admin(self) -> Api:
        return Api(self, self.admin_token)

    def api(self, key: str) -> Api:
        return Api(self, key)

    def log_tail(self, name: str, lines: int = 40) -> str:
        """Return the end of a service's log (for assertion messages)."""
        assert self.stack is not None
        path = self.stack.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Api:
    """The public HTTP API of the platform, as one caller (an account's key or the operator token)."""

    def __init__(self, platform: Platform, token: str) -> None:
        self.platform = platform
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def client(self, service: str = "campaign-api", *, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.platform.url(service), headers=self.headers, timeout=timeout)

    def request(self, method: str, path: str, *, service: str = "campaign-api", **kwargs: Any) -> httpx.Response:
        with self.client(service) as client:
            return client.request(method, path, **kwargs)

    def ok(
        self,
        method: str,
        path: str,
        *,
        service: str = "campaign-api",
        expect: tuple[int, ...] = (200, 201, 202),
        **kwargs: Any,
    ) -> Any:
        """Call an endpoint and return its JSON; fail with the answer if the status is not expected."""
        response = self.request(method, path, service=service, **kwargs)
        assert response.status_code in expect, f"{method} {path} -> {response.status_code}: {response.text[:500]}"
        return response.json() if response.content else None

    # -- operator -------------------------------------------------------------------------
    def create_account(
        self, *, name: str, short_code: str, contact_info: str, credits: int, mode: str = "marketing"
    ) -> tuple[str, str]:
        """Create an account and top it up; return (account id, api key)."""
        body = self.ok(
            "POST",
            "/v1/accounts",
            json={"name": name, "short_code": short_code, "mode": mode, "contact_info": contact_info},
        )
        account_id, key = str(body["id"]), str(body["api_key"])
        if credits:
            self.ok("POST", f"/v1/accounts/{account_id}/credits", json={"amount": credits, "reason": "e2e top-up"})
        return account_id, key

    # -- client ------------------------------------------------------------------------------
    def import_contacts(self, rows: list[dict[str, Any]], *, timeout: float = 120) -> dict[str, Any]:
        """Import contacts as JSON lines and wait for the job; return its final view (counts, first errors)."""
        body = ("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n").encode()
        return self.import_body(body, content_type="application/x-ndjson", timeout=timeout)

    def import_body(self, body: bytes, *, content_type: str, timeout: float = 120) -> dict[str, Any]:
        """POST an import (waiting out a 429 as its Retry-After says) and follow the job to its end."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.request("POST", "/v1/contacts/import", content=body, headers={"Content-Type": content_type})
            if response.status_code == 429 and time.monotonic() < deadline:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            assert response.status_code in (200, 201, 202), f"import -> {response.status_code}: {response.text[:500]}"
            break
        job = response.json()
        location = response.headers.get("Location") or job.get("location") or f"/v1/contacts/imports/{job['id']}"

        def finished() -> dict[str, Any] | None:
            view = self.ok("GET", location)
            return view if view.get("status") in ("completed", "failed") else None

        view: dict[str, Any] = wait_until(
            finished, timeout=max(5.0, deadline - time.monotonic()), interval=0.3, what="the import job to finish"
        )
        assert view["status"] == "completed", f"the import failed: {view}"
        return view

    def create_campaign(
        self, *, name: str, text: str, audience: dict[str, Any], kind: str = "marketing", **concerns: Any
    ) -> str:
        """Create a draft; ``concerns`` may give its ``category`` and ``professions`` (consent rule)."""
        body = self.ok(
            "POST", "/v1/campaigns", json={"name": name, "kind": kind, "text": text, "audience": audience, **concerns}
        )
        return str(body["id"])

    def recipients(self, campaign_id: str) -> list[dict[str, Any]]:
        from invariants import paged

        with self.client() as client:
            return list(paged(client, f"/v1/campaigns/{campaign_id}/recipients", "recipients", params={"limit": 1000}))

    def by_phone(self, campaign_id: str) -> dict[str, dict[str, Any]]:
        return {row["phone"]: row for row in self.recipients(campaign_id)}


def simulator_listing(platform: Platform, **params: Any) -> dict[str, Any]:
    """Return the simulator's GET /v1/messages answer (operator)."""
    response = httpx.get(
        f"{platform.simulator_url}/v1/messages",
        params=params,
        headers={"Authorization": f"Bearer {platform.admin_token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def policy_verdict(
    platform: Platform, *, phone: str, account_id: str, sender: str, at: datetime | None = None
) -> tuple[str, str]:
    """Ask the dispatcher (operator) what it would decide for a marketing SMS; return (decision, reason)."""
    response = httpx.post(
        f"{platform.url('dispatcher')}/v1/policy/evaluate",
        json={
            "phone": phone,
            "kind": "marketing",
            "at": (at or platform.service_now()).isoformat(),
            "account_id": account_id,
            "sender": sender,
        },
        headers={"Authorization": f"Bearer {platform.admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, f"policy/evaluate -> {response.status_code}: {response.text[:300]}"
    body = response.json()
    return str(body["decision"]), str(body["reason"])


def publish_raw(platform: Platform, topic: str, *, key: str, envelope: dict[str, Any]) -> None:
    """Put one message on a platform topic as some other producer would, bypassing every encoder."""
    assert platform.stack is not None and platform.stack.kafka_bootstrap_servers is not None
    bootstrap, name = platform.stack.kafka_bootstrap_servers, platform.stack.topic_prefix + topic

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="e2e-raw-producer")
        await producer.start()
        try:
            await producer.send_and_wait(name, key=key.encode(), value=json.dumps(envelope).encode())
        finally:
            await producer.stop()

    asyncio.run(send())


def dead_letters(platform: Platform, *, timeout: float = 30) -> list[DeadLetter]:
    """Return every message on every dead-letter topic of the platform, read from the earliest offset."""
    assert platform.stack is not None and platform.stack.kafka_bootstrap_servers is not None
    return asyncio.run(
        _read_dead_letters(platform.stack.kafka_bootstrap_servers, prefix=platform.stack.topic_prefix, timeout=timeout)
    )


async def _read_dead_letters(bootstrap_servers: str, *, prefix: str, timeout: float) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id="e2e-dead-letter-reader",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        names = sorted(t for t in await consumer.topics() if t.startswith(prefix) and t.endswith(DLQ_SUFFIX))
        partitions = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + timeout
        while True:
            behind = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
            if not behind:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s reading the dead-letter topics {behind}")
            batches = await consumer.getmany(*behind, timeout_ms=500)
            for tp, records in batches.items():
                found.extend(
                    DeadLetter.from_record(tp.topic[len(prefix) :], r.key, r.value, r.headers) for r in records
                )
    finally:
        await consumer.stop()


def parked_events(platform: Platform) -> list[DeadLetter]:
    """Return what every service lists at GET /v1/operator/parked (operator)."""
    parked: list[DeadLetter] = []
    for name in SERVICES:
        response = httpx.get(
            f"{platform.url(name)}/v1/operator/parked",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {platform.admin_token}"},
            timeout=10,
        )
        assert response.status_code == 200, f"{name} GET /v1/operator/parked -> {response.status_code}: {response.text}"
        parked.extend(DeadLetter.from_parked(name, row) for row in response.json()["items"])
    return parked


@dataclass
class Reply:
    """One reply a phone sends through the carrier, and what became of it."""

    phone: str
    text: str
    message_id: str
    received_at: datetime  # on the services' clock, as the carrier stamps it once
    acknowledged_at: datetime | None = None  # real time of inbound's 2xx
    attempts: int = 0
    server_errors: int = 0  # 5xx answers
    connection_errors: int = 0  # refused, reset, timed out
    failure: str | None = None


class RetryingCarrier:
    """Deliver replies to inbound as a carrier does: signed webhooks, 5xx and connection errors retried, 4xx failed."""

    # A retry resends the same message (same id, same received_at), so inbound may dedupe it;
    # each reply is delivered on its own thread, so one stuck reply does not delay the next.

    def __init__(self, platform: Platform, *, deadline: float = 90, workers: int = 16) -> None:
        self.platform = platform
        self.deadline = deadline
        self.replies: list[Reply] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="carrier")
        self._futures: list[Future[Reply]] = []

    def send(self, phone: str, to: str, text: str) -> Future[Reply]:
        """Hand a reply to the carrier; it is delivered in the background."""
        reply = Reply(phone, text, "mo-" + secrets.token_hex(8), self.platform.service_now())
        with self._lock:
            self.replies.append(reply)
        future = self._pool.submit(self._deliver, reply, to)
        self._futures.append(future)
        return future

    def _deliver(self, reply: Reply, to: str) -> Reply:
        give_up = time.monotonic() + self.deadline
        pause = 0.2
        while True:
            reply.attempts += 1
            try:
                response = self.platform.post_carrier_mo(
                    sender=reply.phone,
                    to=to,
                    text=reply.text,
                    message_id=reply.message_id,
                    received_at=reply.received_at,
                    timeout=5,
                )
            except httpx.TransportError:
                reply.connection_errors += 1
            else:
                if response.status_code < 300:
                    reply.acknowledged_at = datetime.now(UTC)
                    return reply
                if response.status_code < 500:
                    reply.failure = f"{response.status_code} {response.text[:200]}"
                    return reply
                reply.server_errors += 1
            if time.monotonic() + pause >= give_up:
                reply.failure = (
                    f"inbound did not acknowledge in {self.deadline:.0f} s ({reply.server_errors} 5xx, "
                    f"{reply.connection_errors} connection errors)"
                )
                return reply
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def wait(self, *, timeout: float) -> None:
        """Wait until every reply handed over so far is acknowledged or given up."""
        deadline = time.monotonic() + timeout
        for future in list(self._futures):
            future.result(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
