"""Account rules: short codes, mode, names, hours windows (SPEC rules 2-4)."""

from __future__ import annotations

import pytest

from halte_campaign_api.domain.accounts import (
    check_contact_info,
    check_hours,
    check_mode,
    check_name,
    check_short_codes,
    marketing_short_code,
)
from halte_campaign_api.domain.api_keys import display_prefix, format_key, hash_key, looks_like_key
from halte_campaign_api.domain.errors import DomainError


@pytest.mark.parametrize(
    ("codes", "mode", "expected"),
    [
        (["36111"], "marketing", ("36111",)),
        ([" 36111 ", "36111", "38222"], "marketing", ("36111", "38222")),
        (["38222"], "notification", ("38222",)),
        (["36 111", "36.111"], "marketing", ("36111",)),  # one code, however it is written
    ],
)
def test_short_codes(codes: list[str], mode: str, expected: tuple[str, ...]) -> None:
    assert check_short_codes(codes, mode=mode) == expected


@pytest.mark.parametrize(
    ("codes", "mode", "code"),
    [
        ([], "marketing", "missing_field"),
        (["3611"], "marketing", "invalid_short_code"),
        (["361111"], "marketing", "invalid_short_code"),
        (["SHOP"], "marketing", "invalid_short_code"),
        ([36111], "marketing", "invalid_short_code"),
        (["38222"], "marketing", "no_marketing_short_code"),
        (["37111", "61234"], "marketing", "no_marketing_short_code"),  # only 36xxx is assigned to marketing
        ([f"{36000 + n}" for n in range(11)], "marketing", "too_many"),
    ],
)
def test_short_code_refusals(codes: list[object], mode: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        check_short_codes(codes, mode=mode)
    assert (err.value.code, err.value.field) == (code, "short_codes")


def test_marketing_is_sent_from_the_first_code_outside_the_transactional_range() -> None:
    assert marketing_short_code(["38222", "36111"]) == "36111"
    assert marketing_short_code(["38222"]) is None


@pytest.mark.parametrize(
    ("profile", "start", "end", "expected"),
    [
        ("strict", None, None, ("strict", None, None)),
        ("strict", "09:00", "19:30", ("strict", "09:00", "19:30")),
        ("af2m-2024", None, "21:00", ("af2m-2024", None, "21:00")),
        ("af2m-2026", "08:00", "21:30", ("af2m-2026", "08:00", "21:30")),
    ],
)
def test_hours_narrowed(profile: str, start: str | None, end: str | None, expected: tuple[object, ...]) -> None:
    assert check_hours(profile, start, end) == expected


@pytest.mark.parametrize(
    ("profile", "start", "end", "code", "field"),
    [
        ("lenient", None, None, "invalid_hours_profile", "hours_profile"),
        ("strict", "07:59", None, "window_wider_than_profile", "window_start"),
        ("strict", None, "20:01", "window_wider_than_profile", "window_end"),
        ("af2m-2026", None, "22:00", "window_wider_than_profile", "window_end"),
        ("strict", "8:00", None, "invalid_time", "window_start"),
        ("strict", "24:00", None, "invalid_time", "window_start"),
        ("strict", "12:00", "11:00", "empty_window", "window_end"),
        ("strict", "20:00", None, "empty_window", "window_end"),
        # 19:59 to 20:00 is all dispatch margin: the dispatcher could never send in it.
        ("strict", "19:59", None, "empty_window", "window_end"),
        ("strict", "12:00", "12:01", "empty_window", "window_end"),
    ],
)
def test_hours_refused(profile: str, start: str | None, end: str | None, code: str, field: str) -> None:
    with pytest.raises(DomainError) as err:
        check_hours(profile, start, end)
    assert (err.value.code, err.value.field) == (code, field)


def test_names_and_modes() -> None:
    assert check_name("  Boulangerie   Dupont ") == "Boulangerie Dupont"
    assert check_contact_info(" 01 23 45 67 89 ") == "01 23 45 67 89"
    assert check_mode("notification") == "notification"
    for bad, check in [("", check_name), ("a\nb", check_name), ("x" * 101, check_name), (None, check_contact_info)]:
        with pytest.raises(DomainError):
            check(bad)
    with pytest.raises(DomainError) as err:
        check_mode("promo")
    assert err.value.code == "invalid_mode"


def test_api_keys_are_recognisable_and_only_their_hash_is_kept() -> None:
    key = format_key("A" * 32)
    assert key == "hk_live_" + "A" * 32
    assert looks_like_key(key) and not looks_like_key(key + "x") and not looks_like_key("test-admin-token")
    assert hash_key(key) == hash_key(key) != hash_key(format_key("B" * 32))
    assert len(hash_key(key)) == 64 and key not in hash_key(key)
    assert display_prefix(key) == "hk_live_AAAAAA"
    with pytest.raises(ValueError):
        format_key("short")
