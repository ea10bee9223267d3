"""The notifier's copy of an account: what it needs to answer on the account's behalf.

Rule (CONTRACT.md ``account.changed``, keyed by account id): the notifier keeps the
advertiser's name, contact line and short codes from the latest ``account.changed`` it
saw. Events of one account may arrive out of order (a republished outbox row, a
replayed partition), so a change only replaces the copy when it is newer by
``changed_at``; an equal instant is applied too, so the same event replayed is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """Advertiser name, contact line and short codes of one account."""

    account_id: str
    name: str
    contact_info: str
    short_codes: tuple[str, ...]
    mode: str
    active: bool
    changed_at: datetime


def supersedes(incoming: datetime, stored: datetime | None) -> bool:
    """Tell whether a change made at `incoming` replaces the copy made at `stored`."""
    return stored is None or incoming >= stored
