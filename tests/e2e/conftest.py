"""Fixtures of the end-to-end tier: the real stack as processes, with Kannel and the carrier simulator.

The platform is started once per session, on free ports and in its own temporary directory
(its own PostgreSQL and broker), so the tests pass beside a running `make run`. Tests
isolate themselves by account (each creates its own, with its own short code).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers beside the tests (invariants, harness, scenario, browser) are plain modules.
sys.path.insert(0, str(Path(__file__).parent))

from harness import Platform  # noqa: E402

from halte_shared.kannel_gateway import kannel_installed  # noqa: E402


def _start(platform: Platform) -> Platform:
    try:
        return platform.start()
    except Exception as exc:
        logs = "\n".join(
            f"--- {name} ---\n{platform.log_tail(name, 25)}"
            for name in ("campaign-api", "inbound", "suppression", "dispatcher", "notifier", "carrier-sim")
        )
        raise RuntimeError(f"the e2e platform did not start: {exc}\n{logs}") from exc


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform once per session: Kannel with fakesmsc as the default carrier, the simulator
    for the numbers the fault tests use (+3367...), so both carriers share one start-up."""
    carrier = "kannel" if kannel_installed() else "sim"
    started = _start(Platform(tmp_path_factory.mktemp("platform"), carrier=carrier))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def kannel_platform(platform: Platform) -> Platform:
    """The platform, when Kannel is its carrier."""
    if platform.kannel is None:
        pytest.skip("Kannel is not installed (scripts/system-deps.sh installs kannel and kannel-extras)")
    return platform


#: Modules that share the session's platform run in this order: the journey first (it owns the
#: clock while it runs), then hostile input and inbound's workers, then the faults, which kill
#: services and the broker.
_ORDER = ("test_journey", "test_hostile", "test_inbound_workers", "test_faults")
#: Modules with a platform of their own run before any other starts the session's, so two
#: platforms never share the machine's cores.
_FIRST = ("test_stop_faults",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = Path(str(item.fspath)).stem
        if module in _FIRST:
            return -2
        return _ORDER.index(module) if module in _ORDER else -1

    items.sort(key=rank)
