"""Which accounts an opt-out belongs to: the short-code attribution rule.

Rule (SPEC.md rules 5 and 8; issue 4 of the suppression service). A STOP replied to a short
code unsubscribes the number from the account(s) that short code speaks for:

1. A request that names its account (the unsubscribe page, the API, a report resolved
   upstream) belongs to that account, and, if it also names a short code, to the accounts
   the short code gives by the rules below.
2. A dedicated short code (exactly one account on it) names its account.
3. A short code shared by several accounts attributes the STOP to every account that sent a
   marketing SMS to that number from that short code in the 90 days before the STOP (the
   person answers the messages they received). If none did, to every account on the short
   code: fail safe.
4. An account that sent marketing to the number from the short code within the window is
   always included, even when the code has changed hands since: the person replied to its
   message.
5. No account known for the short code and no recent sender: the opt-out is unattributed. It
   is kept as evidence and logged, never dropped, and attributed as soon as an account on
   that short code becomes known.

Why fail safe: attributing too widely only withholds marketing, which a new explicit consent
restores; attributing too narrowly lets marketing reach a person who objected, which the law
forbids (CNIL, "STOP SMS"; €20,000 fines per the reference documents).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

NAMED_ACCOUNT = "named_account"
DEDICATED_SHORT_CODE = "dedicated_short_code"
RECENT_SENDERS = "recent_marketing_senders"
ALL_ON_SHORT_CODE = "all_accounts_on_shared_short_code"
UNATTRIBUTED = "unattributed"


@dataclass(frozen=True, slots=True)
class Attribution:
    """The accounts an opt-out applies to, and the rules that named them (for the evidence)."""

    accounts: tuple[str, ...]
    rules: tuple[str, ...]

    @property
    def attributed(self) -> bool:
        return bool(self.accounts)

    @property
    def explanation(self) -> str:
        return "+".join(self.rules)


def attribute_by_short_code(
    *, accounts_on_code: Collection[str], recent_senders: Mapping[str, datetime]
) -> Attribution:
    """Attribute an opt-out received on a short code (rules 2 to 5 of the module docstring)."""
    owners = set(accounts_on_code)
    senders = set(recent_senders)
    if len(owners) == 1:
        rules = (DEDICATED_SHORT_CODE, RECENT_SENDERS) if senders - owners else (DEDICATED_SHORT_CODE,)
        return Attribution(tuple(sorted(owners | senders)), rules)
    if senders:
        return Attribution(tuple(sorted(senders)), (RECENT_SENDERS,))
    if owners:
        return Attribution(tuple(sorted(owners)), (ALL_ON_SHORT_CODE,))
    return Attribution((), (UNATTRIBUTED,))


def attribute_optout(
    *,
    account_id: str | None,
    short_code: str | None,
    accounts_on_code: Collection[str],
    recent_senders: Mapping[str, datetime],
) -> Attribution:
    """Return the accounts an opt-out applies to (the whole rule of the module docstring)."""
    by_code = (
        attribute_by_short_code(accounts_on_code=accounts_on_code, recent_senders=recent_senders)
        if short_code
        else Attribution((), (UNATTRIBUTED,))
    )
    if account_id is None:
        return by_code
    if not by_code.attributed:
        return Attribution((account_id,), (NAMED_ACCOUNT,))
    return Attribution(tuple(sorted({account_id, *by_code.accounts})), (NAMED_ACCOUNT, *by_code.rules))
