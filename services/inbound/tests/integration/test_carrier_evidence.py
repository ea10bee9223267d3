"""An authenticated carrier payload is always recorded: characters mapped, raw payload kept, or kept as unusable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY

from halte_inbound.adapters import tables
from halte_inbound.adapters.carriers import Carrier, CarrierRegistry
from halte_inbound.config import CarrierConfig
from halte_inbound.testing import SIM_SECRET, Inbound, account
from halte_shared.events import OptoutRequested

pytestmark = pytest.mark.integration


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextmanager
def gsm7_carrier(inbound: Inbound) -> Iterator[str]:
    """Add, for one test, a JSON carrier "gsm" whose gateway is configured as GSM-7 decoding."""
    config = CarrierConfig(id="gsm", kind="json", secret_env="CARRIER_SIM_SECRET", gsm7_decoded=True)
    registry = inbound.runtime.carriers
    carriers = [c for c in (registry.get(i) for i in registry.ids()) if c is not None]
    inbound.runtime.carriers = CarrierRegistry([*carriers, Carrier(config, SIM_SECRET)])
    try:
        yield "gsm"
    finally:
        inbound.runtime.carriers = registry


def mo(text: str, **extra: object) -> bytes:
    return json.dumps({"message_id": "m-1", "from": "0612345678", "to": "36111", "text": text, **extra}).encode()


async def test_a_signed_stop_with_a_nul_from_a_gsm7_gateway_is_a_stop_at_and_its_body_is_kept(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    body = mo("STOP\u0000")
    before = metric("halte_inbound_characters_mapped_total", carrier="gsm", kind="mo")
    with gsm7_carrier(inbound) as carrier:
        response = await inbound.post_mo(body, carrier=carrier)
        # The carrier's retry is the same message: nothing new, and the evidence is not rewritten.
        retry = await inbound.post_mo(body, carrier=carrier)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], retry.json()["status"]) == ("recorded", "duplicate")
    [row] = await inbound.rows("SELECT text, classification, account_ids, raw_payload FROM inbound_messages")
    assert (row.text, row.classification, row.account_ids) == ("STOP@", "stop", ["acc-1"])
    assert bytes(row.raw_payload) == body
    assert metric("halte_inbound_characters_mapped_total", carrier="gsm", kind="mo") == before + 1
    [(_, optout)] = await inbound.read("optout.requested", expect=1)
    assert isinstance(optout, OptoutRequested)
    assert (optout.phone, optout.raw_text, optout.carrier) == ("+33612345678", "STOP@", "gsm")


async def test_a_raw_nul_byte_from_a_gsm7_gateway_is_an_at_too(inbound: Inbound):
    body = mo("STOP").replace(b'"STOP"', b'"Arr\x00t STOP"')
    with gsm7_carrier(inbound) as carrier:
        response = await inbound.post_mo(body, carrier=carrier)
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT text, classification, raw_payload FROM inbound_messages")
    assert (row.text, row.classification, bytes(row.raw_payload)) == ("Arr@t STOP", "stop", body)


async def test_a_nul_in_an_identifier_is_never_an_at_even_from_a_gsm7_gateway(inbound: Inbound):
    body = mo("STOP", message_id="m\u0000", to="36111\u0000")
    with gsm7_carrier(inbound) as carrier:
        response = await inbound.post_mo(body, carrier=carrier)
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT carrier_message_id, short_code, raw_payload FROM inbound_messages")
    assert (row.carrier_message_id, bytes(row.raw_payload)) == ("m\ufffd", body)
    assert "\ufffd" in row.short_code


def dlr(**fields: object) -> bytes:
    values: dict[str, object] = {
        "message_id": "c-1",
        "our_message_id": "msg-1",
        "status": "DELIVRD",
        "to": "0612345678",
    }
    values.update(fields)
    return json.dumps(values).encode()


async def test_a_signed_dlr_with_a_control_character_in_its_status_is_recorded_with_its_body(inbound: Inbound):
    body = dlr(status="DELIVRD\u0007", error_code="0\u0000")
    before = metric("halte_inbound_characters_mapped_total", carrier="sim", kind="dlr")
    response = await inbound.post_dlr(body)
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT status, raw_status, error_code, phone, raw_payload FROM delivery_reports")
    assert (row.status, row.raw_status, row.error_code, row.phone) == (
        "unknown",
        "DELIVRD\ufffd",
        "0\ufffd",
        "+33612345678",
    )
    assert bytes(row.raw_payload) == body
    assert metric("halte_inbound_characters_mapped_total", carrier="sim", kind="dlr") == before + 1
    [(_, report)] = await inbound.read("sms.delivery", expect=1, linger=0)
    assert (report.status, report.raw_status, report.message_id) == ("unknown", "DELIVRD\ufffd", "msg-1")


async def test_unknown_json_fields_are_accepted_ignored_and_kept_in_the_raw_payload(inbound: Inbound):
    reply = mo("STOP", network="orange", meta={"hops": [1, 2]})
    report = dlr(network="orange", submit_date="2611251000")
    assert (await inbound.post_mo(reply)).status_code == 200
    assert (await inbound.post_dlr(report)).status_code == 200
    [row] = await inbound.rows("SELECT text, classification, raw_payload FROM inbound_messages")
    assert (row.text, row.classification, bytes(row.raw_payload)) == ("STOP", "stop", reply)
    [row] = await inbound.rows("SELECT status, raw_payload FROM delivery_reports")
    assert (row.status, bytes(row.raw_payload)) == ("delivered", report)


async def test_a_clean_dlr_keeps_no_raw_payload(inbound: Inbound):
    assert (await inbound.post_dlr(dlr())).status_code == 200
    [row] = await inbound.rows("SELECT status, raw_payload FROM delivery_reports")
    assert (row.status, row.raw_payload) == ("delivered", None)


@pytest.mark.parametrize(
    ("body", "status", "field", "reason"),
    [
        pytest.param(b"DELIVRD", 400, None, "invalid_json", id="not-json"),
        pytest.param(b'"DELIVRD"', 422, None, "not_an_object", id="not-an-object"),
        pytest.param(json.dumps({"message_id": "c-1"}).encode(), 422, "status", "missing", id="no-status"),
        pytest.param(dlr(status=["DELIVRD"]), 422, "status", "wrong_type", id="status-not-a-string"),
        pytest.param(dlr(status="D" * 65), 422, "status", "too_long", id="status-too-long"),
    ],
)
async def test_an_unusable_signed_dlr_is_kept_in_unprocessable_payloads_and_answered_precisely(
    inbound: Inbound, body, status, field, reason
):
    before = metric("halte_inbound_unprocessable_total", carrier="sim", kind="dlr", reason=reason)
    response = await inbound.post_dlr(body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert await inbound.count("delivery_reports") == 0
    assert await inbound.outbox() == []
    [row] = await inbound.rows(
        "SELECT carrier, kind, code, field, reason, raw_payload, received_at FROM unprocessable_payloads"
    )
    assert (row.carrier, row.kind, row.code, row.field, bytes(row.raw_payload)) == ("sim", "dlr", reason, field, body)
    assert row.reason == response.json()["error"]["message"] and row.received_at is not None
    assert metric("halte_inbound_unprocessable_total", carrier="sim", kind="dlr", reason=reason) == before + 1


async def test_a_badly_signed_unusable_payload_is_not_kept(inbound: Inbound):
    response = await inbound.post_dlr(b"DELIVRD", secret="not-the-secret")
    assert response.status_code == 401
    assert await inbound.count("unprocessable_payloads") == 0


async def test_migration_0003_creates_the_evidence_columns_and_table_tables_py_describes(inbound: Inbound):
    rows = await inbound.rows(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
        " AND (column_name = 'raw_payload' OR table_name = 'unprocessable_payloads')"
    )
    found = {(r.table_name, r.column_name): (r.data_type, r.is_nullable == "YES") for r in rows}
    expected = {
        (table.name, column.name): column.nullable
        for table in (tables.inbound_messages, tables.delivery_reports, tables.unprocessable_payloads)
        for column in table.columns
        if column.name == "raw_payload" or table is tables.unprocessable_payloads
    }
    assert {key: nullable for key, (_, nullable) in found.items()} == expected
    assert {
        found[(t, "raw_payload")][0] for t in ("inbound_messages", "delivery_reports", "unprocessable_payloads")
    } == {"bytea"}
