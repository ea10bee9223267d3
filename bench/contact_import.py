"""Benchmark: a 1,000,000-row contact import, beside a bare PostgreSQL COPY of the same file.

What is measured: campaign-api's import job, exactly the code behind
``POST /v1/contacts/import`` (spool the body, parse and check every row in chunks, COPY into
the UNLOGGED staging table, set-based duplicate and suppression checks, merge into the
address book), from the first byte of the upload to the job's completion. The HTTP transfer
of the upload itself is not included (the body is streamed from the file into the job). The
suppression check is the real one: the suppression service's app runs in this process, over
its own tables (one number in a hundred of the file is on the account's list), and campaign-api
asks it through its production HTTP adapter (an in-process ASGI transport instead of a socket).
The reference is ``COPY ... FROM`` of the same CSV file into a bare table of text columns, in
the same run on the same server: the floor any import with validation could approach. The
ratio is import rows/s over COPY rows/s.

Integrity: the job must complete with the suppression check ``complete``, import exactly the
rows that are neither landlines nor suppressed, refuse exactly those, and leave that many
contacts in the address book; otherwise the bench prints why and exits 1 without a RESULT.

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
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from halte_campaign_api.adapters.ports import DispatchAnswer, HttpSuppression
from halte_campaign_api.config import Settings
from halte_campaign_api.handlers.imports import ImportRunner
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.db import libpq_url
from halte_shared.events import DispatchRequested
from halte_shared.infra import EmbeddedPostgres, ensure_database
from halte_shared.migrations import upgrade_to_head

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _suppression_app import suppression_app  # noqa: E402

SCHEMA = "campaign_api_bench"
SUPPRESSION_SCHEMA = "suppression_bench"
ACCOUNT_ID = "00000000-0000-4000-8000-000000000001"
TOKEN = "bench-admin-token-0123456789"
#: One row in a hundred is a number the account's suppression list holds.
SUPPRESSED_EVERY = 100
#: The one-row import that warms the service up (not a number of the file).
WARM_UP_PHONE = "+33600000000"
HEADER = (
    "phone,first_name,last_name,postal_code,tags,consent_basis,consent_collected_at,consent_source,consent_wording\n"
)
FIRST_NAMES = ["Léa", "Camille", "Hugo", "Zoé", "Louis", "Chloé", "Jules", "Inès", "Lucas", "Manon", ""]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", ""]
POSTAL_CODES = ["75001", "69002", "13008", "67000", "57000", "33000", "97110", ""]
TAGS = ["vip", "paris|vip", "newsletter", "lyon", "", "b2c|promo"]


class NoDispatcher:
    """The dispatcher's port; an import never sends."""

    async def dispatch(self, request: DispatchRequested) -> DispatchAnswer:
        raise RuntimeError("not used by the import")


def row_phone(n: int) -> tuple[str, str | None]:
    """Return row ``n``'s number as written and as E.164 (None for a landline, refused as not_mobile)."""
    national = f"6{n:08d}" if n % 2 else f"7{(n % 60_000_000) + 30_000_000:08d}"
    if n % 1000 == 999:
        return "01 23 45 67 89", None
    shape = n % 10
    if shape < 4:
        return "0" + national, "+33" + national
    if shape < 7:
        return "+33" + national, "+33" + national
    if shape < 9:
        spaced = " ".join([national[0], national[1:3], national[3:5], national[5:7], national[7:9]])
        return "0" + spaced, "+33" + national
    belgian = f"+3247{n % 10_000_000:07d}"  # Belgian mobiles: the phonenumbers path
    return belgian, belgian


def suppressed_numbers(rows: int) -> list[str]:
    """Return the E.164 numbers of the rows the account's suppression list holds."""
    return [e164 for n in range(SUPPRESSED_EVERY // 2, rows, SUPPRESSED_EVERY) if (e164 := row_phone(n)[1])]


def write_csv(path: Path, rows: int) -> tuple[int, int]:
    """Write a realistic contact file; return (rows to import, rows to refuse)."""
    rng = random.Random(42)
    refused = 0
    suppressed = set(suppressed_numbers(rows))
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(rows):
            phone, e164 = row_phone(n)
            refused += e164 is None or e164 in suppressed
            out.write(
                f"{phone},{rng.choice(FIRST_NAMES)},{rng.choice(LAST_NAMES)},{rng.choice(POSTAL_CODES)},"
                f"{rng.choice(TAGS)},opt_in,2025-0{1 + n % 9}-1{n % 10}T10:{n % 60:02d}:00+02:00,website_form,"
                "J'accepte de recevoir les offres par SMS\n"
            )
    return rows - refused, refused


async def load_suppressions(database_url: str, phones: list[str]) -> None:
    """Put these numbers on the bench account's suppression list (the suppression service's tables)."""
    conn = await asyncpg.connect(libpq_url(database_url), server_settings={"search_path": SUPPRESSION_SCHEMA})
    try:
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "suppressions",
            records=[(ACCOUNT_ID, phone, True, now, "sms", n + 1, now) for n, phone in enumerate(phones)],
            columns=["account_id", "phone", "active", "since", "channel", "sequence", "updated_at"],
        )
        await conn.execute("UPDATE sequence_counter SET last_sequence = $1", len(phones))
        await conn.execute("ANALYZE suppressions")
    finally:
        await conn.close()


async def count_contacts(database_url: str) -> int:
    conn = await asyncpg.connect(libpq_url(database_url), server_settings={"search_path": SCHEMA})
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM contacts WHERE account_id = $1 AND phone <> $2", ACCOUNT_ID, WARM_UP_PHONE
            )
        )
    finally:
        await conn.close()


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
    app, checker_runtime = suppression_app(database_url=database_url, schema=SUPPRESSION_SCHEMA, token=TOKEN)
    suppression = HttpSuppression(
        base_url="http://suppression", token=TOKEN, timeout=60, transport=httpx.ASGITransport(app=app)
    )
    runtime = CampaignRuntime(settings, suppression=suppression, dispatcher=NoDispatcher())
    runner = ImportRunner(runtime)
    account_id = ACCOUNT_ID
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
        warm.write_text(HEADER + f"{WARM_UP_PHONE},,,,,none,,,\n")
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
        await suppression.aclose()
        await checker_runtime.engine.dispose()
        await checker_runtime.producer.stop()  # never started
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
            upgrade_to_head(package="halte_suppression", database_url=database_url, schema=SUPPRESSION_SCHEMA)
            csv_path = work / "contacts.csv"
            started = time.perf_counter()
            expected_imported, expected_refused = write_csv(csv_path, args.rows)
            asyncio.run(load_suppressions(database_url, suppressed_numbers(args.rows)))
            os.chmod(csv_path, 0o644)
            size_mb = csv_path.stat().st_size / 1e6
            print(f"wrote {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s", flush=True)

            copy_seconds = asyncio.run(run_copy(database_url, csv_path))
            copy_rate = args.rows / copy_seconds
            print(f"PostgreSQL COPY into a bare table: {copy_seconds:.2f} s, {copy_rate:,.0f} rows/s", flush=True)

            import_seconds, job = asyncio.run(run_import(database_url, csv_path))
            if job["status"] != "completed":
                print(f"ERROR: the import did not complete: {job['status']} {job['error']}", file=sys.stderr)
                return 1
            stored = asyncio.run(count_contacts(database_url))
            problems = [
                f"{name} is {got}, expected {want}"
                for name, got, want in (
                    ("suppression_check", job["suppression_check"], "complete"),
                    ("rows_imported", job["rows_imported"], expected_imported),
                    ("rows_rejected", job["rows_rejected"], expected_refused),
                    ("contacts in the address book", stored, expected_imported),
                )
                if got != want
            ]
            if problems:
                print("ERROR: the import's counts are wrong: " + "; ".join(problems), file=sys.stderr)
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
