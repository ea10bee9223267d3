"""Retries of a reply that did not reach the phone: backoff, a last try, then a visible failure.

Rules (issue 7: "a failed confirmation is retried with backoff, and after the last try is
visible in the evidence"):

- A *try* is one hand-over to a carrier. Up to ``max_tries`` (default 4) are made; the
  delay before try n+1 is ``first_delay * factor**(n-1)``, capped at ``max_delay``
  (default 1 min, x4, at most 1 h: 1 min, 4 min, 16 min).
- Three things count as a failed try: the carrier refused it with a temporary error, the
  call's outcome is unknown (timeout, connection lost), or the carrier accepted it and a
  delivery report then said it failed, expired or was rejected.
- After a temporary error or an unknown outcome the next try re-uses the *same*
  submission id: if the carrier did accept it, an idempotent carrier answers with the
  first acceptance instead of sending a second SMS. After a failed delivery report the
  next try gets a *new* submission id (``identifiers.submission_id_for``), since the
  carrier would deduplicate the old one.
- A permanent refusal (an invalid number, a barred destination) is not retried: trying
  again cannot help and each try could cost. The message becomes ``failed_final``.
- When the last try fails the message becomes ``failed_final``; the evidence endpoint
  shows it with its last error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

DeliveryClass = Literal["delivered", "failed", "in_progress"]

#: Delivery-report statuses (events.SmsDelivery.status) that end a try in failure.
FAILED_STATUSES: Final = frozenset({"failed", "expired", "rejected"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed reply is tried again."""

    max_tries: int = 4
    first_delay: timedelta = timedelta(minutes=1)
    factor: float = 4.0
    max_delay: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        if self.first_delay < timedelta(0) or self.max_delay < self.first_delay:
            raise ValueError("delays must be non-negative and max_delay >= first_delay")
        if self.factor < 1:
            raise ValueError("the backoff factor must be at least 1")

    def delay_after(self, tries: int) -> timedelta:
        """Return how long to wait after `tries` failed tries before the next one."""
        seconds = self.first_delay.total_seconds() * self.factor ** max(0, tries - 1)
        return min(timedelta(seconds=seconds), self.max_delay)


@dataclass(frozen=True, slots=True)
class TryAgain:
    """Try once more at `at`; `new_submission` tells whether a fresh idempotency key is needed."""

    at: datetime
    new_submission: bool


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No more tries: the message is failed_final."""

    reason: str


def after_failed_try(
    *, tries: int, now: datetime, policy: RetryPolicy, permanent: bool, carrier_accepted: bool
) -> TryAgain | GiveUp:
    """Decide what follows a failed try, `tries` being the number of tries made so far (this one included)."""
    if permanent:
        return GiveUp("the carrier refused the message permanently")
    if tries >= policy.max_tries:
        return GiveUp(f"still failing after {tries} tries")
    return TryAgain(at=now + policy.delay_after(tries), new_submission=carrier_accepted)


def classify_delivery(status: str) -> DeliveryClass:
    """Return what a delivery-report status means for the reply: delivered, failed, or not final yet."""
    if status == "delivered":
        return "delivered"
    if status in FAILED_STATUSES:
        return "failed"
    return "in_progress"
