"""HTTP routes of the dispatcher service: the policy probe, service-to-service dispatch, a row's state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, FastAPI, Header, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from halte_dispatcher.adapters import repository as repo
from halte_dispatcher.adapters.account_keys import AccountKeyCheckUnavailable
from halte_dispatcher.bootstrap import DispatcherRuntime, bootstrap
from halte_dispatcher.config import Settings
from halte_shared.events import DispatchRequested
from halte_shared.phone import InvalidPhoneNumber, normalize
from halte_shared.web import AdminOnly, ApiError, bearer_token, create_service_app, is_admin_token

#: The instants a probe may ask about: calendars beyond these are guesses, and far dates overflow.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


class EvaluateRequest(BaseModel):
    """A message to probe the policy with."""

    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=1, max_length=32, description="any format phonenumbers parses; FR by default")
    kind: Literal["marketing", "informative"]
    at: AwareDatetime = Field(description="the instant the message would be dispatched")
    postal_code: str | None = Field(default=None, min_length=1, max_length=10, pattern=r"^[A-Za-z0-9 -]+$")
    sender: str | None = Field(default=None, min_length=1, max_length=20)
    account_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="operator only: use this account's settings and blocklist (an account key implies its own)",
    )

    @field_validator("at")
    @classmethod
    def _plausible_year(cls, value: datetime) -> datetime:
        if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise ValueError(f"must lie between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return value


class PolicyAnswer(BaseModel):
    decision: Literal["send", "hold", "refuse"]
    reason: str
    next_window_start: datetime | None = None


class DispatchAnswer(BaseModel):
    request_id: str
    decision: Literal["send", "hold", "refuse"]
    reason: str
    next_window_start: datetime | None = None


class KnownOptout(BaseModel):
    """An opt-out request as the dispatcher's view holds it (docs/stop-enforcement.md)."""

    request_id: str
    phone: str
    short_code: str | None
    account_id: str | None
    channel: str | None
    source: str | None = Field(description="inbound (its journal) or suppression (its feed)")
    received_at: datetime | None = Field(description="when the carrier received it")
    acknowledged_at: datetime | None = Field(description="when inbound recorded it")
    applied_at: datetime | None = Field(description="when this dispatcher started blocking its number")
    resolved_at: datetime | None = Field(description="when suppression resolved it (null: still blocked fail-safe)")


class DispatchState(BaseModel):
    request_id: str
    account_id: str
    phone: str
    kind: str
    state: str
    decision: str
    reason: str
    scheduled_for: datetime | None
    message_id: str
    attempts: int


def _runtime(request: Request) -> DispatcherRuntime:
    return cast(DispatcherRuntime, request.app.state.runtime)


async def _caller_account(runtime: DispatcherRuntime, authorization: str | None) -> str | None:
    """Return None for the operator, the account id for an account key; refuse anyone else."""
    token = bearer_token(authorization)
    if not token:
        raise ApiError(
            401, "unauthorized", "Send the operator token or an account API key (Authorization: Bearer ...)."
        )
    if is_admin_token(runtime, token):
        return None
    try:
        account_id = await runtime.account_keys.account_of(token)
    except AccountKeyCheckUnavailable as exc:
        raise ApiError(503, "unavailable", f"Cannot check the API key right now: {exc}") from exc
    if account_id is None:
        raise ApiError(401, "unauthorized", "This API key is not valid.")
    return account_id


def dispatcher_router() -> APIRouter:
    """Return the dispatcher's routes."""
    router = APIRouter(prefix="/v1")

    @router.post("/policy/evaluate", tags=["policy"], response_model=PolicyAnswer)
    async def evaluate_policy(
        body: EvaluateRequest, request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> PolicyAnswer:
        """Evaluate the policy for a message, through the same code path as real sends."""
        runtime = _runtime(request)
        caller = await _caller_account(runtime, authorization)
        account_id = body.account_id
        if caller is not None:
            if account_id is not None and account_id != caller:
                raise ApiError(
                    403, "wrong_tenant", "An account key can only evaluate for its own account.", "account_id"
                )
            account_id = caller
        try:
            phone = normalize(body.phone)
        except InvalidPhoneNumber as exc:
            raise ApiError(422, exc.code, exc.message, "phone") from exc
        decision = await runtime.dispatcher.probe(
            phone=phone,
            kind=body.kind,
            at=body.at,
            postal_code=body.postal_code,
            sender=body.sender,
            account_id=account_id,
        )
        return PolicyAnswer(
            decision=decision.decision, reason=decision.reason, next_window_start=decision.next_window_start
        )

    @router.post("/dispatch", tags=["dispatch"], response_model=DispatchAnswer, dependencies=[AdminOnly])
    async def dispatch(body: DispatchRequested, request: Request) -> DispatchAnswer:
        """Decide one request now (service to service; idempotent on request_id), as the consumer would."""
        view = await _runtime(request).dispatcher.dispatch_one(body)
        return DispatchAnswer(
            request_id=view.request_id,
            decision=cast(Literal["send", "hold", "refuse"], view.decision),
            reason=view.reason,
            next_window_start=view.next_window_start,
        )

    @router.get("/dispatches/{request_id}", tags=["dispatch"], response_model=DispatchState, dependencies=[AdminOnly])
    async def get_dispatch(request_id: str, request: Request) -> DispatchState:
        """Show where one request stands (operator)."""
        runtime = _runtime(request)
        async with runtime.sessions() as session:
            row = await repo.find_dispatch(session, request_id=request_id[:200], campaign_id=None, phone="")
        if row is None:
            raise ApiError(404, "not_found", f"No dispatch request {request_id!r}.", "request_id")
        return DispatchState(
            request_id=row.request_id,
            account_id=row.account_id,
            phone=row.phone,
            kind=row.kind,
            state=row.state,
            decision=row.decision,
            reason=row.reason,
            scheduled_for=row.scheduled_for,
            message_id=row.message_id,
            attempts=row.attempts,
        )

    @router.get("/optouts/{request_id}", tags=["opt-outs"], response_model=KnownOptout, dependencies=[AdminOnly])
    async def get_known_optout(request_id: str, request: Request) -> KnownOptout:
        """Show when this dispatcher learned an opt-out request, and whether suppression resolved it (operator)."""
        async with _runtime(request).sessions() as session:
            row = await repo.find_pending(session, request_id=request_id[:200])
        if row is None or row.phone is None:
            raise ApiError(404, "not_found", f"This dispatcher knows no opt-out request {request_id!r}.", "request_id")
        return KnownOptout.model_validate(row, from_attributes=True)

    return router


def create_app(settings: Settings, **ports: object) -> FastAPI:
    """Build the service's FastAPI app (ports: bootstrap's keyword arguments, for tests)."""
    return create_service_app(
        title="Halte dispatcher",
        description="turns dispatch requests into policy decisions and carrier submissions",
        runtime_factory=lambda: bootstrap(settings, **ports),  # type: ignore[arg-type]
        routers=[dispatcher_router()],
        test_mode=settings.test_mode,
    )
