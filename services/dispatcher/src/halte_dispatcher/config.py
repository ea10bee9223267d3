"""Configuration of the dispatcher service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from halte_shared.settings import HalteSettings


class Settings(HalteSettings):
    """Settings of the dispatcher service (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "dispatcher"


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()  # type: ignore[call-arg]
