"""Informative templates: the account declares them (API key), the operator reviews them (ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from fastapi import Body as BodyParam
from pydantic import Field

from halte_campaign_api.entrypoints.deps import AccountId, Runtime
from halte_campaign_api.entrypoints.schemas import Body
from halte_campaign_api.handlers import templates
from halte_shared.web import AdminOnly

client = APIRouter(prefix="/v1/templates", tags=["informative templates"])
operator = APIRouter(
    prefix="/v1/operator/templates", tags=["informative templates (operator)"], dependencies=[AdminOnly]
)


class TemplateCreate(Body):
    name: str = Field(max_length=1000, description="At most 100 characters once spaces are tidied.")
    text: str = Field(
        max_length=10000,
        description="At most 1000 characters; placeholders written {identifier} (at most 10), "
        "each standing for 1 to 60 characters without a line break.",
    )


class TemplateReview(Body):
    note: str | None = Field(default=None, max_length=2000, description="Why (required to reject; 500 characters).")


@client.post("", status_code=status.HTTP_201_CREATED)
async def declare_template(body: TemplateCreate, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Declare the wording of informative messages; a promotional one is refused (promotional_content)."""
    return await templates.declare_template(runtime, account_id=account_id, name=body.name, text=body.text)


@client.get("")
async def list_templates(
    account_id: AccountId,
    runtime: Runtime,
    state: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """List the account's templates, most recent first (retired ones included unless filtered out)."""
    return await templates.list_templates(runtime, account_id=account_id, state=state, cursor=cursor, limit=limit)


@client.get("/{template_id}")
async def get_template(template_id: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show one of the account's templates with its state and the operator's note."""
    return await templates.get_template(runtime, account_id=account_id, template_id=template_id)


@client.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def retire_template(template_id: str, account_id: AccountId, runtime: Runtime) -> Response:
    """Retire a template: it no longer vouches for any text; it stays listed as history."""
    await templates.retire_template(runtime, account_id=account_id, template_id=template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@operator.get("")
async def review_queue(
    runtime: Runtime,
    state: str | None = None,
    account_id: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """List templates across accounts, oldest first; ?state=pending is the review queue."""
    return await templates.review_queue(runtime, state=state, account_id=account_id, cursor=cursor, limit=limit)


@operator.get("/{template_id}")
async def operator_template(template_id: str, runtime: Runtime) -> dict[str, Any]:
    """Show any account's template."""
    return await templates.operator_template(runtime, template_id=template_id)


@operator.post("/{template_id}/approve")
async def approve_template(
    template_id: str, runtime: Runtime, body: TemplateReview | None = BodyParam(None)
) -> dict[str, Any]:
    """Approve a template: under informative_templates "approved" it may now carry informative texts."""
    return await templates.review_template(
        runtime, template_id=template_id, action="approve", note=body.note if body else None
    )


@operator.post("/{template_id}/reject")
async def reject_template(template_id: str, body: TemplateReview, runtime: Runtime) -> dict[str, Any]:
    """Reject a template with a note the account reads; it no longer vouches for any text."""
    return await templates.review_template(runtime, template_id=template_id, action="reject", note=body.note)
