"""Benchmark: a 1,000,000-row contact import, beside a bare PostgreSQL COPY of the same file.

What is measured: campaign-api's import job, exactly the code behind
``POST /v1/contacts/import`` (spool the body, parse and check every row in chunks, COPY into
the UNLOGGED staging table, set-based duplicate and suppression checks, merge into the
address book), from the first byte of the upload to the job's completion. The HTTP transfer
itself is not included (the body is streamed from the file into the job), and the
suppression service's check is an in-process port that answers at once, so what is timed
is this service's own work. The reference is ``COPY ... FROM`` of the same CSV file into a
bare table of text columns, in the same run on the same server: the floor any import with
validation could approach. The ratio is import rows/s over COPY rows/s.

Starts its own embedded PostgreSQL (halte_shared.infra) unless DATABASE_URL is set.
Usage: ``python bench/contact_import.py [--rows N]``; the last line is
``RESULT contact_import value=<rows/s> unit=rows/s reference=<copy rows/s> ratio=<v/r>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from halte_campaign_api.adapters.ports import DispatchAnswer
from halte_campaign_api.config import Settings
from halte_campaign_api.handlers.imports import ImportRunner
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.db import libpq_url
from halte_shared.events import DispatchRequested
from halte_shared.infra import EmbeddedPostgres, ensure_database
from halte_shared.migrations import upgrade_to_head

SCHEMA = "campaign_api_bench"
HEADER = (
    "phone,first_name,last_name,postal_code,tags,consent_basis,consent_collected_at,consent_source,consent_wording\n"
)
FIRST_NAMES = ["Léa", "Camille", "Hugo", "Zoé", "Louis", "Chloé", "Jules", "Inès", "Lucas", "Manon", ""]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", ""]
POSTAL_CODES = ["75001", "69002", "13008", "67000", "57000", "33000", "97110", ""]
TAGS = ["vip", "paris|vip", "newsletter", "lyon", "", "b2c|promo"]


class NoSuppression:
    """The suppression service's port, answering at once that nothing is suppressed."""

    async def check(self, *, account_id: str, phones: list[str]) -> set[str]:
        return set()

    async def record_optout(self, *, account_id: str, phone: str, channel: str) -> dict[str, object]:
        return {}


class NoDispatcher:
    """The dispatcher's port; an import never sends."""

    async def dispatch(self, request: DispatchRequested) -> DispatchAnswer:
        raise RuntimeError("not used by the import")


def write_csv(path: Path, rows: int) -> None:
    """Write a realistic contact file: French mobiles in several notations, some foreign, some bad."""
    rng = random.Random(42)
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(rows):
            national = f"6{n:08d}" if n % 2 else f"7{(n % 60_000_000) + 30_000_000:08d}"
            shape = n % 10
            if shape < 4:
                phone = "0" + national
            elif shape < 7:
                phone = "+33" + national
            elif shape < 9:
                phone = "0" + " ".join([national[0], national[1:3], national[3:5], national[5:7], national[7:9]])
            else:
                phone = f"+3247{n % 10_000_000:07d}"  # Belgian mobiles: the phonenumbers path
            if n % 1000 == 999:
                phone = "01 23 45 67 89"  # a landline: refused with not_mobile
            out.write(
                f"{phone},{rng.choice(FIRST_NAMES)},{rng.choice(LAST_NAMES)},{rng.choice(POSTAL_CODES)},"
                f"{rng.choice(TAGS)},opt_in,2025-0{1 + n % 9}-1{n % 10}T10:{n % 60:02d}:00+02:00,website_form,"
                "J'accepte de recevoir les offres par SMS\n"
            )


async def stream_file(path: Path, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(chunk):
            yield piece


async def run_import(database_url: str, path: Path) -> tuple[float, dict[str, object]]:
    settings = Settings(
        DATABASE_URL=database_url,
        HALTE_DB_SCHEMA=SCHEMA,
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",  # the import publishes nothing; the producer never starts
        HALTE_ENV="test",
        ADMIN_TOKEN="bench-admin-token",
    )
    runtime = CampaignRuntime(settings, suppression=NoSuppression(), dispatcher=NoDispatcher())
    runner = ImportRunner(runtime)
    account_id = "00000000-0000-4000-8000-000000000001"
    now = runtime.clock.now()
    async with runtime.engine.begin() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO accounts (id, name, contact_info, mode, short_codes, created_at, updated_at) "
            "VALUES ($1, 'Bench', 'bench', 'marketing', ARRAY['36111'], $2, $2) ON CONFLICT DO NOTHING",
            (account_id, now),
        )
    try:
        # A running service keeps its worker processes from one import to the next: start them
        # with a one-row import first, so the figure is that of a warm service.
        warm = path.with_name("warm-up.csv")
        warm.write_text(HEADER + "+33600000000,,,,,none,,,\n")
        warm_job = await runner.submit(account_id=account_id, content_type="text/csv", body=stream_file(warm))
        await runner.wait(warm_job["id"])
        started = time.perf_counter()
        job = await runner.submit(account_id=account_id, content_type="text/csv", body=stream_file(path))
        await runner.wait(job["id"])
        elapsed = time.perf_counter() - started
        result = await runner.get(account_id=account_id, job_id=job["id"])
    finally:
        await runner.stop()
        await runtime.producer.stop()  # never started: the import publishes nothing
        await runtime.engine.dispose()
    return elapsed, result


async def run_copy(database_url: str, path: Path) -> float:
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (phone text, first_name text, last_name text, "
            "postal_code text, tags text, consent_basis text, consent_collected_at text, consent_source text, "
            "consent_wording text)"
        )
        started = time.perf_counter()
        await conn.copy_to_table("bench_copy", source=str(path), format="csv", header=True)
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_copy")
        return elapsed
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="halte-bench-import-") as workdir:
        work = Path(workdir)
        os.chmod(work, 0o755)  # the embedded server runs as its own user and reads the file for COPY
        server = None
        database_url = os.environ.get("DATABASE_URL")
        if database_url is None:
            server = EmbeddedPostgres(work / "postgres")
            database_url = ensure_database(server.start(), "halte_bench")
        try:
            upgrade_to_head(package="halte_campaign_api", database_url=database_url, schema=SCHEMA)
            csv_path = work / "contacts.csv"
            started = time.perf_counter()
            write_csv(csv_path, args.rows)
            os.chmod(csv_path, 0o644)
            size_mb = csv_path.stat().st_size / 1e6
            print(f"wrote {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s", flush=True)

            copy_seconds = asyncio.run(run_copy(database_url, csv_path))
            copy_rate = args.rows / copy_seconds
            print(f"PostgreSQL COPY into a bare table: {copy_seconds:.2f} s, {copy_rate:,.0f} rows/s", flush=True)

            import_seconds, job = asyncio.run(run_import(database_url, csv_path))
            if job["status"] != "completed":
                print(f"the import did not complete: {job['status']} {job['error']}", file=sys.stderr)
                return 1
            import_rate = args.rows / import_seconds
            print(
                f"campaign-api import: {import_seconds:.2f} s, {import_rate:,.0f} rows/s "
                f"({job['rows_imported']:,} imported, {job['rows_rejected']:,} refused)",
                flush=True,
            )
            ratio = import_rate / copy_rate
            print(f"ratio import/COPY: {ratio:.3f} (the import does {1 / ratio:.1f}x the work of a bare COPY)")
            print(
                f"RESULT contact_import value={import_rate:.0f} unit=rows/s reference={copy_rate:.0f} ratio={ratio:.3f}"
            )
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
