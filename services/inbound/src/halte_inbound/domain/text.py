"""What a carrier hands over is kept, never refused for its characters: control characters are mapped.

Rule (the README's "What a carrier can send"): once a carrier has authenticated a payload
(a valid signature, or Kannel's token), a STOP in it must not be lost because of a
character. Some gateways decode the GSM-7 ``@`` (septet 0x00) as the byte 0x00, so a
recipient's "STOP@" arrives as "STOP\\x00"; PostgreSQL text cannot hold NUL, and carriers
rarely retry a 4xx. So, in the text of a reply:

* NUL (U+0000) becomes ``@`` where the carrier's charset implies GSM-7 (a JSON carrier
  configured with ``gsm7_decoded``; Kannel's ``coding=0`` or no coding, see
  domain/kannel.py), and U+FFFD elsewhere;
* every other control character (Unicode category Cc, U+0000-U+001F and U+007F-U+009F,
  except LF and CR, which are line breaks a phone can type) and every lone surrogate
  (U+D800-U+DFFF, not encodable as UTF-8) becomes U+FFFD, the replacement character.

Identifiers (message ids, numbers, short codes, statuses, error codes, times) follow the
same rule with no exception: an identifier has no lines and no GSM-7 text, so NUL, LF and
CR become U+FFFD too. Each character maps to exactly one, so lengths and positions are
kept; the raw payload is kept beside the record whenever anything was mapped.
"""

from __future__ import annotations

import re
from typing import Final

REPLACEMENT: Final = "\ufffd"
#: The GSM 03.38 default alphabet puts "@" at septet 0x00.
GSM7_AT: Final = "@"

_TEXT_CONTROLS: Final = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_IDENTIFIER_CONTROLS: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _at_or_replacement(match: re.Match[str]) -> str:
    return GSM7_AT if match.group() == "\x00" else REPLACEMENT


def map_control_characters(text: str, *, gsm7: bool) -> str:
    """Return the text with NUL as "@" when `gsm7`, other controls (not LF, CR) and lone surrogates as U+FFFD."""
    if _TEXT_CONTROLS.search(text) is None:
        return text
    if gsm7:
        return _TEXT_CONTROLS.sub(_at_or_replacement, text)
    return _TEXT_CONTROLS.sub(REPLACEMENT, text)


def map_identifier(value: str) -> str:
    """Return the identifier with every control character (NUL, LF, CR too) and lone surrogate as U+FFFD."""
    if _IDENTIFIER_CONTROLS.search(value) is None:
        return value
    return _IDENTIFIER_CONTROLS.sub(REPLACEMENT, value)


def storable(text: str) -> str:
    """Return the text with NUL and lone surrogates replaced by U+FFFD (what PostgreSQL text cannot hold)."""
    if "\x00" not in text and text.isascii():
        return text
    return "".join(REPLACEMENT if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
