"""Signed JSON webhooks on real PostgreSQL and the real broker: authentication, idempotence, routing, events."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from halte_inbound.testing import Inbound, account, mo_body, signed_headers
from halte_shared.clock import AdjustableClock
from halte_shared.events import ContactRequested, InboundReceived, OptinRequested, OptoutRequested, SmsDelivery

pytestmark = pytest.mark.integration


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def assert_nothing_recorded(inbound: Inbound) -> None:
    assert await inbound.count("inbound_messages") == 0
    assert await inbound.count("delivery_reports") == 0
    assert await inbound.outbox() == []


async def test_stop_is_recorded_and_published_with_the_e164_number(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    response = await inbound.post_mo(mo_body("Stop SMS", sender="06 12 34 56 78", message_id="m-1"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "recorded"
    inbound_id = response.json()["id"]

    [row] = await inbound.rows(
        "SELECT carrier, carrier_message_id, raw_from, phone, short_code, text, classification, account_ids, unroutable"
        " FROM inbound_messages"
    )
    assert tuple(row) == ("sim", "m-1", "06 12 34 56 78", "+33612345678", "36111", "Stop SMS", "stop", ["acc-1"], None)

    [(envelope, optout)] = await inbound.read("optout.requested", expect=1)
    assert isinstance(optout, OptoutRequested)
    assert (optout.channel, optout.phone, optout.short_code, optout.account_id) == (
        "sms",
        "+33612345678",
        "36111",
        None,
    )
    assert optout.raw_text == "Stop SMS" and optout.carrier == "sim" and optout.request_id == inbound_id
    [(_, received)] = await inbound.read("inbound.received", expect=1, linger=0)
    assert isinstance(received, InboundReceived)
    assert (received.classification, received.account_ids, received.phone) == ("stop", ["acc-1"], "+33612345678")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "application/json"}, id="no-signature"),
        pytest.param("wrong-secret", id="wrong-secret"),
        pytest.param("stale", id="timestamp-6-minutes-old"),
        pytest.param("future", id="timestamp-6-minutes-ahead"),
        pytest.param("tampered", id="body-changed-after-signing"),
        pytest.param("not-a-number", id="timestamp-not-unix-seconds"),
    ],
)
async def test_a_request_without_a_valid_fresh_signature_is_refused_and_records_nothing(inbound: Inbound, headers):
    body = mo_body("STOP")
    if headers == "wrong-secret":
        headers = signed_headers(body, secret="someone-else")
    elif headers == "stale":
        headers = signed_headers(body, timestamp=int(time.time()) - 360)
    elif headers == "future":
        headers = signed_headers(body, timestamp=int(time.time()) + 360)
    elif headers == "tampered":
        headers = signed_headers(mo_body("START"))
    elif headers == "not-a-number":
        headers = {**signed_headers(body), "X-Halte-Timestamp": "yesterday"}
    before = metric("halte_webhook_requests_total", carrier="sim", kind="mo", outcome="unauthorized")

    response = await inbound.client.post("/v1/carriers/sim/mo", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert metric("halte_webhook_requests_total", carrier="sim", kind="mo", outcome="unauthorized") == before + 1
    await assert_nothing_recorded(inbound)
    assert await inbound.count("unprocessable_payloads") == 0


@pytest.mark.parametrize("kind", ["mo", "dlr"])
async def test_a_nul_in_an_unsigned_body_is_answered_401_by_the_route_not_422_by_the_edge(inbound: Inbound, kind):
    body = b'{"message_id": "m", "from": "0612345678", "to": "36111", "text": "STOP\\u0000", "status": "x\x00"}'
    response = await inbound.client.post(
        f"/v1/carriers/sim/{kind}", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    await assert_nothing_recorded(inbound)
    assert await inbound.count("unprocessable_payloads") == 0


async def test_a_replayed_request_is_acknowledged_once_recorded_and_published_once(inbound: Inbound):
    body = mo_body("STOP", message_id="carrier-42")
    headers = signed_headers(body)
    first = await inbound.client.post("/v1/carriers/sim/mo", content=body, headers=headers)
    # The same bytes again: a carrier retry, or an attacker who captured the request.
    replay = await inbound.client.post("/v1/carriers/sim/mo", content=body, headers=headers)
    # A carrier retry signed anew, a second later.
    resigned = await inbound.post_mo(body, timestamp=int(time.time()) + 1)

    assert [r.status_code for r in (first, replay, resigned)] == [200, 200, 200]
    assert [r.json()["status"] for r in (first, replay, resigned)] == ["recorded", "duplicate", "duplicate"]
    assert len({r.json()["id"] for r in (first, replay, resigned)}) == 1
    assert await inbound.count("inbound_messages") == 1
    assert [topic for topic, _ in await inbound.outbox()] == ["inbound.received", "optout.requested"]
    assert len(await inbound.read("optout.requested", expect=1, linger=1.5)) == 1


async def test_concurrent_retries_of_one_message_make_one_record(inbound: Inbound):
    body = mo_body("STOP", message_id="carrier-burst")
    responses = await asyncio.gather(*(inbound.post_mo(body) for _ in range(12)))
    assert {r.status_code for r in responses} == {200}
    assert sorted(r.json()["status"] for r in responses).count("recorded") == 1
    assert await inbound.count("inbound_messages") == 1
    assert [topic for topic, _ in await inbound.outbox()] == ["inbound.received", "optout.requested"]


async def test_the_same_message_id_from_two_carriers_is_two_messages(inbound: Inbound):
    body = mo_body("STOP", message_id="shared-id")
    assert (await inbound.post_mo(body, carrier="sim")).json()["status"] == "recorded"
    assert (await inbound.post_mo(body, carrier="scoped")).json()["status"] == "recorded"
    assert await inbound.count("inbound_messages") == 2


async def test_a_stop_to_an_unknown_short_code_is_recorded_counted_and_still_published(inbound: Inbound):
    before = metric("halte_inbound_unroutable_total", reason="unknown_short_code")
    response = await inbound.post_mo(mo_body("STOP", to="36999"))
    assert response.status_code == 200
    [row] = await inbound.rows("SELECT unroutable, classification, account_ids FROM inbound_messages")
    assert tuple(row) == ("unknown_short_code", "stop", [])
    assert metric("halte_inbound_unroutable_total", reason="unknown_short_code") == before + 1
    # The account may exist and not have reached us yet: the suppression service attributes it.
    [(_, optout)] = await inbound.read("optout.requested", expect=1)
    assert optout.short_code == "36999"


async def test_a_reply_from_an_unreadable_sender_is_recorded_acknowledged_and_never_published_as_optout(
    inbound: Inbound,
):
    before = metric("halte_inbound_unroutable_total", reason="invalid_sender")
    response = await inbound.post_mo(mo_body("STOP", sender="PROMO"))
    assert response.status_code == 200
    [row] = await inbound.rows("SELECT raw_from, phone, unroutable FROM inbound_messages")
    assert tuple(row) == ("PROMO", None, "invalid_sender")
    assert metric("halte_inbound_unroutable_total", reason="invalid_sender") == before + 1
    assert [topic for topic, _ in await inbound.outbox()] == ["inbound.received"]
    [(_, received)] = await inbound.read("inbound.received", expect=1, linger=0)
    assert received.phone is None and received.raw_from == "PROMO"


async def test_contact_on_a_shared_short_code_asks_every_account_and_optin_only_those_that_allow_it(inbound: Inbound):
    await inbound.accounts(
        account("acc-a", short_codes=["36111"], allow_resubscribe=True),
        account("acc-b", short_codes=["36111", "36222"]),
        account("acc-c", short_codes=["36111"], active=False),
    )
    assert (await inbound.post_mo(mo_body("CONTACT"))).status_code == 200
    assert (await inbound.post_mo(mo_body("Start"))).status_code == 200
    assert (await inbound.post_mo(mo_body("AIDE"))).status_code == 200

    contacts = [p for _, p in await inbound.read("contact.requested", expect=2)]
    assert all(isinstance(p, ContactRequested) for p in contacts)
    assert sorted(p.account_id for p in contacts) == ["acc-a", "acc-b"]
    assert {(p.phone, p.short_code, p.raw_text) for p in contacts} == {("+33612345678", "36111", "CONTACT")}
    [(_, optin)] = await inbound.read("optin.requested", expect=1)
    assert isinstance(optin, OptinRequested)
    assert (optin.account_id, optin.channel, optin.short_code, optin.raw_text) == ("acc-a", "sms", "36111", "Start")
    assert optin.proof and "Start" in optin.proof
    classes = [r[0] for r in await inbound.rows("SELECT classification FROM inbound_messages ORDER BY recorded_at")]
    assert classes == ["contact", "optin", "help"]
    assert await inbound.read("optout.requested", expect=1, timeout=1, linger=0) == []


async def test_a_carrier_limited_to_its_short_codes_reads_national_numbers_in_its_own_region(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111", "36222"]))
    # "scoped" serves 36111 only, and its numbers are Belgian.
    assert (await inbound.post_mo(mo_body("CONTACT", sender="0470 12 34 56"), carrier="scoped")).status_code == 200
    assert (
        await inbound.post_mo(mo_body("CONTACT", sender="+33612345678", to="36222"), carrier="scoped")
    ).status_code == 200
    rows = await inbound.rows("SELECT phone, short_code, unroutable FROM inbound_messages ORDER BY recorded_at")
    assert [tuple(r) for r in rows] == [
        ("+32470123456", "36111", None),
        ("+33612345678", "36222", "short_code_not_served"),
    ]
    contacts = [p for _, p in await inbound.read("contact.requested", expect=1, linger=1.0)]
    assert [(p.phone, p.short_code) for p in contacts] == [("+32470123456", "36111")]


def mo_json(**fields: object) -> bytes:
    return json.dumps({"message_id": "m", "from": "0612345678", "to": "36111", "text": "STOP", **fields}).encode()


@pytest.mark.parametrize(
    ("body", "status", "code", "field", "reason"),
    [
        pytest.param(b"{not json", 400, "invalid_json", None, "invalid_json", id="not-json"),
        pytest.param(("[" * 3000).encode(), 400, "invalid_json", None, "invalid_json", id="nested-too-deep"),
        pytest.param(b"[1, 2]", 422, "invalid", None, "not_an_object", id="not-an-object"),
        pytest.param(
            json.dumps({"from": "0612345678", "to": "36111", "text": "STOP"}).encode(),
            422,
            "invalid",
            "message_id",
            "missing",
            id="missing-message-id",
        ),
        pytest.param(
            # Undecodable bytes are replaced, not refused; what is left still lacks a message id.
            b'{"text": "\xff\xfe STOP"}',
            422,
            "invalid",
            "message_id",
            "missing",
            id="not-utf8-and-no-message-id",
        ),
        pytest.param(mo_json(message_id="m" * 201), 422, "invalid", "message_id", "too_long", id="id-too-long"),
        pytest.param(mo_json(text=5), 422, "invalid", "text", "wrong_type", id="text-not-a-string"),
    ],
)
async def test_an_unusable_signed_payload_is_kept_for_review_answered_precisely_and_records_nothing_else(
    inbound: Inbound, body, status, code, field, reason
):
    before = metric("halte_inbound_unprocessable_total", carrier="sim", kind="mo", reason=reason)
    response = await inbound.post_mo(body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field
    await assert_nothing_recorded(inbound)
    [row] = await inbound.rows("SELECT carrier, kind, code, field, reason, raw_payload FROM unprocessable_payloads")
    assert (row.carrier, row.kind, row.code, row.field) == ("sim", "mo", reason, field)
    assert row.reason == response.json()["error"]["message"]
    assert bytes(row.raw_payload) == body
    assert metric("halte_inbound_unprocessable_total", carrier="sim", kind="mo", reason=reason) == before + 1


@pytest.mark.parametrize(
    ("body", "text", "classification", "carrier_message_id"),
    [
        pytest.param(
            mo_json(text="STOP", extra=1, carrier_meta={"route": "a"}), "STOP", "stop", "m", id="unknown-fields"
        ),
        pytest.param(mo_json(message_id="m\x07"), "STOP", "stop", "m\ufffd", id="control-character-in-id"),
        pytest.param(mo_json(text="STOP\u0000"), "STOP\ufffd", "stop", "m", id="escaped-nul-after-stop"),
        pytest.param(
            # The NUL splits the word: "ST OP" is not STOP for domain/keywords.py (joining pieces would
            # read "it's top" as STOP), so it is recorded as "other", with the raw body as evidence.
            mo_json(text="ST\u0000OP"),
            "ST\ufffdOP",
            "other",
            "m",
            id="escaped-nul-inside-the-word",
        ),
        pytest.param(
            mo_json(text="STOP").replace(b'"STOP"', b'"STOP\x00"'), "STOP\ufffd", "stop", "m", id="raw-nul-byte"
        ),
        pytest.param(mo_json(text="STOP").replace(b'"STOP"', b'"\xffSTOP"'), "\ufffdSTOP", "stop", "m", id="not-utf8"),
        pytest.param(mo_json(text="STOP\tSMS\r\n"), "STOP\ufffdSMS\r\n", "stop", "m", id="tab-mapped-crlf-kept"),
        # An unreadable time is dropped (the reply takes its receipt time); the raw body keeps it.
        pytest.param(mo_json(received_at="2026-11-25T10:00:00"), "STOP", "stop", "m", id="time-without-offset"),
        pytest.param(mo_json(received_at="9999-12-31T23:59:59-23:59"), "STOP", "stop", "m", id="time-out-of-range"),
        pytest.param(mo_json(received_at=12), "STOP", "stop", "m", id="time-not-a-string"),
    ],
)
async def test_a_signed_reply_is_never_refused_for_its_characters_and_its_raw_body_is_kept(
    inbound: Inbound, body, text, classification, carrier_message_id
):
    response = await inbound.post_mo(body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "recorded"
    [row] = await inbound.rows("SELECT carrier_message_id, text, classification, raw_payload FROM inbound_messages")
    assert (row.carrier_message_id, row.text, row.classification) == (carrier_message_id, text, classification)
    assert bytes(row.raw_payload) == body
    assert await inbound.count("unprocessable_payloads") == 0


async def test_a_clean_reply_keeps_no_raw_payload(inbound: Inbound):
    assert (await inbound.post_mo(mo_json(text="Stop SMS\nmerci"))).status_code == 200
    [row] = await inbound.rows("SELECT text, raw_payload FROM inbound_messages")
    assert (row.text, row.raw_payload) == ("Stop SMS\nmerci", None)


async def test_an_oversized_body_is_refused_with_413_before_anything_else(inbound: Inbound):
    body = mo_body("STOP " + "x" * 17000)
    response = await inbound.post_mo(body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    # Even unsigned: the size is checked before the signature is computed.
    response = await inbound.client.post("/v1/carriers/sim/mo", content=body)
    assert response.status_code == 413
    await assert_nothing_recorded(inbound)
    # Nothing was authenticated, so nothing is kept for review either.
    assert await inbound.count("unprocessable_payloads") == 0


async def test_unknown_carriers_and_carriers_of_another_kind_are_404(inbound: Inbound):
    body = mo_body("STOP")
    assert (await inbound.post_mo(body, carrier="nobody")).status_code == 404
    assert (await inbound.post_mo(body, carrier="kannel")).json()["error"]["code"] == "unknown_carrier"
    assert (await inbound.client.get("/v1/kannel/sim/mo", params={"token": "x"})).status_code == 404
    assert metric("halte_webhook_requests_total", carrier="nobody", kind="mo", outcome="unknown_carrier") == 0
    await assert_nothing_recorded(inbound)


async def test_broken_unicode_is_mapped_recorded_and_kept_raw(inbound: Inbound):
    lone_surrogate = b'{"message_id": "m-2", "from": "0612345678", "to": "36111", "text": "STOP \\ud83d"}'
    response = await inbound.post_mo(lone_surrogate)
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT text, classification, raw_payload FROM inbound_messages")
    assert (row.text, row.classification, bytes(row.raw_payload)) == ("STOP \ufffd", "stop", lone_surrogate)
    [(_, optout)] = await inbound.read("optout.requested", expect=1, linger=0)
    assert optout.raw_text == "STOP \ufffd"


async def test_delivery_reports_are_recorded_published_and_deduplicated(inbound: Inbound):
    def dlr(status: str) -> bytes:
        return json.dumps(
            {
                "message_id": "carrier-77",
                "our_message_id": "msg-1",
                "status": status,
                "to": "+33612345678",
                "reported_at": "2026-11-25T10:00:00+00:00",
            }
        ).encode()

    statuses = []
    for status in ("buffered", "delivered", "delivered", "DELIVRD", "exploded"):
        response = await inbound.post_dlr(dlr(status))
        assert response.status_code == 200, response.text
        statuses.append(response.json()["status"])
    assert statuses == ["recorded", "recorded", "duplicate", "duplicate", "recorded"]
    reports = [p for _, p in await inbound.read("sms.delivery", expect=3)]
    assert all(isinstance(p, SmsDelivery) for p in reports)
    assert [(p.status, p.raw_status) for p in reports] == [
        ("buffered", "buffered"),
        ("delivered", "delivered"),
        ("unknown", "exploded"),
    ]
    assert {(p.carrier_message_id, p.message_id, p.phone, p.carrier) for p in reports} == {
        ("carrier-77", "msg-1", "+33612345678", "sim")
    }
    unsigned = await inbound.client.post("/v1/carriers/sim/dlr", content=dlr("failed"))
    assert unsigned.status_code == 401
    assert await inbound.count("delivery_reports") == 3


async def test_the_replay_window_follows_the_real_time_even_when_the_test_clock_is_moved(inbound: Inbound):
    moved = AdjustableClock()
    moved.shift(timedelta(days=3))
    real_clock, inbound.runtime.clock = inbound.runtime.clock, moved
    try:
        # Carriers sign with the real time; a service whose business clock was moved keeps accepting them.
        response = await inbound.post_mo(mo_body("STOP", message_id="moved-clock"))
        assert response.status_code == 200, response.text
        stale = await inbound.post_mo(mo_body("STOP"), timestamp=int(moved.now().timestamp()))
        assert stale.status_code == 401
    finally:
        inbound.runtime.clock = real_clock
