"""Sender of an informative reply: the account's short code the recipient wrote to.

Rule (SPEC rule 3 and issue 7): the confirmation and the CONTACT reply come from the
account's short code, so the recipient sees the answer in the same conversation and can
reply again. When the recipient wrote to one of the account's short codes, that one
answers; when the opt-out came another way (web page, API, 33700 report) or named a code
the account no longer holds, the account's first short code answers. An account with no
short code cannot answer at all: the caller parks the work until it has one.
"""

from __future__ import annotations

from collections.abc import Sequence


def choose_sender(*, requested: str | None, short_codes: Sequence[str]) -> str | None:
    """Return the short code to send from, or None when the account has none."""
    if requested and requested in short_codes:
        return requested
    return short_codes[0] if short_codes else None
