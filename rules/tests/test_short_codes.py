"""Short codes: one way to read them, and the range that may carry marketing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_rules.short_codes import is_short_code, may_carry_marketing, normalise_short_code, short_code_range


@pytest.mark.parametrize(
    ("written", "digits"),
    [
        ("36111", "36111"),
        (" 36 111 ", "36111"),
        ("36.111", "36111"),
        ("36\u00a0111", "36111"),
        ("36\u202f111", "36111"),
        ("+36111", "36111"),
        ("(36) 111", "36111"),
        ("36-111", "36111"),
        ("SHOP", None),
        ("36111A", None),
        ("", None),
        (None, None),
        ("３６１１１", None),  # full-width digits are no short code a carrier routes
    ],
)
def test_normalise_short_code(written: str | None, digits: str | None) -> None:
    assert normalise_short_code(written) == digits


@pytest.mark.parametrize(
    ("code", "short", "range_", "marketing"),
    [
        ("36111", True, "marketing", True),
        ("36 999", True, "marketing", True),
        ("38111", True, "transactional", False),
        ("37111", True, "other", False),  # any other range: not assigned to marketing
        ("61234", True, "other", False),
        ("3611", False, "marketing", False),
        ("361111", False, "marketing", False),
    ],
)
def test_ranges(code: str, short: bool, range_: str, marketing: bool) -> None:
    assert is_short_code(code) is short
    assert short_code_range(code) == range_
    assert may_carry_marketing(code) is marketing


@given(st.from_regex(r"36[0-9]{3}", fullmatch=True), st.sampled_from(["", " ", ".", "\u00a0"]))
def test_a_code_written_in_groups_is_the_same_code(code: str, separator: str) -> None:
    written = code[:2] + separator + code[2:]
    assert normalise_short_code(written) == code
    assert may_carry_marketing(written)
