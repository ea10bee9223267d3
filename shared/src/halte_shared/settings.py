"""Settings, in one place: every service reads its configuration through a subclass of these.

Validated at start-up: a production start (HALTE_ENV=production, the default) refuses to
run without ADMIN_TOKEN or with one of the development placeholders, so a forgotten
secret stops the deploy instead of opening the operator API to anyone who reads the README.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ADMIN_TOKEN = "dev-admin-token"
DEV_SIM_SECRET = "dev-sim-secret"
DEV_PLACEHOLDERS = frozenset({DEV_ADMIN_TOKEN, DEV_SIM_SECRET, "changeme", "secret", ""})

SERVICE_PORTS: dict[str, int] = {
    "campaign-api": 8001,
    "inbound": 8002,
    "suppression": 8003,
    "dispatcher": 8004,
    "notifier": 8005,
}


class HalteSettings(BaseSettings):
    """What every service needs: where the database and the broker are, who it is, its secrets."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = Field(default="halte", alias="HALTE_SERVICE")
    environment: Literal["production", "development", "test"] = Field(default="production", alias="HALTE_ENV")
    test_mode: bool = Field(default=False, alias="HALTE_TEST_MODE")

    database_url: str = Field(alias="DATABASE_URL")
    db_schema: str | None = Field(default=None, alias="HALTE_DB_SCHEMA")
    db_pool_size: int = Field(default=10, alias="HALTE_DB_POOL_SIZE")

    kafka_bootstrap_servers: str = Field(alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_prefix: str = Field(default="", alias="HALTE_TOPIC_PREFIX")
    # How long the group waits for a silent member before handing its partitions over:
    # short enough that a crashed replica's work resumes quickly, long enough for GC pauses.
    # Published outbox rows are kept this long, and republished if the broker loses its log.
    outbox_replay_window_seconds: float = Field(default=3600.0, ge=0, alias="HALTE_OUTBOX_REPLAY_WINDOW_SECONDS")
    test_clock_offset_seconds: float = Field(default=0.0, alias="HALTE_TEST_CLOCK_OFFSET_SECONDS")
    kafka_session_timeout_ms: int = Field(default=10000, ge=1000, alias="HALTE_KAFKA_SESSION_TIMEOUT_MS")

    admin_token: SecretStr | None = Field(default=None, alias="ADMIN_TOKEN")
    carrier_sim_secret: SecretStr | None = Field(default=None, alias="CARRIER_SIM_SECRET")

    # Carriers (halte_shared.carriers.registry): which exist, how SMS are routed to them.
    inbound_url: str | None = Field(default=None, alias="HALTE_INBOUND_URL")
    carrier_sim_url: str = Field(default="http://127.0.0.1:8010", alias="HALTE_CARRIER_SIM_URL")
    carriers_config: str | None = Field(default=None, alias="HALTE_CARRIERS")
    carrier_routes: str = Field(default="", alias="HALTE_CARRIER_ROUTES")
    default_carrier: str = Field(default="sim", alias="HALTE_DEFAULT_CARRIER")
    carrier_max_attempts: int = Field(default=4, ge=1, le=20, alias="HALTE_CARRIER_MAX_ATTEMPTS")

    host: str = Field(default="127.0.0.1", alias="HALTE_HOST")
    port: int = Field(default=8000, alias="PORT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    shutdown_grace_seconds: float = Field(default=20.0, alias="HALTE_SHUTDOWN_GRACE_SECONDS")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> HalteSettings:
        if self.test_mode and self.environment == "production":
            raise ValueError("HALTE_TEST_MODE=1 lets anyone move the clock; it is refused with HALTE_ENV=production")
        if self.environment == "production":
            token = self.admin_token.get_secret_value() if self.admin_token else ""
            if token in DEV_PLACEHOLDERS or len(token) < 16:
                raise ValueError("ADMIN_TOKEN must be set to a real secret (16+ characters) in production")
            if self.carrier_sim_secret and self.carrier_sim_secret.get_secret_value() in DEV_PLACEHOLDERS:
                raise ValueError("CARRIER_SIM_SECRET is a development placeholder; refused in production")
        if self.carriers_config or self.carrier_routes or self.default_carrier != "sim":
            # Imported here: the carriers package reads these settings, so it cannot be imported above.
            from halte_shared.carriers.registry import validate_carrier_settings

            validate_carrier_settings(self)
        return self

    @property
    def schema_name(self) -> str:
        """Return the PostgreSQL schema this service owns (default: its name, with underscores)."""
        return self.db_schema or self.service_name.replace("-", "_")

    def topic(self, name: str) -> str:
        """Return the physical topic name (tests isolate themselves with a prefix)."""
        return f"{self.topic_prefix}{name}"

    def logical_topic(self, physical: str) -> str:
        """Return the contract's topic name of a physical topic."""
        return physical[len(self.topic_prefix) :] if self.topic_prefix else physical

    def admin_token_value(self) -> str | None:
        return self.admin_token.get_secret_value() if self.admin_token else None
