"""The Dockerfiles, read as a reviewer reads them: one shared base, pinned inputs, non-root, healthy.

No Docker engine is needed; checkov's Dockerfile checks are in test_checkov.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from halte_shared.settings import SERVICE_PORTS

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "docker" / "base.Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """Return a Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def last(path: Path, keyword: str) -> str:
    found = [rest for kw, rest in instructions(path) if kw == keyword]
    assert found, f"{path.relative_to(REPO)} has no {keyword}"
    return found[-1]


def test_base_image_installs_the_hash_pinned_requirements_and_shared_once() -> None:
    steps = instructions(BASE)
    froms = [rest for kw, rest in steps if kw == "FROM"]
    assert froms and all(re.match(r"python:3\.11(\.\d+)?-slim", f) for f in froms), froms
    runs = " ".join(rest for kw, rest in steps if kw == "RUN")
    assert "--require-hashes -r requirements-bootstrap.txt" in runs
    assert "--require-hashes -r requirements.txt" in runs
    assert "./shared" in runs and "--no-deps" in runs
    assert last(BASE, "USER") == "10001:10001"
    assert "healthcheck.py" in last(BASE, "HEALTHCHECK")


@pytest.mark.parametrize("service", SERVICE_PORTS)
def test_service_image_adds_only_its_package_to_the_base_and_runs_unprivileged(service: str) -> None:
    dockerfile = REPO / "services" / service / "Dockerfile"
    package = "halte_" + service.replace("-", "_")
    steps = instructions(dockerfile)
    assert [rest for kw, rest in steps if kw == "FROM"] == ["${BASE_IMAGE}"]
    assert any(kw == "ARG" and rest.startswith("BASE_IMAGE=") and "/halte/base:" in rest for kw, rest in steps)
    (install,) = [rest for kw, rest in steps if kw == "RUN"]
    assert f"source=services/{service}," in install and "--no-deps" in install and "--no-index" in install
    assert last(dockerfile, "USER") == "10001:10001", "the last USER must be the unprivileged one"
    assert last(dockerfile, "EXPOSE") == str(SERVICE_PORTS[service])
    assert last(dockerfile, "ENV") == f"PORT={SERVICE_PORTS[service]}"
    assert last(dockerfile, "ENTRYPOINT") == f'["python", "-m", "{package}"]'
    assert last(dockerfile, "CMD") == '["serve"]'
    assert "healthcheck.py" in last(dockerfile, "HEALTHCHECK")
    assert (REPO / "services" / service / "pyproject.toml").exists()


def test_build_context_leaves_out_local_state() -> None:
    rules = [r for r in (REPO / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "**", "start from nothing, then let in what the images need"
    needed = {"requirements.txt", "requirements-bootstrap.txt", "shared/src/", "services/*/src/"}
    assert needed <= {r.removeprefix("!") for r in rules if r.startswith("!")}


def test_healthcheck_fails_when_nothing_listens() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "docker" / "healthcheck.py")],
        env={"PORT": "9"},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 1 and "failed" in result.stderr
