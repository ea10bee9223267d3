"""Checkov over what an SRE deploys: every rendered overlay and every Dockerfile, no failed check.

A check may be skipped only where it is written down, with its reason: a `checkov.io/skipN`
annotation on the resource or a `# checkov:skip=ID:reason` comment in the Dockerfile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BUILDS = ("dev", "dev/migrations", "prod", "prod/migrations")
DOCKERFILES = [REPO / "docker" / "base.Dockerfile", *sorted(REPO.glob("services/*/Dockerfile"))]


def checkov_command() -> str | None:
    """Return checkov's path: $HALTE_CHECKOV, the project's own (.venv/checkov), or one on PATH."""
    for candidate in (os.environ.get("HALTE_CHECKOV"), str(REPO / ".venv" / "checkov" / "bin" / "checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("checkov")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (Debian kubernetes-client)")
def test_checkov_leaves_no_failed_check_and_no_unexplained_skip(tmp_path: Path) -> None:
    checkov = checkov_command()
    if checkov is None:
        pytest.skip(
            "checkov is not installed: python3 -m venv .venv/checkov && .venv/bin/uv pip install "
            "--python .venv/checkov/bin/python --require-hashes -r deploy/tests/requirements-checkov.txt"
        )
    (tmp_path / "k8s").mkdir()
    for build in BUILDS:
        rendered = subprocess.run(
            ["kubectl", "kustomize", str(DEPLOY / "k8s" / "overlays" / build)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        (tmp_path / "k8s" / f"{build.replace('/', '-')}.yaml").write_text(rendered)
    for dockerfile in DOCKERFILES:
        target = tmp_path / "docker" / dockerfile.relative_to(REPO).parent / dockerfile.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dockerfile, target)

    result = subprocess.run(
        [checkov, "--config-file", str(DEPLOY / ".checkov.yaml"), "-d", str(tmp_path), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"},
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    reports: list[dict[str, Any]] | dict[str, Any] = json.loads(result.stdout)
    by_framework = {r["check_type"]: r for r in (reports if isinstance(reports, list) else [reports])}
    assert set(by_framework) == {"kubernetes", "dockerfile"}, f"checkov scanned {sorted(by_framework)}"

    problems = []
    for framework, report in by_framework.items():
        summary = report["summary"]
        assert summary["resource_count"] > 0 and summary["parsing_errors"] == 0, f"{framework}: {summary}"
        for failed in report["results"].get("failed_checks", []):
            problems.append(
                f"{framework}: {failed['check_id']} ({failed['check_name']}) fails for {failed['resource']}"
                f" in {Path(failed['file_path']).name}"
            )
        for skipped in report["results"].get("skipped_checks", []):
            reason = (skipped.get("check_result", {}).get("suppress_comment") or "").strip()
            if not reason or reason == "No comment provided":
                problems.append(
                    f"{framework}: {skipped['check_id']} skipped without a reason for {skipped['resource']}"
                )
    assert not problems, "\n".join(problems)
    assert result.returncode == 0, result.stderr[-3000:]
