"""Domain errors: a refusal with a machine code, a sentence for people and the offending field.

CONTRACT.md: every refusal reaches the client as ``{"error": {"code", "message", "field"}}``
with a 4xx status, naming the JSON field at fault, and changes nothing. The domain raises
:class:`DomainError` before any state is touched; the HTTP layer maps it to that body.
"""

from __future__ import annotations

from typing import Any


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
