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
