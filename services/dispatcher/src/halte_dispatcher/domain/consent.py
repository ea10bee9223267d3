"""The consent rule as the dispatcher applies it: a thin adapter over ``halte_rules.consent``.

The rule itself (bases, the customer period, terms-only opt-ins, purchase categories,
professions, the non-commercial flag) is defined once in rules/src/halte_rules/consent.py and
explained in docs/compliance-rules.md ("Consent"); campaign-api counts a campaign's audience
with the same function, so its preview's refusals are the dispatcher's decisions.
Informative messages need no marketing consent: the policy only asks about marketing.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from halte_rules.consent import (
    CUSTOMER_CONSENT_YEARS,
    REFUSAL_REASONS,
    ConsentRecord,
    ConsentRefusal,
    customer_consent_expires_at,
    marketing_consent_refusal,
)

__all__ = [
    "CUSTOMER_CONSENT_YEARS",
    "REFUSAL_REASONS",
    "ConsentRecord",
    "ConsentRefusal",
    "consent_problem",
    "customer_consent_expires_at",
]


def consent_problem(
    consent: ConsentRecord | None,
    *,
    now: datetime,
    category: str | None = None,
    professions: Collection[str] = (),
    account_non_commercial: bool = False,
) -> str | None:
    """Return the reason the record does not allow this marketing SMS at ``now``, or None if it does."""
    refusal = marketing_consent_refusal(
        consent, at=now, category=category, professions=professions, account_non_commercial=account_non_commercial
    )
    return None if refusal is None else refusal.reason
