"""HTTP routes of the notifier service."""

from __future__ import annotations

from fastapi import FastAPI

from halte_notifier.bootstrap import bootstrap
from halte_notifier.config import Settings
from halte_shared.web import create_service_app


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    return create_service_app(
        title="Halte notifier",
        description="sends and bills the opt-out confirmation SMS and CONTACT replies, exactly once",
        runtime_factory=lambda: bootstrap(settings),
        routers=[],
        test_mode=settings.test_mode,
    )
