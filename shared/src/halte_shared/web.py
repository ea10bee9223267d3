"""The HTTP face every service shares: health, readiness, metrics, errors, the test clock.

Errors follow CONTRACT.md: ``{"error": {"code", "message", "field"}}`` with a 4xx status,
whatever raised them (validation, a missing route, a domain refusal), so a client never
has to parse FastAPI's default shapes.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import AwareDatetime, BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from halte_shared import metrics
from halte_shared.clock import AdjustableClock
from halte_shared.observability import bind_request
from halte_shared.parked import parked_router
from halte_shared.runtime import ServiceRuntime

log = structlog.get_logger("halte.web")


class ApiError(Exception):
    """A refusal to report to the client as a 4xx JSON error."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def printable(text: str) -> str:
    """Write NUL and lone surrogates as escapes, so echoing hostile input cannot break the answer."""
    return _UNENCODABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def error_response(status: int, code: str, message: str, field: str | None = None, **headers: str) -> JSONResponse:
    """Build the contract's error JSON."""
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": printable(message), "field": field and printable(field)}},
        headers=headers or None,
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception FastAPI can raise to the contract's error JSON."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": "invalid"}
        field = _field_of(tuple(first.get("loc", ())))
        code = "unknown_field" if first.get("type") == "extra_forbidden" else "invalid"
        message = str(first.get("msg", "invalid request"))
        if field:
            message = f"{field}: {message}"
        return error_response(422, code, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), None, **(exc.headers or {}))


MAX_JSON_BODY_BYTES = 4 * 1024 * 1024
_NUL_ESCAPES = (b"\x00", b"\\u0000")


class JsonBodyGuard:
    """Refuse oversized JSON bodies and JSON strings carrying NUL, before any route sees them.

    PostgreSQL cannot store U+0000 in text, so a NUL that reached a handler would turn a
    client's mistake (or a fuzzer's probe) into a 500 deep in the database layer; one check
    at the edge answers every service's routes with a precise 4xx instead.

    Requests whose path starts with one of ``left_to_routes`` pass untouched: their routes
    read the body themselves, under their own size limit, and must authenticate it before
    judging its content (a signed carrier webhook whose text holds a NUL is still a STOP,
    see services/inbound/src/halte_inbound/domain/text.py). Prefixes are matched on the
    decoded path, so they should end with "/" to cover one route tree exactly.
    """

    def __init__(self, app: Any, *, max_bytes: int = MAX_JSON_BODY_BYTES, left_to_routes: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.left_to_routes = tuple(left_to_routes)

    @classmethod
    def leave_to_routes(cls, app: FastAPI, *prefixes: str) -> None:
        """Make the guard installed on `app` pass requests under `prefixes` to their routes untouched."""
        if app.middleware_stack is not None:
            raise RuntimeError("JsonBodyGuard.leave_to_routes must be called before the application starts")
        for index, middleware in enumerate(app.user_middleware):
            if middleware.cls is cls:
                kept = tuple(cast(Sequence[str], middleware.kwargs.get("left_to_routes", ())))
                kwargs = {**middleware.kwargs, "left_to_routes": kept + prefixes}
                app.user_middleware[index] = Middleware(cls, *middleware.args, **kwargs)
                return
        raise RuntimeError("JsonBodyGuard is not installed on this application")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if self.left_to_routes and str(scope.get("path", "")).startswith(self.left_to_routes):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if b"json" not in headers.get(b"content-type", b"").lower() or b"ndjson" in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await error_response(413, "payload_too_large", f"JSON bodies are limited to {self.max_bytes} bytes.")(
                    scope, receive, send
                )
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if any(escape in body.lower() for escape in _NUL_ESCAPES):
            await error_response(422, "invalid_character", "Text fields must not contain the NUL character (U+0000).")(
                scope, receive, send
            )
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestContext:
    """Give every request an id (the caller's X-Request-ID or a new one), log context and metrics.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` runs each request in a
    task of its own with streams between the two, which costs more than many routes' work.
    """

    def __init__(self, app: Any, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers") or () if name == b"x-request-id"), b"")
        request_id = given.decode("latin-1")[:128] or str(uuid.uuid4())
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before starting a response

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode("latin-1"))],
                }
            await send(message)

        try:
            with bind_request(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics.HTTP_REQUESTS.labels(self.service, path, scope["method"], str(status)).inc()
            metrics.HTTP_SECONDS.labels(self.service, path, scope["method"]).observe(time.perf_counter() - started)


def install_request_context(app: FastAPI, *, service: str) -> None:
    """Give every request an id (the caller's X-Request-ID or a new one), log context and metrics."""
    app.add_middleware(RequestContext, service=service)


def runtime_of(request: Request) -> ServiceRuntime:
    """Return the running service's runtime."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop per request.
async def current_runtime(request: Request) -> ServiceRuntime:
    """Return the running service's runtime (a FastAPI dependency)."""
    return runtime_of(request)


def bearer_token(authorization: str | None) -> str:
    """Return the token of an `Authorization: Bearer ...` header, or an empty string."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_admin_token(runtime: ServiceRuntime, token: str) -> bool:
    """Compare a token with ADMIN_TOKEN in constant time."""
    expected = runtime.settings.admin_token_value()
    return bool(expected and token) and hmac.compare_digest(token.encode(), (expected or "").encode())


async def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admit only the operator token (a FastAPI dependency)."""
    if not is_admin_token(runtime_of(request), bearer_token(authorization)):
        raise ApiError(401, "unauthorized", "This endpoint needs the operator token (Authorization: Bearer ...).")


Runtime = Annotated[ServiceRuntime, Depends(current_runtime)]
AdminOnly = Depends(require_admin)


class ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    now: AwareDatetime | None = None
    offset_seconds: float | None = None


class ClockState(BaseModel):
    now: datetime
    offset_seconds: float


def plumbing_router() -> APIRouter:
    """Return /healthz, /readyz, /metrics and the operator endpoints of parked events."""
    router = APIRouter()

    @router.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Say the process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["operations"], responses={503: {"description": "not ready"}})
    async def readyz(runtime: Runtime) -> JSONResponse:
        """Say whether the database and broker answer and every consumer runs."""
        report = await runtime.readiness()
        return JSONResponse(
            status_code=200 if report.ready else 503,
            content={"status": "ready" if report.ready else "not_ready", "checks": report.checks},
        )

    @router.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics_endpoint() -> Response:
        """Expose Prometheus metrics."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # Every service's consumers park what they give up on; operators resolve it here.
    router.include_router(parked_router())
    return router


def test_clock_router() -> APIRouter:
    """Return the operator endpoint that moves this service's clock (mounted in test mode only)."""
    router = APIRouter(prefix="/v1/test", tags=["test mode"], dependencies=[AdminOnly])

    def _clock(runtime: ServiceRuntime) -> AdjustableClock:
        clock = runtime.clock
        if not isinstance(clock, AdjustableClock):
            raise ApiError(409, "clock_fixed", "This service's clock cannot be moved.")
        return clock

    @router.get("/clock", response_model=ClockState)
    async def get_clock(runtime: Runtime) -> ClockState:
        """Show this service's notion of now."""
        clock = _clock(runtime)
        return ClockState(now=clock.now(), offset_seconds=clock.offset.total_seconds())

    @router.put("/clock", response_model=ClockState)
    async def set_clock(change: ClockChange, runtime: Runtime) -> ClockState:
        """Pin the clock to an instant (it keeps running from there) or shift it."""
        clock = _clock(runtime)
        if (change.now is None) == (change.offset_seconds is None):
            raise ApiError(422, "invalid", "Give exactly one of now or offset_seconds.", "now")
        if change.now is not None:
            clock.set(change.now)
        else:
            clock.shift(timedelta(seconds=change.offset_seconds or 0))
        log.warning("test clock moved", now=clock.now().isoformat())
        return ClockState(now=clock.now(), offset_seconds=clock.offset.total_seconds())

    @router.delete("/clock", response_model=ClockState)
    async def reset_clock(runtime: Runtime) -> ClockState:
        """Return to the system time."""
        clock = _clock(runtime)
        clock.reset()
        return ClockState(now=clock.now(), offset_seconds=0.0)

    return router


def create_service_app(
    *,
    title: str,
    runtime_factory: Callable[[], ServiceRuntime],
    routers: list[APIRouter],
    test_mode: bool,
    description: str = "",
) -> FastAPI:
    """Build a service's FastAPI app whose lifespan starts and stops its runtime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = runtime_factory()
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, lifespan=lifespan, responses={422: {"model": ErrorResponse}})
    install_error_handlers(app)
    install_request_context(app, service=title.removeprefix("Halte ").strip())
    app.add_middleware(JsonBodyGuard)
    app.include_router(plumbing_router())
    if test_mode:
        app.include_router(test_clock_router())
    for router in routers:
        app.include_router(router)
    return app
