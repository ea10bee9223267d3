"""HTTP app of the inbound service: carrier webhooks, the unsubscribe page, operator endpoints."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from halte_inbound.adapters.traffic import RepliesFirst
from halte_inbound.bootstrap import bootstrap
from halte_inbound.config import Settings
from halte_inbound.entrypoints import carriers, journal, operator, pages
from halte_shared import cli
from halte_shared.runtime import ServiceRuntime
from halte_shared.web import JsonBodyGuard, create_service_app

#: Signed carrier webhooks read their body under their own limit and authenticate it before
#: judging its characters (entrypoints/carriers.py), so the shared guard must not refuse
#: them first: a NUL there may be a recipient's "@", and carriers rarely retry a 4xx.
CARRIER_WEBHOOKS = "/v1/carriers/"


def create_app(settings: Settings, *, runtime_factory: Callable[[], ServiceRuntime] | None = None) -> FastAPI:
    """Build the service's FastAPI app (its lifespan starts the runtime `runtime_factory` builds)."""
    app = create_service_app(
        title="Halte inbound",
        description="carrier webhooks, reply classification, opt-out events, delivery reports, the unsubscribe page",
        runtime_factory=runtime_factory or (lambda: bootstrap(settings)),
        routers=[carriers.router, pages.router, operator.router, journal.router],
        test_mode=settings.test_mode,
    )
    JsonBodyGuard.leave_to_routes(app, CARRIER_WEBHOOKS)
    # Delivery reports wait behind replies and for one of a few slots; replies never wait, so a
    # DLR flood queues behind its own limit instead of ahead of a STOP (adapters/traffic.py).
    app.state.traffic = RepliesFirst(report_concurrency=settings.dlr_concurrency)
    return app


def app_from_environment() -> FastAPI:
    """Build the app of one worker process (``HALTE_INBOUND_WORKERS`` above 1; halte_shared/cli.py)."""
    from halte_inbound.config import load_settings

    return cli.app_from_environment(load_settings=load_settings, create_app=create_app)  # type: ignore[arg-type]
