"""How Kannel hands us a reply and a delivery report: its text encodings, times and DLR types.

Source: the Kannel 1.4 user guide, "Parameters (Escape Codes)" and "SMS Delivery Reports",
checked against bearerbox/smsbox 1.4.5 with ``fakesmsc``:

* ``%a`` (all words) and ``%b`` (the original message) are URL-encoded *bytes*, not
  UTF-8 text. ``%c`` gives the coding (0 = 7-bit, 1 = 8-bit binary, 2 = UCS-2) and ``%C``
  the charset of those bytes. Kannel 1.4.5 reports "UTF-8" for 7-bit messages (older
  releases said "GSM" for the same bytes), "UTF-16BE" for UCS-2 (so "arrêt" arrives as
  ``%00a%00r%00r%00%EA%00t``), "8-BIT" for binary data, and "WINDOWS-1252" or "UTF-8"
  when ``mo-recode`` turned a UCS-2 message into one of those.
* Without ``%C``/``%c`` in the get-url, bytes that are valid UTF-8 are read as UTF-8 and
  anything else as Windows-1252 (Kannel's historical default).
* ``%t`` is "YYYY-MM-DD HH:MM[:SS]" in UTC, ``%T`` unix seconds.
* ``%d`` in a dlr-url is the report type: 1 delivered to the phone, 2 failed, 4 buffered,
  8 accepted by the SMSC, 16 rejected by the SMSC.

Kannel authenticated the request with its token, so a message is never refused for its
bytes: bytes that do not decode with the charset named are decoded with replacement (each
bad sequence becomes U+FFFD), an unknown charset or coding falls back to UTF-8, then
Windows-1252, and :attr:`DecodedText.exact` says so, for the caller to keep the raw query
string as evidence. ``coding=0`` or no coding means the SMSC decoded GSM-7 septets, where
NUL stands for ``@`` (:attr:`DecodedText.gsm7`, domain/text.py).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

DeliveryStatus = Literal["delivered", "failed", "expired", "rejected", "buffered", "accepted", "unknown"]

#: Kannel's DLR types (``%d``), from the user guide's delivery report table.
KANNEL_DLR_TYPES: Final[dict[int, DeliveryStatus]] = {
    1: "delivered",
    2: "failed",
    4: "buffered",
    8: "accepted",
    16: "rejected",
}

_CHARSET_ALIASES: Final[dict[str, str]] = {
    "utf-16be": "utf-16-be",
    "ucs-2": "utf-16-be",
    "ucs2": "utf-16-be",
    "unicode": "utf-16-be",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-15": "iso8859-15",
}


_GSM7_CODINGS: Final = ("", "0")
_WIDE_CODECS: Final = ("utf-16", "utf-32")


@dataclass(frozen=True, slots=True)
class DecodedText:
    """A reply's text and how it was read (kept as evidence beside the text).

    ``gsm7``: the SMSC decoded GSM-7, so a NUL in the text stands for "@".
    ``exact``: every byte decoded with the charset Kannel named; False when a byte was
    replaced or the coding or charset was unknown and guessed.
    """

    text: str
    encoding: str
    gsm7: bool = False
    exact: bool = True


def _cp1252(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode("cp1252"), True
    except UnicodeDecodeError:
        # Five bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) name no Windows-1252 character.
        return data.decode("cp1252", errors="replace"), False


def _utf8_or_cp1252(data: bytes, *, gsm7: bool, exact: bool) -> DecodedText:
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", gsm7, exact)
    except UnicodeDecodeError:
        text, whole = _cp1252(data)
        return DecodedText(text, "cp1252", gsm7, exact and whole)


def _codec(name: str) -> str | None:
    codec = _CHARSET_ALIASES.get(name)
    if codec is not None:
        return codec
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, *, coding: str | None, charset: str | None) -> DecodedText:
    """Return the text of a Kannel ``%a``/``%b`` value given its ``%c`` coding and ``%C`` charset; never refuse."""
    name = (charset or "").strip().lower()
    code = (coding or "").strip()
    known_coding = code in ("", "0", "1", "2")
    if not known_coding:
        # An unknown coding says nothing about the bytes: read them as if it were absent,
        # but do not assume GSM-7 (NUL then becomes U+FFFD, not "@").
        code = ""
    if name in ("8-bit", "binary") or (not name and code == "1"):
        # Binary data (ringtones, WAP push): not text a person typed; keep every byte visible.
        return DecodedText(data.decode("latin-1"), "binary", gsm7=False, exact=known_coding)
    gsm7 = known_coding and code in _GSM7_CODINGS
    if name in ("", "gsm"):
        if code != "2":
            return _utf8_or_cp1252(data, gsm7=gsm7, exact=known_coding)
        name = "utf-16be"
    codec = _codec(name)
    if codec is None:
        return _utf8_or_cp1252(data, gsm7=gsm7, exact=False)
    gsm7 = gsm7 and not codec.startswith(_WIDE_CODECS)
    try:
        return DecodedText(data.decode(codec), codec, gsm7, known_coding)
    except LookupError:  # a bytes-to-bytes codec such as "base64" names no text encoding
        return _utf8_or_cp1252(data, gsm7=gsm7, exact=False)
    except ValueError:  # UnicodeDecodeError, or the UnicodeError of codecs such as idna
        pass
    try:
        return DecodedText(data.decode(codec, errors="replace"), codec, gsm7, exact=False)
    except (ValueError, LookupError):  # idna, punycode, "undefined": no replacement handling
        return _utf8_or_cp1252(data, gsm7=gsm7, exact=False)


def parse_time(value: str | None) -> datetime | None:
    """Return a Kannel ``%T`` (unix seconds) or ``%t`` ("YYYY-MM-DD HH:MM[:SS]", UTC) as an aware time."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def dlr_status(value: str | None) -> DeliveryStatus:
    """Return the delivery status a Kannel DLR type (``%d``) stands for; "unknown" for anything else."""
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 4:
        return "unknown"
    return KANNEL_DLR_TYPES.get(int(text), "unknown")
