"""Configuration of the campaign-api service."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from halte_shared.settings import DEV_PLACEHOLDERS, HalteSettings

#: Used only outside production when UNSUBSCRIBE_SECRET is unset (inbound must verify with the same).
DEV_UNSUBSCRIBE_SECRET = "dev-unsubscribe-secret"


class Settings(HalteSettings):
    """Settings of the campaign-api service (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "campaign-api"

    suppression_url: str = Field(default="http://127.0.0.1:8003", alias="HALTE_SUPPRESSION_URL")
    dispatcher_url: str = Field(default="http://127.0.0.1:8004", alias="HALTE_DISPATCHER_URL")
    inbound_url: str = Field(default="http://127.0.0.1:8002", alias="HALTE_INBOUND_URL")
    #: Where recipients outside France open the unsubscribe page (the public face of inbound).
    public_inbound_url: str | None = Field(default=None, alias="HALTE_PUBLIC_INBOUND_URL")
    unsubscribe_secret: SecretStr | None = Field(default=None, alias="UNSUBSCRIBE_SECRET")
    service_timeout_seconds: float = Field(default=5.0, alias="HALTE_SERVICE_TIMEOUT_SECONDS")

    credits_per_segment: int = Field(default=1, ge=1, alias="HALTE_CREDITS_PER_SEGMENT")
    launch_batch_size: int = Field(default=1000, ge=1, le=10000, alias="HALTE_LAUNCH_BATCH_SIZE")
    launcher_enabled: bool = Field(default=True, alias="HALTE_LAUNCHER_ENABLED")
    launcher_idle_seconds: float = Field(default=1.0, alias="HALTE_LAUNCHER_IDLE_SECONDS")

    import_max_bytes: int = Field(default=512 * 1024 * 1024, alias="HALTE_IMPORT_MAX_BYTES")
    import_max_rows: int = Field(default=5_000_000, alias="HALTE_IMPORT_MAX_ROWS")
    import_spool_dir: str | None = Field(default=None, alias="HALTE_IMPORT_SPOOL_DIR")
    import_concurrency: int = Field(default=1, ge=1, le=8, alias="HALTE_IMPORT_CONCURRENCY")
    import_chunk_rows: int = Field(default=10_000, ge=100, alias="HALTE_IMPORT_CHUNK_ROWS")
    #: Processes that check and stage import rows (0: one per core, at most 4).
    import_workers: int = Field(default=0, ge=0, le=16, alias="HALTE_IMPORT_WORKERS")
    #: A job whose worker stopped beating for this long is declared interrupted.
    import_stale_seconds: float = Field(default=120.0, alias="HALTE_IMPORT_STALE_SECONDS")

    send_rate_per_second: float = Field(default=50.0, gt=0, alias="HALTE_SEND_RATE_PER_SECOND")
    send_burst: float = Field(default=100.0, ge=1, alias="HALTE_SEND_BURST")
    import_rate_per_minute: float = Field(default=6.0, gt=0, alias="HALTE_IMPORT_RATE_PER_MINUTE")
    import_burst: float = Field(default=3.0, ge=1, alias="HALTE_IMPORT_BURST")

    @model_validator(mode="after")
    def _refuse_placeholder_unsubscribe_secret(self) -> Settings:
        if self.environment == "production":
            secret = self.unsubscribe_secret.get_secret_value() if self.unsubscribe_secret else ""
            if secret in DEV_PLACEHOLDERS or secret == DEV_UNSUBSCRIBE_SECRET or len(secret) < 16:
                raise ValueError("UNSUBSCRIBE_SECRET must be set to a real secret (16+ characters) in production")
        return self

    def unsubscribe_secret_value(self) -> str:
        """Return the secret that signs unsubscribe links."""
        if self.unsubscribe_secret is not None:
            return self.unsubscribe_secret.get_secret_value()
        return DEV_UNSUBSCRIBE_SECRET

    def unsubscribe_base_url(self) -> str:
        """Return the public base URL of the unsubscribe page, without a trailing slash."""
        return (self.public_inbound_url or self.inbound_url).rstrip("/")


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()  # type: ignore[call-arg]
