"""The fast E.164 path answers exactly as the full parser does (it never misses a suppressed number)."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from halte_shared.phone import InvalidPhoneNumber, normalize
from halte_suppression.domain.numbers import (
    _FAST,
    is_canonical_e164,
    masked,
    normalize_many,
    normalize_number,
    normalize_short_code,
)


def parser_says(text: str) -> str | None:
    try:
        return normalize(text)
    except InvalidPhoneNumber:
        return None


def test_french_numbers_in_e164_take_the_fast_path():
    assert is_canonical_e164("+33612345678")
    assert is_canonical_e164("+596696123456")  # Martinique has a code of its own
    # Réunion shares +262 with Mayotte: which region validates is the parser's call.
    assert not is_canonical_e164("+262692123456")
    assert normalize_number("+262692123456") == "+262692123456"


@pytest.mark.parametrize(
    "text",
    [
        "+330612345678",  # trunk zero kept: the normal form drops it
        "0612345678",  # national format
        "+33 6 12 34 56 78",
        "+33٦12345678",  # an Arabic-Indic digit is not ASCII
        "+33612345678\n",
        "+3361234567",  # too short
        "+1 415 555 2671",
        "",
        "+",
    ],
)
def test_anything_not_already_the_normal_form_takes_the_parser(text):
    assert not is_canonical_e164(text)


def _samples(region: str, rng: random.Random) -> list[str]:
    """Valid numbers of a region and mutations of them (last digits changed, digits added, removed)."""
    out: list[str] = []
    for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        out.append(e164)
        for _ in range(25):
            digits = list(e164[1:])
            for _ in range(rng.randint(1, 3)):
                digits[rng.randrange(len(digits))] = str(rng.randrange(10))
            mutated = "+" + "".join(digits)
            out += [mutated, mutated + str(rng.randrange(10)), mutated[:-1]]
    return out


def test_the_fast_path_agrees_with_the_parser_for_every_country_it_covers():
    rng = random.Random(4)
    checked = 0
    for country_code in _FAST:
        region = phonenumbers.region_code_for_country_code(int(country_code))
        for text in _samples(region, rng):
            if is_canonical_e164(text):
                assert parser_says(text) == text, f"{text} ({region}) is not its own normal form"
                checked += 1
    assert checked > 1000


@settings(max_examples=400, deadline=None)
@given(
    st.from_regex(r"\+33[0-9]{8,10}", fullmatch=True) | st.from_regex(r"\+(32|41|49|39|44)[0-9]{6,11}", fullmatch=True)
)
def test_fast_acceptance_implies_the_parser_gives_the_same_string(text):
    if is_canonical_e164(text):
        assert parser_says(text) == text


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\+33[67][0-9]{8}", fullmatch=True))
def test_normalize_many_matches_the_parser_on_french_mobiles(text):
    valid, invalid = normalize_many([text])
    expected = parser_says(text)
    assert (valid, [t for t, _ in invalid]) == (([expected], []) if expected else ([], [text]))


def test_normalize_many_keeps_order_and_reports_the_invalid():
    valid, invalid = normalize_many(["06 12 34 56 78", "nope", "+33612345678", "x" * 100])
    assert valid == ["+33612345678", "+33612345678"]
    assert invalid == [("nope", "invalid_number"), ("x" * 64, "invalid_number")]


def test_normalize_number_refuses_with_the_parser_s_code():
    assert normalize_number("0612345678") == "+33612345678"
    with pytest.raises(InvalidPhoneNumber):
        normalize_number("0123")
    with pytest.raises(InvalidPhoneNumber):
        normalize_number("+33" + "6" * 80)


@pytest.mark.parametrize(
    ("raw", "expected"), [("36111", "36111"), (" 36 111 ", "36111"), ("SHOP", None), ("12", None), (None, None)]
)
def test_short_codes(raw, expected):
    assert normalize_short_code(raw) == expected


def test_masked_hides_the_last_digits():
    assert masked("+33612345678") == "+3361234****"
