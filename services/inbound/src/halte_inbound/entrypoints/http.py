"""HTTP app of the inbound service: carrier webhooks, the unsubscribe page, operator endpoints."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from halte_inbound.bootstrap import bootstrap
from halte_inbound.config import Settings
from halte_inbound.entrypoints import carriers, operator, pages
from halte_shared.runtime import ServiceRuntime
from halte_shared.web import create_service_app


def create_app(settings: Settings, *, runtime_factory: Callable[[], ServiceRuntime] | None = None) -> FastAPI:
    """Build the service's FastAPI app (its lifespan starts the runtime `runtime_factory` builds)."""
    return create_service_app(
        title="Halte inbound",
        description="carrier webhooks, reply classification, opt-out events, delivery reports, the unsubscribe page",
        runtime_factory=runtime_factory or (lambda: bootstrap(settings)),
        routers=[carriers.router, pages.router, operator.router],
        test_mode=settings.test_mode,
    )
