"""The rule that maps control characters in what a carrier sends (domain/text.py), instead of refusing it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_inbound.domain.keywords import classify
from halte_inbound.domain.text import REPLACEMENT, map_control_characters, map_identifier

R = REPLACEMENT


@pytest.mark.parametrize(
    ("text", "gsm7", "expected"),
    [
        pytest.param("STOP", True, "STOP", id="clean-gsm7"),
        pytest.param("arrêt 😀", False, "arrêt 😀", id="clean-unicode"),
        pytest.param("STOP\x00", True, "STOP@", id="nul-is-the-gsm7-at"),
        pytest.param("STOP\x00", False, f"STOP{R}", id="nul-elsewhere-is-replaced"),
        pytest.param("\x00\x00", True, "@@", id="every-nul"),
        pytest.param("Stop\nSMS\r\n", True, "Stop\nSMS\r\n", id="line-breaks-kept"),
        pytest.param("a\tb", True, f"a{R}b", id="tab"),
        pytest.param("a\x07\x08\x0b\x0c\x1b\x1f", True, f"a{R * 6}", id="c0-controls"),
        pytest.param("a\x7f", False, f"a{R}", id="delete"),
        pytest.param("a\x80\x85\x9f", False, f"a{R * 3}", id="c1-controls"),
        pytest.param("a\ud83d", True, f"a{R}", id="lone-high-surrogate"),
        pytest.param("\udc00b", False, f"{R}b", id="lone-low-surrogate"),
        pytest.param("a\u200bb\ufeff\u00ad", False, "a\u200bb\ufeff\u00ad", id="format-characters-are-not-controls"),
        pytest.param("a\u2028b", False, "a\u2028b", id="line-separator-is-not-a-control"),
        pytest.param("\xa0\xff", False, "\xa0\xff", id="latin-1-letters-are-not-controls"),
        pytest.param("", True, "", id="empty"),
    ],
)
def test_control_characters_in_a_reply_are_mapped(text, gsm7, expected):
    assert map_control_characters(text, gsm7=gsm7) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("carrier-42_ü", "carrier-42_ü", id="clean"),
        pytest.param("m\x00", f"m{R}", id="nul-is-never-an-at-in-an-identifier"),
        pytest.param("m\n1\r", f"m{R}1{R}", id="identifiers-have-no-lines"),
        pytest.param("DELIVRD\x07", f"DELIVRD{R}", id="bell"),
        pytest.param("\x9b31m", f"{R}31m", id="c1-escape"),
        pytest.param("a\ud800", f"a{R}", id="lone-surrogate"),
        pytest.param("a\u200b", "a\u200b", id="format-character-kept"),
    ],
)
def test_control_characters_in_an_identifier_are_replaced(value, expected):
    assert map_identifier(value) == expected


@pytest.mark.parametrize(
    ("text", "gsm7", "classification"),
    [
        ("STOP\x00", True, "stop"),
        ("STOP\x00", False, "stop"),
        ("\x00STOP", False, "stop"),
        ("Stop\x07SMS", False, "stop"),
        ("arr\x00t", True, "other"),  # "arr@t" is not a word a recipient typed
    ],
)
def test_classification_reads_the_mapped_text(text, gsm7, classification):
    assert classify(map_control_characters(text, gsm7=gsm7)) == classification


#: Any code point, with the ones the rule is about drawn often (hypothesis leaves surrogates out by default).
ANY_CHARACTER = st.characters(codec=None) | st.sampled_from(["\x00", "\t", "\n", "\r", "\x85", "\ud800", "\udfff"])


def _is_forbidden(ch: str) -> bool:
    return (unicodedata.category(ch) == "Cc" and ch not in "\n\r") or 0xD800 <= ord(ch) <= 0xDFFF


@given(st.text(alphabet=ANY_CHARACTER), st.booleans())
def test_mapped_text_holds_no_control_character_but_line_breaks_and_keeps_its_length(text, gsm7):
    mapped = map_control_characters(text, gsm7=gsm7)
    assert len(mapped) == len(text)
    assert not any(_is_forbidden(ch) for ch in mapped)
    mapped.encode("utf-8")  # storable: no lone surrogate, and no NUL (a Cc)
    # Only what the rule names changed, and mapping again changes nothing.
    assert all(a == b or _is_forbidden(a) for a, b in zip(text, mapped, strict=True))
    assert map_control_characters(mapped, gsm7=gsm7) == mapped


@given(st.text(alphabet=ANY_CHARACTER))
def test_a_mapped_identifier_holds_no_control_character_at_all_and_keeps_its_length(value):
    mapped = map_identifier(value)
    assert len(mapped) == len(value)
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in mapped)
    assert map_identifier(mapped) == mapped
