"""Configuration of the suppression service."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from halte_shared.settings import HalteSettings


class Settings(HalteSettings):
    """Settings of the suppression service (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "suppression"
    prune_interval_seconds: float = Field(default=3600.0, gt=0, alias="HALTE_SUPPRESSION_PRUNE_SECONDS")
    metrics_refresh_seconds: float = Field(default=5.0, gt=0, alias="HALTE_SUPPRESSION_METRICS_SECONDS")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0, alias="HALTE_SUPPRESSION_MAX_BODY_BYTES")


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()  # type: ignore[call-arg]
