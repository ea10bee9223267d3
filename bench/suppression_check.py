"""Benchmark: bulk-check throughput of the suppression service against 1,000,000 suppressed numbers.

What it measures: 10,000,000 lookups, in 1,000 calls of 10,000 numbers each, through the
service's real `POST /v1/suppressions/check` (FastAPI app in-process over ASGI, so HTTP
parsing, authentication, JSON, number normalisation and the database query all count; only
the TCP socket is left out), against a `suppressions` table of 1,000,000 rows (10 accounts
of 100,000 numbers) loaded with COPY. Half of each call's numbers are suppressed for the
account, half are not.

The reference, in the same run on the same table: the best raw way to do the same work, the
service's own query (``CHECK_SQL``: ``= ANY`` of the sorted, distinct numbers, the index read
in order) on the same 10,000 numbers per call, from a bare asyncpg connection (no HTTP, no
JSON, no parsing): the floor the service's work sits on. The two are interleaved call by call,
alternating which goes first, so cache warmth favours neither. Both answers are compared
on every call, and a mismatch ends the run without a RESULT.

Ends with: RESULT suppression_bulk_check value=<numbers/s> unit=numbers/s reference=<numbers/s>
ratio=<value/reference> (higher is better). Starts its own embedded PostgreSQL in a
temporary directory unless DATABASE_URL is set (then it works in a throw-away schema).
Options: --accounts, --per-account, --calls, --batch (defaults as above).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from halte_shared.db import libpq_url
from halte_shared.infra import EmbeddedPostgres, ensure_database
from halte_shared.migrations import upgrade_to_head
from halte_suppression.adapters.repository import CHECK_SQL

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _suppression_app import suppression_app  # noqa: E402

TOKEN = "bench-admin-token-0123456789"
# Valid French mobile ranges (phonenumbers' metadata): 6 then [0-24-8]d, 7 then [3-9]d.
MOBILE_PREFIXES = [f"+336{d}" for d in "0124578"] + [f"+337{d}" for d in "3456789"]


def random_mobiles(rng: random.Random, count: int) -> list[str]:
    """Return `count` random valid French mobile numbers in E.164."""
    prefixes = MOBILE_PREFIXES
    return [f"{rng.choice(prefixes)}{rng.randrange(10_000_000):07d}" for _ in range(count)]


def load_numbers(rng: random.Random, *, accounts: int, per_account: int) -> dict[str, list[str]]:
    """Return each bench account's suppressed numbers (distinct within an account)."""
    numbers: dict[str, list[str]] = {}
    for n in range(accounts):
        chosen: set[str] = set()
        while len(chosen) < per_account:
            chosen.update(random_mobiles(rng, per_account - len(chosen)))
        numbers[f"bench-acc-{n:02d}"] = sorted(chosen)
    return numbers


async def copy_table(url: str, schema: str, numbers: dict[str, list[str]]) -> float:
    """COPY the suppressions in and analyse the table; return the seconds it took."""
    conn = await asyncpg.connect(libpq_url(url), server_settings={"search_path": schema})
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        sequence = 0
        for account, phones in numbers.items():
            records = []
            for phone in phones:
                sequence += 1
                records.append((account, phone, True, now, "sms", sequence, now))
            await conn.copy_records_to_table(
                "suppressions",
                records=records,
                columns=["account_id", "phone", "active", "since", "channel", "sequence", "updated_at"],
            )
        await conn.execute("UPDATE sequence_counter SET last_sequence = $1", sequence)
        await conn.execute("ANALYZE suppressions")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def run(url: str, schema: str, args: argparse.Namespace) -> int:
    rng = random.Random(20261126)
    print(f"preparing {args.accounts * args.per_account:,} suppressed numbers ...", flush=True)
    numbers = load_numbers(rng, accounts=args.accounts, per_account=args.per_account)
    await asyncio.to_thread(upgrade_to_head, package="halte_suppression", database_url=url, schema=schema)
    load_seconds = await copy_table(url, schema, numbers)
    total_rows = sum(len(v) for v in numbers.values())
    print(f"load: {total_rows:,} rows by COPY (+ ANALYZE) in {load_seconds:.2f} s", flush=True)

    app, runtime = suppression_app(database_url=url, schema=schema, token=TOKEN)
    reference = await asyncpg.connect(libpq_url(url), server_settings={"search_path": schema})
    version = await reference.fetchval("SHOW server_version")
    accounts = list(numbers)
    ours_seconds = reference_seconds = 0.0
    looked_up = found = 0
    half = args.batch // 2
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://suppression",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as client:

            async def ours(account: str, phones: list[str]) -> tuple[float, set[str]]:
                started = time.perf_counter()
                answer = await client.post("/v1/suppressions/check", json={"account_id": account, "phones": phones})
                elapsed = time.perf_counter() - started
                answer.raise_for_status()
                return elapsed, set(answer.json()["suppressed"])

            async def theirs(account: str, phones: list[str]) -> tuple[float, set[str]]:
                started = time.perf_counter()
                rows = await reference.fetch(CHECK_SQL, account, sorted(set(phones)))
                return time.perf_counter() - started, {r[0] for r in rows}

            for call in range(-args.warmup, args.calls):
                account = accounts[call % len(accounts)]
                phones = rng.sample(numbers[account], half) + random_mobiles(rng, args.batch - half)
                rng.shuffle(phones)
                first, second = (ours, theirs) if call % 2 == 0 else (theirs, ours)
                (t1, s1), (t2, s2) = await first(account, phones), await second(account, phones)
                (t_ours, s_ours), (t_ref, s_ref) = ((t1, s1), (t2, s2)) if first is ours else ((t2, s2), (t1, s1))
                if s_ours != s_ref:
                    print(f"MISMATCH on call {call}: service {len(s_ours)} vs reference {len(s_ref)}", flush=True)
                    return 1
                if call < 0:
                    continue  # warm-up: caches, prepared statements, the planner's generic plan
                ours_seconds += t_ours
                reference_seconds += t_ref
                looked_up += len(phones)
                found += len(s_ours)
                if (call + 1) % max(1, args.calls // 10) == 0:
                    print(
                        f"  {call + 1:>5} calls: service {looked_up / ours_seconds:>12,.0f} numbers/s, "
                        f"its query alone {looked_up / reference_seconds:>12,.0f} numbers/s",
                        flush=True,
                    )
    finally:
        await reference.close()
        await runtime.engine.dispose()
        await runtime.producer.stop()  # never started (no broker needed); closed for a clean exit

    value = looked_up / ours_seconds
    ref = looked_up / reference_seconds
    print(f"PostgreSQL {version}; {os.cpu_count()} CPUs; table {total_rows:,} rows; {args.calls} calls x {args.batch}")
    print(f"load time (COPY + ANALYZE): {load_seconds:.2f} s")
    print(f"lookups: {looked_up:,}, found suppressed: {found:,}")
    print(f"service bulk check (HTTP in-process): {ours_seconds:.2f} s -> {value:,.0f} numbers/s")
    print(f"its query alone, raw asyncpg:         {reference_seconds:.2f} s -> {ref:,.0f} numbers/s")
    print(f"RESULT suppression_bulk_check value={value:.0f} unit=numbers/s reference={ref:.0f} ratio={value / ref:.3f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--per-account", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    schema = f"bench_suppression_{os.getpid()}"
    with ExitStack() as stack:
        if url := os.environ.get("DATABASE_URL"):
            cleanup_url = url
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="halte-bench-")))
            server = EmbeddedPostgres(workdir / "postgres")
            started = time.perf_counter()
            admin_url = server.start()
            stack.callback(server.stop)
            url = ensure_database(admin_url, "halte_bench")
            cleanup_url = ""
            print(f"embedded PostgreSQL started in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            return asyncio.run(run(url, schema, args))
        finally:
            if cleanup_url:
                asyncio.run(drop_schema(cleanup_url, schema))


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
