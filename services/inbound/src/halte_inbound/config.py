"""Configuration of the inbound service: the carrier registry, the unsubscribe page, the limits.

The carrier registry is ``HALTE_INBOUND_CARRIERS``, a JSON list; each entry names the
carrier (the ``{carrier}`` of the webhook URLs), its kind (``json``: signed JSON webhooks;
``kannel``: Kannel's get-url/dlr-url with a shared token), the *name* of the environment
variable holding its secret (secrets never sit in the list itself), the region that
explains its national-format numbers, the short codes it serves (empty: any) and, for a
JSON carrier, ``gsm7_decoded``: whether its gateway decodes GSM-7 into the ``text`` it
posts, so that a NUL there is the GSM-7 ``@`` (septet 0x00) a gateway failed to translate.
It defaults to false: a NUL then becomes U+FFFD, which hides nothing (the raw body is kept
and "STOP\u0000" is still a STOP), whereas guessing "@" for a carrier that sends UCS-2 or
binary text would invent a character. Set it once a carrier's gateway is known to do this.
Kannel tells per message (``coding``), so ``gsm7_decoded`` is refused on Kannel carriers.
Unset, the registry is the carrier simulator alone:
``[{"id":"sim","kind":"json","secret_env":"CARRIER_SIM_SECRET","default_region":"FR","short_codes":[]}]``.
A Kannel gateway is added as
``{"id":"kannel","kind":"kannel","token_env":"KANNEL_INBOUND_TOKEN","default_region":"FR","short_codes":["36111"]}``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from halte_shared.settings import DEV_PLACEHOLDERS, HalteSettings

DEV_UNSUBSCRIBE_SECRET = "dev-unsubscribe-secret"


class CarrierConfig(BaseModel):
    """One carrier of the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    kind: Literal["json", "kannel"]
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    default_region: str = "FR"
    short_codes: list[str] = Field(default_factory=list)
    gsm7_decoded: bool = False

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"default_region {value!r} is not a region phonenumbers knows (e.g. FR, BE, GB)")
        return region

    @model_validator(mode="after")
    def _secret_named(self) -> CarrierConfig:
        if self.kind == "json" and not self.secret_env:
            raise ValueError(f"carrier {self.id!r} (kind json) needs secret_env, the variable holding its secret")
        if self.kind == "kannel" and not self.token_env:
            raise ValueError(f"carrier {self.id!r} (kind kannel) needs token_env, the variable holding its token")
        if self.kind == "kannel" and self.gsm7_decoded:
            raise ValueError(
                f"carrier {self.id!r} (kind kannel) cannot set gsm7_decoded: Kannel's coding tells it per message"
            )
        return self

    @property
    def secret_variable(self) -> str:
        """Return the name of the environment variable that holds this carrier's secret."""
        return (self.secret_env if self.kind == "json" else self.token_env) or ""


def default_carriers() -> list[CarrierConfig]:
    """Return the registry used when HALTE_INBOUND_CARRIERS is unset: the simulator only."""
    return [CarrierConfig(id="sim", kind="json", secret_env="CARRIER_SIM_SECRET", default_region="FR")]


class Settings(HalteSettings):
    """Settings of the inbound service (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "inbound"
    carriers: list[CarrierConfig] = Field(default_factory=default_carriers, alias="HALTE_INBOUND_CARRIERS")
    kannel_inbound_token: SecretStr | None = Field(default=None, alias="KANNEL_INBOUND_TOKEN")
    unsubscribe_secret: SecretStr | None = Field(default=None, alias="UNSUBSCRIBE_SECRET")
    public_inbound_url: str | None = Field(default=None, alias="HALTE_PUBLIC_INBOUND_URL")
    webhook_max_bytes: int = Field(default=16 * 1024, alias="HALTE_WEBHOOK_MAX_BYTES", ge=1024, le=1024 * 1024)
    spam_report_max_batch: int = Field(default=1000, alias="HALTE_SPAM_REPORT_MAX_BATCH", ge=1, le=100_000)
    #: Delivery reports handled at once; more wait their turn (never refused), so a DLR flood
    #: cannot take the database connections a STOP needs (replies do not wait for this).
    dlr_concurrency: int = Field(default=8, alias="HALTE_INBOUND_DLR_CONCURRENCY", ge=1, le=1000)
    #: Worker processes serving the webhooks on one port (halte_shared/cli.py): the internet-facing
    #: hot path scales with cores, and on a shared host each worker gets its own share of the CPU.
    workers: int = Field(default=1, alias="HALTE_INBOUND_WORKERS", ge=1, le=64)

    @field_validator("carriers", mode="before")
    @classmethod
    def _carriers_from_json(cls, value: Any) -> Any:
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"HALTE_INBOUND_CARRIERS is not valid JSON: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _check_inbound_secrets(self) -> Settings:
        ids = [c.id for c in self.carriers]
        if len(ids) != len(set(ids)):
            raise ValueError(f"HALTE_INBOUND_CARRIERS names a carrier twice: {sorted(ids)}")
        if self.environment == "production":
            secret = self.unsubscribe_secret.get_secret_value() if self.unsubscribe_secret else ""
            if secret in DEV_PLACEHOLDERS | {DEV_UNSUBSCRIBE_SECRET} or len(secret) < 16:
                raise ValueError("UNSUBSCRIBE_SECRET must be set to a real secret (16+ characters) in production")
            for carrier in self.carriers:
                value = self.carrier_secret(carrier)
                if value is not None and (value in DEV_PLACEHOLDERS or len(value) < 16):
                    raise ValueError(
                        f"{carrier.secret_variable} (secret of carrier {carrier.id!r}) is a placeholder or shorter "
                        "than 16 characters; refused in production"
                    )
        return self

    def carrier_secret(self, carrier: CarrierConfig) -> str | None:
        """Return a carrier's secret from the variable it names (a setting of this class, else the environment)."""
        name = carrier.secret_variable
        for field_name, info in type(self).model_fields.items():
            if info.alias == name:
                value = getattr(self, field_name)
                if isinstance(value, SecretStr):
                    return value.get_secret_value() or None
                return str(value) if value else None
        return os.environ.get(name) or None

    def unsubscribe_secret_value(self) -> str:
        """Return the key that signs unsubscribe links (a development default outside production)."""
        if self.unsubscribe_secret and self.unsubscribe_secret.get_secret_value():
            return self.unsubscribe_secret.get_secret_value()
        return DEV_UNSUBSCRIBE_SECRET

    def public_url(self) -> str:
        """Return the public base URL of this service (where unsubscribe links point)."""
        return (self.public_inbound_url or f"http://127.0.0.1:{self.port}").rstrip("/")


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()  # type: ignore[call-arg]
