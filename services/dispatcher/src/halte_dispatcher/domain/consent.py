"""Whether a contact's consent record allows a marketing SMS at a given instant.

Rule (SPEC.md rule 1, from the CNIL guidance quoted in reference/003 and reference/004):
marketing SMS to a private person need prior, explicit consent (``opt_in``: a positive act,
recorded with when, where and the wording shown). Exceptions: an existing ``customer`` (a real
purchase happened) for similar products, ``non_commercial`` prospecting (e.g. charity), and
``b2b`` on legitimate interest when the message relates to the person's profession.
Informative messages need no marketing consent; the caller only asks about marketing.

Validity, as the dispatcher checks it:

- ``opt_in``: valid once ``collected_at`` is known and not in the future (consent is *prior*).
- ``customer``: valid for ``CUSTOMER_CONSENT_YEARS`` (3) years after ``last_purchase_at``, the
  CNIL's retention period for prospects after the end of the commercial relationship
  ("référentiel gestion commerciale"); no purchase date (an account creation alone is not a
  purchase) gives ``no_consent``, an older one ``consent_expired``. A purchase dated in the
  future proves nothing and gives ``no_consent``.
- ``b2b``: valid when the ``profession`` the message must relate to is recorded.
- ``non_commercial``: valid.
- ``none``, an unknown basis, or no record at all: ``no_consent``.

Whether the person was informed and can object for free is enforced elsewhere (the STOP
mention and the suppression list), not from the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halte_dispatcher.domain.decision import CONSENT_EXPIRED, NO_CONSENT

CUSTOMER_CONSENT_YEARS = 3
CONSENT_FIELDS = ("basis", "collected_at", "source", "wording", "last_purchase_at", "profession")


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """The consent record of a contact as it stood when the message was requested."""

    basis: str
    collected_at: datetime | None = None
    source: str | None = None
    wording: str | None = None
    last_purchase_at: datetime | None = None
    profession: str | None = None

    def __post_init__(self) -> None:
        for name in ("collected_at", "last_purchase_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"consent {name} must be timezone-aware")

    @classmethod
    def of(cls, snapshot: Any) -> ConsentRecord | None:
        """Return the record read from a ConsentSnapshot, a mapping or a record; None stays None."""
        if snapshot is None or isinstance(snapshot, ConsentRecord):
            return snapshot
        fields: dict[str, Any] = (
            {name: snapshot[name] for name in CONSENT_FIELDS if name in snapshot}
            if isinstance(snapshot, Mapping)
            else {name: getattr(snapshot, name, None) for name in CONSENT_FIELDS}
        )
        # A snapshot without a basis records no consent at all.
        fields["basis"] = fields.get("basis") or "none"
        return cls(**fields)


def customer_consent_expires_at(last_purchase_at: datetime) -> datetime:
    """Return the instant the customer exception lapses, three calendar years after the purchase."""
    try:
        return last_purchase_at.replace(year=last_purchase_at.year + CUSTOMER_CONSENT_YEARS)
    except ValueError:
        # A 29 February purchase: the period ends on 28 February, the earlier of the two
        # readings, so that the platform never relies on a day the law may not grant.
        return last_purchase_at.replace(year=last_purchase_at.year + CUSTOMER_CONSENT_YEARS, day=28)


def consent_problem(consent: ConsentRecord | None, *, now: datetime) -> str | None:
    """Return why the record does not allow a marketing SMS at ``now``, or None if it does."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if consent is None:
        return NO_CONSENT
    basis = consent.basis
    if basis == "opt_in":
        if consent.collected_at is None or consent.collected_at > now:
            return NO_CONSENT
        return None
    if basis == "customer":
        if consent.last_purchase_at is None or consent.last_purchase_at > now:
            return NO_CONSENT
        if now >= customer_consent_expires_at(consent.last_purchase_at):
            return CONSENT_EXPIRED
        return None
    if basis == "b2b":
        return None if (consent.profession or "").strip() else NO_CONSENT
    if basis == "non_commercial":
        return None
    return NO_CONSENT
