"""Configuration of the dispatcher service."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from halte_shared.settings import HalteSettings


class Settings(HalteSettings):
    """Settings of the dispatcher service (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "dispatcher"

    suppression_url: str = Field(default="http://127.0.0.1:8003", alias="HALTE_SUPPRESSION_URL")
    campaign_api_url: str = Field(default="http://127.0.0.1:8001", alias="HALTE_CAMPAIGN_API_URL")

    #: Fail closed: marketing waits unless every opt-out acknowledged up to this long ago is in the view
    #: (inbound's journal and suppression's feed each read to their end within it).
    suppression_max_lag_seconds: float = Field(default=2.0, gt=0, alias="HALTE_SUPPRESSION_MAX_LAG_SECONDS")
    #: Pause before reading an opt-out source again after a failed read.
    suppression_poll_seconds: float = Field(default=0.2, gt=0, alias="HALTE_SUPPRESSION_POLL_SECONDS")
    #: How long a read of a current source waits for the next change (at most a quarter of the bound).
    optout_long_poll_seconds: float = Field(default=0.5, gt=0, le=30, alias="HALTE_OPTOUT_LONG_POLL_SECONDS")
    suppression_feed_page: int = Field(default=10000, ge=1, le=10000, alias="HALTE_SUPPRESSION_FEED_PAGE")
    suppression_feed_timeout_seconds: float = Field(default=2.0, gt=0, alias="HALTE_SUPPRESSION_FEED_TIMEOUT_SECONDS")

    #: How many held messages are released per second at most (None: the carriers' configured rate).
    release_rate_per_second: float | None = Field(default=None, gt=0, alias="HALTE_DISPATCH_RELEASE_RATE")
    release_poll_seconds: float = Field(default=0.5, gt=0, alias="HALTE_DISPATCH_RELEASE_POLL_SECONDS")

    sender_batch: int = Field(default=500, ge=1, le=5000, alias="HALTE_DISPATCH_SENDER_BATCH")
    sender_concurrency: int = Field(default=64, ge=1, le=1000, alias="HALTE_DISPATCH_SENDER_CONCURRENCY")
    sender_poll_seconds: float = Field(default=0.2, gt=0, alias="HALTE_DISPATCH_SENDER_POLL_SECONDS")
    #: A message the carriers keep refusing temporarily is given up (refused) after this many attempts.
    max_submit_attempts: int = Field(default=12, ge=1, alias="HALTE_DISPATCH_MAX_SUBMIT_ATTEMPTS")

    #: Finished dispatches are forgotten after this many days (the topics keep 7: redeliveries stay absorbed).
    retention_days: float = Field(default=30.0, ge=8, alias="HALTE_DISPATCH_RETENTION_DAYS")

    consumer_batch: int = Field(default=2000, ge=1, le=10000, alias="HALTE_DISPATCH_CONSUMER_BATCH")
    account_key_cache_seconds: float = Field(default=30.0, ge=0, alias="HALTE_ACCOUNT_KEY_CACHE_SECONDS")

    #: Fault injection for the end-to-end tests: ignore the blocklist. Refused outside test mode.
    test_break_suppression_check: bool = Field(default=False, alias="HALTE_TEST_BREAK_SUPPRESSION_CHECK")

    @model_validator(mode="after")
    def _fault_injection_only_in_test_mode(self) -> Settings:
        if self.test_break_suppression_check and not self.test_mode:
            raise ValueError("HALTE_TEST_BREAK_SUPPRESSION_CHECK is a test fault; it needs HALTE_TEST_MODE=1")
        return self


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()  # type: ignore[call-arg]
