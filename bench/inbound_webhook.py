"""Benchmark: signed carrier webhooks per second, each acknowledged only once durably recorded.

What is measured: the real inbound service (``python -m halte_inbound serve`` with
``HALTE_INBOUND_WORKERS`` worker processes, 2 by default as under ``make run``) backed by
embedded PostgreSQL and the embedded broker, with 32 concurrent keep-alive connections on
loopback, under a campaign's realistic mix: 90 % delivery reports (``POST
/v1/carriers/sim/dlr``), 9 % ordinary replies and 1 % STOP (``POST /v1/carriers/sim/mo``).
Every request is distinct and HMAC-signed, so each 2xx means one committed transaction holding
the record and its outbox events. Beside it, in the same run and with the same client, a bare
FastAPI app with the same two routes (same uvicorn settings and as many worker processes, reads
the body, answers the same JSON) gives the machine's ceiling for an HTTP round trip; the ratio
is the cost of authentication, classification and durability.

Integrity: after the run the database must hold exactly one reply or report per 2xx received
(warm-up included), and the outbox relay is given a bounded time to publish the backlog; a
request that got no 2xx, or a count that differs, ends the bench without a RESULT (exit 1).

Usage: ``.venv/bin/python bench/inbound_webhook.py [--seconds 10] [--connections 32] [--workers 2]``.
Ends with ``RESULT inbound_webhook value=<req/s> unit=req/s reference=<bare req/s> ratio=<value/reference>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request

SECRET = "bench-sim-secret-0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"
SHORT_CODE = "36111"


# -- the bare reference server ------------------------------------------------------------


def bare_app() -> FastAPI:
    """Return a FastAPI app with the same route and answer as the real one, and no work behind it."""
    app = FastAPI()
    counter = iter(range(1, 1 << 62))

    @app.post("/v1/carriers/{carrier}/mo")
    async def mo(carrier: str, request: Request) -> dict[str, str]:
        await request.body()
        return {"status": "recorded", "id": str(next(counter))}

    @app.post("/v1/carriers/{carrier}/dlr")
    async def dlr(carrier: str, request: Request) -> dict[str, str]:
        await request.body()
        return {"status": "recorded", "id": str(next(counter))}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int, workers: int) -> None:
    """Serve the bare app the way halte_shared.cli serves a service (uvicorn, no access log, as many workers)."""
    import uvicorn

    if workers == 1:
        uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)
        return
    # Workers import the app by name: this file's folder is on their path (PYTHONPATH, set by main).
    uvicorn.run(
        "inbound_webhook:bare_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )


# -- the load generator -------------------------------------------------------------------


@dataclass
class Tally:
    ok: int = 0
    errors: int = 0
    acknowledged: int = 0  # every 2xx, warm-up included
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


#: Of every hundred requests: one STOP, nine ordinary replies, ninety delivery reports.
STOPS_PER_HUNDRED = 1
REPLIES_PER_HUNDRED = 9
ORDINARY_REPLIES = ("Merci, à samedi", "ok", "Quelle heure ?", "Bien reçu", "Super merci !")


def signed_request(port: int, sequence: int, *, prefix: str) -> bytes:
    """Return the raw HTTP/1.1 request of one distinct signed webhook of the mix (by its sequence)."""
    number = f"06{random.randrange(10**8):08d}"
    share = sequence % 100
    if share < STOPS_PER_HUNDRED + REPLIES_PER_HUNDRED:
        path = "/v1/carriers/sim/mo"
        text = "STOP" if share < STOPS_PER_HUNDRED else ORDINARY_REPLIES[sequence % len(ORDINARY_REPLIES)]
        payload = {
            "message_id": f"{prefix}-{sequence}",
            "from": number,
            "to": SHORT_CODE,
            "text": text,
            "received_at": "2026-11-25T10:00:00+00:00",
        }
    else:
        path = "/v1/carriers/sim/dlr"
        payload = {
            "message_id": f"{prefix}-{sequence}",
            "our_message_id": f"m-{prefix}-{sequence}",
            "status": "delivered" if sequence % 20 else "failed",
            "to": number,
            "reported_at": "2026-11-25T10:00:05+00:00",
        }
    return raw_signed_post(port, path, payload, secret=SECRET)


def raw_signed_post(port: int, path: str, payload: Mapping[str, object], *, secret: str) -> bytes:
    """Return the raw HTTP/1.1 POST of a JSON webhook signed as carriers sign them (no client library's cost)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Halte-Timestamp: {timestamp}\r\nX-Halte-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length framed) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def hammer(port: int, *, connections: int, seconds: float, warmup: float, prefix: str) -> tuple[Tally, float]:
    """Send signed MOs on `connections` keep-alive connections; count 2xx after the warm-up."""
    tally = Tally()
    sequence = iter(range(1 << 62))
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (now := time.perf_counter()) < stop_at:
                writer.write(signed_request(port, next(sequence), prefix=prefix))
                status = await read_response(reader)
                done = time.perf_counter()
                tally.acknowledged += 200 <= status < 300
                if now >= measure_from:
                    tally.statuses[status] = tally.statuses.get(status, 0) + 1
                    if 200 <= status < 300:
                        tally.ok += 1
                        tally.latencies.append(done - now)
                    else:
                        tally.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return tally, seconds


# -- orchestration ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, *, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with code {process.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s; see {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def cpu_meter(pid: int, *, postgres_dir: Path | None) -> Iterator[dict[str, float]]:
    """Measure CPU seconds spent by the server process (and this run's PostgreSQL) during the block."""
    import psutil

    def postgres_processes() -> list[psutil.Process]:
        for proc in psutil.process_iter(["cmdline"]):
            if str(postgres_dir) in " ".join(proc.info["cmdline"] or []):
                return [proc, *proc.children(recursive=True)]
        return []

    def sample() -> dict[str, float]:
        leader = psutil.Process(pid)
        spent_by_server = 0.0
        for proc in [leader, *leader.children(recursive=True)]:  # the supervisor and its workers
            try:
                times = proc.cpu_times()
                spent_by_server += times.user + times.system
            except psutil.Error:
                continue
        totals = {"server": spent_by_server}
        if postgres_dir is not None:
            spent = 0.0
            for proc in postgres_processes():
                try:
                    times = proc.cpu_times()
                    spent += times.user + times.system
                except psutil.Error:
                    continue  # a backend that ended meanwhile
            totals["postgres"] = spent
        return totals

    result: dict[str, float] = {}
    before = sample()
    try:
        yield result
    finally:
        after = sample()
        result.update({k: after[k] - before[k] for k in after})


def describe(name: str, tally: Tally, seconds: float) -> float:
    rate = tally.ok / seconds
    p50 = statistics.median(tally.latencies) * 1000 if tally.latencies else float("nan")
    p99 = statistics.quantiles(tally.latencies, n=100)[98] * 1000 if len(tally.latencies) >= 100 else float("nan")
    print(
        f"{name:<34} {rate:9.1f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"2xx {tally.ok}   other {tally.errors} {dict(sorted(tally.statuses.items()))}",
        flush=True,
    )
    return rate


async def count_records(database_url: str, schema: str, prefix: str) -> tuple[int, int]:
    """Return (replies and delivery reports recorded with this prefix, outbox rows still unpublished)."""
    import asyncpg

    from halte_shared.db import libpq_url

    conn = await asyncpg.connect(libpq_url(database_url), server_settings={"search_path": schema})
    try:
        pattern = f"{prefix}-%"
        replies = await conn.fetchval("SELECT count(*) FROM inbound_messages WHERE carrier_message_id LIKE $1", pattern)
        reports = await conn.fetchval("SELECT count(*) FROM delivery_reports WHERE carrier_message_id LIKE $1", pattern)
        backlog = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(replies) + int(reports), int(backlog)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of inbound and of the reference")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.workers)
        return 0

    from halte_shared.bus import ensure_topics
    from halte_shared.infra import EmbeddedBroker, EmbeddedPostgres, ensure_database
    from halte_shared.migrations import upgrade_to_head

    workdir = Path(tempfile.mkdtemp(prefix="halte-bench-inbound-"))
    postgres = EmbeddedPostgres(workdir / "postgres")
    broker = EmbeddedBroker(log_path=workdir / "broker.log")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print("Starting embedded PostgreSQL and the broker...", flush=True)
        database_url = ensure_database(postgres.start(), "halte_bench")
        broker.start()
        asyncio.run(ensure_topics(broker.bootstrap_servers))
        upgrade_to_head(package="halte_inbound", database_url=database_url, schema="inbound")

        inbound_port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "HALTE_ENV": "development",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "CARRIER_SIM_SECRET": SECRET,
            "PORT": str(inbound_port),
            "PYTHONUNBUFFERED": "1",
            "HALTE_INBOUND_WORKERS": str(args.workers),
        }
        inbound_log, bare_log = workdir / "inbound.log", workdir / "bare.log"
        with inbound_log.open("ab") as out:
            inbound = subprocess.Popen(
                [sys.executable, "-m", "halte_inbound", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        processes.append(inbound)
        with bare_log.open("ab") as out:
            bare = subprocess.Popen(
                [sys.executable, __file__, "--serve-bare", str(bare_port), "--workers", str(args.workers)],
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), *sys.path])},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(bare)
        wait_healthy(f"http://127.0.0.1:{inbound_port}/readyz", timeout=90, process=inbound, log=inbound_log)
        wait_healthy(f"http://127.0.0.1:{bare_port}/healthz", timeout=60, process=bare, log=bare_log)

        import httpx

        account = {
            "account_id": "acc-bench",
            "name": "Bench",
            "mode": "marketing",
            "short_codes": [SHORT_CODE],
            "contact_info": "bench@example.com",
            "changed_at": "2026-11-25T00:00:00+00:00",
        }
        httpx.post(
            f"http://127.0.0.1:{inbound_port}/v1/accounts/sync",
            json={"accounts": [account]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        ).raise_for_status()

        print(
            f"Measuring {args.seconds:.0f} s each (after {args.warmup:.0f} s warm-up), "
            f"{args.connections} connections, {args.workers} worker processes each, loopback, {os.cpu_count()} CPUs, "
            f"mix: {100 - STOPS_PER_HUNDRED - REPLIES_PER_HUNDRED} % delivery reports, "
            f"{REPLIES_PER_HUNDRED} % replies, {STOPS_PER_HUNDRED} % STOP",
            flush=True,
        )
        prefix = f"bench-{int(time.time())}"
        with cpu_meter(inbound.pid, postgres_dir=workdir / "postgres") as inbound_cpu:
            tally, seconds = asyncio.run(
                hammer(
                    inbound_port, connections=args.connections, seconds=args.seconds, warmup=args.warmup, prefix=prefix
                )
            )
        value = describe("inbound (signed, durable ack)", tally, seconds)
        with cpu_meter(bare.pid, postgres_dir=None) as bare_cpu:
            ref_tally, ref_seconds = asyncio.run(
                hammer(bare_port, connections=args.connections, seconds=args.seconds, warmup=args.warmup, prefix="bare")
            )
        reference = describe("bare FastAPI endpoint (reference)", ref_tally, ref_seconds)
        for name, meter, acknowledged in (
            ("inbound", inbound_cpu, tally.acknowledged),
            ("bare", bare_cpu, ref_tally.acknowledged),
        ):
            per_request = {k: v / max(acknowledged, 1) * 1000 for k, v in meter.items()}
            print(
                f"CPU per acknowledged request ({name}): "
                + ", ".join(f"{k} {v:.2f} ms" for k, v in per_request.items())
            )

        # Durability: one row per 2xx (warm-up requests are recorded too, so count them all).
        recorded, backlog = asyncio.run(count_records(database_url, "inbound", prefix))
        deadline = time.monotonic() + 30
        while backlog and time.monotonic() < deadline:
            time.sleep(0.5)
            _, backlog = asyncio.run(count_records(database_url, "inbound", prefix))
        verdict = "one per acknowledgement" if recorded == tally.acknowledged else "MISMATCH"
        print(
            f"durability: {tally.acknowledged} requests acknowledged, {recorded} replies and reports in PostgreSQL "
            f"({verdict}); "
            f"outbox backlog after a bounded drain: {backlog}",
            flush=True,
        )
        if tally.errors or recorded != tally.acknowledged or ref_tally.errors:
            # A figure bought with lost or refused webhooks is no figure: no RESULT line.
            print(
                f"ERROR: {tally.errors} requests got no 2xx ({ref_tally.errors} on the reference); "
                f"{recorded} replies recorded for {tally.acknowledged} acknowledged",
                flush=True,
            )
            return 1
        ratio = value / reference if reference else 0.0
        print(f"ratio inbound / bare = {ratio:.3f}")
        print(f"RESULT inbound_webhook value={value:.1f} unit=req/s reference={reference:.1f} ratio={ratio:.3f}")
        return 0
    finally:
        for process in processes:
            stop(process)
        broker.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
