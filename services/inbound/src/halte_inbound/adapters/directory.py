"""The account directory: what account.changed told this service, read and written in its own tables."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from halte_inbound.adapters.tables import accounts
from halte_inbound.domain.routing import AccountRoute, normalise_short_code
from halte_shared.events import AccountChanged


async def routes_for_short_code(session: AsyncSession | AsyncConnection, short_code: str) -> list[AccountRoute]:
    """Return every account (active or not) that lists this short code."""
    if not short_code:
        return []
    rows = (
        await session.execute(
            select(
                accounts.c.account_id, accounts.c.short_codes, accounts.c.allow_resubscribe, accounts.c.active
            ).where(accounts.c.short_codes.contains([short_code]))
        )
    ).all()
    return [AccountRoute(r.account_id, tuple(r.short_codes), r.allow_resubscribe, r.active) for r in rows]


async def account_name(session: AsyncSession, account_id: str) -> str | None:
    """Return the advertiser's name of an account, or None when this service has not heard of it."""
    return (
        await session.execute(select(accounts.c.name).where(accounts.c.account_id == account_id))
    ).scalar_one_or_none()


async def apply_account(session: AsyncSession, account: AccountChanged) -> bool:
    """Store an account's latest state; False when a newer state is already stored (events may arrive late)."""
    values = {
        "account_id": account.account_id,
        "name": account.name,
        "short_codes": sorted({normalise_short_code(c) for c in account.short_codes if normalise_short_code(c)}),
        "allow_resubscribe": account.allow_resubscribe,
        "contact_info": account.contact_info,
        "active": account.active,
        "changed_at": account.changed_at,
    }
    proposed = insert(accounts).values(**values)
    upsert = proposed.on_conflict_do_update(
        index_elements=[accounts.c.account_id],
        set_={k: proposed.excluded[k] for k in values if k != "account_id"},
        where=accounts.c.changed_at <= proposed.excluded.changed_at,
    ).returning(accounts.c.account_id)
    return (await session.execute(upsert)).first() is not None
