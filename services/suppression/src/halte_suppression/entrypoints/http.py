"""HTTP routes of the suppression service (operator and service-to-service: ADMIN_TOKEN)."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from halte_shared.notify import long_poll
from halte_shared.phone import InvalidPhoneNumber
from halte_shared.web import AdminOnly, ApiError, ErrorResponse, Runtime, create_service_app, error_response
from halte_suppression import views
from halte_suppression.adapters.repository import SuppressionRow
from halte_suppression.bootstrap import FEED_CHANNEL, SuppressionRuntime, bootstrap
from halte_suppression.config import Settings
from halte_suppression.domain.commands import RecordOptin, RecordOptout
from halte_suppression.domain.limits import (
    MAX_BULK_CHECK,
    MAX_FEED_PAGE,
    MAX_FEED_WAIT_SECONDS,
    MAX_LIST_PAGE,
    MAX_PROOF,
    MAX_RAW_TEXT,
    MAX_SEQUENCE,
    clip,
)
from halte_suppression.domain.numbers import normalize_number, normalize_short_code

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)
AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN, description="the platform client's account id")]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


# -- bodies and answers -------------------------------------------------------------------
class Status(BaseModel):
    account_id: str
    phone: str = Field(description="E.164")
    suppressed: bool
    since: datetime | None = Field(description="when the opt-out in force was received")
    channel: str | None = Field(description="sms, web, api or spam_report")
    sequence: int | None = Field(description="change-feed number of the last change of this row")


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: AccountId
    phones: list[str] = Field(description=f"numbers in any format, at most {MAX_BULK_CHECK}")


class InvalidNumber(BaseModel):
    phone: str
    reason: str


class CheckAnswer(BaseModel):
    account_id: str
    suppressed: list[str] = Field(description="the suppressed numbers among those asked, in E.164, once each")
    checked: int = Field(description="how many of the numbers asked were valid and looked up")
    invalid: list[InvalidNumber]


class Page(BaseModel):
    items: list[Status]
    next_cursor: str | None


class Change(BaseModel):
    sequence: int
    account_id: str | None = Field(description="for suppress and lift; for pending, the account the request names")
    phone: str | None = Field(description="E.164; absent for resolve")
    action: Literal["suppress", "lift", "pending", "resolve"] = Field(
        description="pending: an opt-out request known but not applied yet (block the number for every account "
        "on short_code); resolve: that request is applied (its suppress rows come before) or resolved by an operator"
    )
    at: datetime
    request_id: str | None = Field(default=None, description="the opt-out request, for pending and resolve")
    short_code: str | None = Field(default=None, description="for pending: the short code the request came to")


class Feed(BaseModel):
    changes: list[Change]
    latest_sequence: int = Field(description="the highest sequence committed when the page was read")
    as_of: datetime = Field(description="the page reflects every change committed before this instant")


class OptoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: AccountId
    phone: str = Field(max_length=64)
    channel: Literal["api", "web", "spam_report"]
    raw_text: str | None = Field(default=None, max_length=MAX_RAW_TEXT)
    short_code: str | None = Field(default=None, max_length=16, description="for a 33700 report: the sender named")
    request_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="idempotency key: a retry with it has no second effect"
    )
    received_at: AwareDatetime | None = Field(default=None, description="when the opt-out was received (default: now)")


class OptoutAnswer(BaseModel):
    account_id: str
    phone: str
    suppressed: bool
    new: bool = Field(description="true when this request created the suppression, false for a repeat")
    duplicate: bool = Field(description="true when this request id was already handled")
    since: datetime | None
    channel: str | None
    sequence: int | None


class OptinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: AccountId
    phone: str = Field(max_length=64)
    proof: str = Field(max_length=MAX_PROOF, description="the new explicit consent: when, where, the wording accepted")
    request_id: str | None = Field(default=None, min_length=1, max_length=200)
    received_at: AwareDatetime | None = None


class OptinAnswer(BaseModel):
    account_id: str
    phone: str
    lifted: bool
    suppressed: bool
    duplicate: bool
    reason: str | None
    sequence: int | None


# -- helpers ------------------------------------------------------------------------------
def _runtime(runtime: Any) -> SuppressionRuntime:
    return cast(SuppressionRuntime, runtime)


def _account(account_id: str) -> str:
    if not _ACCOUNT_ID.match(account_id):
        raise ApiError(422, "invalid", "account_id must be 1-128 letters, digits, '_', '.', ':' or '-'.", "account_id")
    return account_id


def _phone(raw: str, field: str = "phone") -> str:
    try:
        return normalize_number(raw)
    except InvalidPhoneNumber as exc:
        raise ApiError(422, exc.code, exc.message, field) from exc


def _status(account_id: str, phone: str, row: SuppressionRow | None) -> Status:
    active = bool(row and row.active)
    return Status(
        account_id=account_id,
        phone=phone,
        suppressed=active,
        since=row.since if row and active else None,
        channel=row.channel if row and active else None,
        sequence=row.sequence if row else None,
    )


def _encode_cursor(phone: str) -> str:
    return base64.urlsafe_b64encode(phone.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        phone = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned.", "cursor") from exc
    if not phone.startswith("+") or not phone[1:].isdigit():
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned.", "cursor")
    return phone


# -- routes -------------------------------------------------------------------------------
def suppression_router() -> APIRouter:
    """Return the service's /v1 routes, all behind the operator token."""
    router = APIRouter(prefix="/v1", dependencies=[AdminOnly], responses=ERRORS)

    @router.get("/suppressions/export.csv", tags=["suppressions"], response_class=StreamingResponse)
    async def export_csv(runtime: Runtime, account_id: Annotated[str, Query(max_length=128)]) -> StreamingResponse:
        """Stream every active suppression of an account as CSV."""
        account = _account(account_id)
        sessions = _runtime(runtime).sessions

        async def rows() -> AsyncIterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(["phone", "since", "channel", "short_code", "sequence"])
            count = 0
            async for row in views.all_suppressions(sessions, account_id=account):
                writer.writerow(
                    [
                        row.phone,
                        row.since.isoformat() if row.since else "",
                        row.channel,
                        row.short_code or "",
                        row.sequence,
                    ]
                )
                count += 1
                if count % 1000 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        return StreamingResponse(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="suppressions-{account}.csv"'},
        )

    @router.get("/suppressions/{account_id}/{phone}", tags=["suppressions"])
    async def get_status(account_id: str, phone: str, runtime: Runtime) -> Status:
        """Tell whether an account has suppressed a number (any format; answered in E.164)."""
        account = _account(account_id)
        e164 = _phone(phone)
        row = await views.status(_runtime(runtime).sessions, account_id=account, phone=e164)
        return _status(account, e164, row)

    @router.post("/suppressions/check", tags=["suppressions"], response_model=CheckAnswer)
    async def check(body: CheckRequest, runtime: Runtime) -> JSONResponse:
        """Tell which of up to 10,000 numbers an account has suppressed."""
        if len(body.phones) > MAX_BULK_CHECK:
            raise ApiError(
                413,
                "too_many_phones",
                f"A bulk check takes at most {MAX_BULK_CHECK} numbers; this one has {len(body.phones)}. Split it.",
                "phones",
            )
        answer = await views.check_numbers(_runtime(runtime).sessions, account_id=body.account_id, phones=body.phones)
        # Built by hand: validating 10,000 strings again on the way out would cost as much as the lookup.
        return JSONResponse(
            {
                "account_id": body.account_id,
                "suppressed": answer.suppressed,
                "checked": answer.checked,
                "invalid": [{"phone": p, "reason": r} for p, r in answer.invalid],
            }
        )

    @router.get("/suppressions", tags=["suppressions"])
    async def list_suppressions(
        runtime: Runtime,
        account_id: Annotated[str, Query(max_length=128)],
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST_PAGE)] = 100,
        include_lifted: bool = False,
    ) -> Page:
        """List an account's suppressions by number, a page at a time."""
        account = _account(account_id)
        after = _decode_cursor(cursor) if cursor else None
        rows = await views.list_page(
            _runtime(runtime).sessions,
            account_id=account,
            after_phone=after,
            limit=limit,
            include_lifted=include_lifted,
        )
        items = [_status(account, r.phone, r) for r in rows]
        return Page(items=items, next_cursor=_encode_cursor(rows[-1].phone) if len(rows) == limit else None)

    @router.get("/feed", tags=["feed"])
    async def feed(
        runtime: Runtime,
        after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE, description="the last sequence the reader holds")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = 1000,
        wait: Annotated[
            float, Query(ge=0, le=MAX_FEED_WAIT_SECONDS, description="seconds to wait for a change when none follows")
        ] = 0.0,
    ) -> Feed:
        """Return the changes after a sequence number, in sequence (= commit) order, waiting up to `wait` s for one.

        A reader that applies every page until a page ends at `latest_sequence` holds a copy
        that is current as of that page's `as_of`: sequence numbers are drawn in commit
        order, so no change can appear later with a number the reader has passed. With
        `wait`, a reader that is current is answered as soon as the next change commits.
        """
        rt = _runtime(runtime)

        async def read() -> views.FeedPage:
            return await views.feed(rt.sessions, rt.clock, after=after, limit=limit)

        page = await long_poll(
            read,
            empty=lambda p: not p.changes,
            notifications=rt.notifications,
            channel=FEED_CHANNEL,
            wait_seconds=wait,
        )
        return Feed.model_validate(
            {"changes": page.changes, "latest_sequence": page.latest_sequence, "as_of": page.as_of}
        )

    @router.get("/optouts/unattributed", tags=["evidence"])
    async def list_unattributed(
        runtime: Runtime, limit: Annotated[int, Query(ge=1, le=MAX_LIST_PAGE)] = 100
    ) -> dict[str, Any]:
        """List the latest opt-outs received on a short code no account was known for."""
        return {"items": await views.unattributed(_runtime(runtime).sessions, limit=limit)}

    @router.get("/optouts/{account_id}/{phone}", tags=["evidence"])
    async def get_evidence(account_id: str, phone: str, runtime: Runtime) -> dict[str, Any]:
        """Return every opt-out, repeat and resubscription record of a number for an account."""
        account = _account(account_id)
        e164 = _phone(phone)
        return await views.evidence(_runtime(runtime).sessions, account_id=account, phone=e164)

    @router.post("/optouts", tags=["evidence"], status_code=201, responses={200: {"model": OptoutAnswer}})
    async def record_optout(body: OptoutRequest, runtime: Runtime) -> JSONResponse:
        """Record an opt-out the account received (API, web page, 33700): same effect as optout.requested."""
        rt = _runtime(runtime)
        e164 = _phone(body.phone)
        if body.short_code is not None and normalize_short_code(body.short_code) is None:
            raise ApiError(422, "invalid_short_code", "short_code must be 3 to 8 digits.", "short_code")
        request_id = clip(body.request_id, 200) or str(uuid.uuid4())
        result = await rt.handlers.record_optout(
            RecordOptout(
                request_id=f"http:{request_id}",
                channel=body.channel,
                phone=e164,
                received_at=body.received_at or rt.clock.now(),
                source_event_id=f"http:{request_id}",
                short_code=normalize_short_code(body.short_code),
                account_id=body.account_id,
                raw_text=body.raw_text,
            )
        )
        outcome = next((o for o in result.outcomes if o.account_id == body.account_id), None)
        if outcome is None:  # a retried request: answer with the state it left
            row = await views.status(rt.sessions, account_id=body.account_id, phone=e164)
            answer = OptoutAnswer(
                account_id=body.account_id,
                phone=e164,
                suppressed=bool(row and row.active),
                new=False,
                duplicate=result.duplicate,
                since=row.since if row else None,
                channel=row.channel if row else None,
                sequence=row.sequence if row else None,
            )
        else:
            answer = OptoutAnswer(
                account_id=body.account_id,
                phone=e164,
                suppressed=True,
                new=outcome.new,
                duplicate=False,
                since=outcome.since,
                channel=outcome.channel,
                sequence=outcome.sequence,
            )
        return JSONResponse(answer.model_dump(mode="json"), status_code=201 if answer.new else 200)

    @router.post("/optins", tags=["evidence"], status_code=201, responses={200: {"model": OptinAnswer}})
    async def record_optin(body: OptinRequest, runtime: Runtime) -> JSONResponse:
        """Lift an account's suppression of a number on the person's new explicit consent (proof required)."""
        rt = _runtime(runtime)
        e164 = _phone(body.phone)
        if not body.proof.strip():
            raise ApiError(
                422, "proof_required", "A re-subscription needs the proof of the new explicit consent.", "proof"
            )
        request_id = clip(body.request_id, 200) or str(uuid.uuid4())
        result = await rt.handlers.record_optin(
            RecordOptin(
                request_id=f"http:{request_id}",
                channel="api",
                phone=e164,
                received_at=body.received_at or rt.clock.now(),
                source_event_id=f"http:{request_id}",
                account_id=body.account_id,
                proof=body.proof,
            )
        )
        lifted = dict(result.lifted)
        if body.account_id in lifted:
            answer = OptinAnswer(
                account_id=body.account_id,
                phone=e164,
                lifted=True,
                suppressed=False,
                duplicate=False,
                reason=None,
                sequence=lifted[body.account_id],
            )
        else:
            row = await views.status(rt.sessions, account_id=body.account_id, phone=e164)
            reasons = dict(result.refused)
            answer = OptinAnswer(
                account_id=body.account_id,
                phone=e164,
                lifted=False,
                suppressed=bool(row and row.active),
                duplicate=result.duplicate,
                reason=reasons.get(body.account_id, "duplicate" if result.duplicate else None),
                sequence=row.sequence if row else None,
            )
        return JSONResponse(answer.model_dump(mode="json"), status_code=201 if answer.lifted else 200)

    return router


# -- body size ------------------------------------------------------------------------------
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    """Refuse a request body larger than a limit with 413, before anything parses it."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"The request body is larger than {self.max_bytes} bytes.", None
        )
        await response(scope, receive, send)  # type: ignore[arg-type]


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    app = create_service_app(
        title="Halte suppression",
        description=(
            "The authoritative blocklist: attributes opt-outs to accounts, records them with their "
            "evidence, announces them (optout.recorded, optin.recorded) and serves the change feed "
            "the dispatcher keeps its local copy with."
        ),
        runtime_factory=lambda: bootstrap(settings),
        routers=[suppression_router()],
        test_mode=settings.test_mode,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # type: ignore[arg-type]
    return app
