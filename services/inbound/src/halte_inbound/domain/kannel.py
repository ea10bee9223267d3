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

A message that cannot be decoded with the charset it claims is refused (the caller
answers 400) rather than stored as mojibake that would hide a STOP.
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


class UndecodableText(ValueError):
    """Bytes that do not decode with the charset Kannel named, or a charset nobody knows."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class DecodedText:
    """A reply's text and how it was read (kept as evidence beside the text)."""

    text: str
    encoding: str


def _utf8_or_cp1252(data: bytes) -> DecodedText:
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        return DecodedText(data.decode("cp1252", errors="replace"), "cp1252")


def decode_text(data: bytes, *, coding: str | None, charset: str | None) -> DecodedText:
    """Return the text of a Kannel ``%a``/``%b`` value given its ``%c`` coding and ``%C`` charset."""
    name = (charset or "").strip().lower()
    code = (coding or "").strip()
    if code not in ("", "0", "1", "2"):
        raise UndecodableText("coding", f"coding {coding!r} is not one of Kannel's 0, 1 or 2")
    if name in ("8-bit", "binary") or (not name and code == "1"):
        # Binary data (ringtones, WAP push): not text a person typed; keep every byte visible.
        return DecodedText(data.decode("latin-1"), "binary")
    if name in ("", "gsm"):
        if code == "2":
            name = "utf-16be"
        else:
            return _utf8_or_cp1252(data)
    codec = _CHARSET_ALIASES.get(name)
    if codec is None:
        try:
            codec = codecs.lookup(name).name
        except LookupError as exc:
            raise UndecodableText("charset", f"charset {charset!r} is unknown") from exc
    try:
        return DecodedText(data.decode(codec), codec)
    except UnicodeDecodeError as exc:
        raise UndecodableText("text", f"the text is not valid {charset or codec}: {exc.reason}") from exc
    except LookupError as exc:  # a bytes-to-bytes codec such as "base64" names no text encoding
        raise UndecodableText("charset", f"charset {charset!r} is not a text encoding") from exc


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
