"""Campaigns: drafts, preview, launch, cancel, status and the per-recipient report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from halte_campaign_api.entrypoints.deps import AccountId, Runtime, limit_sends
from halte_campaign_api.entrypoints.schemas import CampaignCreate
from halte_campaign_api.handlers import campaigns

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_campaign(body: CampaignCreate, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Record a draft; what launching would refuse (text, sender, mode) is refused now."""
    return await campaigns.create_campaign(runtime, account_id=account_id, body=body.model_dump(exclude_unset=True))


@router.get("")
async def list_campaigns(
    account_id: AccountId,
    runtime: Runtime,
    status: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """List the account's campaigns, most recent first (counts are in each campaign's own view)."""
    return await campaigns.list_campaigns(runtime, account_id=account_id, status=status, cursor=cursor, limit=limit)


@router.get("/{campaign_id}")
async def get_campaign(campaign_id: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show a campaign's status, counts per outcome and credits."""
    return await campaigns.get_campaign(runtime, account_id=account_id, campaign_id=campaign_id)


@router.get("/{campaign_id}/preview")
async def preview_campaign(
    campaign_id: str, account_id: AccountId, runtime: Runtime, phone: str | None = None
) -> dict[str, Any]:
    """Show the final text (mention, advertiser), encoding, segments and cost; ?phone= for a real contact."""
    return await campaigns.get_preview(runtime, account_id=account_id, campaign_id=campaign_id, phone=phone)


@router.post("/{campaign_id}/launch", status_code=status.HTTP_202_ACCEPTED)
async def launch_campaign(campaign_id: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Reserve the credits and start streaming the recipients to the dispatcher."""
    limit_sends(runtime, account_id)
    return await campaigns.launch_campaign(runtime, account_id=account_id, campaign_id=campaign_id)


@router.post("/{campaign_id}/cancel")
async def cancel_campaign(campaign_id: str, account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Stop a campaign: recipients not yet requested never are; unused credits come back."""
    return await campaigns.cancel_campaign(runtime, account_id=account_id, campaign_id=campaign_id)


@router.get("/{campaign_id}/recipients")
async def list_recipients(
    campaign_id: str,
    account_id: AccountId,
    runtime: Runtime,
    outcome: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """One row per recipient: outcome, reason, schedule, sending and delivery (cursor pagination)."""
    return await campaigns.list_recipients(
        runtime, account_id=account_id, campaign_id=campaign_id, outcome=outcome, cursor=cursor, limit=limit
    )
