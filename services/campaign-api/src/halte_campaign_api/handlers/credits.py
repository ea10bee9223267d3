"""The credit ledger in the database: every movement locks the account, checks the rule, records its cause.

The rules are ledger.py's (balance = sum of movements; only an opt-out confirmation may
overdraw; a top-up settles the debt first). Here each movement takes the account row's
lock, so movements of one account are serialised and the cached ``accounts.balance``
always equals the sum of its ledger rows. Every movement carries an idempotency key
(``billing:<charge id>``, ``campaign:<id>:reservation``...): recording it again returns
the first row and changes nothing, which makes every consumer and retry harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halte_campaign_api.adapters.tables import accounts, ledger
from halte_campaign_api.domain.ledger import Movement, debt_of, ensure_affordable, topup_split
from halte_campaign_api.handlers.errors import NotFound


@dataclass(frozen=True, slots=True)
class Recorded:
    """A ledger row and whether this call created it (False: the key was already recorded)."""

    row: dict[str, Any]
    created: bool


async def lock_balance(session: AsyncSession, account_id: str) -> int:
    """Lock the account row for this transaction and return its balance."""
    balance = (
        await session.execute(select(accounts.c.balance).where(accounts.c.id == account_id).with_for_update())
    ).scalar_one_or_none()
    if balance is None:
        raise NotFound("The account")
    return int(balance)


async def record_movement(
    session: AsyncSession,
    *,
    account_id: str,
    kind: str,
    amount: int,
    cause: str,
    key: str,
    at: datetime,
    event_id: str | None = None,
    note: str | None = None,
) -> Recorded:
    """Record one movement once per key, refusing an overdraft the law does not require."""
    movement = Movement(kind, amount, cause, note=note, at=at)
    balance = await lock_balance(session, account_id)
    existing = (
        await session.execute(select(ledger).where(ledger.c.account_id == account_id, ledger.c.idempotency_key == key))
    ).first()
    if existing is not None:
        return Recorded(dict(existing._mapping), created=False)
    ensure_affordable(balance, movement)
    if kind == "topup":
        split = topup_split(balance, amount)
        if split.settled_debt:
            settled = f"settles a debt of {split.settled_debt}; {split.credited} credited"
            note = f"{note}; {settled}" if note else settled
    after = balance + movement.delta
    await session.execute(update(accounts).where(accounts.c.id == account_id).values(balance=after))
    row = {
        "account_id": account_id,
        "kind": kind,
        "amount": amount,
        "delta": movement.delta,
        "balance_after": after,
        "cause": cause,
        "idempotency_key": key,
        "event_id": event_id,
        "note": note,
        "at": at,
    }
    new_id = (await session.execute(ledger.insert().values(**row).returning(ledger.c.id))).scalar_one()
    return Recorded({"id": new_id, **row}, created=True)


def movement_view(row: Any) -> dict[str, Any]:
    """Return a ledger row as the API shows it."""
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    return {
        "id": data["id"],
        "kind": data["kind"],
        "amount": data["amount"],
        "delta": data["delta"],
        "balance_after": data["balance_after"],
        "cause": data["cause"],
        "event_id": data["event_id"],
        "note": data["note"],
        "at": data["at"],
    }


def balance_view(balance: int) -> dict[str, int]:
    """Return a balance with what is available and what is owed."""
    return {"credits": balance, "available": max(0, balance), "debt": debt_of(balance)}
