"""Rate limits per account: a token bucket, so bursts pass and a flood waits.

Rule (a platform decision, documented in the API): each account may make ``burst``
requests of a kind at once and ``rate`` a second on average; beyond that the request is
refused with 429 and a ``Retry-After`` saying when one token will be back. The buckets
live in each process's memory: with N replicas an account gets at most N times the
rate, which is acceptable for protecting the service (not a billing control: credits
are). Time is passed in (a monotonic reading), so the rule is testable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` a second."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.tokens = self.burst

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens and return 0, or return the seconds to wait (nothing taken)."""
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if cost > self.burst:
            cost = self.burst  # a request bigger than the bucket waits for a full one
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per account for one kind of request."""

    def __init__(self, *, rate: float, burst: float, max_accounts: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._max = max_accounts
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, account_id: str, *, now: float, cost: float = 1.0) -> int:
        """Return 0 when the request may go, else the whole seconds to put in Retry-After."""
        bucket = self._buckets.get(account_id)
        if bucket is None:
            if len(self._buckets) >= self._max:
                # Forget full buckets first; they carry no state worth keeping.
                self._buckets = {k: b for k, b in self._buckets.items() if b.tokens < b.burst}
            bucket = self._buckets[account_id] = TokenBucket(self.rate, self.burst)
        wait = bucket.take(now, cost)
        return 0 if wait <= 0 else max(1, math.ceil(wait))
