"""Who sends the confirmation of an opt-out: exactly one SMS per STOP, and only for a STOP.

Rule (SPEC.md rule 5; reference documents 000 and 002): a number that replies STOP gets
exactly one informative SMS saying its unsubscription is recorded, billed one credit to
the account. Only an SMS reply gets it (the unsubscribe page answers on screen; the API and
the 33700 platform are not the person writing to the short code), only a *new* suppression
gets it (a repeated STOP from a number already suppressed gives no second SMS or charge),
and a STOP on a shared short code that suppresses several accounts still gets one: sent for
the account whose marketing SMS most recently reached the number from that code (the
message the person answered), else for the first account in order, so replays choose alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

CONFIRMED_CHANNELS = frozenset({"sms"})


def confirmation_account(
    *, channel: str, new_accounts: Collection[str], recent_senders: Mapping[str, datetime]
) -> str | None:
    """Return the one account whose new suppression carries the confirmation SMS, or None."""
    if channel not in CONFIRMED_CHANNELS or not new_accounts:
        return None
    senders = [(sent_at, account) for account, sent_at in recent_senders.items() if account in new_accounts]
    if senders:
        # Latest send wins; ties broken by account id so every replay picks the same one.
        return max(senders, key=lambda s: (s[0], s[1]))[1]
    return min(new_accounts)
