"""HTTP routes of the notifier service: the evidence of replies and the accounts' reply templates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from halte_notifier import views
from halte_notifier.adapters import repository as repo
from halte_notifier.bootstrap import NotifierRuntime, bootstrap
from halte_notifier.config import Settings
from halte_notifier.domain.templates import MAX_TEMPLATE_LENGTH, TemplateError, check_template
from halte_shared.phone import InvalidPhoneNumber, normalize
from halte_shared.web import AdminOnly, ApiError, create_service_app

AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
PurposeName = Literal["optout_confirmation", "contact_reply"]
LanguageName = Literal["fr", "en"]


async def notifier_runtime(request: Request) -> NotifierRuntime:
    """Return the running notifier runtime (a FastAPI dependency)."""
    runtime: NotifierRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[NotifierRuntime, Depends(notifier_runtime)]


class TemplateBody(BaseModel):
    """An account's own wording of a reply; placeholders: {advertiser}, {contact}, {short_code}."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH * 2)


router = APIRouter(prefix="/v1", dependencies=[AdminOnly])


@router.get("/confirmations", tags=["evidence"])
async def list_confirmations(
    runtime: Runtime,
    account_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    phone: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """List the opt-out confirmations and CONTACT replies of an account and/or a number, with their charge and tries."""
    if account_id is None and phone is None:
        raise ApiError(422, "missing_filter", "Give account_id, phone or both.", "account_id")
    e164 = None
    if phone is not None:
        try:
            e164 = normalize(phone)
        except InvalidPhoneNumber as exc:
            raise ApiError(422, exc.code, exc.message, "phone") from exc
    async with runtime.sessions() as session:
        return await views.confirmations(session, account_id=account_id, phone=e164, limit=limit)


@router.get("/accounts/{account_id}/templates", tags=["templates"])
async def get_templates(runtime: Runtime, account_id: AccountId) -> dict[str, Any]:
    """Show the reply texts in force for an account (its own, or the defaults)."""
    async with runtime.sessions() as session:
        return await views.templates(session, account_id)


@router.put("/accounts/{account_id}/templates/{purpose}/{language}", tags=["templates"])
async def put_template(
    runtime: Runtime, account_id: AccountId, purpose: PurposeName, language: LanguageName, body: TemplateBody
) -> dict[str, Any]:
    """Set an account's own wording of a reply for one language."""
    try:
        text = check_template(body.text)
    except TemplateError as exc:
        raise ApiError(422, exc.code, exc.message, "text") from exc
    async with runtime.sessions() as session, session.begin():
        await repo.put_template(
            session, account_id=account_id, purpose=purpose, language=language, body=text, now=runtime.clock.now()
        )
    async with runtime.sessions() as session:
        return await views.templates(session, account_id)


@router.delete("/accounts/{account_id}/templates/{purpose}/{language}", tags=["templates"])
async def delete_template(
    runtime: Runtime, account_id: AccountId, purpose: PurposeName, language: LanguageName
) -> dict[str, Any]:
    """Remove an account's own wording: the default applies again."""
    async with runtime.sessions() as session, session.begin():
        existed = await repo.delete_template(session, account_id=account_id, purpose=purpose, language=language)
    if not existed:
        raise ApiError(404, "not_found", "This account has no template of its own for this purpose and language.")
    async with runtime.sessions() as session:
        return await views.templates(session, account_id)


def create_app(settings: Settings) -> FastAPI:
    """Build the service's FastAPI app."""
    return create_service_app(
        title="Halte notifier",
        description="sends and bills the opt-out confirmation SMS and CONTACT replies, exactly once",
        runtime_factory=lambda: bootstrap(settings),
        routers=[router],
        test_mode=settings.test_mode,
    )
