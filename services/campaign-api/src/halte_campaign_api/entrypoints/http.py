"""HTTP routes of the campaign-api service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from halte_campaign_api.adapters.ports import DispatcherPort, SuppressionPort
from halte_campaign_api.bootstrap import bootstrap
from halte_campaign_api.config import Settings
from halte_campaign_api.domain.errors import DomainError, safe_text
from halte_campaign_api.entrypoints.deps import RateLimited
from halte_campaign_api.entrypoints.routes import accounts, campaigns, contacts, messages, templates
from halte_campaign_api.handlers.errors import Conflict, NotFound, Unavailable
from halte_campaign_api.handlers.imports import TooLarge
from halte_shared.clock import Clock
from halte_shared.web import create_service_app, error_response

#: Refusals whose status is not 422 (a rule broken by the values sent).
STATUS_OF_CODE = {
    "insufficient_credits": 402,
    "invalid_status": 409,
    "suppressed": 409,
    "unsupported_media_type": 415,
    "payload_too_large": 413,
}
#: JSON bodies are small; only the import streams a large body.
MAX_JSON_BODY = 1024 * 1024
IMPORT_PATH = "/v1/contacts/import"


def _safe(text: str | None) -> str | None:
    return None if text is None else safe_text(text)


def install_campaign_errors(app: FastAPI) -> None:
    """Map campaign-api's refusals to the contract's error JSON."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(STATUS_OF_CODE.get(exc.code, 422), exc.code, safe_text(exc.message), _safe(exc.field))

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", exc.message, exc.field)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, exc.code, exc.message, exc.field)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return error_response(503, exc.code, exc.message, None, **{"Retry-After": "5"})

    @app.exception_handler(TooLarge)
    async def _too_large(_: Request, exc: TooLarge) -> JSONResponse:
        return error_response(413, "payload_too_large", str(exc), None)

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return error_response(
            429,
            "rate_limited",
            f"Too many {exc.what} for this account; retry in {exc.retry_after} s.",
            None,
            **{"Retry-After": str(exc.retry_after)},
        )


def install_body_limit(app: FastAPI) -> None:
    """Refuse an oversized JSON body before it is read (the import has its own limit)."""

    @app.middleware("http")
    async def _limit(request: Request, call_next: Callable[..., Any]) -> Response:
        length = request.headers.get("content-length")
        if request.url.path != IMPORT_PATH and length is not None:
            if not length.isdigit():
                return error_response(400, "bad_request", "Content-Length is not a number.", "Content-Length")
            if int(length) > MAX_JSON_BODY:
                return error_response(
                    413, "payload_too_large", f"A request body holds at most {MAX_JSON_BODY} bytes.", None
                )
        response: Response = await call_next(request)
        return response


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    suppression: SuppressionPort | None = None,
    dispatcher: DispatcherPort | None = None,
) -> FastAPI:
    """Build the service's FastAPI app (ports may be replaced, e.g. by tests of this service alone)."""
    app = create_service_app(
        title="Halte campaign-api",
        description=(
            "Accounts, API keys, contacts with consent, campaigns, unit sends, preview, launch, reports, ledger."
        ),
        runtime_factory=lambda: bootstrap(settings, clock=clock, suppression=suppression, dispatcher=dispatcher),
        routers=[
            accounts.operator,
            accounts.client,
            contacts.router,
            campaigns.router,
            messages.router,
            templates.client,
            templates.operator,
        ],
        test_mode=settings.test_mode,
    )
    install_campaign_errors(app)
    install_body_limit(app)
    return app
