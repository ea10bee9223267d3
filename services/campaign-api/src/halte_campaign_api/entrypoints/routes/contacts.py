"""The address book: contacts, consent records and bulk imports."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from structlog.contextvars import get_contextvars

from halte_campaign_api.entrypoints.deps import AccountId, Runtime, limit_imports
from halte_campaign_api.entrypoints.schemas import ContactPut
from halte_campaign_api.handlers import contacts

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


@router.post(
    "/import",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_contacts(request: Request, account_id: AccountId, runtime: Runtime) -> JSONResponse:
    """Import many contacts (CSV with a header, or JSON lines); follow the job at its Location."""
    limit_imports(runtime, account_id)
    job = await runtime.imports.submit(
        account_id=account_id, content_type=request.headers.get("content-type"), body=request.stream()
    )
    location = f"/v1/contacts/imports/{job['id']}"
    return JSONResponse(
        status_code=status.HTTP_202_ACCEPTED,
        content={"id": job["id"], "status": job["status"], "location": location},
        headers={"Location": location},
    )


@router.get("/imports/{job_id}")
async def import_progress(job_id: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show an import's progress, counts and first errors."""
    return await runtime.imports.get(account_id=account_id, job_id=job_id)


@router.get("/imports/{job_id}/errors.csv", response_class=StreamingResponse)
async def import_errors(job_id: str, account_id: AccountId, runtime: Runtime) -> StreamingResponse:
    """Download every refused row: row, phone, code, field, message."""
    stream = await runtime.imports.errors_csv(account_id=account_id, job_id=job_id)
    return StreamingResponse(
        stream,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"'},
    )


@router.get("")
async def list_contacts(
    account_id: AccountId,
    runtime: Runtime,
    tag: str | None = None,
    consent_basis: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """List contacts in number order, filtered by tag and consent basis (cursor pagination)."""
    return await contacts.list_contacts(
        runtime, account_id=account_id, tag=tag, consent_basis=consent_basis, cursor=cursor, limit=limit
    )


@router.put("/{phone}")
async def put_contact(
    phone: str, body: ContactPut, account_id: AccountId, runtime: Runtime, response: Response
) -> dict[str, Any]:
    """Create or replace a contact and its consent record (201 when created)."""
    view, created = await contacts.upsert_contact(
        runtime, account_id=account_id, phone=phone, body=body.model_dump(exclude_unset=True)
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return view


@router.get("/{phone}")
async def get_contact(phone: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show a contact with its consent record."""
    return await contacts.get_contact(runtime, account_id=account_id, phone=phone)


@router.delete("/{phone}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(phone: str, account_id: AccountId, runtime: Runtime) -> Response:
    """Erase a contact: its data goes, the erasure is recorded."""
    request_id = str(get_contextvars().get("request_id") or uuid.uuid4())
    await contacts.delete_contact(runtime, account_id=account_id, phone=phone, request_id=request_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
