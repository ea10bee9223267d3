"""inbound served by several worker processes on one port (HALTE_INBOUND_WORKERS, halte_shared/cli.py).

The session's platform runs inbound with two workers, as ``make run`` does, so every other e2e
test (the faults included) goes through them. These tests pin what the workers change: they are
really separate processes, /metrics adds up every worker whichever one answers, every STOP of a
concurrent burst is acknowledged and enforced, and a SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from harness import Platform, policy_verdict, wait_until

pytestmark = [pytest.mark.e2e]

STOPS = 40


def _inbound(platform: Platform) -> psutil.Process:
    assert platform.stack is not None
    process = platform.stack.services["inbound"].process
    assert process is not None and process.poll() is None
    return psutil.Process(process.pid)


def _workers(platform: Platform) -> list[psutil.Process]:
    # uvicorn's supervisor starts its workers through multiprocessing (spawn); its resource
    # tracker is a child too, and is no worker.
    return [
        child
        for child in _inbound(platform).children()
        if "resource_tracker" not in " ".join(child.cmdline()) and child.is_running()
    ]


def _stop_count(platform: Platform) -> float:
    text = httpx.get(f"{platform.url('inbound')}/metrics", timeout=10).text
    return sum(
        float(value)
        for value in re.findall(r'^halte_inbound_classified_total\{classification="stop"\} (\S+)$', text, flags=re.M)
    )


def test_inbound_runs_as_two_workers_and_metrics_add_them_up(platform: Platform) -> None:
    assert len(_workers(platform)) == 2, [p.cmdline() for p in _inbound(platform).children()]
    admin = platform.admin()
    short_code = f"36{secrets.randbelow(1000):03d}"
    account_id, _ = admin.create_account(
        name="Atelier Duo", short_code=short_code, contact_info="duo.example", credits=10
    )
    before = _stop_count(platform)
    phones = [f"+33698{secrets.randbelow(10**6):06d}" for _ in range(STOPS)]

    def stop(phone: str) -> int:
        return platform.post_carrier_mo(sender=phone, to=short_code, text="STOP").status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(stop, phones))
    assert all(200 <= code < 300 for code in codes), codes
    # Whichever worker answers the scrape, it reports both workers' counts.
    for _ in range(6):
        assert _stop_count(platform) - before == STOPS
    for phone in phones:
        wait_until(
            lambda phone=phone: (
                policy_verdict(platform, phone=phone, account_id=account_id, sender=short_code)
                == ("refuse", "suppressed")
            ),
            timeout=30,
            what=f"the STOP of {phone} to be enforced",
        )


def test_a_sigkilled_inbound_leaves_no_worker_behind(platform: Platform) -> None:
    workers = _workers(platform)
    assert workers
    platform.restart_service("inbound", kill=True)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers outlived their supervisor: {[p.pid for p in alive]}"
    assert len(_workers(platform)) == 2
    assert platform.post_carrier_mo(sender="+33698000001", to="36111", text="bonjour").status_code < 300
