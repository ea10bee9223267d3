"""Accounts and API keys: created and changed by the operator, announced on the bus."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.tables import accounts, api_keys
from halte_campaign_api.domain.accounts import (
    DEFAULT_HOURS_PROFILE,
    check_contact_info,
    check_hours,
    check_mode,
    check_name,
    check_short_codes,
)
from halte_campaign_api.domain.api_keys import RANDOM_CHARS, display_prefix, format_key, hash_key, looks_like_key
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.ids import is_uuid
from halte_campaign_api.domain.templates import DEFAULT_TEMPLATE_MODE, check_template_mode
from halte_campaign_api.handlers.credits import balance_view, movement_view, record_movement
from halte_campaign_api.handlers.errors import NotFound
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.events import AccountChanged
from halte_shared.outbox import add_to_outbox

log = structlog.get_logger("halte.campaign_api.accounts")


def _check_flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid_type", f"{field} must be true or false.", field)
    return value


def new_api_key() -> str:
    """Return a fresh random API key."""
    random_part = secrets.token_urlsafe(RANDOM_CHARS)[:RANDOM_CHARS]
    return format_key(random_part)


async def _announce(session: AsyncSession, runtime: CampaignRuntime, account: dict[str, Any]) -> None:
    payload = AccountChanged(
        account_id=account["id"],
        name=account["name"],
        mode=account["mode"],
        short_codes=list(account["short_codes"]),
        contact_info=account["contact_info"],
        allow_resubscribe=account["allow_resubscribe"],
        hours_profile=account["hours_profile"],
        window_start=account["window_start"],
        window_end=account["window_end"],
        active=account["active"],
        non_commercial=account["non_commercial"],
        changed_at=account["updated_at"],
    )
    await add_to_outbox(
        session,
        payload,
        key=account["id"],
        producer=runtime.settings.service_name,
        occurred_at=account["updated_at"],
    )


async def _insert_key(session: AsyncSession, *, account_id: str, label: str | None, now: Any) -> dict[str, Any]:
    key = new_api_key()
    key_id = str(uuid.uuid4())
    await session.execute(
        api_keys.insert().values(
            id=key_id,
            account_id=account_id,
            key_hash=hash_key(key),
            prefix=display_prefix(key),
            label=label,
            created_at=now,
        )
    )
    return {"key_id": key_id, "api_key": key, "prefix": display_prefix(key), "label": label, "created_at": now}


async def create_account(
    runtime: CampaignRuntime,
    *,
    name: str,
    contact_info: str,
    mode: str,
    short_codes: list[str],
    allow_resubscribe: bool = False,
    hours_profile: str = DEFAULT_HOURS_PROFILE,
    window_start: str | None = None,
    window_end: str | None = None,
    non_commercial: bool = False,
) -> dict[str, Any]:
    """Create an account with its first API key, and announce it.

    ``non_commercial`` (the operator's alone): contacts on the non_commercial consent basis
    (legitimate interest of e.g. a charity) are allowed for this account.
    """
    now = runtime.clock.now()
    mode = check_mode(mode)
    profile, start, end = check_hours(hours_profile, window_start, window_end)
    account = {
        "id": str(uuid.uuid4()),
        "name": check_name(name),
        "contact_info": check_contact_info(contact_info),
        "mode": mode,
        "short_codes": list(check_short_codes(short_codes, mode=mode)),
        "allow_resubscribe": allow_resubscribe,
        "hours_profile": profile,
        "window_start": start,
        "window_end": end,
        "balance": 0,
        "active": True,
        "non_commercial": _check_flag(non_commercial, "non_commercial"),
        "informative_templates": DEFAULT_TEMPLATE_MODE,
        "created_at": now,
        "updated_at": now,
    }
    async with runtime.sessions() as session, session.begin():
        await session.execute(accounts.insert().values(**account))
        key = await _insert_key(session, account_id=account["id"], label="first key", now=now)
        await _announce(session, runtime, account)
    runtime.relay.wake()
    log.info("account created", account_id=account["id"], short_codes=account["short_codes"], mode=mode)
    return {**account_view(account), "api_key": key["api_key"], "key_id": key["key_id"]}


async def get_account_row(session: AsyncSession, account_id: str, *, lock: bool = False) -> dict[str, Any]:
    """Return the account row, or raise NotFound."""
    if not is_uuid(account_id):
        raise NotFound("The account")
    query = select(accounts).where(accounts.c.id == account_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("The account")
    return dict(row._mapping)


def account_view(account: dict[str, Any]) -> dict[str, Any]:
    """Return an account as the API shows it."""
    return {
        "id": account["id"],
        "name": account["name"],
        "contact_info": account["contact_info"],
        "mode": account["mode"],
        "short_codes": list(account["short_codes"]),
        "allow_resubscribe": account["allow_resubscribe"],
        "hours_profile": account["hours_profile"],
        "window_start": account["window_start"],
        "window_end": account["window_end"],
        "active": account["active"],
        "non_commercial": account["non_commercial"],
        "informative_templates": account["informative_templates"],
        **balance_view(int(account["balance"])),
        "created_at": account["created_at"],
        "updated_at": account["updated_at"],
    }


async def get_account(runtime: CampaignRuntime, account_id: str) -> dict[str, Any]:
    """Return one account's view."""
    async with runtime.sessions() as session:
        return account_view(await get_account_row(session, account_id))


async def update_account(runtime: CampaignRuntime, account_id: str, *, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply the operator's changes to an account, and announce it."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        account = await get_account_row(session, account_id, lock=True)
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = check_name(changes["name"])
        if "contact_info" in changes:
            values["contact_info"] = check_contact_info(changes["contact_info"])
        mode = check_mode(changes["mode"]) if "mode" in changes else account["mode"]
        values["mode"] = mode
        codes = changes.get("short_codes", account["short_codes"])
        values["short_codes"] = list(check_short_codes(codes if codes is not None else [], mode=mode))
        if "allow_resubscribe" in changes:
            if not isinstance(changes["allow_resubscribe"], bool):
                raise DomainError("invalid_type", "allow_resubscribe must be true or false.", "allow_resubscribe")
            values["allow_resubscribe"] = changes["allow_resubscribe"]
        if "non_commercial" in changes:
            values["non_commercial"] = _check_flag(changes["non_commercial"], "non_commercial")
        if "informative_templates" in changes:
            values["informative_templates"] = check_template_mode(changes["informative_templates"])
        profile = changes.get("hours_profile", account["hours_profile"])
        start = changes["window_start"] if "window_start" in changes else account["window_start"]
        end = changes["window_end"] if "window_end" in changes else account["window_end"]
        values["hours_profile"], values["window_start"], values["window_end"] = check_hours(profile, start, end)
        values["updated_at"] = now
        await session.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        account.update(values)
        await _announce(session, runtime, account)
    runtime.relay.wake()
    log.info("account changed by the operator", account_id=account_id, fields=sorted(changes))
    return account_view(account)


async def create_api_key(runtime: CampaignRuntime, account_id: str, *, label: str | None) -> dict[str, Any]:
    """Create another API key for an account (shown once)."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        await get_account_row(session, account_id)
        key = await _insert_key(session, account_id=account_id, label=label, now=now)
    log.info("API key created", account_id=account_id, key_id=key["key_id"])
    return key


async def list_api_keys(runtime: CampaignRuntime, account_id: str) -> list[dict[str, Any]]:
    """Return an account's keys without their secrets."""
    async with runtime.sessions() as session:
        await get_account_row(session, account_id)
        rows = (
            await session.execute(
                select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.created_at)
            )
        ).all()
    return [
        {
            "key_id": r.id,
            "prefix": r.prefix,
            "label": r.label,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]


async def revoke_api_key(runtime: CampaignRuntime, account_id: str, key_id: str) -> None:
    """Revoke one key of an account; requests carrying it are refused from now on."""
    now = runtime.clock.now()
    if not is_uuid(key_id):
        raise NotFound("The API key", "key_id")
    async with runtime.sessions() as session, session.begin():
        exists = (
            await session.execute(
                select(api_keys.c.revoked_at).where(api_keys.c.id == key_id, api_keys.c.account_id == account_id)
            )
        ).first()
        if exists is None:
            raise NotFound("The API key", "key_id")
        if exists.revoked_at is not None:
            return  # revoking twice keeps the first instant
        await session.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
    log.info("API key revoked", account_id=account_id, key_id=key_id)


async def authenticate(runtime: CampaignRuntime, token: str) -> str | None:
    """Return the account id of a valid, unrevoked API key, or None."""
    if not looks_like_key(token):
        return None
    async with runtime.sessions() as session:
        row = (
            await session.execute(
                select(api_keys.c.account_id)
                .join(accounts, accounts.c.id == api_keys.c.account_id)
                .where(api_keys.c.key_hash == hash_key(token), api_keys.c.revoked_at.is_(None), accounts.c.active)
            )
        ).first()
    return None if row is None else str(row.account_id)


async def top_up(
    runtime: CampaignRuntime, account_id: str, *, amount: int, reason: str, reference: str | None
) -> tuple[dict[str, Any], bool]:
    """Add credits to an account (a debt is settled first); once per reference."""
    now = runtime.clock.now()
    key = f"topup:{reference}" if reference else f"topup:{uuid.uuid4()}"
    async with runtime.sessions() as session, session.begin():
        recorded = await record_movement(
            session,
            account_id=account_id,
            kind="topup",
            amount=amount,
            cause=f"operator:{reference or 'topup'}",
            key=key,
            at=now,
            note=reason,
        )
        balance = (await session.execute(select(accounts.c.balance).where(accounts.c.id == account_id))).scalar_one()
    if recorded.created:
        log.info("credits topped up", account_id=account_id, amount=amount, balance=balance)
    return {"movement": movement_view(recorded.row), **balance_view(int(balance))}, recorded.created
