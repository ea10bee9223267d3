"""The carrier registry and secrets of the inbound settings (config.py)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from halte_inbound.adapters.carriers import CarrierRefused, CarrierRegistry
from halte_inbound.config import DEV_UNSUBSCRIBE_SECRET, Settings
from halte_shared.signing import webhook_signature

BASE = {"DATABASE_URL": "postgresql://x/y", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
PRODUCTION = {**BASE, "HALTE_ENV": "production", "ADMIN_TOKEN": "a-real-admin-token-123"}


def test_without_a_registry_the_simulator_is_the_only_carrier():
    settings = Settings(**BASE, HALTE_ENV="development", CARRIER_SIM_SECRET="dev-sim-secret")
    [sim] = settings.carriers
    assert (sim.id, sim.kind, sim.secret_env, sim.default_region, sim.short_codes, sim.gsm7_decoded) == (
        "sim",
        "json",
        "CARRIER_SIM_SECRET",
        "FR",
        [],
        False,
    )
    assert settings.dlr_concurrency == 8
    assert settings.carrier_secret(sim) == "dev-sim-secret"
    assert settings.unsubscribe_secret_value() == DEV_UNSUBSCRIBE_SECRET


def test_a_registry_is_read_from_json_and_secrets_from_the_variables_it_names(monkeypatch):
    monkeypatch.setenv("CARRIER_ACME_SECRET", "acme-secret-0123456789")
    monkeypatch.setenv(
        "HALTE_INBOUND_CARRIERS",
        json.dumps(
            [
                {"id": "acme", "kind": "json", "secret_env": "CARRIER_ACME_SECRET", "default_region": "be"},
                {"id": "kannel", "kind": "kannel", "token_env": "KANNEL_INBOUND_TOKEN", "short_codes": ["36111"]},
            ]
        ),
    )
    settings = Settings(**BASE, HALTE_ENV="development", KANNEL_INBOUND_TOKEN="kannel-token-0123456789")
    acme, kannel = settings.carriers
    assert acme.default_region == "BE"
    assert settings.carrier_secret(acme) == "acme-secret-0123456789"
    assert settings.carrier_secret(kannel) == "kannel-token-0123456789"


@pytest.mark.parametrize(
    ("carriers", "message"),
    [
        ([{"id": "x", "kind": "json"}], "needs secret_env"),
        ([{"id": "x", "kind": "kannel"}], "needs token_env"),
        ([{"id": "X Y", "kind": "json", "secret_env": "S"}], "id"),
        ([{"id": "x", "kind": "smpp", "secret_env": "S"}], "kind"),
        ([{"id": "x", "kind": "json", "secret_env": "S", "default_region": "ZZ"}], "not a region"),
        ([{"id": "x", "kind": "json", "secret_env": "S"}, {"id": "x", "kind": "json", "secret_env": "T"}], "twice"),
        ([{"id": "k", "kind": "kannel", "token_env": "T", "gsm7_decoded": True}], "coding tells it per message"),
        ([{"id": "x", "kind": "json", "secret_env": "S", "gsm7_decoded": "sometimes"}], "gsm7_decoded"),
        ("not json", "not valid JSON"),
    ],
)
def test_a_bad_registry_refuses_to_start(carriers, message):
    value = carriers if isinstance(carriers, str) else json.dumps(carriers)
    with pytest.raises(ValidationError, match=message):
        Settings(**BASE, HALTE_ENV="development", HALTE_INBOUND_CARRIERS=value)


def test_production_refuses_a_missing_or_placeholder_unsubscribe_secret_or_carrier_secret():
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET"):
        Settings(**PRODUCTION)
    with pytest.raises(ValidationError, match="UNSUBSCRIBE_SECRET"):
        Settings(**PRODUCTION, UNSUBSCRIBE_SECRET=DEV_UNSUBSCRIBE_SECRET)
    with pytest.raises(ValidationError, match="KANNEL_INBOUND_TOKEN"):
        Settings(
            **PRODUCTION,
            UNSUBSCRIBE_SECRET="a-real-unsubscribe-secret",
            HALTE_INBOUND_CARRIERS=json.dumps([{"id": "k", "kind": "kannel", "token_env": "KANNEL_INBOUND_TOKEN"}]),
            KANNEL_INBOUND_TOKEN="short",
        )
    settings = Settings(**PRODUCTION, UNSUBSCRIBE_SECRET="a-real-unsubscribe-secret")
    assert settings.unsubscribe_secret_value() == "a-real-unsubscribe-secret"


def test_a_carrier_without_a_secret_refuses_every_request():
    settings = Settings(**BASE, HALTE_ENV="development")
    sim = CarrierRegistry.from_settings(settings).get("sim")
    assert sim is not None and sim.secret is None
    body = b"{}"
    with pytest.raises(CarrierRefused, match="no secret"):
        sim.check_signature(timestamp="1", signature=webhook_signature("", "1", body), body=body, now_unix=1)


def test_kannel_tokens_are_compared_whole():
    settings = Settings(
        **BASE,
        HALTE_ENV="development",
        HALTE_INBOUND_CARRIERS=json.dumps([{"id": "k", "kind": "kannel", "token_env": "KANNEL_INBOUND_TOKEN"}]),
        KANNEL_INBOUND_TOKEN="right-token",
    )
    kannel = CarrierRegistry.from_settings(settings).get("k")
    assert kannel is not None
    kannel.check_token("right-token")
    for wrong in ("right", "right-token ", "", None):
        with pytest.raises(CarrierRefused):
            kannel.check_token(wrong)


def test_a_json_carrier_can_say_its_text_is_gsm7_decoded_and_the_dlr_concurrency_is_a_setting():
    settings = Settings(
        **BASE,
        HALTE_ENV="development",
        HALTE_INBOUND_CARRIERS=json.dumps(
            [
                {"id": "gw", "kind": "json", "secret_env": "CARRIER_GW_SECRET", "gsm7_decoded": True},
                {"id": "other", "kind": "json", "secret_env": "CARRIER_OTHER_SECRET"},
            ]
        ),
        HALTE_INBOUND_DLR_CONCURRENCY="3",
    )
    assert [(c.id, c.gsm7_decoded) for c in settings.carriers] == [("gw", True), ("other", False)]
    assert settings.dlr_concurrency == 3
    with pytest.raises(ValidationError, match="HALTE_INBOUND_DLR_CONCURRENCY"):
        Settings(**BASE, HALTE_ENV="development", HALTE_INBOUND_DLR_CONCURRENCY="0")
