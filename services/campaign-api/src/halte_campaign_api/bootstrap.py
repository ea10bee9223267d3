"""The composition root of the campaign-api service: every port wired once, with defaults."""

from __future__ import annotations

from halte_campaign_api.config import Settings
from halte_shared.clock import Clock
from halte_shared.runtime import ServiceRuntime


def bootstrap(settings: Settings, *, clock: Clock | None = None) -> ServiceRuntime:
    """Build the runtime of the service: database, bus, relay, consumers."""
    runtime = ServiceRuntime(settings, clock=clock)
    return runtime
