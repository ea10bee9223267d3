"""Text kept as evidence must be storable as it was received, give or take what no database can hold.

Rule (SPEC.md rule 7, "nothing is lost"): the raw text of a reply is evidence, so it is
kept, not refused, even when a gateway hands over a NUL character (PostgreSQL text cannot
hold it; Kannel passes binary messages byte for byte) or a lone UTF-16 surrogate (not
encodable as UTF-8). Each such code point becomes U+FFFD, the Unicode replacement
character, so the rest of the reply survives intact. (JSON bodies carrying NUL are refused
earlier, at the HTTP edge, by halte_shared.web.JsonBodyGuard.)
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """Return the text with NUL and lone surrogates replaced by U+FFFD."""
    if "\x00" not in text and text.isascii():
        return text
    return "".join(REPLACEMENT if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def is_clean_identifier(value: str) -> bool:
    """Tell whether an identifier (message id, number, short code) holds no control character or surrogate."""
    # Control, format, surrogate and unassigned code points are all "not printable".
    return value.isprintable()
