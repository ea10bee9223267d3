"""Import files split into chunks of whole records: a worker parses a chunk exactly as one pass would."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halte_campaign_api.adapters.import_reader import FileRefused, RowSource, StageTask, check_rows, raw_rows

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HEADER = ["phone", "first_name", "consent_basis"]


def chunks_of(path: Path, fmt: str, size: int) -> list[StageTask]:
    source = RowSource(path, fmt=fmt, max_rows=10**6)
    tasks = []
    try:
        while True:
            chunk = source.read(size)
            tasks.append(
                StageTask("", "", "", "", fmt, source.columns, source.delimiter, NOW, chunk.text, chunk.first_line)
            )
            if chunk.done:
                return tasks
    finally:
        source.close()


cells = st.text(alphabet=st.sampled_from(list('ab ,;"\n\r\t0é')), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.one_of(st.lists(cells, min_size=3, max_size=3), st.just([])), max_size=40),
    size=st.integers(min_value=1, max_value=7),
)
def test_chunked_csv_parses_as_a_single_pass(tmp_path: Path, rows: list[list[str]], size: int) -> None:
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        expected = [(reader.line_num, r) for r in reader if r and (len(r) > 1 or r[0].strip())]
    found = [row for task in chunks_of(path, "csv", size) for row in raw_rows(task)]
    assert found == expected


def test_json_lines_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "contacts.ndjson"
    lines = [json.dumps({"phone": f"06123456{n:02d}", "consent": {"basis": "none"}}) for n in range(5)]
    path.write_text("\n".join([lines[0], "", lines[1], lines[2], "  ", lines[3], lines[4]]) + "\n")
    found = [(n, json.loads(line)["phone"]) for task in chunks_of(path, "ndjson", 2) for n, line in raw_rows(task)]
    assert found == [(1, "0612345600"), (3, "0612345601"), (4, "0612345602"), (6, "0612345603"), (7, "0612345604")]


def test_rows_are_checked_and_errors_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        'phone;first_name;consent_basis\n06 12 34 56 78;"Léa";none\n\n12;"a\x00b";none\n0612345679;x;maybe\n'
    )
    [task] = chunks_of(path, "csv", 100)
    count, records, errors, phones = check_rows(task)
    assert (count, phones) == (3, ["+33612345678"])
    assert records[0][:3] == (2, "+33612345678", "Léa")
    assert [(e[0], e[1], e[2]) for e in errors] == [(4, "12", "invalid_number"), (5, "0612345679", "invalid_basis")]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"phone,consent_basis\n" + b"0612345678,none\n" * 5, "too_many_rows"),
        (b"phone,consent_basis\n\xff\xfe,none\n", "invalid_encoding"),
    ],
)
def test_whole_file_refusals(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(content)
    with pytest.raises(FileRefused) as err:
        source = RowSource(path, fmt="csv", max_rows=3)
        while not source.read(2).done:
            pass
    assert err.value.code == code


def test_header_refusals(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("phone,nickname,consent_basis\n")
    with pytest.raises(FileRefused) as err:
        RowSource(path, fmt="csv", max_rows=10)
    assert (err.value.code, err.value.field) == ("unknown_column", "nickname")


def test_workers_apply_the_accounts_non_commercial_flag(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "phone,consent_basis,consent_collected_at,consent_source\n"
        "0612345678,non_commercial,2025-06-01T10:00:00+02:00,don\n"
    )
    [task] = chunks_of(path, "csv", 100)
    _count, records, errors, _phones = check_rows(task)
    assert (records, [(e[0], e[2], e[4]) for e in errors]) == ([], [(2, "non_commercial_not_allowed", "consent.basis")])
    flagged = StageTask(**{**task.__dict__, "account_non_commercial": True})
    _count, records, errors, _phones = check_rows(flagged)
    assert (len(records), errors) == (1, [])
    assert records[0][-1] == []  # the staged purchase categories of a non-customer: none
