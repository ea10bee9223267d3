"""Kannel's get-url and dlr-url forms, as smsbox calls them: token, raw bytes in the charset Kannel names."""

from __future__ import annotations

import httpx
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


def redacted(query: str) -> bytes:
    """Return the query string as kept in raw_payload: as sent (httpx writes a space %20), the token redacted."""
    sent = httpx.URL(f"/v1/kannel/kannel/mo?{query}").query
    return sent.replace(f"token={KANNEL_TOKEN}".encode(), b"token=redacted")


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        pytest.param(mo_query("STOP", token="wrong"), 401, "unauthorized", "token", id="wrong-token"),
        pytest.param("from=0612345678&to=36111&id=k&text=STOP", 401, "unauthorized", "token", id="no-token"),
        pytest.param(mo_query("STOP", token="%FF"), 401, "unauthorized", "token", id="token-not-utf8"),
        pytest.param("&".join(f"p{i}=1" for i in range(80)), 400, "bad_request", None, id="too-many-parameters"),
    ],
)
async def test_unauthenticated_kannel_requests_are_refused_and_record_nothing(
    inbound: Inbound, query, status, code, field
):
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{query}")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field
    assert await inbound.count("inbound_messages") == 0
    assert await inbound.count("unprocessable_payloads") == 0
    assert await inbound.outbox() == []


@pytest.mark.parametrize(
    ("query", "code", "field", "reason"),
    [
        pytest.param(f"to=36111&id=k&text=STOP&token={KANNEL_TOKEN}", "missing", "from", "missing", id="no-sender"),
        pytest.param(
            f"from=0612345678&to=36111&text=STOP&token={KANNEL_TOKEN}", "missing", "id", "missing", id="no-id"
        ),
        pytest.param(mo_query("STOP", to="3" * 33), "too_long", "to", "too_long", id="short-code-too-long"),
    ],
)
async def test_an_unusable_tokened_kannel_request_is_kept_for_review_and_answered_422(
    inbound: Inbound, query, code, field, reason
):
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{query}")
    assert response.status_code == 422, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert await inbound.count("inbound_messages") == 0
    assert await inbound.outbox() == []
    [row] = await inbound.rows("SELECT carrier, kind, code, field, reason, raw_payload FROM unprocessable_payloads")
    assert (row.carrier, row.kind, row.code, row.field) == ("kannel", "mo", reason, field)
    assert row.reason == response.json()["error"]["message"]
    # The evidence is the query string, without our secret.
    assert bytes(row.raw_payload) == redacted(query)
    assert KANNEL_TOKEN.encode() not in bytes(row.raw_payload)


@pytest.mark.parametrize(
    ("query", "text", "encoding", "classification", "raw_from", "message_id"),
    [
        pytest.param(
            mo_query("STOP%00", coding="0", charset="UTF-8"),
            "STOP@",
            "utf-8",
            "stop",
            "0612345678",
            "k-1",
            id="gsm7-nul-is-at",
        ),
        pytest.param(mo_query("ST%00P"), "ST@P", "utf-8", "other", "0612345678", "k-1", id="no-coding-means-gsm7"),
        pytest.param(
            mo_query("%00S%00T%00O%00P%00%00", coding="2", charset="UTF-16BE"),
            "STOP\ufffd",
            "utf-16-be",
            "stop",
            "0612345678",
            "k-1",
            id="ucs2-nul-is-not-at",
        ),
        pytest.param(
            mo_query("%00S%00", coding="2", charset="UTF-16BE"),
            "S\ufffd",
            "utf-16-be",
            "other",
            "0612345678",
            "k-1",
            id="odd-ucs2-bytes-replaced",
        ),
        pytest.param(
            mo_query("STOP%C3", coding="0", charset="UTF-8"),
            "STOP\ufffd",
            "utf-8",
            "stop",
            "0612345678",
            "k-1",
            id="truncated-utf8-replaced",
        ),
        pytest.param(
            mo_query("STOP", charset="KLINGON"), "STOP", "utf-8", "stop", "0612345678", "k-1", id="unknown-charset"
        ),
        pytest.param(
            mo_query("STOP", charset="base64"), "STOP", "utf-8", "stop", "0612345678", "k-1", id="not-a-text-charset"
        ),
        pytest.param(
            mo_query("STOP%00", coding="7"),
            "STOP\ufffd",
            "utf-8",
            "stop",
            "0612345678",
            "k-1",
            id="unknown-coding-is-not-gsm7",
        ),
        pytest.param(
            mo_query("STOP", **{"from": "06%FF"}), "STOP", "utf-8", "stop", "06\ufffd", "k-1", id="sender-not-utf8"
        ),
        pytest.param(
            mo_query("STOP", id="k%0A1"),
            "STOP",
            "utf-8",
            "stop",
            "0612345678",
            "k\ufffd1",
            id="control-character-in-id",
        ),
    ],
)
async def test_a_tokened_kannel_reply_is_never_refused_for_its_bytes_and_its_query_is_kept(
    inbound: Inbound, query, text, encoding, classification, raw_from, message_id
):
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{query}")
    assert response.status_code == 200, response.text
    [row] = await inbound.rows(
        "SELECT text, text_encoding, classification, raw_from, carrier_message_id, raw_payload FROM inbound_messages"
    )
    assert (row.text, row.text_encoding, row.classification, row.raw_from, row.carrier_message_id) == (
        text,
        encoding,
        classification,
        raw_from,
        message_id,
    )
    assert bytes(row.raw_payload) == redacted(query)
    assert await inbound.count("unprocessable_payloads") == 0


async def test_a_clean_kannel_reply_keeps_no_raw_payload(inbound: Inbound):
    response = await inbound.client.get(f"/v1/kannel/kannel/mo?{mo_query('Stop+SMS', coding='0', charset='UTF-8')}")
    assert response.status_code == 200, response.text
    [row] = await inbound.rows("SELECT text, raw_payload FROM inbound_messages")
    assert (row.text, row.raw_payload) == ("Stop SMS", None)


async def test_a_kannel_delivery_report_with_control_characters_is_recorded_with_its_query(inbound: Inbound):
    query = f"token={KANNEL_TOKEN}&id=msg-7%07&status=1%00&answer=stat%3ADELIVRD%1Berr%3A000&to=0612345678&ts=x%00"
    response = await inbound.client.get(f"/v1/kannel/kannel/dlr?{query}")
    assert response.status_code == 200, response.text
    [row] = await inbound.rows(
        "SELECT carrier_message_id, status, raw_status, error_code, reported_at, raw_payload FROM delivery_reports"
    )
    assert (row.carrier_message_id, row.status, row.raw_status, row.error_code, row.reported_at) == (
        "msg-7\ufffd",
        "unknown",
        "1\ufffd",
        "000",
        None,
    )
    assert bytes(row.raw_payload) == redacted(query)
    [(_, report)] = await inbound.read("sms.delivery", expect=1, linger=0)
    assert (report.message_id, report.raw_status) == ("msg-7\ufffd", "1\ufffd")


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
