"""HTTP routes of the inbound service."""

from __future__ import annotations

from fastapi import FastAPI

from halte_inbound.bootstrap import bootstrap
from halte_inbound.config import Settings
from halte_shared.web import create_service_app


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    return create_service_app(
        title="Halte inbound",
        description="carrier webhooks, reply classification, opt-out events, delivery reports, the unsubscribe page",
        runtime_factory=lambda: bootstrap(settings),
        routers=[],
        test_mode=settings.test_mode,
    )
