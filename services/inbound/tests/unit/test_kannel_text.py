"""Kannel's text encodings, times and DLR types (domain/kannel.py), as bearerbox/smsbox 1.4.5 send them."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_inbound.domain.kannel import decode_text, dlr_status, parse_time


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
    ("data", "coding", "charset", "text", "encoding"),
    [
        (b"\x00S\x00", "2", "UTF-16BE", "S\ufffd", "utf-16-be"),  # an odd number of bytes is no UTF-16
        (b"\xd8\x3d", "2", "UTF-16BE", "\ufffd", "utf-16-be"),  # half a surrogate pair
        (b"STOP\xc3", "0", "UTF-8", "STOP\ufffd", "utf-8"),
        (b"\x81STOP", "0", "windows-1252", "\ufffdSTOP", "cp1252"),  # a byte Windows-1252 leaves undefined
        (b"\x81STOP", None, None, "\ufffdSTOP", "cp1252"),
        (b"STOP", "0", "KLINGON", "STOP", "utf-8"),  # an unknown charset falls back to UTF-8, then Windows-1252
        (b"arr\xeat", "0", "KLINGON", "arrêt", "cp1252"),
        (b"STOP", "0", "base64", "STOP", "utf-8"),  # a bytes-to-bytes codec names no text encoding
        (b"\xff", "0", "idna", "ÿ", "cp1252"),  # a codec that knows no replacement: the fallback reads it
        (b"STOP", "3", None, "STOP", "utf-8"),  # an unknown coding is read as if absent
    ],
)
def test_bytes_that_do_not_match_their_charset_are_replaced_not_refused_and_flagged(
    data, coding, charset, text, encoding
):
    decoded = decode_text(data, coding=coding, charset=charset)
    assert (decoded.text, decoded.encoding, decoded.exact) == (text, encoding, False)


@pytest.mark.parametrize(
    ("coding", "charset", "gsm7"),
    [
        ("0", "UTF-8", True),  # Kannel 1.4.5: 7-bit messages arrive as UTF-8
        ("0", "GSM", True),
        ("0", None, True),
        (None, None, True),  # no %c in the get-url: GSM-7, the SMS default
        ("", "WINDOWS-1252", True),
        ("0", "KLINGON", True),
        ("2", "UTF-16BE", False),  # UCS-2: U+0000 is no "@"
        (None, "UTF-16BE", False),
        ("0", "UTF-16BE", False),
        ("1", "8-BIT", False),  # binary data
        ("1", None, False),
        ("7", None, False),  # an unknown coding implies nothing
    ],
)
def test_gsm7_is_implied_by_coding_0_or_no_coding_unless_the_bytes_are_ucs2_or_binary(coding, charset, gsm7):
    assert decode_text(b"STOP\x00", coding=coding, charset=charset).gsm7 is gsm7


@given(st.text(max_size=80))
def test_any_ucs2_reply_round_trips(text):
    assert decode_text(text.encode("utf-16-be"), coding="2", charset="UTF-16BE").text == text


CHARSETS = [None, "UTF-8", "GSM", "8-BIT", "UTF-16BE", "WINDOWS-1252", "KLINGON", "base64", "idna", "punycode"]
CHARSETS += ["undefined", "utf-7", "unicode_escape", "rot13", "utf-32", ""]


@given(st.binary(max_size=80), st.sampled_from([None, "", "0", "1", "2", "9", "x"]), st.sampled_from(CHARSETS))
def test_decoding_never_refuses_and_is_exact_only_for_a_known_coding(data, coding, charset):
    decoded = decode_text(data, coding=coding, charset=charset)
    assert isinstance(decoded.text, str)
    if decoded.exact:
        assert coding in (None, "", "0", "1", "2")


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
