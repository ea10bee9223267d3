"""Consent records: what each legal basis must prove before a contact is stored.

Rule (SPEC rule 1, from the CNIL page "La prospection commerciale par SMS/MMS" quoted in
reference/003, and reference/004):

- ``opt_in``: marketing to a private person needs prior, explicit consent, a positive act
  recorded with *when* (``collected_at``), *where* (``source``) and *the wording shown*
  (``wording``). Accepting terms of use is not consent, so a source that only names
  terms acceptance is refused.
- ``customer``: the existing-customer exception needs a real purchase
  (``last_purchase_at``); the CNIL sanctioned a company that used it for people who had
  only created an account, so an account creation alone is refused. The exception does
  not last for ever: following the CNIL's recommendation (a customer may be prospected
  for 3 years after the end of the commercial relationship), it is valid for marketing
  until 3 years after the last purchase. A stale record stays storable (it is the truth
  and the evidence, SPEC rule 7); :func:`is_valid_for_marketing` says it no longer
  allows marketing.
- ``b2b``: legitimate interest, valid only if the message relates to the person's
  ``profession``, which must be recorded.
- ``non_commercial``: legitimate interest of e.g. a charity.
- ``none``: no marketing basis; the contact may receive informative messages only.

For every basis except ``none`` the record says when and where the number was collected
(``collected_at``, ``source``), because each basis requires that the person was informed
at collection and can object for free; CONTRACT.md lists both as required fields.
Dates must carry a time zone and may not be in the future relative to ``now`` (a small
clock skew between the client and us is tolerated). Time is always passed in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from halte_campaign_api.domain.errors import DomainError, has_unstorable, safe_text
from halte_shared.events import ConsentSnapshot

BASES: Final = ("opt_in", "customer", "b2b", "non_commercial", "none")
MARKETING_BASES: Final = frozenset({"opt_in", "customer", "b2b", "non_commercial"})

#: Fields each basis must carry, beyond ``basis`` itself (see the module docstring).
REQUIRED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "opt_in": ("collected_at", "source", "wording"),
    "customer": ("collected_at", "source", "last_purchase_at"),
    "b2b": ("collected_at", "source", "profession"),
    "non_commercial": ("collected_at", "source"),
    "none": (),
}

DATE_FIELDS: Final = ("collected_at", "last_purchase_at")
TEXT_LIMITS: Final[Mapping[str, int]] = {"source": 200, "wording": 2000, "profession": 200}
KNOWN_FIELDS: Final = frozenset({"basis", *DATE_FIELDS, *TEXT_LIMITS})

#: Clients stamp consents with their own clock; a few minutes ahead of ours is not "the future".
DEFAULT_MAX_SKEW: Final = timedelta(minutes=5)

#: CNIL recommendation for the customer exception: 3 years after the last purchase.
CUSTOMER_MARKETING_YEARS: Final = 3

#: Sources that only record the acceptance of terms of use, which the CNIL says is not consent.
TERMS_ONLY_SOURCES: Final = frozenset(
    {"terms", "terms_of_use", "terms_of_service", "tos", "terms_and_conditions", "cgu", "cgv", "conditions_generales"}
)
#: Sources that only record an account creation, which the CNIL says is not a purchase.
ACCOUNT_CREATION_SOURCES: Final = frozenset(
    {"account_creation", "account_created", "signup", "sign_up", "registration", "creation_de_compte", "inscription"}
)


@functools.lru_cache(maxsize=1024)
def _source_key(source: str) -> str:
    # Cached: an import repeats the same few sources on every row.
    return re.sub(r"[\s\-]+", "_", source.strip().casefold())


def _read(consent: Any, name: str) -> Any:
    if isinstance(consent, Mapping):
        return consent.get(name)
    return getattr(consent, name, None)


def _as_text(value: Any, *, name: str, prefix: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DomainError("invalid_type", f"{name} must be a string.", f"{prefix}.{name}")
    if has_unstorable(value):
        raise DomainError("invalid_character", f"{name} contains a NUL or an unpaired surrogate.", f"{prefix}.{name}")
    value = value.strip()
    if len(value) > TEXT_LIMITS[name]:
        raise DomainError("too_long", f"{name} is longer than {TEXT_LIMITS[name]} characters.", f"{prefix}.{name}")
    # An empty string proves nothing, so it counts as missing.
    return value or None


def _as_datetime(value: Any, *, name: str, prefix: str, now: datetime, max_skew: timedelta) -> datetime | None:
    field = f"{prefix}.{name}"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise DomainError("invalid_datetime", f"{name} is not an ISO 8601 date-time.", field) from exc
    if not isinstance(value, datetime):
        raise DomainError("invalid_datetime", f"{name} must be an ISO 8601 date-time.", field)
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time is ambiguous by up to a day across territories: evidence must be exact.
        raise DomainError("naive_datetime", f"{name} must carry a time zone offset.", field)
    if value > now + max_skew:
        raise DomainError("future_datetime", f"{name} is in the future.", field)
    return value


def validate_consent(
    consent: Any,
    *,
    now: datetime,
    field_prefix: str = "consent",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> ConsentSnapshot:
    """Return the consent record checked and tidied, or raise DomainError naming the field."""
    return ConsentSnapshot(**consent_values(consent, now=now, field_prefix=field_prefix, max_skew=max_skew))


def consent_values(
    consent: Any,
    *,
    now: datetime,
    field_prefix: str = "consent",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> dict[str, Any]:
    """Return the consent record's fields checked and tidied (as validate_consent), or raise DomainError."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    # A plain dict is by far the common case (every imported row): read it without ABC checks.
    is_mapping = type(consent) is dict or (
        consent is not None and not isinstance(consent, (str, bytes)) and isinstance(consent, Mapping)
    )
    if not is_mapping and (consent is None or isinstance(consent, (str, bytes)) or not hasattr(consent, "basis")):
        raise DomainError("invalid_consent", "consent must be an object with a basis.", field_prefix)
    if is_mapping:
        # A misspelt field (e.g. "wordng") would silently drop proof: refuse it instead.
        for key in consent:
            if key not in KNOWN_FIELDS:
                raise DomainError(
                    "unknown_field", f"{key!r} is not a consent field.", f"{field_prefix}.{safe_text(str(key))}"
                )
        read = consent.get
    else:

        def read(name: str) -> Any:
            return getattr(consent, name, None)

    basis = read("basis")
    if basis not in BASES:
        raise DomainError("invalid_basis", f"basis must be one of {', '.join(BASES)}.", f"{field_prefix}.basis")

    values: dict[str, Any] = {"basis": basis}
    for name in DATE_FIELDS:
        values[name] = _as_datetime(read(name), name=name, prefix=field_prefix, now=now, max_skew=max_skew)
    for name in TEXT_LIMITS:
        values[name] = _as_text(read(name), name=name, prefix=field_prefix)

    source_key = _source_key(values["source"]) if values["source"] else ""
    if basis == "opt_in" and source_key in TERMS_ONLY_SOURCES:
        raise DomainError(
            "terms_acceptance_not_consent",
            "Accepting terms of use is not consent to marketing: record the ticked opt-in box instead.",
            f"{field_prefix}.source",
        )
    if basis == "customer" and values["last_purchase_at"] is None:
        why = (
            "an account creation alone is not a purchase"
            if source_key in ACCOUNT_CREATION_SOURCES
            else "the customer exception needs a real purchase"
        )
        raise DomainError(
            "purchase_required", f"last_purchase_at is required: {why}.", f"{field_prefix}.last_purchase_at"
        )
    for name in REQUIRED_FIELDS[basis]:
        if values[name] is None:
            raise DomainError("missing_field", f"{name} is required for basis {basis!r}.", f"{field_prefix}.{name}")
    return values


def _add_years(instant: datetime, years: int) -> datetime:
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:
        # 29 February: end on the 28th, never after the period the rule allows.
        return instant.replace(year=instant.year + years, day=28)


def marketing_valid_until(consent: Any) -> datetime | None:
    """Return when a customer consent stops allowing marketing, None when the basis sets no end."""
    if _read(consent, "basis") != "customer":
        return None
    last_purchase = _read(consent, "last_purchase_at")
    if last_purchase is None:
        return None
    return _add_years(last_purchase, CUSTOMER_MARKETING_YEARS)


def marketing_refusal(consent: Any, *, at: datetime, max_skew: timedelta = DEFAULT_MAX_SKEW) -> str | None:
    """Return why a consent does not allow a marketing SMS at ``at``, or None when it does."""
    if consent is None:
        return "no_consent"
    basis = _read(consent, "basis")
    if basis not in MARKETING_BASES:
        return "no_marketing_consent"
    if basis == "customer":
        last_purchase = _read(consent, "last_purchase_at")
        if last_purchase is None:
            return "no_purchase"
        if last_purchase > at + max_skew:
            return "consent_not_yet_given"
        until = marketing_valid_until(consent)
        if until is not None and at >= until:
            return "customer_consent_expired"
        return None
    collected_at = _read(consent, "collected_at")
    # Consent given after the message would not have covered it (skew tolerated as on input).
    if collected_at is not None and collected_at > at + max_skew:
        return "consent_not_yet_given"
    return None


def is_valid_for_marketing(consent: Any, *, at: datetime) -> bool:
    """Tell whether a consent allows a marketing SMS at ``at``."""
    return marketing_refusal(consent, at=at) is None
