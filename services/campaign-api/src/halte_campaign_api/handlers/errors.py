"""Refusals the handlers raise besides DomainError; the HTTP layer maps each to a 4xx."""

from __future__ import annotations


class NotFound(Exception):
    """The thing does not exist for this account (another account's ids look the same)."""

    def __init__(self, what: str, field: str | None = None) -> None:
        super().__init__(f"{what} was not found.")
        self.message = f"{what} was not found."
        self.field = field


class Conflict(Exception):
    """The request clashes with the current state (409)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Unavailable(Exception):
    """A service campaign-api depends on did not answer; nothing was changed (503)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
