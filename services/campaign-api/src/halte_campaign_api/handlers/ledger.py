"""The account's credit ledger as the API shows it: balance, debt and every movement with its cause."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from halte_campaign_api.adapters.tables import accounts, ledger
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.handlers.contacts import check_limit, decode_cursor, encode_cursor
from halte_campaign_api.handlers.credits import balance_view, movement_view
from halte_campaign_api.handlers.errors import NotFound
from halte_campaign_api.runtime import CampaignRuntime


async def get_ledger(
    runtime: CampaignRuntime, *, account_id: str, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    """Return the balance and a page of movements, most recent first."""
    size = check_limit(limit)
    position = decode_cursor(cursor)
    before: int | None = None
    if position is not None:
        if not position.isdigit() or len(position) > 18:
            raise DomainError("invalid_cursor", "cursor is not one this API returned.", "cursor")
        before = int(position)
    async with runtime.sessions() as session:
        balance = (
            await session.execute(select(accounts.c.balance).where(accounts.c.id == account_id))
        ).scalar_one_or_none()
        if balance is None:
            raise NotFound("The account")
        query = select(ledger).where(ledger.c.account_id == account_id)
        if before is not None:
            query = query.where(ledger.c.id < before)
        rows = (await session.execute(query.order_by(ledger.c.id.desc()).limit(size + 1))).all()
    return {
        **balance_view(int(balance)),
        "movements": [movement_view(r) for r in rows[:size]],
        "next_cursor": encode_cursor(str(rows[size - 1].id)) if len(rows) > size else None,
    }
