"""Configuration of the notifier service."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from halte_notifier.domain.retry import RetryPolicy
from halte_notifier.domain.throttle import ContactLimit
from halte_shared.settings import HalteSettings

CrashPoint = Literal["before_ledger_commit", "after_ledger_commit", "after_carrier_call"]


class Settings(HalteSettings):
    """Settings of the notifier service (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "notifier"

    max_tries: int = Field(default=4, ge=1, le=20, alias="HALTE_NOTIFIER_MAX_TRIES")
    retry_first_delay_seconds: float = Field(default=60.0, ge=0, alias="HALTE_NOTIFIER_RETRY_FIRST_DELAY_SECONDS")
    retry_max_delay_seconds: float = Field(default=3600.0, ge=0, alias="HALTE_NOTIFIER_RETRY_MAX_DELAY_SECONDS")
    # Longer than the carrier router's worst case (its own retries included), so a slow
    # submission is never taken over by a second sender while the first still waits.
    lease_seconds: float = Field(default=120.0, gt=0, alias="HALTE_NOTIFIER_LEASE_SECONDS")
    poll_seconds: float = Field(default=1.0, gt=0, alias="HALTE_NOTIFIER_POLL_SECONDS")
    send_batch: int = Field(default=50, ge=1, le=1000, alias="HALTE_NOTIFIER_SEND_BATCH")
    send_concurrency: int = Field(default=8, ge=1, le=200, alias="HALTE_NOTIFIER_SEND_CONCURRENCY")
    contact_reply_limit: int = Field(default=3, ge=1, alias="HALTE_NOTIFIER_CONTACT_REPLY_LIMIT")
    contact_reply_window_hours: float = Field(default=24.0, gt=0, alias="HALTE_NOTIFIER_CONTACT_REPLY_WINDOW_HOURS")
    #: Test-only: SIGKILL the process at this step (ignored unless HALTE_TEST_MODE=1).
    crash_at: CrashPoint | None = Field(default=None, alias="HALTE_NOTIFIER_CRASH_AT")

    def retry_policy(self) -> RetryPolicy:
        """Return the backoff policy for failed replies."""
        return RetryPolicy(
            max_tries=self.max_tries,
            first_delay=timedelta(seconds=self.retry_first_delay_seconds),
            max_delay=timedelta(seconds=max(self.retry_max_delay_seconds, self.retry_first_delay_seconds)),
        )

    def contact_limit(self) -> ContactLimit:
        """Return the CONTACT reply rate limit."""
        return ContactLimit(limit=self.contact_reply_limit, window=timedelta(hours=self.contact_reply_window_hours))


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()  # type: ignore[call-arg]
