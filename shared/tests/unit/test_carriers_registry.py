"""Carrier configuration from the environment, and the OutboundSms it all starts from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from halte_shared.carriers import (
    KannelAdapter,
    OutboundSms,
    SimulatorAdapter,
    SmppAdapter,
    build_router,
    inbound_secrets,
    parse_carriers,
)
from halte_shared.carriers.registry import KannelCarrierConfig, SimCarrierConfig, SmppCarrierConfig
from halte_shared.carriers.routing import RoutingError
from halte_shared.settings import HalteSettings

THREE = {
    "sim": {"kind": "sim", "rate_per_second": 200},
    "kannel": {
        "kind": "kannel",
        "url": "http://127.0.0.1:13013",
        "username": "halte",
        "password": "kpass",
        "secret": "kannel-token",
        "rate_per_second": 50,
        "burst": 10,
    },
    "smsc1": {
        "kind": "smpp",
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "halte",
        "password": "spass",
        "secret": "smpp-hmac",
        "window": 20,
    },
}


def settings(**env: Any) -> HalteSettings:
    values: dict[str, Any] = {
        "HALTE_ENV": "test",
        "DATABASE_URL": "postgresql://x@localhost/x",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "CARRIER_SIM_SECRET": "test-sim-secret",
    }
    values.update(env)
    return HalteSettings(**values)


def test_without_configuration_the_only_carrier_is_the_simulator() -> None:
    assert parse_carriers(None) == {"sim": SimCarrierConfig(kind="sim")}
    router = build_router(settings(HALTE_CARRIER_SIM_URL="http://127.0.0.1:9999"))
    adapter = router.adapters["sim"]
    assert isinstance(adapter, SimulatorAdapter) and adapter.url == "http://127.0.0.1:9999"
    assert router.carrier_for("+33612345678") == "sim" and router.limits == {}


def test_three_kinds_of_carrier_are_configured_from_json() -> None:
    carriers = parse_carriers(json.dumps(THREE))
    assert isinstance(carriers["kannel"], KannelCarrierConfig)
    assert isinstance(carriers["smsc1"], SmppCarrierConfig) and carriers["smsc1"].window == 20
    router = build_router(
        settings(
            HALTE_CARRIERS=json.dumps(THREE),
            HALTE_CARRIER_ROUTES="+44=kannel,+1=smsc1",
            HALTE_INBOUND_URL="http://127.0.0.1:8002",
            HALTE_CARRIER_MAX_ATTEMPTS=6,
        )
    )
    assert isinstance(router.adapters["kannel"], KannelAdapter)
    assert isinstance(router.adapters["smsc1"], SmppAdapter) and router.adapters["smsc1"].window == 20
    assert router.adapters["smsc1"].on_delivery is not None  # receipts forwarded to inbound
    assert router.carrier_for("+447700900123") == "kannel" and router.carrier_for("+12025550123") == "smsc1"
    assert router.limits["sim"].rate == 200 and router.limits["kannel"].burst == 10
    assert "smsc1" not in router.limits
    assert router.retry.max_attempts == 6
    kannel = router.adapters["kannel"]
    assert isinstance(kannel, KannelAdapter)
    dlr = kannel.dlr_url_for(OutboundSms(message_id="m1", to="+447700900123", sender="36111", text="x"))
    assert dlr is not None and dlr.startswith("http://127.0.0.1:8002/v1/kannel/kannel/dlr?token=kannel-token&id=m1")


def test_inbound_learns_each_carriers_secret() -> None:
    assert inbound_secrets(settings()) == {"sim": "test-sim-secret"}
    assert inbound_secrets(settings(HALTE_CARRIERS=json.dumps(THREE))) == {
        "sim": "test-sim-secret",
        "kannel": "kannel-token",
        "smsc1": "smpp-hmac",
    }
    only_kannel = {"kannel": THREE["kannel"]}
    secrets = inbound_secrets(settings(HALTE_CARRIERS=json.dumps(only_kannel), HALTE_DEFAULT_CARRIER="kannel"))
    assert secrets == {"sim": "test-sim-secret", "kannel": "kannel-token"}


@pytest.mark.parametrize(
    ("carriers", "problem"),
    [
        ("{not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"sim": {"kind": "carrier-pigeon"}}', "sim"),
        ('{"sim": {"kind": "sim", "colour": "red"}}', "colour"),
        ('{"Bad Name": {"kind": "sim"}}', "Bad Name"),
        ('{"k": {"kind": "kannel", "url": "http://k"}}', "username"),
        ('{"s": {"kind": "smpp", "host": "h", "port": 70000, "system_id": "x", "password": "p"}}', "port"),
    ],
)
def test_bad_carrier_configuration_is_refused_naming_the_problem(carriers: str, problem: str) -> None:
    with pytest.raises(RoutingError, match=problem):
        parse_carriers(carriers)


def test_settings_refuse_routes_to_unconfigured_carriers_at_start_up() -> None:
    with pytest.raises(ValidationError, match="kannel"):
        settings(HALTE_CARRIER_ROUTES="+44=kannel")
    with pytest.raises(ValidationError, match="HALTE_CARRIERS"):
        settings(HALTE_CARRIERS='{"sim": {"kind": "nope"}}')
    with pytest.raises(ValidationError, match="prefix"):
        settings(HALTE_CARRIER_ROUTES="44=sim")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("message_id", "has space", "message_id"),
        ("message_id", "", "message_id"),
        ("to", "0612345678", "E.164"),
        ("sender", "", "sender"),
        ("text", "", "text"),
        ("encoding", "latin-1", "encoding"),
        ("kind", "spam", "kind"),
    ],
)
def test_an_outbound_sms_refuses_bad_fields(field: str, value: str, problem: str) -> None:
    fields = {"message_id": "m-1", "to": "+33612345678", "sender": "36111", "text": "hello"}
    fields[field] = value
    with pytest.raises(ValueError, match=problem):
        OutboundSms(**fields)  # type: ignore[arg-type]
