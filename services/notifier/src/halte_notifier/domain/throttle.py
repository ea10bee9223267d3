"""CONTACT replies are rate-limited per number, so a loop of CONTACT messages cannot drain an account.

Rule (issue 7): each CONTACT reply costs the account one credit and is not legally
required. A phone (or a pair of auto-responders) answering each reply with CONTACT would
otherwise bill the account without end. So at most ``limit`` replies (default 3) go to
one number for one account within any sliding ``window`` (default 24 hours); beyond that
the request is recorded as ``throttled``: no SMS, no charge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ContactLimit:
    """How many CONTACT replies one number may get from one account per sliding window."""

    limit: int = 3
    window: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("the CONTACT reply limit must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError("the CONTACT reply window must be positive")

    def window_start(self, now: datetime) -> datetime:
        """Return the earliest instant whose replies still count at `now`."""
        return now - self.window


def contact_reply_allowed(*, previous_replies: Iterable[datetime], now: datetime, rule: ContactLimit) -> bool:
    """Tell whether one more CONTACT reply may go to a number that already got `previous_replies`."""
    since = rule.window_start(now)
    recent = sum(1 for at in previous_replies if since < at <= now)
    return recent < rule.limit
