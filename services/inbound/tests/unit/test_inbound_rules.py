"""Smaller rules of the inbound service: delivery statuses, storable text, the unsubscribe page's language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_inbound.domain.delivery import delivery_status, report_key
from halte_inbound.domain.text import REPLACEMENT, map_identifier, storable
from halte_inbound.domain.unsubscribe import mask_phone, pick_language


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("delivered", "delivered"),
        ("DELIVRD", "delivered"),
        (" Failed ", "failed"),
        ("UNDELIV", "failed"),
        ("expired", "expired"),
        ("REJECTD", "rejected"),
        ("buffered", "buffered"),
        ("ENROUTE", "buffered"),
        ("accepted", "accepted"),
        ("exploded", "unknown"),
        ("", "unknown"),
    ],
)
def test_carrier_status_words_map_to_platform_statuses(raw, status):
    assert delivery_status(raw) == status


def test_two_spellings_of_one_status_are_one_report_and_unknown_words_stay_apart():
    assert report_key(message_ref="m", status="delivered", raw_status="DELIVRD") == report_key(
        message_ref="m", status="delivered", raw_status="delivered"
    )
    assert report_key(message_ref="m", status="unknown", raw_status="x") != report_key(
        message_ref="m", status="unknown", raw_status="y"
    )


def test_storable_text_replaces_only_what_postgresql_cannot_hold():
    assert storable("arrêt 😀") == "arrêt 😀"
    assert storable("ST\x00OP") == f"ST{REPLACEMENT}OP"
    assert storable("a\ud83db") == f"a{REPLACEMENT}b"


@given(st.text())
def test_storable_text_is_always_utf8_encodable_and_nul_free(text):
    kept = storable(text)
    kept.encode("utf-8")
    assert "\x00" not in kept and len(kept) == len(text)


def test_identifiers_keep_what_is_printable_and_map_control_characters_instead_of_refusing_them():
    assert map_identifier("carrier-42_ü") == "carrier-42_ü"
    assert map_identifier("a\nb") == f"a{REPLACEMENT}b"
    assert map_identifier("a\x00") == f"a{REPLACEMENT}"


@pytest.mark.parametrize(
    ("header", "override", "language"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", None, "fr"),
        ("en-US,en;q=0.9,fr;q=0.8", None, "en"),
        ("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4", None, "fr"),
        ("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4", None, "en"),
        ("en;q=0.5,fr;q=0.5", None, "en"),  # a tie goes to the first listed
        ("fr;q=0,en;q=0.1", None, "en"),  # q=0 means "not this one"
        ("fr;q=abc", None, "en"),
        ("FR-ca", None, "fr"),
        ("de", None, "en"),
        ("", None, "en"),
        (None, None, "en"),
        ("fr", "en", "en"),
        ("en", "FR", "fr"),
        ("en", "de", "en"),
        ("*", None, "en"),
    ],
)
def test_the_page_language_follows_accept_language_and_an_explicit_choice(header, override, language):
    assert pick_language(header, override=override) == language


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_supported_language(header):
    assert pick_language(header) in ("fr", "en")


@pytest.mark.parametrize(
    ("e164", "masked"),
    [("+447911123456", "+44 ••••••••56"), ("+33612345678", "+33 •••••••78"), ("+4915112345678", "+49 •••••••••78")],
)
def test_the_page_shows_only_the_country_code_and_last_two_digits(e164, masked):
    assert mask_phone(e164) == masked
