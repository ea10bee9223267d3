"""The composition root of the suppression service: every port wired once, with defaults."""

from __future__ import annotations

from halte_shared.clock import Clock
from halte_shared.runtime import ServiceRuntime
from halte_suppression.config import Settings


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> ServiceRuntime:
    """Build the runtime of the service: database, bus, relay, consumers."""
    runtime = ServiceRuntime(settings, clock=clock)
    return runtime
