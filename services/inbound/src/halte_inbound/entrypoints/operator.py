"""Operator endpoints (``Authorization: Bearer <ADMIN_TOKEN>``): 33700 spam reports, account sync, unsubscribe links."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from halte_inbound.domain.routing import normalise_short_code
from halte_inbound.entrypoints.deps import Runtime
from halte_inbound.handlers import SpamReport, receive_spam_reports, sync_accounts
from halte_shared.events import AccountChanged
from halte_shared.phone import InvalidPhoneNumber, normalize
from halte_shared.signing import make_unsubscribe_token
from halte_shared.web import AdminOnly, ApiError, ErrorResponse

router = APIRouter(tags=["operator"], dependencies=[AdminOnly], responses={401: {"model": ErrorResponse}})


class SpamReportIn(BaseModel):
    """One number reported through 33700, with the short code or sender it was reported against."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=1, max_length=64)
    short_code: str | None = Field(default=None, min_length=1, max_length=32)
    sender: str | None = Field(default=None, min_length=1, max_length=32)
    reported_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_target(self) -> SpamReportIn:
        if (self.short_code is None) == (self.sender is None):
            raise ValueError("give exactly one of short_code or sender")
        return self


class SpamReportBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reports: list[SpamReportIn] = Field(min_length=1)


class SpamReportResult(BaseModel):
    index: int
    phone: str
    status: Literal["published", "duplicate"]
    request_id: str | None


class SpamReportAnswer(BaseModel):
    published: int
    duplicates: int
    results: list[SpamReportResult]


@router.post("/v1/spam-reports", response_model=SpamReportAnswer, responses={422: {"model": ErrorResponse}})
async def post_spam_reports(batch: SpamReportBatch, runtime: Runtime) -> SpamReportAnswer:
    """Publish each reported number as an opt-out (channel spam_report); a report already received is skipped.

    The whole batch is checked first: one invalid row refuses the batch (422 naming it) and
    nothing is recorded. A report with ``reported_at`` is unique per (number, target, time),
    so resending a batch publishes nothing twice.
    """
    limit = runtime.settings.spam_report_max_batch
    if len(batch.reports) > limit:
        raise ApiError(422, "too_many", f"A batch holds at most {limit} reports.", "reports")
    reports: list[SpamReport] = []
    for index, item in enumerate(batch.reports):
        try:
            phone = normalize(item.phone)
        except InvalidPhoneNumber as exc:
            raise ApiError(422, exc.code, exc.message, f"reports.{index}.phone") from None
        target = normalise_short_code(item.short_code) if item.short_code else (item.sender or "").strip()
        if not target or not target.isprintable():
            field = "short_code" if item.short_code else "sender"
            raise ApiError(
                422, "invalid", "The short code or sender is empty or unprintable.", f"reports.{index}.{field}"
            )
        reports.append(
            SpamReport(
                phone=phone,
                target=target,
                target_kind="short_code" if item.short_code else "sender",
                reported_at=item.reported_at,
            )
        )
    outcomes = await receive_spam_reports(runtime, reports)
    results = [
        SpamReportResult(index=i, phone=r.phone, status=o.status, request_id=o.request_id)
        for i, (r, o) in enumerate(zip(reports, outcomes, strict=True))
    ]
    published = sum(1 for o in outcomes if o.status == "published")
    return SpamReportAnswer(published=published, duplicates=len(outcomes) - published, results=results)


class AccountSync(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[AccountChanged] = Field(min_length=1, max_length=10_000)


class AccountSyncAnswer(BaseModel):
    received: int
    applied: int


@router.post("/v1/accounts/sync", response_model=AccountSyncAnswer, responses={422: {"model": ErrorResponse}})
async def post_account_sync(body: AccountSync, runtime: Runtime) -> AccountSyncAnswer:
    """Apply account states (the account.changed payload) directly: the documented sync when the topic cannot replay.

    Each state is applied only if it is newer (``changed_at``) than the one stored, exactly
    as the account.changed consumer does, so syncing an old snapshot never undoes an event.
    """
    for index, item in enumerate(body.accounts):
        _check_account(item, index)
    applied = await sync_accounts(runtime, body.accounts)
    return AccountSyncAnswer(received=len(body.accounts), applied=applied)


def _check_account(item: AccountChanged, index: int) -> None:
    """Refuse what the directory cannot store (it would otherwise surface as a database error)."""
    if not 0 < len(item.account_id) <= 64 or not item.account_id.isprintable():
        raise ApiError(
            422, "invalid", "account_id must be 1 to 64 printable characters.", f"accounts.{index}.account_id"
        )
    for position, code in enumerate(item.short_codes):
        if not 0 < len(normalise_short_code(code)) <= 32 or not code.isprintable():
            field = f"accounts.{index}.short_codes.{position}"
            raise ApiError(422, "invalid", "A short code must be 1 to 32 printable characters.", field)
    for name in ("name", "contact_info"):
        if "\x00" in getattr(item, name):
            raise ApiError(422, "invalid", f"{name} must not contain NUL characters.", f"accounts.{index}.{name}")


class UnsubscribeLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=1, max_length=64)


class UnsubscribeLink(BaseModel):
    token: str
    url: str


@router.post("/v1/unsubscribe-links", response_model=UnsubscribeLink, responses={422: {"model": ErrorResponse}})
async def post_unsubscribe_link(body: UnsubscribeLinkRequest, runtime: Runtime) -> UnsubscribeLink:
    """Return the signed unsubscribe link of an account and a number (HALTE_PUBLIC_INBOUND_URL + /u/{token})."""
    try:
        phone = normalize(body.phone)
    except InvalidPhoneNumber as exc:
        raise ApiError(422, exc.code, exc.message, "phone") from None
    token = make_unsubscribe_token(runtime.settings.unsubscribe_secret_value(), account_id=body.account_id, phone=phone)
    return UnsubscribeLink(token=token, url=f"{runtime.settings.public_url()}/u/{token}")
