"""Consent records by legal basis (SPEC rule 1, CNIL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from halte_campaign_api.domain.consent import (
    is_valid_for_marketing,
    marketing_refusal,
    marketing_valid_until,
    validate_consent,
)
from halte_campaign_api.domain.errors import DomainError
from halte_shared.events import ConsentSnapshot

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PAST = "2025-06-01T10:00:00+02:00"

OPT_IN = {"basis": "opt_in", "collected_at": PAST, "source": "website_form", "wording": "J'accepte les SMS promo"}
CUSTOMER = {"basis": "customer", "collected_at": PAST, "source": "checkout", "last_purchase_at": PAST}
B2B = {"basis": "b2b", "collected_at": PAST, "source": "trade_fair", "profession": "DSI"}
NON_COMMERCIAL = {"basis": "non_commercial", "collected_at": PAST, "source": "donation_form"}
NONE = {"basis": "none"}


@pytest.mark.parametrize("record", [OPT_IN, CUSTOMER, B2B, NON_COMMERCIAL, NONE, {**NONE, "source": "booking"}])
def test_valid_records(record: dict[str, str]) -> None:
    snapshot = validate_consent(record, now=NOW)
    assert isinstance(snapshot, ConsentSnapshot)
    assert snapshot.basis == record["basis"]


def _without(record: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize(
    ("record", "code", "field"),
    [
        # opt_in: when, where and the wording shown.
        (_without(OPT_IN, "collected_at"), "missing_field", "consent.collected_at"),
        (_without(OPT_IN, "source"), "missing_field", "consent.source"),
        (_without(OPT_IN, "wording"), "missing_field", "consent.wording"),
        ({**OPT_IN, "wording": "   "}, "missing_field", "consent.wording"),
        # Accepting terms of use is not consent.
        ({**OPT_IN, "source": "CGU"}, "terms_acceptance_not_consent", "consent.source"),
        ({**OPT_IN, "source": "terms of use"}, "terms_acceptance_not_consent", "consent.source"),
        # customer: a real purchase; an account creation is not one.
        (_without(CUSTOMER, "last_purchase_at"), "purchase_required", "consent.last_purchase_at"),
        (
            {**_without(CUSTOMER, "last_purchase_at"), "source": "account_creation"},
            "purchase_required",
            "consent.last_purchase_at",
        ),
        (_without(CUSTOMER, "collected_at"), "missing_field", "consent.collected_at"),
        # b2b: the profession the message must relate to.
        (_without(B2B, "profession"), "missing_field", "consent.profession"),
        (_without(NON_COMMERCIAL, "source"), "missing_field", "consent.source"),
        # Dates: aware, parseable, not in the future.
        ({**OPT_IN, "collected_at": "2025-06-01T10:00:00"}, "naive_datetime", "consent.collected_at"),
        ({**OPT_IN, "collected_at": "yesterday"}, "invalid_datetime", "consent.collected_at"),
        ({**OPT_IN, "collected_at": "2026-03-11T12:00:00Z"}, "future_datetime", "consent.collected_at"),
        ({**CUSTOMER, "last_purchase_at": "2027-01-01T00:00:00Z"}, "future_datetime", "consent.last_purchase_at"),
        # Shape.
        ({"basis": "implied"}, "invalid_basis", "consent.basis"),
        ({}, "invalid_basis", "consent.basis"),
        ({**OPT_IN, "wordng": "typo"}, "unknown_field", "consent.wordng"),
        ({**OPT_IN, "source": 12}, "invalid_type", "consent.source"),
        ({**OPT_IN, "wording": "x" * 2001}, "too_long", "consent.wording"),
    ],
)
def test_refused_records(record: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(DomainError) as err:
        validate_consent(record, now=NOW)
    assert (err.value.code, err.value.field) == (code, field)


@pytest.mark.parametrize("consent", [None, "opt_in", 3])
def test_not_an_object(consent: object) -> None:
    with pytest.raises(DomainError) as err:
        validate_consent(consent, now=NOW)
    assert (err.value.code, err.value.field) == ("invalid_consent", "consent")


def test_account_creation_message_says_why() -> None:
    record = {"basis": "customer", "collected_at": PAST, "source": "account_creation"}
    with pytest.raises(DomainError) as err:
        validate_consent(record, now=NOW)
    assert "account creation" in err.value.message


def test_account_creation_with_a_real_purchase_is_accepted() -> None:
    assert validate_consent({**CUSTOMER, "source": "account_creation"}, now=NOW).basis == "customer"


def test_small_clock_skew_tolerated() -> None:
    ahead = (NOW + timedelta(minutes=2)).isoformat()
    assert validate_consent({**OPT_IN, "collected_at": ahead}, now=NOW).collected_at == NOW + timedelta(minutes=2)


def test_field_prefix_and_snapshot_input() -> None:
    snapshot = ConsentSnapshot(basis="b2b", collected_at=NOW, source="fair")
    with pytest.raises(DomainError) as err:
        validate_consent(snapshot, now=NOW, field_prefix="rows[3].consent")
    assert err.value.field == "rows[3].consent.profession"


def test_values_are_tidied() -> None:
    snapshot = validate_consent({**OPT_IN, "source": "  website_form "}, now=NOW)
    assert snapshot.source == "website_form"
    assert snapshot.collected_at == datetime(2025, 6, 1, 10, tzinfo=timezone(timedelta(hours=2)))


def test_customer_valid_for_three_years_after_last_purchase() -> None:
    purchase = datetime(2022, 3, 10, 9, 0, tzinfo=UTC)
    consent = validate_consent({**CUSTOMER, "collected_at": purchase, "last_purchase_at": purchase}, now=NOW)
    assert marketing_valid_until(consent) == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    assert is_valid_for_marketing(consent, at=datetime(2025, 3, 10, 8, 59, tzinfo=UTC))
    assert not is_valid_for_marketing(consent, at=datetime(2025, 3, 10, 9, 0, tzinfo=UTC))
    # Older than 3 years: still a true record, no longer a marketing basis.
    assert marketing_refusal(consent, at=NOW) == "customer_consent_expired"


def test_leap_day_purchase_never_extends_the_period() -> None:
    consent = {"basis": "customer", "last_purchase_at": datetime(2024, 2, 29, tzinfo=UTC)}
    assert marketing_valid_until(consent) == datetime(2027, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (OPT_IN, None),
        (B2B, None),
        (NON_COMMERCIAL, None),
        (CUSTOMER, None),
        (NONE, "no_marketing_consent"),
        (None, "no_consent"),
    ],
)
def test_marketing_refusal(record: dict[str, str] | None, reason: str | None) -> None:
    consent = None if record is None else validate_consent(record, now=NOW)
    assert marketing_refusal(consent, at=NOW) == reason
    assert is_valid_for_marketing(consent, at=NOW) is (reason is None)


def test_consent_given_after_the_message_did_not_cover_it() -> None:
    consent = validate_consent(OPT_IN, now=NOW)
    assert marketing_refusal(consent, at=datetime(2025, 1, 1, tzinfo=UTC)) == "consent_not_yet_given"


def test_opt_in_and_b2b_have_no_end_date() -> None:
    assert marketing_valid_until(validate_consent(OPT_IN, now=NOW)) is None
    assert marketing_valid_until(validate_consent(B2B, now=NOW)) is None


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_consent(OPT_IN, now=datetime(2026, 1, 1))
