"""HTTP routes of the campaign-api service."""

from __future__ import annotations

from fastapi import FastAPI

from halte_campaign_api.bootstrap import bootstrap
from halte_campaign_api.config import Settings
from halte_shared.web import create_service_app


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    return create_service_app(
        title="Halte campaign-api",
        description="Accounts, contacts with consent, campaigns, unit sends, preview, launch, reports, ledger.",
        runtime_factory=lambda: bootstrap(settings),
        routers=[],
        test_mode=settings.test_mode,
    )
