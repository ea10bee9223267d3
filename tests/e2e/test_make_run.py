"""`make run`'s launcher, as a person uses it: everything comes up ready, Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from halte_shared.stack import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_launcher_brings_every_service_to_ready_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-m", "halte_shared.stack", "run", "--data-dir", str(tmp_path / "halte"), "--free-ports"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")},
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert launcher.stdout is not None
        while time.monotonic() < deadline:
            line = launcher.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        text = "".join(output)
        assert "Halte is up" in text, text
        urls = re.findall(r"^\s+([a-z-]+)\s+(http://127\.0\.0\.1:\d+)\s", text, flags=re.M)
        names = {name for name, _ in urls}
        assert set(SERVICES) <= names, text
        for name, url in urls:
            response = httpx.get(f"{url}/readyz", timeout=5)
            assert response.status_code == 200, (url, response.text)
            if name in SERVICES:
                assert response.json()["checks"]["database"] == "ok"
                assert response.json()["checks"]["broker"] == "ok"
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 6, "the services and the broker run as separate processes"
        # PostgreSQL is detached from the launcher by pg_ctl; find it by its data directory.
        postgres = [
            p
            for p in psutil.process_iter(["cmdline"])
            if str(tmp_path / "halte" / "postgres") in " ".join(p.info["cmdline"] or [])
        ]
        assert postgres, "the embedded PostgreSQL runs"

        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)
        assert launcher.returncode == 0
        gone, alive = psutil.wait_procs(children + postgres, timeout=15)
        assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}"
    finally:
        if launcher.poll() is None:
            launcher.kill()
        rest = launcher.stdout.read() if launcher.stdout else ""
        print("".join(output) + rest)
