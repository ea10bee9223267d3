"""Composition: personalisation, what the platform adds, refusals (recognisers: rules/tests/test_mention.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_campaign_api.domain.compose import (
    check_text,
    compose,
    personalise,
    placeholders_in,
)
from halte_campaign_api.domain.errors import DomainError

MARKETING: dict[str, Any] = {"kind": "marketing", "advertiser_name": "Dupont", "short_code": "36111", "sender": "36111"}


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("Bonjour {first_name}, promo", {"first_name": "Léa"}, "Bonjour Léa, promo"),
        ("Bonjour {first_name}, promo", {}, "Bonjour, promo"),
        ("Bonjour {first_name}, promo", {"first_name": "   "}, "Bonjour, promo"),
        ("Bonjour {first_name} {last_name}, promo", {}, "Bonjour, promo"),
        ("Bonjour {first_name} {last_name}, promo", {"last_name": "Roy"}, "Bonjour Roy, promo"),
        ("Bonjour {first_name} !", {}, "Bonjour !"),
        ("Hello {first_name}!", {}, "Hello!"),
        ("Bonjour {first_name}", {}, "Bonjour"),
        ("{first_name}, votre code", {}, "votre code"),
        ("Cher {first_name} client", {}, "Cher client"),
        ("Bonjour {FIRST_NAME} { last_name }", {"first_name": "A", "last_name": "B"}, "Bonjour A B"),
        # A value never spreads over lines nor is expanded again.
        ("Bonjour {first_name}", {"first_name": "Jean\nPierre"}, "Bonjour Jean Pierre"),
        ("Bonjour {first_name}", {"first_name": "{last_name}"}, "Bonjour {last_name}"),
        # Braces that are not placeholders stay literal.
        ("Prix {-50%} et {} et { 2 x 1 }", {}, "Prix {-50%} et {} et { 2 x 1 }"),
    ],
)
def test_personalise(text: str, fields: dict[str, str], expected: str) -> None:
    assert personalise(text, fields)[0] == expected


def test_personalise_reports_defaulted_fields() -> None:
    assert personalise("{first_name} {last_name}", {"last_name": "Roy"}) == ("Roy", ("first_name",))
    assert personalise("Bonjour {first_name}", {}, defaults={"first_name": "client"}) == (
        "Bonjour client",
        ("first_name",),
    )


@pytest.mark.parametrize("text", ["{promo}", "Code {code_promo}", "{firstname}", "{ unknown }"])
def test_unknown_placeholders_refused_at_draft(text: str) -> None:
    with pytest.raises(DomainError) as err:
        check_text(text)
    assert (err.value.code, err.value.field) == ("unknown_placeholder", "text")


@pytest.mark.parametrize(("text", "code"), [("", "empty_text"), ("   ", "empty_text"), ("a\x00b", "invalid_character")])
def test_bad_text_refused(text: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        check_text(text)
    assert err.value.code == code


def test_text_empty_once_personalised_is_refused() -> None:
    with pytest.raises(DomainError) as err:
        compose("{first_name}", kind="informative", advertiser_name=None, short_code=None, sender="SHOP")
    assert err.value.code == "empty_text"


@given(st.text(max_size=200))
def test_personalisation_never_crashes(text: str) -> None:
    # Draft validation answers with a DomainError or a result, never anything else.
    try:
        used = placeholders_in(text)
    except DomainError as err:
        assert err.code == "unknown_placeholder"
        return
    result, defaulted = personalise(text, {})
    assert set(defaulted) <= set(used)
    assert "\x00" not in result or "\x00" in text


@pytest.mark.parametrize(
    ("text", "added"),
    [
        ("Dupont : promo STOP au 36111", False),
        ("Dupont : promo STOP 36111", False),  # the dispatcher recognises it: nothing added twice
        ("Dupont : promo STOP au 36.111", False),
        ("Dupont : promo STOP au 36\u00a0111", False),
        ("Dupont : promo Stop SMS au 36 111", False),
        ("Dupont : promo STOP au {first_name} 36111", True),  # a value would stand inside the mention
        ("Dupont : promo", True),
    ],
)
def test_the_mention_is_added_only_when_the_dispatcher_would_not_find_one(text: str, added: bool) -> None:
    composed = compose(text, **MARKETING)
    assert composed.mention_added is added
    assert composed.text.count("36111") + composed.text.count("36.111") + composed.text.count("36\u00a0111") + (
        composed.text.count("36 111")
    ) == (2 if "{first_name} 36111" in text else 1)


@pytest.mark.parametrize("text", ["Dupont promo STOP au 36222", "Dupont STOP au 36111 ou stop au 36 222"])
def test_stop_mention_naming_another_short_code_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as err:
        compose(text, **MARKETING)
    assert (err.value.code, err.value.field) == ("stop_mention_wrong_number", "text")


@pytest.mark.parametrize(
    ("text", "name", "prefixed"),
    [
        ("Dupont: promo", "Dupont", False),
        ("Dupontel promo", "Dupont", True),
        ("Cafe Dupont: promo", "Café Dupont", False),  # accents do not count
        ("Café Dupont promo", "cafe dupont", False),
        ("Dupont {first_name} & Fils", "Dupont & Fils", True),
    ],
)
def test_the_advertiser_is_prefixed_only_when_the_text_does_not_name_it(text: str, name: str, prefixed: bool) -> None:
    composed = compose(text, **{**MARKETING, "advertiser_name": name})
    assert composed.advertiser_added is prefixed
    assert composed.text.startswith(f"{name} : ") is prefixed


def test_advertiser_named_only_by_a_value_is_still_prefixed() -> None:
    composed = compose("Bonjour {first_name}", fields={"first_name": "Dupont"}, **MARKETING)
    assert composed.text == "Dupont : Bonjour Dupont STOP au 36111"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"advertiser_name": "  "}, "advertiser_name_required", "advertiser_name"),
        ({"short_code": None}, "invalid_short_code", "short_code"),
        ({"short_code": "3611"}, "invalid_short_code", "short_code"),
        ({"kind": "promo"}, "invalid_kind", "kind"),
        ({"account_mode": "notification"}, "marketing_not_allowed", "kind"),
    ],
)
def test_compose_refusals(overrides: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(DomainError) as err:
        compose("Dupont promo", **{**MARKETING, **overrides})
    assert (err.value.code, err.value.field) == (code, field)


def test_informative_needs_no_short_code_nor_advertiser() -> None:
    composed = compose("Code: 123456", kind="informative", advertiser_name=None, short_code=None, sender="MYAPP")
    assert composed.text == "Code: 123456"
    assert not composed.additions_made


def test_foreign_marketing_link_not_duplicated() -> None:
    url = "https://u.halte.test/u/t0k"
    composed = compose(
        f"Dupont promo {url}", destination_is_french=False, unsubscribe_url=url, **{**MARKETING, "sender": "SHOP"}
    )
    assert composed.text == f"Dupont promo {url}"
    assert not composed.unsubscribe_link_added


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A value glued before STOP: the mention is not there, it is added.
        ("Dupont promo {first_name}STOP au 36111", "Dupont promo 2STOP au 36111 STOP au 36111"),
        # A value glued to the name: the name is prefixed.
        ("{first_name}Dupont promo STOP au 36111", "Dupont : 2Dupont promo STOP au 36111"),
        # Separated by a space, nothing is added.
        ("Dupont promo STOP au 36111 {first_name}", "Dupont promo STOP au 36111 2"),
    ],
)
def test_values_glued_to_mention_or_name(text: str, expected: str) -> None:
    assert compose(text, fields={"first_name": "2"}, **MARKETING).text == expected


def test_a_value_glued_to_the_mention_number_is_refused() -> None:
    # "36111{first_name}" becomes "361112" for a recipient whose value starts with a digit.
    with pytest.raises(DomainError) as err:
        compose("Dupont promo STOP au 36111{first_name}", **MARKETING)
    assert (err.value.code, err.value.field) == ("stop_mention_wrong_number", "text")
    assert "personalisation field" in err.value.message
