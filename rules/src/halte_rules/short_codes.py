"""Short codes: how people write them, and which range may carry marketing.

Rule (docs/compliance-rules.md, "Sender and short codes"): the STOP reply of a marketing SMS to
a French number goes to a 5-digit short code. The 36xxx range is the one assigned to SMS
marketing; 38xxx is assigned to transactional traffic; any other 5-digit number is no marketing
short code either, since nothing says its replies reach an opt-out desk.

People and carriers write a code with spaces (also non-breaking ones), dots, dashes or
brackets ("36 111", "36.111", "+36111"): every service reads it through
:func:`normalise_short_code`, so a code is the same code everywhere.
"""

from __future__ import annotations

import re
from typing import Final, Literal

SHORT_CODE_LENGTH: Final = 5
MARKETING_PREFIX: Final = "36"
TRANSACTIONAL_PREFIX: Final = "38"

ShortCodeRange = Literal["marketing", "transactional", "other"]

# \s covers the non-breaking and narrow non-breaking spaces French typography puts in numbers.
_WRITTEN_SEPARATORS: Final = re.compile(r"[\s.\-()]")


def compact(raw: str) -> str:
    """Return what was written without the spaces, dots, dashes and brackets people put in numbers."""
    return _WRITTEN_SEPARATORS.sub("", raw.strip())


def normalise_short_code(raw: str | None) -> str | None:
    """Return the digits of a code as written ("36 111", "+36111" -> "36111"), None when it is no number."""
    if raw is None:
        return None
    digits = compact(raw).removeprefix("+")
    return digits if digits and digits.isascii() and digits.isdigit() else None


def is_short_code(raw: str | None) -> bool:
    """Tell whether what was written is a 5-digit short code."""
    digits = normalise_short_code(raw)
    return digits is not None and len(digits) == SHORT_CODE_LENGTH


def short_code_range(code: str) -> ShortCodeRange:
    """Return the range a 5-digit short code belongs to."""
    digits = normalise_short_code(code) or ""
    if digits.startswith(MARKETING_PREFIX):
        return "marketing"
    if digits.startswith(TRANSACTIONAL_PREFIX):
        return "transactional"
    return "other"


def may_carry_marketing(code: str) -> bool:
    """Tell whether a short code is one a marketing SMS may come from (the 36xxx range)."""
    return is_short_code(code) and short_code_range(code) == "marketing"
