"""Unit sends, opt-outs, ledger and evidence."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from halte_campaign_api.entrypoints.deps import AccountId, Runtime, limit_sends
from halte_campaign_api.entrypoints.schemas import MessageCreate, OptoutCreate
from halte_campaign_api.handlers import evidence, ledger, messages, optouts

router = APIRouter(tags=["messages, opt-outs, ledger, evidence"])


@router.post("/v1/messages", status_code=status.HTTP_201_CREATED)
async def send_message(body: MessageCreate, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Send one SMS now or at send_at, under the same policy as campaigns; answer the decision."""
    limit_sends(runtime, account_id)
    return await messages.send_message(runtime, account_id=account_id, body=body.model_dump(exclude_unset=True))


@router.get("/v1/optouts")
async def list_optouts(
    account_id: AccountId, runtime: Runtime, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """List the account's opt-outs, most recent first."""
    return await optouts.list_optouts(runtime, account_id=account_id, cursor=cursor, limit=limit)


@router.get("/v1/optouts/{phone}")
async def get_optout(phone: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show a number's opt-out(s): when received, by which channel, the raw text, when enforced."""
    return await optouts.get_optouts(runtime, account_id=account_id, phone=phone)


@router.post("/v1/optouts", status_code=status.HTTP_202_ACCEPTED)
async def report_optout(body: OptoutCreate, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Record an opt-out the account received elsewhere (the number leaves the address book)."""
    return await optouts.report_optout(runtime, account_id=account_id, phone=body.phone, channel=body.channel)


@router.get("/v1/ledger")
async def get_ledger(
    account_id: AccountId, runtime: Runtime, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Show the balance, the debt and every credit movement with its cause, most recent first."""
    return await ledger.get_ledger(runtime, account_id=account_id, cursor=cursor, limit=limit)


@router.get("/v1/evidence/{phone}")
async def get_evidence(phone: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show what the records prove for one number: consent, messages and decisions, opt-outs, erasures."""
    return await evidence.evidence_for(runtime, account_id=account_id, phone=phone)
