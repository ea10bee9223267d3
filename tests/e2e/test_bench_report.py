"""bench/report.py: RESULT lines become one Markdown table and a chart of ratios."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _report_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_result_lines_are_parsed_and_a_missing_ratio_is_computed() -> None:
    report = _report_module()
    output = (
        "warming up\n"
        "RESULT dispatch_throughput value=2500 unit=msg/s reference=1000 ratio=2.5\n"
        "RESULT x value=3 unit=ms reference=6 ratio=nan?\n"
    )
    results = report.parse_results("dispatch", output, seconds=12)
    assert [(r.name, r.value, r.unit, r.reference, r.ratio) for r in results] == [
        ("dispatch_throughput", 2500.0, "msg/s", 1000.0, 2.5),
        ("x", 3.0, "ms", 6.0, 0.5),
    ]


def test_the_markdown_table_lists_figures_and_failures(tmp_path: Path) -> None:
    report = _report_module()
    ok = report.parse_results("dispatch", "RESULT dispatch_throughput value=2500 unit=msg/s reference=1000 ratio=2.5")
    failed = report.Result(script="optout", name="optout", error="exit code 1: boom")
    text = report.markdown([*ok, failed], chart="ratios.png")
    assert "| dispatch | dispatch_throughput | 2,500 | msg/s | 1,000 | 2.5 |" in text
    assert "**failed**" in text and "`optout`: exit code 1: boom" in text
    assert "![ratios](ratios.png)" in text


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = _report_module()
    results = report.parse_results(
        "b", "RESULT a value=2 unit=x reference=1 ratio=2\nRESULT c value=1 unit=x reference=2 ratio=0.5"
    )
    name = report.draw_chart(results, tmp_path / "ratios.png")
    assert name == "ratios.png"
    assert (tmp_path / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
