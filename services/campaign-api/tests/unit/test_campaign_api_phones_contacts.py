"""Contact numbers and fields: E.164, mobile only, and the import rows (CONTRACT.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halte_campaign_api.domain.contacts import check_contact, check_postal_code, check_tags, split_csv_tags
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.imports import check_csv_header, contact_from_csv, contact_from_json
from halte_campaign_api.domain.phones import is_french_number, normalize_contact_phone
from halte_shared.phone import InvalidPhoneNumber, normalize_mobile

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CONSENT = {"basis": "opt_in", "collected_at": "2025-06-01T10:00:00+02:00", "source": "form", "wording": "Oui"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0612345678", "+33612345678"),
        ("06 12 34 56 78", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("07 30 00 00 00", "+33730000000"),
        ("0690123456", "+590690123456"),  # a Guadeloupe mobile written the metropolitan way
        ("+262692123456", "+262692123456"),
        ("+32470123456", "+32470123456"),
    ],
)
def test_numbers_are_stored_in_e164(raw: str, expected: str) -> None:
    assert normalize_contact_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "invalid_number"),
        ("hello", "invalid_number"),
        ("0700000000", "invalid_number"),
        ("01 23 45 67 89", "not_mobile"),
        ("+33123456789", "not_mobile"),
        ("1" * 41, "invalid_number"),
    ],
)
def test_unusable_numbers_are_refused_with_the_reason(raw: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        normalize_contact_phone(raw)
    assert (err.value.code, err.value.field) == (code, "phone")


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(["0", "+33", "0033", "+33 ", "0 ", "+590", "+32"]),
    digits=st.text(alphabet="0123456789", min_size=8, max_size=10),
    separator=st.sampled_from(["", " ", ".", "-"]),
)
def test_fast_path_gives_phonenumbers_answer(prefix: str, digits: str, separator: str) -> None:
    # The fast path for French mobiles must agree with phonenumbers on every input.
    raw = prefix + separator.join(digits[i : i + 2] for i in range(0, len(digits), 2))
    try:
        expected: str | None = normalize_mobile(raw).e164
    except InvalidPhoneNumber:
        expected = None
    try:
        found: str | None = normalize_contact_phone(raw)
    except DomainError:
        found = None
    assert found == expected


def test_french_territories_are_french() -> None:
    assert all(is_french_number(n) for n in ["+33612345678", "+590690123456", "+262692123456", "+687751234"])
    assert not any(is_french_number(n) for n in ["+32470123456", "+447911123456", "+34612345678"])


def test_contact_fields() -> None:
    record = check_contact(
        phone="06 12 34 56 78",
        first_name=" Léa ",
        postal_code=" 67000 ",
        tags=["vip", "vip", " paris "],
        consent=CONSENT,
        now=NOW,
    )
    assert (record.phone, record.first_name, record.postal_code, record.tags) == (
        "+33612345678",
        "Léa",
        "67000",
        ["vip", "paris"],
    )
    assert record.consent["basis"] == "opt_in"
    assert check_postal_code("") is None
    assert split_csv_tags("vip| paris;;lyon") == ["vip", "paris", "lyon"]
    for bad in ("vip", [1], ["a b"], ["x" * 51], [f"t{n}" for n in range(51)]):
        with pytest.raises(DomainError):
            check_tags(bad)
    with pytest.raises(DomainError) as err:
        check_postal_code("75 001 PARIS CEDEX")
    assert err.value.code == "invalid_postal_code"


def test_csv_header() -> None:
    assert check_csv_header(["\ufeffPhone", " consent_basis ", ""]) == ("phone", "consent_basis")
    for header, code in [
        (["phone", "consent_wordng", "consent_basis"], "unknown_column"),
        (["phone", "phone", "consent_basis"], "duplicate_column"),
        (["phone"], "missing_column"),
    ]:
        with pytest.raises(DomainError) as err:
            check_csv_header(header)
        assert err.value.code == code


def test_csv_and_json_rows_get_the_same_checks_as_a_single_contact() -> None:
    columns = ("phone", "tags", "consent_basis", "consent_collected_at", "consent_source", "consent_wording")
    row = contact_from_csv(
        ["0612345678", "vip|paris", "opt_in", CONSENT["collected_at"], "form", "Oui"], columns=columns, now=NOW
    )
    assert (row.phone, row.tags, row.consent["source"]) == ("+33612345678", ["vip", "paris"], "form")
    with pytest.raises(DomainError) as err:
        contact_from_csv(["0612345678", "", "opt_in", "", "", ""], columns=columns, now=NOW)
    assert (err.value.code, err.value.field) == ("missing_field", "consent.collected_at")
    with pytest.raises(DomainError) as err:
        contact_from_csv(["0612345678", "", "none", "", "", "", "extra"], columns=columns, now=NOW)
    assert err.value.code == "too_many_cells"
    # A short row: the missing cells are absent values.
    with pytest.raises(DomainError) as err:
        contact_from_csv(["0612345678"], columns=("phone", "consent_basis"), now=NOW)
    assert (err.value.code, err.value.field) == ("invalid_basis", "consent.basis")
    assert contact_from_json({"phone": "0612345678", "consent": {"basis": "none"}}, now=NOW).phone == "+33612345678"
    for data, code in [
        ([], "invalid_row"),
        ({"phone": "0612345678"}, "missing_field"),
        ({"consent": {"basis": "none"}}, "missing_field"),
        ({"phone": "0612345678", "consent": {"basis": "none"}, "account_id": "x"}, "unknown_field"),
        ({"phone": "0612345678", "consent": {"basis": "none", "extra": 1}}, "unknown_field"),
        ({"phone": 612345678, "consent": {"basis": "none"}}, "invalid_number"),
    ]:
        with pytest.raises(DomainError) as err:
            contact_from_json(data, now=NOW)
        assert err.value.code == code, data


def test_csv_purchase_categories_share_one_cell() -> None:
    columns = (
        "phone",
        "consent_basis",
        "consent_collected_at",
        "consent_source",
        "consent_last_purchase_at",
        "consent_purchase_categories",
    )
    cells = ["0612345678", "customer", CONSENT["collected_at"], "caisse", CONSENT["collected_at"]]
    row = contact_from_csv([*cells, "Chaussures| sacs ;chaussures"], columns=columns, now=NOW)
    assert row.consent["purchase_categories"] == ["Chaussures", "sacs"]
    for cell in ("", " | ; "):
        with pytest.raises(DomainError) as err:
            contact_from_csv([*cells, cell], columns=columns, now=NOW)
        assert (err.value.code, err.value.field) == ("missing_field", "consent.purchase_categories")


def test_non_commercial_rows_need_the_accounts_flag() -> None:
    columns = ("phone", "consent_basis", "consent_collected_at", "consent_source")
    cells = ["0612345678", "non_commercial", CONSENT["collected_at"], "don en ligne"]
    with pytest.raises(DomainError) as err:
        contact_from_csv(cells, columns=columns, now=NOW)
    assert (err.value.code, err.value.field) == ("non_commercial_not_allowed", "consent.basis")
    assert contact_from_csv(cells, columns=columns, now=NOW, account_non_commercial=True).consent["basis"] == (
        "non_commercial"
    )
    data = {"phone": "0612345678", "consent": {"basis": "non_commercial", "collected_at": cells[2], "source": "don"}}
    with pytest.raises(DomainError) as err:
        contact_from_json(data, now=NOW)
    assert err.value.code == "non_commercial_not_allowed"
    assert contact_from_json(data, now=NOW, account_non_commercial=True).consent["basis"] == "non_commercial"
