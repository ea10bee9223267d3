"""Bulk contact imports: spool the upload, parse it in chunks, COPY, validate as sets, merge.

The pipeline (a million rows in well under a minute on two cores):

1. The request streams the body to a spool file (bounded by HALTE_IMPORT_MAX_BYTES), checks
   a CSV header at once (a bad header is a 422 before anything is stored), records the job
   and answers 202; a worker task of this process runs the job.
2. The service process splits the file into chunks of whole records (the C csv parser finds
   where records end) and hands their text to a pool of worker processes
   (HALTE_IMPORT_WORKERS, one per core by default): each checks every row with the domain,
   the same checks as ``PUT /v1/contacts/{phone}`` (E.164 with a fast path for French
   mobiles, names, tags, consent by basis), and COPYs (binary) the good rows into an
   UNLOGGED staging table and the bad ones into the job's error report, over its own
   connection. The numbers of each chunk go to the suppression service's check (10,000 a
   call) concurrently. The event loop of the service stays free for requests.
3. Set-based validation: a number on several rows keeps its last row (the others are
   ``duplicate_phone``); numbers on the account's suppression list are removed and
   reported ``suppressed``, by a join with this service's copy of the list (learned from
   ``optout.recorded``) and with what the suppression service answered.
4. The last row of each number is sorted into a second table (one in-memory sort), then an
   ``UPDATE`` of the contacts that exist and an ``INSERT`` of the others merge it into the
   address book (an imported row replaces the contact's fields, as a PUT does). The merge
   holds the account's address-book lock, which upserts and opt-out erasures take too, so
   no ``ON CONFLICT`` (and its per-row speculative insertion) is needed. Staging tables go.

Suppression semantics (decided here): when the suppression service cannot be asked, the
import still refuses every number this service knows to be suppressed, and the job says
``suppression_check: "local_only"``. That cannot let marketing reach an opted-out number:
an opt-out still in flight deletes the contact when it is consumed, and the dispatcher
checks the authoritative list before every marketing send and holds when it cannot
(fail-closed at the point of sending). The import never sends anything.

A job lives in this process (its spool file is local): if the process dies, the job is
declared ``failed`` (``interrupted``) once its heartbeat is stale, its staging table is
dropped, and the client submits the file again; the merge is an upsert, so a re-run is
harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from halte_campaign_api.adapters.import_reader import (
    FileRefused,
    RowSource,
    StageResult,
    StageTask,
    read_csv_header,
    stage_chunk,
)
from halte_campaign_api.adapters.ports import SUPPRESSION_CHECK_MAX, ServiceUnavailable, chunks
from halte_campaign_api.adapters.tables import accounts, import_errors, import_jobs
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.handlers.contacts import ADDRESS_BOOK_LOCK
from halte_campaign_api.handlers.errors import NotFound
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.db import libpq_url

log = structlog.get_logger("halte.campaign_api.imports")

IMPORT_ROWS = Counter("halte_campaign_api_import_rows_total", "Contact import rows, by outcome.", ["outcome"])
IMPORT_SECONDS = Histogram(
    "halte_campaign_api_import_seconds",
    "Duration of contact import jobs.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300),
)

FORMATS = {"text/csv": "csv", "application/x-ndjson": "ndjson", "application/jsonl": "ndjson"}
HEARTBEAT_SECONDS = 10.0
MERGE_WORK_MEM = "256MB"
PREVIEW_ERRORS = 20


def import_format(content_type: str | None) -> str:
    """Return the import format of a Content-Type, or raise DomainError (415)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in FORMATS:
        raise DomainError(
            "unsupported_media_type",
            "Send the rows as text/csv or application/x-ndjson (JSON lines).",
            "Content-Type",
        )
    return FORMATS[media]


def staging_table(job_id: str) -> str:
    """Return the name of a job's staging table."""
    return "import_stage_" + uuid.UUID(job_id).hex


class TooLarge(Exception):
    """The upload exceeds the configured size."""


class ImportRunner:
    """Receive import files and run their jobs in this process."""

    def __init__(self, runtime: CampaignRuntime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._slots = asyncio.Semaphore(self.settings.import_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._spool_dir = Path(self.settings.import_spool_dir or tempfile.gettempdir())
        self._executor: ProcessPoolExecutor | None = None
        self._workers = 1
        self._dsn = libpq_url(self.settings.database_url)

    # -- submission -------------------------------------------------------------------
    async def submit(self, *, account_id: str, content_type: str | None, body: AsyncIterator[bytes]) -> dict[str, Any]:
        """Spool an upload, check its header, record the job and start it."""
        fmt = import_format(content_type)
        job_id = str(uuid.uuid4())
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        path = self._spool_dir / f"halte-import-{job_id}.{fmt}"
        try:
            size = await self._spool(body, path)
            if size == 0:
                raise FileRefused("empty_file", "The body is empty: send the rows to import.")
            if fmt == "csv":
                await asyncio.to_thread(read_csv_header, path)
        except FileRefused as refused:
            path.unlink(missing_ok=True)
            raise DomainError(refused.code, refused.message, refused.field) from refused
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        now = self.runtime.clock.now()
        job = {
            "id": job_id,
            "account_id": account_id,
            "format": fmt,
            "status": "queued",
            "phase": "queued",
            "bytes": size,
            "worker": self.worker,
            "created_at": now,
            "heartbeat_at": now,
        }
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(import_jobs.insert().values(**job))
        self._tasks[job_id] = asyncio.create_task(self._run(job_id, account_id, fmt, path), name=f"import:{job_id}")
        log.info("contact import received", account_id=account_id, job_id=job_id, format=fmt, bytes=size)
        return await self.get(account_id=account_id, job_id=job_id)

    async def _spool(self, body: AsyncIterator[bytes], path: Path) -> int:
        size = 0
        limit = self.settings.import_max_bytes
        with path.open("wb") as handle:
            async for piece in body:
                size += len(piece)
                if size > limit:
                    raise TooLarge(f"An import body holds at most {limit} bytes.")
                handle.write(piece)
        return size

    # -- the job ----------------------------------------------------------------------
    async def _run(self, job_id: str, account_id: str, fmt: str, path: Path) -> None:
        heartbeat = asyncio.create_task(self._beat(job_id), name=f"import-heartbeat:{job_id}")
        started = time.perf_counter()
        try:
            async with self._slots:
                await self._set(job_id, status="running", phase="parsing", started_at=self.runtime.clock.now())
                await self._execute(job_id, account_id, fmt, path)
            IMPORT_SECONDS.observe(time.perf_counter() - started)
        except FileRefused as refused:
            await self._fail(job_id, refused.code, refused.message)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._fail(job_id, "interrupted", "The service stopped during the import; send it again.")
            )
            raise
        except Exception as exc:
            if isinstance(exc, BrokenProcessPool):
                self._executor = None  # a worker died: the next job gets a fresh pool
            log.exception("a contact import failed", job_id=job_id, account_id=account_id)
            await self._fail(job_id, "import_failed", f"The import failed: {exc.__class__.__name__}. Send it again.")
        finally:
            heartbeat.cancel()
            await asyncio.to_thread(path.unlink, missing_ok=True)
            self._tasks.pop(job_id, None)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            workers = self.settings.import_workers or min(4, os.cpu_count() or 2)
            # spawn: a fork of a process running an event loop and threads is not safe.
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            self._workers = workers
        return self._executor

    async def _execute(self, job_id: str, account_id: str, fmt: str, path: Path) -> None:
        now = self.runtime.clock.now()
        async with self.runtime.sessions() as session:
            # As it stands when the job starts: the non_commercial basis needs the operator's flag.
            flagged = bool(
                (await session.execute(select(accounts.c.non_commercial).where(accounts.c.id == account_id))).scalar()
            )
        source = await asyncio.to_thread(RowSource, path, fmt=fmt, max_rows=self.settings.import_max_rows)
        table = staging_table(job_id)
        remote_suppressed: set[str] = set()
        remote_ok = True
        checks: list[asyncio.Task[None]] = []
        in_flight: deque[asyncio.Future[StageResult]] = deque()

        async def check_remote(phones: list[str]) -> None:
            nonlocal remote_ok
            if not remote_ok:
                return
            try:
                remote_suppressed.update(await self.runtime.suppression.check(account_id=account_id, phones=phones))
            except ServiceUnavailable as exc:
                if remote_ok:
                    log.warning(
                        "the suppression service did not answer during an import; "
                        "numbers are checked against this service's own copy of the list",
                        job_id=job_id,
                        error=str(exc),
                    )
                remote_ok = False

        async with self.runtime.engine.connect() as sa_conn:
            conn = await _asyncpg(sa_conn)
            await conn.execute(
                f"CREATE UNLOGGED TABLE {table} (row_no integer NOT NULL, phone text NOT NULL, first_name text,"
                " last_name text, postal_code text, tags text[] NOT NULL, consent_basis text NOT NULL,"
                " consent_collected_at timestamptz, consent_source text, consent_wording text,"
                " consent_last_purchase_at timestamptz, consent_profession text,"
                " consent_purchase_categories text[] NOT NULL)"
            )
            try:
                rows = rejected = 0
                started = time.perf_counter()
                loop = asyncio.get_running_loop()
                pool = self._pool()
                ahead = 2 * self._workers
                reading = True
                while reading or in_flight:
                    if reading and len(in_flight) < ahead:
                        chunk = await asyncio.to_thread(source.read, self.settings.import_chunk_rows)
                        reading = not chunk.done
                        if chunk.rows:
                            task = StageTask(
                                dsn=self._dsn,
                                schema=self.settings.schema_name,
                                table=table,
                                job_id=job_id,
                                fmt=fmt,
                                columns=source.columns,
                                delimiter=source.delimiter,
                                now=now,
                                text=chunk.text,
                                first_line=chunk.first_line,
                                account_non_commercial=flagged,
                            )
                            in_flight.append(loop.run_in_executor(pool, stage_chunk, task))
                        continue
                    result = await in_flight.popleft()
                    for group in chunks(result.phones, SUPPRESSION_CHECK_MAX):
                        checks.append(asyncio.create_task(check_remote(group)))
                    rows += result.rows
                    rejected += result.rejected
                    await self._set(job_id, rows_processed=rows, rows_rejected=rejected)
                await self._set(job_id, phase="checking_suppression", rows_total=rows)
                parsed = time.perf_counter()
                await asyncio.gather(*checks)
                await self._set(job_id, phase="merging")
                checked = time.perf_counter()
                result_counts = await _merge(
                    conn,
                    table=table,
                    job_id=job_id,
                    account_id=account_id,
                    remote_suppressed=sorted(remote_suppressed),
                    now=now,
                )
                merged = time.perf_counter()
            finally:
                for task_ in checks:
                    task_.cancel()
                # Workers still copying must finish before their table goes.
                await asyncio.gather(*in_flight, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_final"))
                await asyncio.to_thread(source.close)
        rejected += result_counts["duplicates"] + result_counts["suppressed"]
        IMPORT_ROWS.labels("imported").inc(result_counts["imported"])
        IMPORT_ROWS.labels("rejected").inc(rejected)
        await self._set(
            job_id,
            status="completed",
            phase="completed",
            rows_imported=result_counts["imported"],
            rows_rejected=rejected,
            suppression_check="complete" if remote_ok else "local_only",
            finished_at=self.runtime.clock.now(),
        )
        log.info(
            "contact import completed",
            job_id=job_id,
            account_id=account_id,
            rows=rows,
            imported=result_counts["imported"],
            rejected=rejected,
            suppressed=result_counts["suppressed"],
            suppression_check="complete" if remote_ok else "local_only",
            check_and_copy_seconds=round(parsed - started, 2),
            suppression_wait_seconds=round(checked - parsed, 2),
            merge_seconds=round(merged - checked, 2),
            workers=self._workers,
        )

    async def _beat(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):
                await self._set(job_id, heartbeat_at=self.runtime.clock.now())

    async def _set(self, job_id: str, **values: Any) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(
                update(import_jobs)
                .where(import_jobs.c.id == job_id)
                .values(heartbeat_at=self.runtime.clock.now(), **values)
            )

    async def _fail(self, job_id: str, code: str, message: str) -> None:
        log.warning("a contact import was refused or interrupted", job_id=job_id, code=code, reason=message)
        try:
            await self._set(
                job_id,
                status="failed",
                phase="failed",
                error_code=code,
                error_message=message,
                finished_at=self.runtime.clock.now(),
            )
        except Exception as exc:
            log.error("could not record the failure of an import job", job_id=job_id, error=repr(exc))

    # -- reading ----------------------------------------------------------------------
    async def get(self, *, account_id: str, job_id: str) -> dict[str, Any]:
        """Return a job's progress (404 for another account's job)."""
        job = await self._job(account_id=account_id, job_id=job_id)
        async with self.runtime.sessions() as session:
            preview = (
                await session.execute(
                    select(import_errors)
                    .where(import_errors.c.job_id == job_id)
                    .order_by(import_errors.c.row_no)
                    .limit(PREVIEW_ERRORS)
                )
            ).all()
        return job_view(job, preview)

    async def _job(self, *, account_id: str, job_id: str) -> Any:
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise NotFound("The import job", "id") from None
        async with self.runtime.sessions() as session:
            job = (
                await session.execute(
                    select(import_jobs).where(and_(import_jobs.c.id == job_id, import_jobs.c.account_id == account_id))
                )
            ).first()
        if job is None:
            raise NotFound("The import job", "id")
        return job

    async def errors_csv(self, *, account_id: str, job_id: str) -> AsyncIterator[bytes]:
        """Return the job's error report as CSV chunks (checked for tenancy before streaming)."""
        await self._job(account_id=account_id, job_id=job_id)
        return self._stream_errors(job_id)

    async def _stream_errors(self, job_id: str) -> AsyncIterator[bytes]:
        yield b"row,phone,code,field,message\n"
        after = 0
        while True:
            async with self.runtime.sessions() as session:
                rows = (
                    await session.execute(
                        select(import_errors)
                        .where(import_errors.c.job_id == job_id, import_errors.c.row_no > after)
                        .order_by(import_errors.c.row_no)
                        .limit(5000)
                    )
                ).all()
            if not rows:
                return
            yield "".join(_csv_line(r.row_no, r.phone, r.code, r.field, r.message) for r in rows).encode()
            after = rows[-1].row_no

    # -- operations -------------------------------------------------------------------
    async def reap_stale(self) -> int:
        """Declare interrupted the jobs whose worker stopped beating, and drop their staging tables."""
        cutoff = self.runtime.clock.now() - timedelta(seconds=self.settings.import_stale_seconds)
        async with self.runtime.sessions() as session, session.begin():
            stale = (
                await session.execute(
                    update(import_jobs)
                    .where(import_jobs.c.status.in_(("queued", "running")), import_jobs.c.heartbeat_at < cutoff)
                    .values(
                        status="failed",
                        phase="failed",
                        error_code="interrupted",
                        error_message="The service stopped during the import; send it again.",
                        finished_at=self.runtime.clock.now(),
                    )
                    .returning(import_jobs.c.id)
                )
            ).all()
        for row in stale:
            async with self.runtime.engine.begin() as conn:
                await conn.exec_driver_sql(
                    f"DROP TABLE IF EXISTS {staging_table(row.id)}, {staging_table(row.id)}_final"
                )
            log.warning(
                "an import job was interrupted (its worker stopped); the client must send it again", job_id=row.id
            )
        return len(stale)

    async def reaper_loop(self) -> None:
        """Reap stale jobs now and then, for the life of the service."""
        while True:
            with contextlib.suppress(Exception):
                await self.reap_stale()
            await asyncio.sleep(max(5.0, self.settings.import_stale_seconds / 4))

    async def stop(self) -> None:
        """Interrupt the running jobs (each records itself as interrupted)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
            self._executor = None

    async def wait(self, job_id: str) -> None:
        """Wait until a job of this process finishes (tests and the benchmark)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)


def _csv_line(*cells: Any) -> str:
    out = []
    for cell in cells:
        text = "" if cell is None else str(cell)
        if any(c in text for c in ',"\n\r') or text[:1] in ("=", "+", "-", "@"):
            # Quote, and defuse spreadsheet formulas in what the client wrote.
            text = '"' + ("'" + text if text[:1] in ("=", "@") else text).replace('"', '""') + '"'
        out.append(text)
    return ",".join(out) + "\n"


def job_view(job: Any, preview: list[Any]) -> dict[str, Any]:
    """Return an import job as the API shows it."""
    return {
        "id": job.id,
        "status": job.status,
        "phase": job.phase,
        "format": job.format,
        "bytes": job.bytes,
        "rows_total": job.rows_total,
        "rows_processed": job.rows_processed,
        "rows_imported": job.rows_imported,
        "rows_rejected": job.rows_rejected,
        "suppression_check": job.suppression_check,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "errors": [
            {"row": e.row_no, "phone": e.phone, "code": e.code, "field": e.field, "message": e.message} for e in preview
        ],
        "errors_url": f"/v1/contacts/imports/{job.id}/errors.csv",
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


async def _asyncpg(sa_conn: AsyncConnection) -> asyncpg.Connection:
    raw = await sa_conn.get_raw_connection()
    return raw.driver_connection  # type: ignore[return-value]


_CONTACT_COLUMNS = (
    "phone, first_name, last_name, postal_code, tags, consent_basis, consent_collected_at, consent_source,"
    " consent_wording, consent_last_purchase_at, consent_profession, consent_purchase_categories"
)


async def _merge(
    conn: asyncpg.Connection,
    *,
    table: str,
    job_id: str,
    account_id: str,
    remote_suppressed: list[str],
    now: Any,
) -> dict[str, int]:
    """Validate the staged rows as sets and merge them into the address book, in one transaction."""
    final = f"{table}_final"
    async with conn.transaction():
        # One sort of a million numbers fits in memory; the session default (4 MB) would spill to disk.
        await conn.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
        # An opt-out consumed meanwhile waits for the merge, then erases what it merged; an upsert
        # waits too, which makes the UPDATE-then-INSERT below safe without ON CONFLICT.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ADDRESS_BOOK_LOCK + account_id)
        await conn.execute(f"ANALYZE {table}")
        suppressed = _count(
            await conn.execute(
                f"""
                WITH gone AS (
                    DELETE FROM {table} s
                    WHERE s.phone = ANY($3::text[])
                       OR EXISTS (
                           SELECT 1 FROM suppression_state x
                           WHERE x.account_id = $2 AND x.phone = s.phone AND x.suppressed
                       )
                    RETURNING s.row_no, s.phone
                )
                INSERT INTO import_errors (job_id, row_no, phone, code, message, field)
                SELECT $1, row_no, phone, 'suppressed',
                       'This number opted out of the account''s messages; it stays only on the suppression list.',
                       'phone'
                FROM gone
                """,
                job_id,
                account_id,
                remote_suppressed,
            )
        )
        staged = await conn.fetchval(f"SELECT count(*) FROM {table}")
        # The last row of each number, in number order (so the inserts below append to the index).
        kept = _count(
            await conn.execute(
                f'CREATE UNLOGGED TABLE {final} AS SELECT DISTINCT ON (phone COLLATE "C") * FROM {table}'
                f' ORDER BY phone COLLATE "C", row_no DESC'
            )
        )
        duplicates = 0
        if kept < staged:
            duplicates = _count(
                await conn.execute(
                    f"""
                    INSERT INTO import_errors (job_id, row_no, phone, code, message, field)
                    SELECT $1, s.row_no, s.phone, 'duplicate_phone',
                           'The number appears again further down the file; its last row is imported.', 'phone'
                    FROM {table} s
                    WHERE NOT EXISTS (SELECT 1 FROM {final} f WHERE f.row_no = s.row_no)
                    """,
                    job_id,
                )
            )
        updated = _count(
            await conn.execute(
                f"""
                UPDATE contacts c SET
                    first_name = s.first_name,
                    last_name = s.last_name,
                    postal_code = s.postal_code,
                    tags = s.tags,
                    consent_basis = s.consent_basis,
                    consent_collected_at = s.consent_collected_at,
                    consent_source = s.consent_source,
                    consent_wording = s.consent_wording,
                    consent_last_purchase_at = s.consent_last_purchase_at,
                    consent_profession = s.consent_profession,
                    consent_purchase_categories = s.consent_purchase_categories,
                    updated_at = $2
                FROM {final} s
                WHERE c.account_id = $1 AND c.phone = s.phone
                """,
                account_id,
                now,
            )
        )
        inserted = _count(
            await conn.execute(
                f"""
                INSERT INTO contacts (account_id, {_CONTACT_COLUMNS}, created_at, updated_at)
                SELECT $1::varchar, {_CONTACT_COLUMNS}, $2, $2
                FROM {final} s
                WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = $1::varchar AND c.phone = s.phone)
                """,
                account_id,
                now,
            )
        )
        await conn.execute(f"DROP TABLE {final}")
    return {"imported": updated + inserted, "duplicates": duplicates, "suppressed": suppressed}


def _count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "INSERT 0 1000".
    return int(status.rsplit(" ", 1)[-1])
