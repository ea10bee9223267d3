"""The service's runtime: the shared plumbing plus campaign-api's own ports and workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from halte_campaign_api.adapters.ports import DispatcherPort, SuppressionPort
from halte_campaign_api.config import Settings
from halte_campaign_api.domain.ratelimit import RateLimiter
from halte_shared.clock import Clock
from halte_shared.runtime import ServiceRuntime

log = structlog.get_logger("halte.runtime")

if TYPE_CHECKING:
    from halte_campaign_api.handlers.imports import ImportRunner
    from halte_campaign_api.handlers.launcher import Launcher


class CampaignRuntime(ServiceRuntime):
    """Everything a route or a consumer of campaign-api reaches: database, bus, ports, workers."""

    settings: Settings

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        suppression: SuppressionPort,
        dispatcher: DispatcherPort,
        **plumbing: Any,
    ) -> None:
        super().__init__(settings, clock=clock, **plumbing)
        self.suppression = suppression
        self.dispatcher = dispatcher
        self.send_limiter = RateLimiter(rate=settings.send_rate_per_second, burst=settings.send_burst)
        self.import_limiter = RateLimiter(rate=settings.import_rate_per_minute / 60.0, burst=settings.import_burst)
        self.launcher: Launcher
        self.imports: ImportRunner
