"""The composition root of the dispatcher service: every port wired once, with defaults."""

from __future__ import annotations

from halte_dispatcher.config import Settings
from halte_shared.clock import Clock
from halte_shared.runtime import ServiceRuntime


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> ServiceRuntime:
    """Build the runtime of the service: database, bus, relay, consumers."""
    runtime = ServiceRuntime(settings, clock=clock)
    return runtime
