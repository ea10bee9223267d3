"""Domain errors: a refusal with a machine code, a sentence for people and the offending field.

CONTRACT.md: every refusal reaches the client as ``{"error": {"code", "message", "field"}}``
with a 4xx status, naming the JSON field at fault, and changes nothing. The domain raises
:class:`DomainError` before any state is touched; the HTTP layer maps it to that body.
"""

from __future__ import annotations

import re
from typing import Any, Final

#: What PostgreSQL text and UTF-8 cannot carry: NUL and lone surrogates (from JSON "\\ud800" escapes).
UNSTORABLE_RE: Final = re.compile(r"[\x00\ud800-\udfff]")
#: What a one-line field (a name, a label) may not hold: control characters, line breaks, lone surrogates.
NOT_ONE_LINE_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class DomainError(ValueError):
    """A business rule refused the input: ``code`` for programs, ``message`` for people."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """Return the error as the contract's ``error`` object."""
        return {"code": self.code, "message": self.message, "field": self.field}

    def __repr__(self) -> str:
        return f"DomainError(code={self.code!r}, message={self.message!r}, field={self.field!r})"


def has_unstorable(text: str) -> bool:
    """Tell whether a string holds a character no database or UTF-8 response can carry."""
    return UNSTORABLE_RE.search(text) is not None


def safe_text(text: str) -> str:
    """Return a string with NUL and lone surrogates written as escapes (for messages and reports)."""
    return UNSTORABLE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_one_line(value: object, *, field: str, what: str, max_length: int) -> str:
    """Return a one-line text with its runs of spaces collapsed (maybe empty), or raise DomainError."""
    if not isinstance(value, str):
        raise DomainError("invalid_type", f"{what} must be a string.", field)
    if NOT_ONE_LINE_RE.search(value):
        raise DomainError(
            "invalid_character", f"{what} contains a control character, a line break or an unpaired surrogate.", field
        )
    tidy = " ".join(value.split())
    if len(tidy) > max_length:
        raise DomainError("too_long", f"{what} is longer than {max_length} characters.", field)
    return tidy
