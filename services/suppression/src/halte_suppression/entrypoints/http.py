"""HTTP routes of the suppression service."""

from __future__ import annotations

from fastapi import FastAPI

from halte_shared.web import create_service_app
from halte_suppression.bootstrap import bootstrap
from halte_suppression.config import Settings


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    return create_service_app(
        title="Halte suppression",
        description="the authoritative blocklist: attributes opt-outs to accounts, records them, announces them",
        runtime_factory=lambda: bootstrap(settings),
        routers=[],
        test_mode=settings.test_mode,
    )
