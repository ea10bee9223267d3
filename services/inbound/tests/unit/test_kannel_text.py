"""Kannel's text encodings, times and DLR types (domain/kannel.py), as bearerbox/smsbox 1.4.5 send them."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_inbound.domain.kannel import UndecodableText, decode_text, dlr_status, parse_time


@pytest.mark.parametrize(
    ("encoded", "coding", "charset", "text", "encoding"),
    [
        ("%00a%00r%00r%00%EA%00t", "2", "UTF-16BE", "arrêt", "utf-16-be"),
        ("%00a%00r%00r%00%EA%00t", "2", None, "arrêt", "utf-16-be"),
        ("%00a%00r%00r%00%EA%00t", "2", "GSM", "arrêt", "utf-16-be"),
        ("%D8%3D%DE%00", "2", "UTF-16BE", "😀", "utf-16-be"),
        ("Stop+SMS", "0", "UTF-8", "Stop SMS", "utf-8"),
        ("arr%C3%AAt", "0", "UTF-8", "arrêt", "utf-8"),
        ("arr%EAt", "0", "WINDOWS-1252", "arrêt", "cp1252"),
        ("arr%EAt", "0", "ISO-8859-1", "arrêt", "latin-1"),
        ("%80", "0", "windows-1252", "€", "cp1252"),
        ("arr%C3%AAt", None, None, "arrêt", "utf-8"),
        ("arr%EAt", None, None, "arrêt", "cp1252"),
        ("arr%C3%AAt", "0", "GSM", "arrêt", "utf-8"),
        ("%FF%00", "1", "8-BIT", "ÿ\x00", "binary"),
        ("%FF%00", "1", None, "ÿ\x00", "binary"),
        ("", "0", "UTF-8", "", "utf-8"),
    ],
)
def test_kannel_bytes_are_read_in_the_charset_kannel_names(encoded, coding, charset, text, encoding):
    decoded = decode_text(unquote_to_bytes(encoded.replace("+", " ")), coding=coding, charset=charset)
    assert (decoded.text, decoded.encoding) == (text, encoding)


@pytest.mark.parametrize(
    ("data", "coding", "charset", "field"),
    [
        (b"\x00S\x00", "2", "UTF-16BE", "text"),  # an odd number of bytes is no UTF-16
        (b"\xd8\x3d", "2", "UTF-16BE", "text"),  # half a surrogate pair
        (b"\xc3", "0", "UTF-8", "text"),
        (b"STOP", "0", "KLINGON", "charset"),
        (b"STOP", "0", "base64", "charset"),
        (b"STOP", "3", None, "coding"),
    ],
)
def test_bytes_that_do_not_match_their_charset_are_refused_with_the_field_at_fault(data, coding, charset, field):
    with pytest.raises(UndecodableText) as refused:
        decode_text(data, coding=coding, charset=charset)
    assert refused.value.field == field


@given(st.text(max_size=80))
def test_any_ucs2_reply_round_trips(text):
    assert decode_text(text.encode("utf-16-be"), coding="2", charset="UTF-16BE").text == text


@given(st.binary(max_size=80), st.sampled_from([None, "0", "1", "2"]), st.sampled_from([None, "UTF-8", "GSM", "8-BIT"]))
def test_decoding_either_succeeds_or_refuses_cleanly(data, coding, charset):
    try:
        decode_text(data, coding=coding, charset=charset)
    except UndecodableText:
        pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25 23:51:05", datetime(2026, 11, 25, 23, 51, 5, tzinfo=UTC)),
        ("2026-11-25 23:51", datetime(2026, 11, 25, 23, 51, tzinfo=UTC)),
        ("1795650665", datetime(2026, 11, 25, 23, 51, 5, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("9" * 30, None),
    ],
)
def test_kannel_times_are_read_as_utc(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("1", "delivered"),
        ("2", "failed"),
        ("4", "buffered"),
        ("8", "accepted"),
        ("16", "rejected"),
        ("3", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
        ("x", "unknown"),
        ("99999999", "unknown"),
    ],
)
def test_kannel_dlr_types_map_to_platform_statuses(value, status):
    assert dlr_status(value) == status
