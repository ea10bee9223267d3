"""Release held messages at the carriers' pace, not all at the window's first second.

A backlog held overnight would otherwise be released at 08:00:00 in one block, re-evaluated
at once and then wait in the sender's queue, where an opt-out received at 08:20 could no longer
stop it before the last check. Released at the rate the carriers take them, each message is
re-evaluated shortly before it leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ReleasePacer:
    """A token bucket that says how many messages may be released now (never waits)."""

    def __init__(self, rate: float, *, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a release rate must be positive")
        self.rate = rate
        # One second's worth by default: a release loop ticking every half second keeps up.
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def available(self) -> int:
        """Return how many messages may be released now."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return int(self._tokens)

    def spend(self, count: int) -> None:
        """Record that `count` messages were released."""
        self.available()
        self._tokens -= count
