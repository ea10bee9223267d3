"""Read an uploaded import file and stage its rows: the file is split here, rows are checked in workers.

The service process reads the file in chunks of raw rows (the CSV module and line splitting
are C-fast); worker processes check each row with the domain (the same checks as
``PUT /v1/contacts/{phone}``) and COPY the good rows (binary) into the job's UNLOGGED staging
table and the bad ones into its error report, each worker over its own connection. Checking
a row costs about 15 µs of Python; in workers it runs on every core while the service
process keeps serving requests.

A row is named by its line number in the file (the CSV header is line 1, so the first
contact is line 2, as a spreadsheet shows it; a quoted cell spanning lines names the line
where its row ends). Errors carry what the client wrote as the number, cut short and with
NUL or unpaired surrogates escaped, since PostgreSQL cannot store those.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from halte_campaign_api.domain.errors import DomainError, safe_text
from halte_campaign_api.domain.imports import check_csv_header, contact_from_csv, contact_from_json

#: Columns of the staging table, in the order of each COPY record.
STAGING_COLUMNS = (
    "row_no",
    "phone",
    "first_name",
    "last_name",
    "postal_code",
    "tags",
    "consent_basis",
    "consent_collected_at",
    "consent_source",
    "consent_wording",
    "consent_last_purchase_at",
    "consent_profession",
    "consent_purchase_categories",
)
ERROR_COLUMNS = ("job_id", "row_no", "phone", "code", "message", "field")

ErrorRow = tuple[int, str | None, str, str, str | None]


class FileRefused(Exception):
    """The whole file cannot be imported (bad header, encoding, too many rows)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def sniff_delimiter(header_line: str) -> str:
    """Return the CSV delimiter of a header line: comma, or semicolon as spreadsheets write in France."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_csv_header(path: Path) -> tuple[tuple[str, ...], str]:
    """Return the checked columns and delimiter of a CSV file, or raise FileRefused."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline(64 * 1024)
    except UnicodeDecodeError as exc:
        raise FileRefused("invalid_encoding", "The file is not UTF-8 text.") from exc
    if not first.strip():
        raise FileRefused("empty_file", "The file is empty: a CSV import starts with a header line.")
    delimiter = sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    try:
        return check_csv_header(header), delimiter
    except DomainError as err:
        raise FileRefused(err.code, err.message, err.field) from err


@dataclass
class RawChunk:
    """Whole records as written in the file: their text, the line the first starts on, how many."""

    text: str = ""
    first_line: int = 0
    rows: int = 0
    done: bool = False


class RowSource:
    """Split an import file into chunks of whole records (not thread-safe: one call at a time).

    The CSV module finds where records end (a quoted cell may span lines); the chunk carries
    the records' original text, so a worker parses it exactly as a single pass would have.
    """

    def __init__(self, path: Path, *, fmt: str, max_rows: int) -> None:
        self.fmt = fmt
        self.max_rows = max_rows
        self.rows_read = 0
        self.columns: tuple[str, ...] = ()
        self.delimiter = ","
        self._csv: Any = None
        self._pending: list[str] = []
        self._next_line = 1
        if fmt == "csv":
            self.columns, self.delimiter = read_csv_header(path)
        self._handle: io.TextIOWrapper = path.open(encoding="utf-8-sig", newline="" if fmt == "csv" else None)
        if fmt == "csv":
            self._csv = csv.reader(self._recorded_lines(), delimiter=self.delimiter)
            next(self._csv)  # the header, checked above
            self._pending.clear()
            self._next_line = 2

    def _recorded_lines(self) -> Iterator[str]:
        # csv.reader pulls one line at a time and never reads ahead of the record it builds.
        for line in self._handle:
            self._pending.append(line)
            yield line

    def close(self) -> None:
        self._handle.close()

    def read(self, size: int) -> RawChunk:
        """Return up to ``size`` records, or raise FileRefused."""
        chunk = RawChunk(first_line=self._next_line)
        try:
            if self.fmt == "csv":
                self._read_csv(chunk, size)
            else:
                self._read_json(chunk, size)
        except UnicodeDecodeError as exc:
            raise FileRefused(
                "invalid_encoding", f"The file is not UTF-8 text (near row {self.rows_read + 1})."
            ) from exc
        except csv.Error as exc:
            raise FileRefused("invalid_csv", f"The CSV is malformed near row {self.rows_read + 1}: {exc}.") from exc
        chunk.text = "".join(self._pending)
        self._pending.clear()
        self.rows_read += chunk.rows
        if self.rows_read > self.max_rows:
            raise FileRefused("too_many_rows", f"An import holds at most {self.max_rows} rows.")
        return chunk

    def _read_csv(self, chunk: RawChunk, size: int) -> None:
        reader = self._csv
        for cells in reader:
            if cells and (len(cells) > 1 or cells[0].strip()):
                chunk.rows += 1
            if chunk.rows >= size:
                self._next_line = reader.line_num + 1
                return
        chunk.done = True

    def _read_json(self, chunk: RawChunk, size: int) -> None:
        pending = self._pending
        for line in self._handle:
            pending.append(line)
            self._next_line += 1
            if line.strip():
                chunk.rows += 1
                if chunk.rows >= size:
                    return
        chunk.done = True


# -- worker side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageTask:
    """One chunk for a worker: where to COPY it and the rows to check."""

    dsn: str
    schema: str
    table: str
    job_id: str
    fmt: str
    columns: tuple[str, ...]
    delimiter: str
    now: datetime
    text: str
    first_line: int
    #: Whether the operator flagged the account non-commercial (the non_commercial basis needs it).
    account_non_commercial: bool = False


@dataclass(frozen=True)
class StageResult:
    """What a worker staged: row counts and the numbers to ask the suppression service about."""

    rows: int
    rejected: int
    phones: list[str]


def raw_rows(task: StageTask) -> Iterator[tuple[int, Any]]:
    """Yield a chunk's records with their line numbers: CSV cells, or a JSON line."""
    if task.fmt == "csv":
        reader = csv.reader(io.StringIO(task.text, newline=""), delimiter=task.delimiter)
        base = task.first_line - 1
        for cells in reader:
            if cells and (len(cells) > 1 or cells[0].strip()):
                yield base + reader.line_num, cells
    else:
        for offset, line in enumerate(task.text.split("\n")):
            if line.strip():
                yield task.first_line + offset, line


def check_rows(task: StageTask) -> tuple[int, list[tuple[Any, ...]], list[ErrorRow], list[str]]:
    """Check every row of a chunk: row count, COPY records, error rows, and the good rows' numbers."""
    records: list[tuple[Any, ...]] = []
    errors: list[ErrorRow] = []
    phones: list[str] = []
    columns, now, flagged = task.columns, task.now, task.account_non_commercial
    phone_index = columns.index("phone") if "phone" in columns else 0
    count = 0
    for row_no, raw in raw_rows(task):
        count += 1
        try:
            if task.fmt == "csv":
                contact = contact_from_csv(raw, columns=columns, now=now, account_non_commercial=flagged)
            else:
                try:
                    data = json.loads(raw)
                except ValueError:
                    errors.append((row_no, None, "invalid_json", "The line is not valid JSON.", None))
                    continue
                contact = contact_from_json(data, now=now, account_non_commercial=flagged)
        except DomainError as err:
            errors.append((row_no, _raw_phone(task.fmt, raw, phone_index), err.code, safe_text(err.message), err.field))
            continue
        consent = contact.consent
        records.append(
            (
                row_no,
                contact.phone,
                contact.first_name,
                contact.last_name,
                contact.postal_code,
                contact.tags,
                consent["basis"],
                consent.get("collected_at"),
                consent.get("source"),
                consent.get("wording"),
                consent.get("last_purchase_at"),
                consent.get("profession"),
                consent.get("purchase_categories") or [],
            )
        )
        phones.append(contact.phone)
    return count, records, errors, phones


def _raw_phone(fmt: str, raw: Any, phone_index: int) -> str | None:
    # What the client wrote, cut short: the report is for finding the row, not for storing data.
    if fmt == "csv":
        value = raw[phone_index] if phone_index < len(raw) else None
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        value = data.get("phone") if isinstance(data, dict) else None
    return safe_text(value[:40]) if isinstance(value, str) else None


class _Worker:
    """A worker process's event loop and connection, kept from one chunk to the next."""

    loop: asyncio.AbstractEventLoop | None = None
    conn: asyncpg.Connection | None = None
    key: tuple[str, str] | None = None


async def _usable(conn: asyncpg.Connection | None) -> bool:
    """Tell whether a kept connection still works (the server may have dropped it since the last chunk)."""
    if conn is None or conn.is_closed():
        return False
    try:
        # One round trip per chunk of thousands of rows: cheaper than an import failed by a stale connection.
        await conn.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()
        return False
    return True


async def _connection(task: StageTask) -> asyncpg.Connection:
    key = (task.dsn, task.schema)
    if not await _usable(_Worker.conn) or _Worker.key != key:
        if _Worker.conn is not None and not _Worker.conn.is_closed():
            await _Worker.conn.close()
        _Worker.conn = await asyncpg.connect(
            task.dsn, server_settings={"search_path": task.schema, "application_name": "campaign-api-import"}
        )
        _Worker.key = key
    return _Worker.conn


async def _stage(task: StageTask) -> StageResult:
    count, records, errors, phones = check_rows(task)
    conn = await _connection(task)
    try:
        if records:
            await conn.copy_records_to_table(task.table, records=records, columns=STAGING_COLUMNS)
        if errors:
            await conn.copy_records_to_table(
                "import_errors", records=[(task.job_id, *e) for e in errors], columns=ERROR_COLUMNS
            )
    except BaseException:
        # A connection in an unknown state is not reused.
        await conn.close()
        _Worker.conn = None
        raise
    return StageResult(rows=count, rejected=len(errors), phones=phones)


def stage_chunk(task: StageTask) -> StageResult:
    """Check a chunk's rows and COPY them into the staging table and the error report (in a worker)."""
    if _Worker.loop is None:
        _Worker.loop = asyncio.new_event_loop()
    # A chunk makes a million small objects, none in a reference cycle: the cyclic collector
    # would only scan them again and again (it costs a third of the time), refcounting frees them.
    gc.disable()
    try:
        return _Worker.loop.run_until_complete(_stage(task))
    finally:
        gc.enable()
