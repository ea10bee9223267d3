"""HTTP routes of the dispatcher service."""

from __future__ import annotations

from fastapi import FastAPI

from halte_dispatcher.bootstrap import bootstrap
from halte_dispatcher.config import Settings
from halte_shared.web import create_service_app


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    return create_service_app(
        title="Halte dispatcher",
        description="turns dispatch requests into policy decisions and carrier submissions",
        runtime_factory=lambda: bootstrap(settings),
        routers=[],
        test_mode=settings.test_mode,
    )
