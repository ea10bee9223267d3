"""The HTTP API on the real database: checks, lists, export, evidence, direct records, the change feed."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from halte_shared.events import OptoutRecorded, new_event_id

from .conftest import Service, fresh_phone, read_events

pytestmark = pytest.mark.integration


def account() -> str:
    return f"acc-{new_event_id()[:8]}"


async def optout(service: Service, account_id: str, phone: str, **extra: str):
    return await service.http.post(
        "/v1/optouts", json={"account_id": account_id, "phone": phone, "channel": "api", **extra}
    )


async def test_every_route_needs_the_operator_token(service: Service):
    for method, path in (
        ("GET", "/v1/suppressions/acc-1/+33612345678"),
        ("POST", "/v1/suppressions/check"),
        ("GET", "/v1/suppressions?account_id=acc-1"),
        ("GET", "/v1/suppressions/export.csv?account_id=acc-1"),
        ("GET", "/v1/feed"),
        ("GET", "/v1/optouts/acc-1/+33612345678"),
        ("POST", "/v1/optouts"),
        ("POST", "/v1/optins"),
    ):
        answer = await service.http.request(method, path, headers={"Authorization": "Bearer not-the-token"})
        assert answer.status_code == 401, (method, path)
        assert answer.json()["error"]["code"] == "unauthorized"


async def test_a_direct_optout_is_recorded_once_and_announced(service: Service):
    acc, phone = account(), fresh_phone()
    national = "0" + phone[3:5] + " " + phone[5:7] + " " + phone[7:9] + " " + phone[9:11] + " " + phone[11:]
    first = await optout(service, acc, national, raw_text="par téléphone", request_id="crm-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["phone"], body["suppressed"], body["new"], body["channel"]) == (phone, True, True, "api")
    retried = await optout(service, acc, phone, request_id="crm-1")
    assert retried.status_code == 200 and retried.json()["duplicate"] is True
    again = await optout(service, acc, phone)
    assert again.status_code == 200 and again.json()["new"] is False
    assert again.json()["sequence"] == body["sequence"]

    recorded = await read_events(service.settings, "optout.recorded", expect=1, phones={phone})
    assert len(recorded) == 1
    _, payload = recorded[0]
    assert isinstance(payload, OptoutRecorded)
    assert (payload.channel, payload.confirmation_due, payload.sequence) == ("api", False, body["sequence"])
    records = (await service.http.get(f"/v1/optouts/{acc}/{phone}")).json()["records"]
    assert [r["kind"] for r in records] == ["optout", "repeat"]
    assert records[0]["raw_text"] == "par téléphone"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"account_id": "acc-1", "phone": "12", "channel": "api"}, 422, "invalid_number", "phone"),
        ({"account_id": "acc-1", "phone": "+33612345678", "channel": "sms"}, 422, "invalid", "channel"),
        ({"account_id": "a b", "phone": "+33612345678", "channel": "api"}, 422, "invalid", "account_id"),
        (
            {"account_id": "acc-1", "phone": "+33612345678", "channel": "api", "name": "Jo"},
            422,
            "unknown_field",
            "name",
        ),
        ({"account_id": "acc-1", "phone": "+33612345678", "channel": "api", "short_code": "ABC"}, 422, None, None),
    ],
)
async def test_a_bad_optout_is_refused_with_the_field_and_changes_nothing(service: Service, body, status, code, field):
    before = (await service.http.get("/v1/feed", params={"after": 0, "limit": 1})).json()["latest_sequence"]
    answer = await service.http.post("/v1/optouts", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    if code is not None:
        assert (error["code"], error["field"]) == (code, field)
    else:
        assert error["field"] == "short_code"
    after = (await service.http.get("/v1/feed", params={"after": 0, "limit": 1})).json()["latest_sequence"]
    assert after == before


async def test_status_answers_in_e164_and_refuses_an_invalid_number(service: Service):
    acc, phone = account(), fresh_phone()
    answer = (await service.http.get(f"/v1/suppressions/{acc}/{phone}")).json()
    assert answer == {
        "account_id": acc,
        "phone": phone,
        "suppressed": False,
        "since": None,
        "channel": None,
        "sequence": None,
    }
    await optout(service, acc, phone)
    national = "0" + phone[3:]
    answer = (await service.http.get(f"/v1/suppressions/{acc}/{national}")).json()
    assert answer["phone"] == phone and answer["suppressed"] is True and answer["channel"] == "api"
    invalid = await service.http.get(f"/v1/suppressions/{acc}/0123")
    assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "phone"
    bad_account = await service.http.get(f"/v1/suppressions/{'x' * 200}/{phone}")
    assert bad_account.status_code == 422 and bad_account.json()["error"]["field"] == "account_id"


async def test_bulk_check_finds_suppressed_numbers_in_any_format(service: Service):
    acc, other = account(), account()
    suppressed = [fresh_phone() for _ in range(3)]
    for phone in suppressed:
        await optout(service, acc, phone)
    await optout(service, other, (elsewhere := fresh_phone()))
    clean = fresh_phone()
    phones = [
        suppressed[0],
        "0" + suppressed[1][3:],
        f"+33 (0){suppressed[2][3:]}",
        clean,
        elsewhere,
        suppressed[0],
        "nope",
    ]
    answer = await service.http.post("/v1/suppressions/check", json={"account_id": acc, "phones": phones})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "account_id": acc,
        "suppressed": suppressed,
        "checked": 6,
        "invalid": [{"phone": "nope", "reason": "invalid_number"}],
    }


async def test_bulk_check_refuses_more_than_ten_thousand_numbers_and_oversized_bodies(service: Service):
    many = [f"+3361{n:07d}" for n in range(10_001)]
    answer = await service.http.post("/v1/suppressions/check", json={"account_id": "acc-1", "phones": many})
    assert answer.status_code == 413
    assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == ("too_many_phones", "phones")
    ten_thousand = await service.http.post(
        "/v1/suppressions/check", json={"account_id": "acc-1", "phones": many[:10_000]}
    )
    assert ten_thousand.status_code == 200 and ten_thousand.json()["checked"] == 10_000
    huge = b'{"account_id": "acc-1", "phones": ["' + b"1" * (3 * 1024 * 1024) + b'"]}'
    answer = await service.http.post(
        "/v1/suppressions/check", content=huge, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
    not_json = await service.http.post(
        "/v1/suppressions/check", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422


async def test_list_pages_and_csv_export_show_only_the_account_s_active_suppressions(service: Service):
    acc = account()
    phones = sorted(fresh_phone() for _ in range(5))
    for phone in phones:
        await optout(service, acc, phone)
    await optout(service, account(), fresh_phone())
    lifted = await service.http.post(
        "/v1/optins", json={"account_id": acc, "phone": phones[2], "proof": "signed form #4"}
    )
    assert lifted.status_code == 201 and lifted.json()["lifted"] is True

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"account_id": acc, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await service.http.get("/v1/suppressions", params=params)).json()
        seen += [item["phone"] for item in page["items"]]
        assert all(item["suppressed"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p for p in phones if p != phones[2]]
    with_lifted = (
        await service.http.get("/v1/suppressions", params={"account_id": acc, "include_lifted": True})
    ).json()
    assert len(with_lifted["items"]) == 5
    bad = await service.http.get("/v1/suppressions", params={"account_id": acc, "cursor": "!!!"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"

    export = await service.http.get("/v1/suppressions/export.csv", params={"account_id": acc})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["phone"] for r in rows] == seen
    assert set(rows[0]) == {"phone", "since", "channel", "short_code", "sequence"}


async def test_an_optin_needs_a_proof_and_is_announced(service: Service):
    acc, phone = account(), fresh_phone()
    await optout(service, acc, phone)
    no_proof = await service.http.post("/v1/optins", json={"account_id": acc, "phone": phone, "proof": "  "})
    assert no_proof.status_code == 422 and no_proof.json()["error"] == {
        "code": "proof_required",
        "message": "A re-subscription needs the proof of the new explicit consent.",
        "field": "proof",
    }
    missing = await service.http.post("/v1/optins", json={"account_id": acc, "phone": phone})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "proof"
    lifted = await service.http.post("/v1/optins", json={"account_id": acc, "phone": phone, "proof": "ticked box, v2"})
    assert lifted.status_code == 201 and lifted.json()["suppressed"] is False
    again = await service.http.post("/v1/optins", json={"account_id": acc, "phone": phone, "proof": "ticked box, v2"})
    assert again.status_code == 200 and again.json()["lifted"] is False and again.json()["reason"] == "not_suppressed"
    announced = await read_events(service.settings, "optin.recorded", expect=1, phones={phone})
    assert [(p.account_id, p.proof, p.sequence) for _, p in announced] == [
        (acc, "ticked box, v2", lifted.json()["sequence"])
    ]


async def test_the_feed_never_skips_a_change_under_concurrent_writers(service: Service):
    start = (await service.http.get("/v1/feed", params={"limit": 1})).json()["latest_sequence"]
    accounts = [account() for _ in range(4)]
    writes = [(accounts[n % 4], fresh_phone()) for n in range(60)]
    done = asyncio.Event()
    seen: list[int] = []

    async def reader() -> None:
        after = start
        while True:
            finished = done.is_set()
            page = (await service.http.get("/v1/feed", params={"after": after, "limit": 7})).json()
            for change in page["changes"]:
                seen.append(change["sequence"])
                after = change["sequence"]
            assert page["latest_sequence"] >= after
            if finished and after == page["latest_sequence"]:
                return

    async def writer(chunk: list[tuple[str, str]]) -> None:
        for acc, phone in chunk:
            assert (await optout(service, acc, phone)).status_code == 201

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(writes[i::6]) for i in range(6)))
    done.set()
    await asyncio.wait_for(reading, timeout=30)
    # The reader polled while six writers committed: it saw every change, in order, once
    # (each opt-out is a suppress row, then a resolve row for its request).
    assert seen == list(range(start + 1, start + 121))
    feed = (await service.http.get("/v1/feed", params={"after": start, "limit": 200})).json()
    suppress = [c for c in feed["changes"] if c["action"] == "suppress"]
    resolve = [c for c in feed["changes"] if c["action"] == "resolve"]
    assert {(c["account_id"], c["phone"]) for c in suppress} == set(writes)
    assert len(resolve) == 60 and all(c["request_id"] for c in resolve)
    too_big = await service.http.get("/v1/feed", params={"limit": 10_001})
    assert too_big.status_code == 422 and too_big.json()["error"]["field"] == "limit"


async def test_metrics_expose_the_feed_head(service: Service):
    await optout(service, account(), fresh_phone())
    latest = (await service.http.get("/v1/feed", params={"limit": 1})).json()["latest_sequence"]
    text = (await service.http.get("/metrics")).text
    assert f"halte_suppression_latest_sequence {float(latest)}" in text
    assert 'halte_optouts_recorded_total{channel="api"}' in text
    assert "halte_stop_to_suppression_seconds_bucket" in text


async def test_hostile_input_gets_a_4xx_or_is_stored_harmlessly_never_a_5xx(service: Service):
    acc, phone = account(), fresh_phone()

    def raw_json(value: object) -> dict[str, object]:
        # ASCII-escaped, as a hostile client may send a lone surrogate (\ud800) that UTF-8 cannot carry.
        return {"content": json.dumps(value).encode(), "headers": {"Content-Type": "application/json"}}

    surrogate = await service.http.post(
        "/v1/optouts", **raw_json({"account_id": acc, "phone": phone, "channel": "api", "raw_text": "stop\ud800"})
    )
    assert surrogate.status_code == 422 and surrogate.json()["error"]["field"] == "raw_text"
    refused = await optout(service, acc, phone, raw_text="stop\x00")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_character", refused.text
    assert (await service.http.get(f"/v1/optouts/{acc}/{phone}")).json()["records"] == [], "nothing recorded"
    checked = await service.http.post(
        "/v1/suppressions/check", **raw_json({"account_id": acc, "phones": ["+", "\ud800"]})
    )
    assert checked.status_code == 200 and checked.json()["checked"] == 0
    assert [i["phone"] for i in checked.json()["invalid"]] == ["+", "\ufffd"]
    for method, path, kwargs in (
        ("GET", "/v1/feed", {"params": {"after": 2**63}}),
        ("GET", "/v1/feed", {"params": {"after": -1}}),
        ("GET", "/v1/feed", {"params": {"limit": "many"}}),
        ("GET", "/v1/suppressions", {}),
        ("GET", "/v1/suppressions", {"params": {"account_id": "acc\x00"}}),
        ("GET", f"/v1/suppressions/{acc}/%00", {}),
        ("GET", f"/v1/optouts/{acc}/{'9' * 500}", {}),
        ("POST", "/v1/suppressions/check", {"json": {"account_id": acc, "phones": [1, 2]}}),
        ("POST", "/v1/suppressions/check", {"json": {"account_id": acc, "phones": "+33612345678"}}),
        ("POST", "/v1/suppressions/check", {"json": []}),
        ("POST", "/v1/optins", {"json": {"account_id": acc, "phone": phone, "proof": "x" * 5000}}),
        ("POST", "/v1/optouts", {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}),
    ):
        answer = await service.http.request(method, path, **kwargs)
        assert 400 <= answer.status_code < 500, (method, path, kwargs, answer.status_code, answer.text)
        assert set(answer.json()["error"]) == {"code", "message", "field"}


async def test_the_openapi_document_describes_the_routes(service: Service):
    document = (await service.http.get("/openapi.json")).json()
    for path in (
        "/v1/suppressions/check",
        "/v1/feed",
        "/v1/optouts",
        "/v1/optins",
        "/v1/suppressions/{account_id}/{phone}",
    ):
        assert path in document["paths"], path
