"""Run every benchmark of bench/ and write one report: a Markdown table and a PNG chart.

Each benchmark is a script ``bench/<name>.py`` whose output ends with a line

    RESULT <name> value=<v> unit=<u> reference=<r> ratio=<ratio>

(the figure measured, its unit, the reference it is compared with, and their ratio, oriented
so that above 1 is better: value / reference for a throughput, reference / value for a
latency). This
script runs them one after the other (each in its own process, with a time limit), keeps
their full output beside the report, and writes under ``bench/results/``:

- ``report.md``: one table of figures, references and ratios, with the machine it ran on;
- ``ratios.png``: the ratios as bars against the line ratio = 1 (matplotlib; skipped, and
  said so, when matplotlib is not installed);
- ``<benchmark>.log``: each benchmark's output.

``python bench/report.py`` runs everything; ``--only NAME`` runs some; ``--from-logs``
rebuilds the report from the logs of an earlier run without running anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
RESULT_LINE = re.compile(
    r"^RESULT\s+(?P<name>\S+)\s+value=(?P<value>\S+)\s+unit=(?P<unit>\S+)\s+"
    r"reference=(?P<reference>\S+)\s+ratio=(?P<ratio>\S+)\s*$"
)


@dataclass(frozen=True, slots=True)
class Result:
    """One benchmark's figure, or why there is none."""

    script: str
    name: str
    value: float | None = None
    unit: str = ""
    reference: float | None = None
    ratio: float | None = None
    seconds: float = 0.0
    error: str | None = None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_results(script: str, output: str, *, seconds: float = 0.0) -> list[Result]:
    """Return the RESULT lines of a benchmark's output (a script may report several figures)."""
    results = []
    for line in output.splitlines():
        match = RESULT_LINE.match(line.strip())
        if not match:
            continue
        value, reference = _number(match["value"]), _number(match["reference"])
        ratio = _number(match["ratio"])
        if ratio is None and value is not None and reference:
            ratio = value / reference
        results.append(
            Result(
                script=script,
                name=match["name"],
                value=value,
                unit=match["unit"],
                reference=reference,
                ratio=ratio,
                seconds=seconds,
            )
        )
    return results


def discover(only: list[str] | None = None) -> list[Path]:
    """Return the benchmark scripts of bench/ (all but this one), in name order."""
    scripts = [
        p for p in sorted(BENCH_DIR.glob("*.py")) if p.name != Path(__file__).name and not p.name.startswith("_")
    ]
    if only:
        scripts = [p for p in scripts if p.stem in only or p.name in only]
    return scripts


def run_one(script: Path, *, timeout: float) -> list[Result]:
    """Run one benchmark, keep its output in results/<name>.log, and return its figures."""
    started = time.monotonic()
    log_path = RESULTS_DIR / f"{script.stem}.log"
    try:
        completed = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=BENCH_DIR.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        output, code = completed.stdout + completed.stderr, completed.returncode
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or ""
        output = (partial.decode() if isinstance(partial, bytes) else partial) + f"\n[timed out after {timeout:.0f} s]"
        code = None
    seconds = time.monotonic() - started
    log_path.write_text(output)
    results = parse_results(script.stem, output, seconds=seconds)
    if code != 0 or not results:
        why = "timed out" if code is None else (f"exit code {code}" if code else "no RESULT line")
        tail = " | ".join(output.strip().splitlines()[-2:])[:200]
        results = [*results, Result(script=script.stem, name=script.stem, seconds=seconds, error=f"{why}: {tail}")]
    return results


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or 0.01 <= abs(value) < 100_000:
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3g}"


def markdown(results: list[Result], *, chart: str | None) -> str:
    """Return the report as Markdown: one table, the machine, and the chart if drawn."""
    lines = [
        "# Halte benchmarks",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPU, Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "Each ratio is oriented so that above 1 is better: value / reference for a throughput, "
        "reference / value for a latency.",
        "",
        "| benchmark | figure | value | unit | reference | ratio | run time |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for r in results:
        if r.error:
            lines.append(f"| {r.script} | {r.name} | **failed** | | | | {r.seconds:.0f} s |")
        else:
            lines.append(
                f"| {r.script} | {r.name} | {_format(r.value)} | {r.unit} | {_format(r.reference)} "
                f"| {_format(r.ratio)} | {r.seconds:.0f} s |"
            )
    failures = [r for r in results if r.error]
    if failures:
        lines += ["", "## Failures", ""] + [f"- `{r.script}`: {r.error}" for r in failures]
    if chart:
        lines += ["", f"![ratios]({chart})"]
    if not results:
        lines += ["", "No benchmark found in bench/."]
    return "\n".join(lines) + "\n"


def draw_chart(results: list[Result], path: Path) -> str | None:
    """Draw the ratios as horizontal bars; return the chart's file name, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart drawn (the table is complete).")
        return None
    measured = [r for r in results if r.ratio is not None and not r.error]
    if not measured:
        return None
    labels = [r.name for r in measured]
    ratios = [r.ratio or 0.0 for r in measured]
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(measured) + 1.5))
    colours = ["#2e7d32" if ratio >= 1 else "#c62828" for ratio in ratios]
    axes.barh(labels, ratios, color=colours)
    axes.axvline(1.0, color="black", linewidth=1, linestyle="--")
    axes.set_xlabel("ratio (above 1 is better)")
    axes.set_title("Halte benchmarks: figure against its reference")
    for index, (ratio, result) in enumerate(zip(ratios, measured, strict=True)):
        axes.text(ratio, index, f" {_format(result.value)} {result.unit}", va="center", fontsize=8)
    axes.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these benchmarks (names without .py)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one benchmark may take")
    parser.add_argument("--from-logs", action="store_true", help="rebuild the report from results/*.log")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a benchmark failed")
    args = parser.parse_args(argv)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for script in discover(args.only):
        if args.from_logs:
            log = RESULTS_DIR / f"{script.stem}.log"
            found = parse_results(script.stem, log.read_text()) if log.exists() else []
            results += found or [Result(script=script.stem, name=script.stem, error="no log of an earlier run")]
            continue
        print(f"running {script.name} ...", flush=True)
        found = run_one(script, timeout=args.timeout)
        for r in found:
            print(
                f"  {r.name}: "
                + (
                    f"FAILED ({r.error})"
                    if r.error
                    else f"{_format(r.value)} {r.unit} (reference {_format(r.reference)}, ratio {_format(r.ratio)})"
                )
            )
        results += found
    chart = draw_chart(results, RESULTS_DIR / "ratios.png")
    report_path = RESULTS_DIR / "report.md"
    report_path.write_text(markdown(results, chart=chart))
    print(f"report: {report_path}" + (f", chart: {RESULTS_DIR / chart}" if chart else ""))
    return 1 if args.strict and any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
