"""Consent records by legal basis, as checked on input (docs/compliance-rules.md, "Consent")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from halte_campaign_api.domain.consent import (
    check_category,
    check_professions,
    classify_audience,
    consent_values,
    marketing_valid_until,
    validate_consent,
)
from halte_campaign_api.domain.errors import DomainError
from halte_shared.events import ConsentSnapshot

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PAST = "2025-06-01T10:00:00+02:00"

OPT_IN = {"basis": "opt_in", "collected_at": PAST, "source": "website_form", "wording": "J'accepte les SMS promo"}
CUSTOMER = {
    "basis": "customer",
    "collected_at": PAST,
    "source": "checkout",
    "last_purchase_at": PAST,
    "purchase_categories": ["Chaussures"],
}
B2B = {"basis": "b2b", "collected_at": PAST, "source": "trade_fair", "profession": "DSI"}
NON_COMMERCIAL = {"basis": "non_commercial", "collected_at": PAST, "source": "donation_form"}
NONE = {"basis": "none"}


@pytest.mark.parametrize(
    "record",
    [
        OPT_IN,
        CUSTOMER,
        B2B,
        NON_COMMERCIAL,
        NONE,
        {**NONE, "source": "booking"},
        # An opt-in that mentions the terms beside a real opt-in is consent.
        {**OPT_IN, "source": "CGU", "wording": "J'accepte de recevoir des offres par SMS (voir CGU)"},
        {**OPT_IN, "wording": "I agree to receive marketing texts. Terms of use apply."},
    ],
)
def test_valid_records(record: dict[str, object]) -> None:
    snapshot = validate_consent(record, now=NOW, account_non_commercial=True)
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
        # Accepting terms of use is not consent, however the source and the wording put it.
        (
            {**OPT_IN, "source": "Acceptation des CGU", "wording": "J'accepte les CGU"},
            "terms_acceptance_not_consent",
            "consent.wording",
        ),
        ({**OPT_IN, "source": "CGU", "wording": "Validé"}, "terms_acceptance_not_consent", "consent.source"),
        ({**OPT_IN, "source": "terms of use", "wording": "ok"}, "terms_acceptance_not_consent", "consent.source"),
        (
            {**OPT_IN, "wording": "J'ai lu et j'accepte les conditions générales de vente"},
            "terms_acceptance_not_consent",
            "consent.wording",
        ),
        (
            {**OPT_IN, "wording": "En acceptant les CGU, j'accepte de recevoir des offres par SMS"},
            "terms_acceptance_not_consent",
            "consent.wording",
        ),
        # customer: a real purchase; an account creation is not one.
        (_without(CUSTOMER, "last_purchase_at"), "purchase_required", "consent.last_purchase_at"),
        (
            {**_without(CUSTOMER, "last_purchase_at"), "source": "account_creation"},
            "purchase_required",
            "consent.last_purchase_at",
        ),
        (_without(CUSTOMER, "collected_at"), "missing_field", "consent.collected_at"),
        # customer: what was bought, at least one category label.
        (_without(CUSTOMER, "purchase_categories"), "missing_field", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": []}, "missing_field", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": "chaussures"}, "invalid_type", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": ["ok", 3]}, "invalid_type", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": ["..."]}, "invalid_label", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": ["x" * 101]}, "too_long", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": ["a\nb"]}, "invalid_character", "consent.purchase_categories"),
        ({**CUSTOMER, "purchase_categories": [f"c{i}" for i in range(51)]}, "too_many", "consent.purchase_categories"),
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
        # Flagged account: every refusal here is about the record itself.
        validate_consent(record, now=NOW, account_non_commercial=True)
    assert (err.value.code, err.value.field) == (code, field)


def test_non_commercial_needs_the_flag_and_names_it() -> None:
    with pytest.raises(DomainError) as err:
        validate_consent(NON_COMMERCIAL, now=NOW, account_non_commercial=False)
    assert (err.value.code, err.value.field) == ("non_commercial_not_allowed", "consent.basis")
    assert "operator" in err.value.message and "non-commercial" in err.value.message
    assert validate_consent(NON_COMMERCIAL, now=NOW, account_non_commercial=True).basis == "non_commercial"


def test_purchase_categories_are_tidied_and_distinct_once_normalised() -> None:
    values = consent_values(
        {**CUSTOMER, "purchase_categories": [" Chaussures ", "chaussures", "Prêt-à-porter", "pret a porter", "Sacs"]},
        now=NOW,
    )
    assert values["purchase_categories"] == ["Chaussures", "Prêt-à-porter", "Sacs"]


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


def test_message_facts_are_checked() -> None:
    assert check_category(None) is None
    assert check_category("  ") is None
    assert check_category("  Électro  ménager ") == "Électro ménager"
    assert check_professions(None) == []
    assert check_professions(["plombier", "Plombier ", "chauffagiste"]) == ["plombier", "chauffagiste"]
    for bad, code in ((3, "invalid_type"), ("x" * 101, "too_long"), ("!!", "invalid_label")):
        with pytest.raises(DomainError) as err:
            check_category(bad)
        assert (err.value.code, err.value.field) == (code, "category")
    for bad_list, code in (("plombier", "invalid_type"), ([None], "invalid_type"), (["a"] * 51, "too_many")):
        with pytest.raises(DomainError) as err:
            check_professions(bad_list)
        assert (err.value.code, err.value.field) == (code, "professions")


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
    facts = {"category": "chaussures", "professions": (), "account_non_commercial": False}

    def counted(at: datetime) -> dict[str, object]:
        return classify_audience([(consent, 1)], at=at, **facts)

    assert counted(datetime(2025, 3, 10, 8, 59, tzinfo=UTC)) == {"allowed": 1, "refused": {}}
    # Older than 3 years: still a true record, no longer a marketing basis.
    assert counted(datetime(2025, 3, 10, 9, 0, tzinfo=UTC)) == {
        "allowed": 0,
        "refused": {"customer_consent_expired": 1},
    }


def test_leap_day_purchase_never_extends_the_period() -> None:
    consent = {"basis": "customer", "last_purchase_at": datetime(2024, 2, 29, tzinfo=UTC)}
    assert marketing_valid_until(consent) == datetime(2027, 2, 28, tzinfo=UTC)


def test_audience_is_classified_by_the_consent_rule() -> None:
    records = [
        (validate_consent(OPT_IN, now=NOW), 3),
        (validate_consent(CUSTOMER, now=NOW), 2),
        (validate_consent(B2B, now=NOW), 4),
        (validate_consent(NON_COMMERCIAL, now=NOW, account_non_commercial=True), 1),
        (validate_consent(NONE, now=NOW), 5),
        (None, 1),
    ]
    shoes = classify_audience(records, at=NOW, category="chaussures", professions=["DSI"], account_non_commercial=True)
    assert shoes == {"allowed": 10, "refused": {"no_consent": 6}}
    other = classify_audience(records, at=NOW, category="vélos", professions=["avocat"], account_non_commercial=False)
    assert other == {
        "allowed": 3,
        "refused": {
            "b2b_profession_not_concerned": 4,
            "customer_category_not_bought": 2,
            "no_consent": 6,
            "non_commercial_not_allowed": 1,
        },
    }


def test_opt_in_and_b2b_have_no_end_date() -> None:
    assert marketing_valid_until(validate_consent(OPT_IN, now=NOW)) is None
    assert marketing_valid_until(validate_consent(B2B, now=NOW)) is None


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_consent(OPT_IN, now=datetime(2026, 1, 1))
