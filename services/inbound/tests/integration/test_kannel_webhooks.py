"""Kannel's get-url and dlr-url forms, as smsbox calls them: token, raw bytes in the charset Kannel names."""

from __future__ import annotations

import pytest

from halte_inbound.testing import KANNEL_TOKEN, Inbound, account
from halte_shared.events import SmsDelivery

pytestmark = pytest.mark.integration


def mo_query(text: str, *, token: str = KANNEL_TOKEN, message_id: str = "k-1", **extra: str) -> str:
    # `text` is already percent-encoded, exactly as smsbox writes %a.
    params = {"from": "0612345678", "to": "36111", "ts": "2026-11-25 10:00:00", "id": message_id, "token": token}
    params.update(extra)
    return "&".join(f"{k}={v}" for k, v in params.items()) + f"&text={text}"


async def test_a_ucs2_reply_with_an_accent_is_decoded_and_classified_as_stop(inbound: Inbound):
    # "arrêt" as Kannel sends a UCS-2 reply without mo-recode: UTF-16BE bytes, percent-encoded.
    query = mo_query("%00a%00r%00r%00%EA%00t", coding="2", charset="UTF-16BE")
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{query}")
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT text, text_encoding, classification, phone, received_at FROM inbound_messages")
    assert (row.text, row.text_encoding, row.classification, row.phone) == (
        "arrêt",
        "utf-16-be",
        "stop",
        "+33612345678",
    )
    assert row.received_at.isoformat() == "2026-11-25T10:00:00+00:00"
    [(_, optout)] = await inbound.read("optout.requested", expect=1, linger=0)
    assert (optout.phone, optout.raw_text, optout.carrier) == ("+33612345678", "arrêt", "kannel")


@pytest.mark.parametrize(
    ("text", "coding", "charset", "expected", "classification"),
    [
        pytest.param("Stop+SMS", "0", "UTF-8", "Stop SMS", "stop", id="7-bit-as-kannel-1.4.5-sends-it"),
        pytest.param("d%C3%A9sabonner", "0", "UTF-8", "désabonner", "stop", id="utf8-accent"),
        pytest.param("d%E9sabonner", "0", "WINDOWS-1252", "désabonner", "stop", id="mo-recode-to-windows-1252"),
        pytest.param("CONTACT", "0", "GSM", "CONTACT", "contact", id="older-kannel-says-GSM"),
        pytest.param("%D8%3D%DE%00%00 %00S%00T%00O%00P", "2", "UTF-16BE", "😀 STOP", "stop", id="ucs2-emoji"),
        pytest.param("arr%C3%AAt", "", "", "arrêt", "stop", id="no-charset-utf8"),
        pytest.param("arr%EAt", "", "", "arrêt", "stop", id="no-charset-cp1252"),
        pytest.param("%FF%00ab", "1", "8-BIT", "ÿ\ufffdab", "other", id="binary-data"),
    ],
)
async def test_kannel_text_is_read_in_the_charset_kannel_names(
    inbound: Inbound, text, coding, charset, expected, classification
):
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{mo_query(text, coding=coding, charset=charset)}")
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT text, classification FROM inbound_messages")
    assert (row.text, row.classification) == (expected, classification)


async def test_kannel_retries_are_deduplicated_on_kannel_s_message_id(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    url = f"/v1/kannel/kannel/mo?{mo_query('CONTACT', message_id='same')}"
    statuses = [(await inbound.client.get(url)).json()["status"] for _ in range(3)]
    assert statuses == ["recorded", "duplicate", "duplicate"]
    assert [t for t, _ in await inbound.outbox()] == ["inbound.received", "contact.requested"]


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        pytest.param(mo_query("STOP", token="wrong"), 401, "unauthorized", "token", id="wrong-token"),
        pytest.param("from=0612345678&to=36111&id=k&text=STOP", 401, "unauthorized", "token", id="no-token"),
        pytest.param(mo_query("STOP", token="%FF"), 401, "unauthorized", "token", id="token-not-utf8"),
        pytest.param(f"to=36111&id=k&text=STOP&token={KANNEL_TOKEN}", 422, "missing", "from", id="no-sender"),
        pytest.param(f"from=0612345678&to=36111&text=STOP&token={KANNEL_TOKEN}", 422, "missing", "id", id="no-id"),
        pytest.param(
            mo_query("%00S%00", coding="2", charset="UTF-16BE"), 400, "invalid_text", "text", id="odd-ucs2-bytes"
        ),
        pytest.param(mo_query("STOP", charset="KLINGON"), 400, "invalid_text", "charset", id="unknown-charset"),
        pytest.param(mo_query("STOP", charset="base64"), 400, "invalid_text", "charset", id="not-a-text-charset"),
        pytest.param(mo_query("STOP", coding="7"), 400, "invalid_text", "coding", id="unknown-coding"),
        pytest.param(mo_query("STOP", **{"from": "06%FF"}), 400, "invalid_encoding", "from", id="sender-not-utf8"),
        pytest.param(mo_query("STOP", id="k%0A1"), 422, "invalid", "id", id="control-character-in-id"),
        pytest.param("&".join(f"p{i}=1" for i in range(80)), 400, "bad_request", None, id="too-many-parameters"),
    ],
)
async def test_bad_kannel_requests_are_refused_and_record_nothing(inbound: Inbound, query, status, code, field):
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{query}")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field
    assert await inbound.count("inbound_messages") == 0
    assert await inbound.outbox() == []


async def test_kannel_delivery_reports_map_dlr_types_and_keep_the_smsc_error(inbound: Inbound):
    base = f"/v1/kannel/kannel/dlr?token={KANNEL_TOKEN}&id=msg-9&to=0612345678&ts=1795600000"
    answers = {
        "8": "ACK%2F",
        "1": "id%3A1+sub%3A001+dlvrd%3A001+stat%3ADELIVRD+err%3A000",
        "16": "NACK%2F0x0000000b%2FInvalid+Destination+Address",
        "2": "id%3A1+stat%3AUNDELIV+err%3A034",
        "99": "",
    }
    for dlr_type, answer in answers.items():
        response = await inbound.client.get(f"{base}&status={dlr_type}&answer={answer}")
        assert response.status_code == 200, response.text
    assert (await inbound.client.get(f"{base}&status=1&answer=again")).json()["status"] == "duplicate"
    assert (await inbound.client.get(base.replace(KANNEL_TOKEN, "nope") + "&status=1")).status_code == 401

    reports = [p for _, p in await inbound.read("sms.delivery", expect=5)]
    assert all(isinstance(p, SmsDelivery) for p in reports)
    assert [(p.status, p.raw_status, p.error_code) for p in reports] == [
        ("accepted", "8", None),
        ("delivered", "1", "000"),
        ("rejected", "16", None),
        ("failed", "2", "034"),
        ("unknown", "99", None),
    ]
    assert {(p.message_id, p.carrier_message_id, p.phone, p.carrier) for p in reports} == {
        ("msg-9", "msg-9", "+33612345678", "kannel")
    }
    assert reports[0].reported_at is not None and reports[0].reported_at.year == 2026
