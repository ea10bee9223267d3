"""Benchmark: a STOP's latency to enforcement while a campaign's delivery reports flood inbound.

Every SMS a campaign sends comes back as a delivery report, and a STOP reply must never queue
behind them (services/inbound/src/halte_inbound/adapters/traffic.py: replies first, reports in
a bounded number of slots). This bench offers ``--dlr-rate`` (2,000) signed delivery reports per
second to inbound, from a process of its own on ``--connections`` (64) keep-alive connections,
each on a fixed schedule (a report late on its slot is sent at once, never bunched), while
STOP replies from distinct numbers arrive at ``--stop-rate`` (5) per second for
``--stop-seconds`` (20) seconds, after ``--lead`` (3) seconds of flood alone.

The whole platform runs as processes, as ``make run`` starts it (tests/e2e/harness.py
``Platform``, inbound with two workers). A STOP's latency is measured as in
bench/stop_to_enforced.py: from its ``received_at`` (the instant it was sent) to the instant
the dispatcher's opt-out view started blocking the number, as the dispatcher records it, then
confirmed by the dispatcher's policy answering ``refuse``/``suppressed``.

Integrity (exit 1, no RESULT): every STOP acknowledged (2xx) and enforced within
``--deadline``; every delivery report answered 2xx (a refused or lost report is no figure:
carriers retry, but a 429 or 5xx here is a failure), and inbound's database holding exactly
one report per acknowledgement.

Ends with ``RESULT stop_under_dlr_flood value=<p99 ms> unit=ms reference=500 ratio=<500/p99>``:
the reference is the goal (a STOP enforced within 500 ms at the 99th percentile under the
flood); a ratio above 1 meets it. The achieved report rate is printed beside it: a machine that
cannot take 2,000 reports a second shows how many it took.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from halte_shared.db import libpq_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inbound_webhook import raw_signed_post, read_response  # noqa: E402
from stop_to_enforced import (  # noqa: E402
    SHORT_CODE,
    Bench,
    Platform,
    Stop,
    percentile,
    stop_number,
)

GOAL_MS = 500.0
PREFIX = "flood"


# -- the flood, in a process of its own ------------------------------------------------------


@dataclass
class FloodTally:
    sent: int = 0
    acknowledged: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


def dlr_request(port: int, sequence: int, *, secret: str, prefix: str) -> bytes:
    """Return the raw HTTP/1.1 request of one distinct signed delivery report."""
    payload = {
        "message_id": f"{prefix}-{sequence}",
        "our_message_id": f"m-{prefix}-{sequence}",
        "status": "delivered" if sequence % 20 else "failed",
        "to": f"+33612{sequence % 1_000_000:06d}",
        "reported_at": datetime.now(UTC).isoformat(),
    }
    return raw_signed_post(port, "/v1/carriers/sim/dlr", payload, secret=secret)


async def _flood(port: int, *, secret: str, rate: float, seconds: float, connections: int) -> FloodTally:
    tally = FloodTally()
    sequence = iter(range(1 << 62))
    started = time.perf_counter()
    interval = connections / rate

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        slot = started + index * interval / connections
        try:
            while slot < started + seconds:
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                writer.write(dlr_request(port, next(sequence), secret=secret, prefix=PREFIX))
                tally.sent += 1
                status = await read_response(reader)
                tally.statuses[status] = tally.statuses.get(status, 0) + 1
                tally.acknowledged += 200 <= status < 300
                # The next slot on this connection's schedule; a late one is not made up twice.
                slot = max(slot + interval, time.perf_counter() - interval)
        finally:
            writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    tally.seconds = time.perf_counter() - started
    return tally


def flood_process(port: int, secret: str, rate: float, seconds: float, connections: int, answers: object) -> None:
    """Run the flood and put its tally on the `answers` queue (the entry point of the flood's process)."""
    tally = asyncio.run(_flood(port, secret=secret, rate=rate, seconds=seconds, connections=connections))
    answers.put(tally)  # type: ignore[attr-defined]


# -- the run --------------------------------------------------------------------------------


async def reports_recorded(database_url: str) -> int:
    conn = await asyncpg.connect(libpq_url(database_url), server_settings={"search_path": "inbound"})
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM delivery_reports WHERE carrier_message_id LIKE $1", f"{PREFIX}-%")
        )
    finally:
        await conn.close()


async def measure(platform: Platform, args: argparse.Namespace) -> int:
    admin = platform.admin()
    account_id, _ = admin.create_account(
        name="Maison Halte", short_code=SHORT_CODE, contact_info="bench.example", credits=10_000
    )
    bench = Bench(platform, account_id=account_id, args=args)
    try:
        deadline = time.monotonic() + 60
        while (await bench.verdict(stop_number("warm-up", 1)))[0] not in ("send", "hold"):
            if time.monotonic() > deadline:
                print("ERROR: the dispatcher did not learn the account within 60 s", flush=True)
                return 1
            await asyncio.sleep(0.2)
        warm = await bench.stop_and_watch(Stop("warm-up", stop_number("warm-up", 0)), deadline=60.0)
        if warm.failure:
            print(f"ERROR: the warm-up STOP failed: {warm.failure}", flush=True)
            return 1
        print(f"Warm-up STOP enforced in {warm.latency_ms:.0f} ms", flush=True)

        flood_seconds = args.lead + args.stop_seconds + 1
        print(
            f"Flood: {args.dlr_rate:,.0f} delivery reports/s offered on {args.connections} connections for "
            f"{flood_seconds:.0f} s; STOPs at {args.stop_rate:g}/s for {args.stop_seconds:.0f} s after "
            f"{args.lead:.0f} s",
            flush=True,
        )
        context = multiprocessing.get_context("spawn")
        answers = context.Queue()
        flood = context.Process(
            target=flood_process,
            args=(int(platform.ports["inbound"]), platform.sim_secret, args.dlr_rate, flood_seconds, args.connections),
            kwargs={"answers": answers},
        )
        flood.start()
        await asyncio.sleep(args.lead)
        phones = [stop_number("idle", i) for i in range(int(args.stop_rate * args.stop_seconds))]
        await bench.check_not_suppressed(phones)
        stops = await bench.steady(phones, rate=args.stop_rate)
        tally: FloodTally = await asyncio.to_thread(answers.get, True, flood_seconds + 120)
        await asyncio.to_thread(flood.join, 30)
    finally:
        await bench.close()

    failures = [f"{s.phone}: {s.failure}" for s in stops if s.failure]
    ok = [s.latency_ms for s in stops if not s.failure]
    ack = [(s.acknowledged - s.sent) * 1000 for s in stops if s.acknowledged is not None]
    achieved = tally.acknowledged / tally.seconds if tally.seconds else 0.0
    assert platform.stack is not None and platform.stack.database_url is not None
    recorded = await reports_recorded(platform.stack.database_url)
    print(
        f"delivery reports: {tally.sent:,} sent, {tally.acknowledged:,} acknowledged ({achieved:,.0f}/s of "
        f"{args.dlr_rate:,.0f}/s offered), statuses {dict(sorted(tally.statuses.items()))}; "
        f"{recorded:,} in inbound's database",
        flush=True,
    )
    if ok:
        print(
            f"STOP from received_at to enforced (ms): n {len(ok)}, p50 {percentile(ok, 50):.1f}, "
            f"p99 {percentile(ok, 99):.1f}, max {max(ok):.1f}; acknowledgement p50 {percentile(ack, 50):.1f}, "
            f"p99 {percentile(ack, 99):.1f}",
            flush=True,
        )
    if tally.acknowledged != tally.sent:
        failures.append(f"{tally.sent - tally.acknowledged} delivery reports got no 2xx: {tally.statuses}")
    if recorded != tally.acknowledged:
        failures.append(f"{recorded} reports recorded for {tally.acknowledged} acknowledged")
    if failures or not ok:
        print(f"FAILED: {len(failures)} problem(s):", *failures[:20], sep="\n  ", flush=True)
        return 1
    p99 = percentile(ok, 99)
    print(
        f"RESULT stop_under_dlr_flood value={p99:.1f} unit=ms reference={GOAL_MS:.0f} ratio={GOAL_MS / p99:.3f}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dlr-rate", type=float, default=2000.0, help="delivery reports offered per second")
    parser.add_argument("--connections", type=int, default=64, help="connections the reports arrive on")
    parser.add_argument("--stop-rate", type=float, default=5.0, help="STOPs per second during the flood")
    parser.add_argument("--stop-seconds", type=float, default=20.0, help="how long STOPs arrive")
    parser.add_argument("--lead", type=float, default=3.0, help="seconds of flood before the first STOP")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds a STOP may take to be enforced")
    parser.add_argument("--poll-ms", type=float, default=20.0, help="how often the dispatcher's record is read")
    parser.add_argument("--poll-concurrency", type=int, default=16, help="confirming policy probes in flight")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="halte-bench-flood-") as workdir:
        platform = Platform(Path(workdir), carrier="sim", short_codes=[SHORT_CODE])
        print("Starting PostgreSQL, the broker, the carrier simulator and the five services (test mode)...", flush=True)
        platform.start()
        try:
            # No clock shift: a STOP is enforced at any hour (suppression is checked before the window).
            return asyncio.run(measure(platform, args))
        finally:
            print("Stopping the platform...", flush=True)
            platform.stop()


if __name__ == "__main__":
    sys.exit(main())
