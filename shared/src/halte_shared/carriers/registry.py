"""Carrier configuration: which carriers exist, how to reach them, and the router built from it.

Environment (fields of :class:`~halte_shared.settings.HalteSettings`, so every service reads them):

- ``HALTE_CARRIERS``: JSON object, carrier name -> configuration. Unset means one carrier,
  ``sim``, the simulator at ``HALTE_CARRIER_SIM_URL`` with ``CARRIER_SIM_SECRET``. Example::

      {"sim":    {"kind": "sim", "rate_per_second": 200},
       "kannel": {"kind": "kannel", "url": "http://127.0.0.1:13013", "username": "halte",
                  "password": "...", "secret": "<token inbound checks on Kannel's URLs>",
                  "rate_per_second": 50},
       "smsc1":  {"kind": "smpp", "host": "smsc.example", "port": 2775, "system_id": "halte",
                  "password": "...", "secret": "<HMAC secret of the webhooks to inbound>",
                  "window": 10, "rate_per_second": 100}}

- ``HALTE_CARRIER_ROUTES``: ``+33=sim,+44=kannel`` (longest prefix wins);
  ``HALTE_DEFAULT_CARRIER`` (default ``sim``) takes every other number.
- ``HALTE_CARRIER_SIM_URL`` (default ``http://127.0.0.1:8010``), ``HALTE_INBOUND_URL`` (where
  Kannel's dlr-url and the SMPP adapter's forwarded receipts/replies point),
  ``HALTE_CARRIER_MAX_ATTEMPTS`` (default 4).

Each carrier's ``secret`` is also what ``inbound`` verifies on that carrier's webhooks:
:func:`inbound_secrets` returns them by carrier name (``sim``: CARRIER_SIM_SECRET).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from halte_shared.carriers.base import CarrierAdapter
from halte_shared.carriers.kannel import DLR_MASK_ALL, KannelAdapter
from halte_shared.carriers.routing import (
    CARRIER_NAME,
    CarrierRouter,
    MonotonicClock,
    RetryPolicy,
    RouteTable,
    RoutingError,
    Sleep,
    TokenBucket,
)
from halte_shared.carriers.sim_adapter import SimulatorAdapter
from halte_shared.carriers.smpp import DeliveryCallback, MoCallback, SmppAdapter
from halte_shared.carriers.webhooks import InboundForwarder

if TYPE_CHECKING:
    from halte_shared.settings import HalteSettings

DEFAULT_SIM_URL = "http://127.0.0.1:8010"


class _CarrierBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_per_second: float | None = Field(default=None, gt=0, description="messages per second; none: unlimited")
    burst: float | None = Field(default=None, ge=1, description="token bucket size (default: one second's worth)")


class SimCarrierConfig(_CarrierBase):
    """The carrier simulator (defaults: HALTE_CARRIER_SIM_URL and CARRIER_SIM_SECRET)."""

    kind: Literal["sim"]
    url: str | None = Field(default=None, pattern=r"^https?://")
    secret: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)


class KannelCarrierConfig(_CarrierBase):
    """A Kannel smsbox's sendsms interface."""

    kind: Literal["kannel"]
    url: str = Field(pattern=r"^https?://", description="smsbox base URL, e.g. http://127.0.0.1:13013")
    username: str = Field(min_length=1)
    password: SecretStr
    secret: SecretStr = Field(description="token in Kannel's dlr-url and get-url, checked by inbound")
    inbound_url: str | None = Field(default=None, pattern=r"^https?://", description="default: HALTE_INBOUND_URL")
    smsc: str | None = Field(default=None, description="Kannel smsc-id to route through")
    dlr_mask: int = Field(default=DLR_MASK_ALL, ge=0, le=31)
    timeout: float = Field(default=10.0, gt=0)


class SmppCarrierConfig(_CarrierBase):
    """An SMSC over SMPP 3.4 (one transceiver bind)."""

    kind: Literal["smpp"]
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: SecretStr
    system_type: str = Field(default="", max_length=12)
    secret: SecretStr | None = Field(default=None, description="HMAC secret of receipts/replies forwarded to inbound")
    inbound_url: str | None = Field(default=None, pattern=r"^https?://", description="default: HALTE_INBOUND_URL")
    window: int = Field(default=10, ge=1, le=1000)
    enquire_link_seconds: float = Field(default=30.0, gt=0)
    response_timeout: float = Field(default=10.0, gt=0)
    bind_timeout: float = Field(default=10.0, gt=0)
    long_messages: Literal["payload", "udh"] = "payload"
    source_ton: int | None = Field(default=None, ge=0, le=6)
    source_npi: int | None = Field(default=None, ge=0, le=18)


CarrierConfig = Annotated[SimCarrierConfig | KannelCarrierConfig | SmppCarrierConfig, Field(discriminator="kind")]
_CARRIERS = TypeAdapter(dict[str, CarrierConfig])


def parse_carriers(raw: str | None) -> dict[str, SimCarrierConfig | KannelCarrierConfig | SmppCarrierConfig]:
    """Parse HALTE_CARRIERS (unset or blank: the simulator alone, as ``sim``)."""
    if raw is None or not raw.strip():
        return {"sim": SimCarrierConfig(kind="sim")}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RoutingError(f"HALTE_CARRIERS is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise RoutingError('HALTE_CARRIERS must be a JSON object of carriers, e.g. {"sim": {"kind": "sim"}}')
    try:
        carriers = _CARRIERS.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RoutingError(f"HALTE_CARRIERS: {where}: {first['msg']}") from exc
    for name in carriers:
        if not CARRIER_NAME.match(name):
            raise RoutingError(f"HALTE_CARRIERS: {name!r} is not a valid carrier name (a-z, 0-9, '-', '_')")
    return carriers


def validate_carrier_settings(settings: HalteSettings) -> None:
    """Raise RoutingError unless the carriers and routes of the settings can work together."""
    carriers = parse_carriers(settings.carriers_config)
    routes = RouteTable.parse(settings.carrier_routes, default=settings.default_carrier)
    missing = routes.carriers() - set(carriers)
    if missing:
        raise RoutingError(f"routes name carriers missing from HALTE_CARRIERS: {', '.join(sorted(missing))}")


def inbound_secrets(settings: HalteSettings) -> dict[str, str]:
    """Return, by carrier name, the secret inbound verifies on that carrier's webhooks or URLs."""
    secrets: dict[str, str] = {}
    sim_secret = settings.carrier_sim_secret.get_secret_value() if settings.carrier_sim_secret else None
    carriers = parse_carriers(settings.carriers_config)
    if "sim" not in carriers and sim_secret:
        secrets["sim"] = sim_secret
    for name, config in carriers.items():
        secret = config.secret.get_secret_value() if config.secret is not None else None
        if isinstance(config, SimCarrierConfig):
            secret = secret or sim_secret
        if secret:
            secrets[name] = secret
    return secrets


def build_adapter(
    name: str,
    config: SimCarrierConfig | KannelCarrierConfig | SmppCarrierConfig,
    settings: HalteSettings,
    *,
    on_delivery: DeliveryCallback | None = None,
    on_mo: MoCallback | None = None,
) -> CarrierAdapter:
    """Build the adapter of one configured carrier."""
    if isinstance(config, SimCarrierConfig):
        secret = config.secret or settings.carrier_sim_secret
        if secret is None:
            raise RoutingError(f"carrier {name}: the simulator needs CARRIER_SIM_SECRET (or a 'secret')")
        return SimulatorAdapter(
            name=name,
            url=config.url or settings.carrier_sim_url,
            secret=secret.get_secret_value(),
            timeout=config.timeout,
        )
    if isinstance(config, KannelCarrierConfig):
        return KannelAdapter(
            name=name,
            url=config.url,
            username=config.username,
            password=config.password.get_secret_value(),
            inbound_url=config.inbound_url or settings.inbound_url,
            dlr_token=config.secret.get_secret_value(),
            smsc=config.smsc,
            dlr_mask=config.dlr_mask,
            timeout=config.timeout,
        )
    inbound_url = config.inbound_url or settings.inbound_url
    forwarder: InboundForwarder | None = None
    if on_delivery is None and on_mo is None and inbound_url and config.secret is not None:
        forwarder = InboundForwarder(inbound_url=inbound_url, carrier=name, secret=config.secret.get_secret_value())
        on_delivery, on_mo = forwarder.on_delivery, forwarder.on_mo
    adapter = SmppAdapter(
        name=name,
        host=config.host,
        port=config.port,
        system_id=config.system_id,
        password=config.password.get_secret_value(),
        system_type=config.system_type,
        window=config.window,
        enquire_link_interval=config.enquire_link_seconds,
        response_timeout=config.response_timeout,
        bind_timeout=config.bind_timeout,
        long_messages=config.long_messages,
        source_ton=config.source_ton,
        source_npi=config.source_npi,
        on_delivery=on_delivery,
        on_mo=on_mo,
    )
    if forwarder is not None:
        adapter.add_close_hook(forwarder.close)
    return adapter


def build_router(
    settings: HalteSettings,
    *,
    adapters: Mapping[str, CarrierAdapter] | None = None,
    clock: MonotonicClock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    on_delivery: DeliveryCallback | None = None,
    on_mo: MoCallback | None = None,
) -> CarrierRouter:
    """Build the carrier router a service sends through (call ``start()`` then ``submit()``).

    `adapters` replaces configured adapters by name (tests); `on_delivery` / `on_mo`
    receive what SMPP links deliver (default: forwarded to inbound's signed webhooks).
    """
    configs = parse_carriers(settings.carriers_config)
    routes = RouteTable.parse(settings.carrier_routes, default=settings.default_carrier)
    built: dict[str, CarrierAdapter] = {}
    limits: dict[str, TokenBucket] = {}
    for name, config in configs.items():
        built[name] = (adapters or {}).get(name) or build_adapter(
            name, config, settings, on_delivery=on_delivery, on_mo=on_mo
        )
        if config.rate_per_second:
            limits[name] = TokenBucket(config.rate_per_second, burst=config.burst, clock=clock, sleep=sleep)
    for name, adapter in (adapters or {}).items():
        built.setdefault(name, adapter)
    return CarrierRouter(
        built,
        routes,
        limits=limits,
        retry=RetryPolicy(max_attempts=settings.carrier_max_attempts),
        sleep=sleep,
    )
