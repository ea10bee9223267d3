"""Consent records: what each legal basis must prove before a contact is stored.

The rule itself is defined once, in rules/src/halte_rules/consent.py, for this service and the
dispatcher (docs/compliance-rules.md, "Consent"); this module checks what a client sends:

- ``opt_in``: a positive act recorded with *when* (``collected_at``), *where* (``source``) and
  *the wording shown* (``wording``). A record whose wording and source only show an acceptance
  of terms of use or sale (``halte_rules.consent.is_terms_only``: "Acceptation des CGU" with
  "J'accepte les CGU") is refused ``terms_acceptance_not_consent``.
- ``customer``: a real purchase (``last_purchase_at``; an account creation alone is refused
  ``purchase_required``) and what was bought (``purchase_categories``, at least one category
  label), since marketing may only concern similar products or services. A record older than
  the customer period stays storable (it is the truth and the evidence); the rule says it no
  longer allows marketing.
- ``b2b``: the person's ``profession``, which a message must concern.
- ``non_commercial``: only for accounts the operator flagged non-commercial; otherwise refused
  ``non_commercial_not_allowed`` on ``consent.basis``.
- ``none``: no marketing basis; the contact may receive informative messages only.

For every basis except ``none`` the record says when and where the number was collected
(``collected_at``, ``source``), because each basis requires that the person was informed
at collection and can object for free.
Dates must carry a time zone and may not be in the future relative to ``now`` (a small
clock skew between the client and us is tolerated). Time is always passed in.

Category and profession labels (a contact's ``purchase_categories``, a message's ``category``
and ``professions``) are kept as written, tidied, and compared normalised
(``halte_rules.consent.normalise_label``): "Chaussures" is "chaussures ".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from halte_campaign_api.domain.errors import DomainError, check_one_line, has_unstorable, safe_text
from halte_rules.consent import (
    BASES,
    MARKETING_BASES,
    customer_consent_expires_at,
    is_account_creation_only,
    is_terms_only,
    marketing_consent_refusal,
    mentions_terms,
    normalise_label,
)
from halte_shared.events import ConsentSnapshot

__all__ = ["BASES", "MARKETING_BASES"]

#: Fields each basis must carry, beyond ``basis`` itself (see the module docstring).
REQUIRED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "opt_in": ("collected_at", "source", "wording"),
    "customer": ("collected_at", "source", "last_purchase_at", "purchase_categories"),
    "b2b": ("collected_at", "source", "profession"),
    "non_commercial": ("collected_at", "source"),
    "none": (),
}

DATE_FIELDS: Final = ("collected_at", "last_purchase_at")
TEXT_LIMITS: Final[Mapping[str, int]] = {"source": 200, "wording": 2000, "profession": 200}
LIST_FIELDS: Final = ("purchase_categories",)
KNOWN_FIELDS: Final = frozenset({"basis", *DATE_FIELDS, *TEXT_LIMITS, *LIST_FIELDS})
#: A category or profession label, and how many a contact or a message may list.
LABEL_MAX: Final = 100
MAX_LABELS: Final = 50

#: Clients stamp consents with their own clock; a few minutes ahead of ours is not "the future".
DEFAULT_MAX_SKEW: Final = timedelta(minutes=5)


def check_label(value: Any, *, field: str, what: str) -> str:
    """Return one category or profession label tidied (spaces collapsed), or raise DomainError."""
    tidy = check_one_line(value, field=field, what=what, max_length=LABEL_MAX)
    if not normalise_label(tidy):
        raise DomainError("invalid_label", f"{what} must contain a letter or a digit.", field)
    return tidy


def check_labels(values: Any, *, field: str, what: str) -> list[str]:
    """Return a list of labels tidied, distinct once normalised, in the order given; or raise DomainError."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise DomainError("invalid_type", f"{field.rsplit('.', 1)[-1]} must be a list of strings.", field)
    given = list(values)
    if len(given) > MAX_LABELS:
        raise DomainError("too_many", f"{field.rsplit('.', 1)[-1]} holds at most {MAX_LABELS} labels.", field)
    labels: list[str] = []
    seen: set[str] = set()
    for value in given:
        label = check_label(value, field=field, what=what)
        key = normalise_label(label)
        if key not in seen:
            seen.add(key)
            labels.append(label)
    return labels


def check_category(value: Any, *, field: str = "category") -> str | None:
    """Return the category a marketing message concerns (None when not declared), or raise DomainError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return check_label(value, field=field, what="category")


def check_professions(values: Any, *, field: str = "professions") -> list[str]:
    """Return the professions a marketing message concerns (possibly none), or raise DomainError."""
    return check_labels(values, field=field, what="each profession")


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
    account_non_commercial: bool = False,
) -> ConsentSnapshot:
    """Return the consent record checked and tidied, or raise DomainError naming the field."""
    return ConsentSnapshot(
        **consent_values(
            consent,
            now=now,
            field_prefix=field_prefix,
            max_skew=max_skew,
            account_non_commercial=account_non_commercial,
        )
    )


def consent_values(
    consent: Any,
    *,
    now: datetime,
    field_prefix: str = "consent",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    account_non_commercial: bool = False,
) -> dict[str, Any]:
    """Return the consent record's fields checked and tidied (as validate_consent), or raise DomainError.

    ``account_non_commercial`` says whether the operator flagged the account non-commercial,
    which the ``non_commercial`` basis needs.
    """
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
    if basis == "non_commercial" and not account_non_commercial:
        raise DomainError(
            "non_commercial_not_allowed",
            "basis 'non_commercial' (legitimate interest of e.g. a charity) is open only to accounts the operator "
            "has flagged non-commercial, and this account is not: record an opt-in or another basis.",
            f"{field_prefix}.basis",
        )

    values: dict[str, Any] = {"basis": basis}
    for name in DATE_FIELDS:
        values[name] = _as_datetime(read(name), name=name, prefix=field_prefix, now=now, max_skew=max_skew)
    for name in TEXT_LIMITS:
        values[name] = _as_text(read(name), name=name, prefix=field_prefix)
    values["purchase_categories"] = check_labels(
        read("purchase_categories"),
        field=f"{field_prefix}.purchase_categories",
        what="each purchase category",
    )

    if basis == "opt_in" and is_terms_only(source=values["source"], wording=values["wording"]):
        at_fault = "wording" if mentions_terms(values["wording"]) else "source"
        raise DomainError(
            "terms_acceptance_not_consent",
            "Accepting terms of use or sale is not consent to marketing: record the wording of the ticked "
            'opt-in box (e.g. "J\'accepte de recevoir des offres par SMS").',
            f"{field_prefix}.{at_fault}",
        )
    if basis == "customer" and values["last_purchase_at"] is None:
        why = (
            "an account creation alone is not a purchase"
            if is_account_creation_only(source=values["source"], wording=values["wording"])
            else "the customer exception needs a real purchase"
        )
        raise DomainError(
            "purchase_required", f"last_purchase_at is required: {why}.", f"{field_prefix}.last_purchase_at"
        )
    for name in REQUIRED_FIELDS[basis]:
        if values[name] is None or values[name] == []:
            why = " (the categories of products or services bought)" if name == "purchase_categories" else ""
            raise DomainError(
                "missing_field", f"{name} is required for basis {basis!r}{why}.", f"{field_prefix}.{name}"
            )
    return values


def marketing_valid_until(consent: Any) -> datetime | None:
    """Return when a customer consent stops allowing marketing, None when the basis sets no end."""
    if _read(consent, "basis") != "customer":
        return None
    last_purchase = _read(consent, "last_purchase_at")
    if last_purchase is None:
        return None
    return customer_consent_expires_at(last_purchase)


def classify_audience(
    records: Iterable[tuple[Any, int]],
    *,
    at: datetime,
    category: str | None,
    professions: Collection[str],
    account_non_commercial: bool,
) -> dict[str, Any]:
    """Return how many of an audience's consent records allow a marketing message, and why the others do not.

    ``records`` are (consent record, number of contacts holding it) pairs. Each record is judged
    by ``halte_rules.consent.marketing_consent_refusal``, the function the dispatcher decides
    with, so ``refused`` groups contacts by the reason the dispatcher will give.
    """
    allowed = 0
    refused: dict[str, int] = {}
    for consent, count in records:
        refusal = marketing_consent_refusal(
            consent,
            at=at,
            category=category,
            professions=professions,
            account_non_commercial=account_non_commercial,
        )
        if refusal is None:
            allowed += count
        else:
            refused[refusal.reason] = refused.get(refusal.reason, 0) + count
    return {"allowed": allowed, "refused": dict(sorted(refused.items()))}
