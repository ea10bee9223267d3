"""Accounts: the operator's endpoints (ADMIN_TOKEN) and the account's own view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response, status

from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.entrypoints.deps import AccountId, Runtime
from halte_campaign_api.entrypoints.schemas import AccountCreate, AccountPatch, ApiKeyCreate, CreditTopUp
from halte_campaign_api.handlers import accounts
from halte_shared.web import AdminOnly

operator = APIRouter(prefix="/v1/accounts", tags=["accounts (operator)"], dependencies=[AdminOnly])
client = APIRouter(tags=["account"])


@operator.post("", status_code=status.HTTP_201_CREATED)
async def create_account(body: AccountCreate, runtime: Runtime) -> dict[str, Any]:
    """Create an account and its first API key (shown once, stored hashed)."""
    codes = list(body.short_codes or [])
    if body.short_code is not None:
        codes.insert(0, body.short_code)
    if not codes:
        raise DomainError("missing_field", "Give the account's short_code (or short_codes).", "short_code")
    return await accounts.create_account(
        runtime,
        name=body.name,
        contact_info=body.contact_info,
        mode=body.mode,
        short_codes=codes,
        allow_resubscribe=body.allow_resubscribe,
        hours_profile=body.hours_profile,
        window_start=body.window_start,
        window_end=body.window_end,
        non_commercial=body.non_commercial,
    )


@operator.get("/{account_id}")
async def get_account(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """Show an account with its balance."""
    return await accounts.get_account(runtime, account_id)


@operator.patch("/{account_id}")
async def update_account(account_id: str, body: AccountPatch, runtime: Runtime) -> dict[str, Any]:
    """Change an account's name, contact line, mode, short codes, re-subscription, hours or non-commercial flag."""
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "contact_info", "mode", "short_codes", "allow_resubscribe", "hours_profile", "non_commercial"):
        if name in changes and changes[name] is None:
            raise DomainError("invalid", f"{name} cannot be null.", name)
    return await accounts.update_account(runtime, account_id, changes=changes)


@operator.post("/{account_id}/credits", status_code=status.HTTP_201_CREATED)
async def top_up(account_id: str, body: CreditTopUp, runtime: Runtime, response: Response) -> dict[str, Any]:
    """Add credits; a debt left by opt-out confirmations is settled first."""
    result, created = await accounts.top_up(
        runtime, account_id, amount=body.amount, reason=body.reason, reference=body.reference
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return result


@operator.post("/{account_id}/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(account_id: str, runtime: Runtime, body: ApiKeyCreate | None = Body(None)) -> dict[str, Any]:
    """Create another API key (shown once)."""
    return await accounts.create_api_key(runtime, account_id, label=body.label if body else None)


@operator.get("/{account_id}/api-keys")
async def list_api_keys(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """List an account's keys (never their secrets)."""
    return {"items": await accounts.list_api_keys(runtime, account_id)}


@operator.delete("/{account_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(account_id: str, key_id: str, runtime: Runtime) -> Response:
    """Revoke a key: requests carrying it are refused from now on."""
    await accounts.revoke_api_key(runtime, account_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@client.get("/v1/account")
async def own_account(account_id: AccountId, runtime: Runtime) -> dict[str, Any]:
    """Show the calling account, with its credits (a negative balance is a debt)."""
    return await accounts.get_account(runtime, account_id)
