"""Campaigns through the real app: preview, launch, streaming, reports, credits, STOP while running."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from halte_campaign_api.bootstrap import bootstrap
from halte_campaign_api.domain.campaigns import request_id_for
from halte_shared.events import DispatchDecided, OptoutRecorded, SmsDelivery, SmsOutbound
from halte_shared.signing import read_unsubscribe_token

from .conftest import eventually, outbox_drained, read_topic

pytestmark = pytest.mark.integration

TEXT = "Bonjour {first_name}, -20% sur tout le magasin ce samedi"


def decided(account_id, campaign_id, phone, decision, reason, *, final=True, at=None, scheduled_for=None):
    return DispatchDecided(
        request_id=request_id_for(campaign_id, phone),
        account_id=account_id,
        campaign_id=campaign_id,
        phone=phone,
        kind="marketing",
        decision=decision,
        reason=reason,
        final=final,
        scheduled_for=scheduled_for,
        segments=1,
        sender="36111",
        decided_at=at or datetime.now(UTC),
    )


def optout_recorded(account_id, phone):
    now = datetime.now(UTC)
    return OptoutRecorded(
        optout_id=str(uuid.uuid4()),
        account_id=account_id,
        phone=phone,
        channel="sms",
        short_code="36111",
        raw_text="STOP",
        received_at=now,
        recorded_at=now,
        confirmation_due=True,
        source_event_id=str(uuid.uuid4()),
        sequence=1,
    )


async def campaign_status(service, headers, campaign_id):
    return (await service.http.get(f"/v1/campaigns/{campaign_id}", headers=headers)).json()


async def test_preview_launch_stream_and_report(service):
    http = service.http
    account_id, headers = await service.account(credits=100)
    await service.contact(headers, "0612345601", first_name="Léa", tags=["vip"], postal_code="67000")
    await service.contact(headers, "0612345602", tags=["vip"])
    await service.contact(headers, "0612345603", first_name="Zoé", tags=["vip"])
    await service.contact(headers, "+447911123456", first_name="Amy", tags=["vip"])
    await service.contact(headers, "0612345609", first_name="Not in audience", tags=["other"])

    draft = await http.post(
        "/v1/campaigns",
        headers=headers,
        json={"name": "Soldes", "kind": "marketing", "text": TEXT, "audience": {"tags": ["vip"]}},
    )
    assert draft.status_code == 201, draft.text
    campaign = draft.json()
    cid = campaign["id"]
    assert (campaign["status"], campaign["sender"]) == ("draft", "36111")

    sample = (await http.get(f"/v1/campaigns/{cid}/preview", headers=headers)).json()
    assert sample["final_text"] == (
        "Boulangerie Dupont : Bonjour Camille, -20% sur tout le magasin ce samedi STOP au 36111"
    )
    assert (sample["encoding"], sample["segments"], sample["cost"]) == ("GSM-7", 1, 1)
    assert (sample["recipients"], sample["estimated_cost"]) == (4, 4)
    empty_name = (await http.get(f"/v1/campaigns/{cid}/preview?phone=0612345602", headers=headers)).json()
    assert empty_name["final_text"].startswith("Boulangerie Dupont : Bonjour, -20%")
    foreign = (await http.get(f"/v1/campaigns/{cid}/preview?phone=%2B447911123456", headers=headers)).json()
    assert "STOP au" not in foreign["final_text"] and "/u/" in foreign["final_text"]
    assert foreign["destination_is_french"] is False
    assert (await http.get(f"/v1/campaigns/{cid}/preview?phone=0699999999", headers=headers)).status_code == 404

    launched = await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert launched.status_code == 202, launched.text
    assert launched.json()["credits"]["reserved"] == 4
    again = await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_status")
    done = await eventually(
        lambda: campaign_status(service, headers, cid), lambda c: c["status"] == "dispatched", what="campaign streamed"
    )
    assert done["streamed"] == 4 and done["counts"]["pending"] == 4

    await outbox_drained(service)
    requested = [e for e in await read_topic(service.settings, "dispatch.requested") if e.payload["campaign_id"] == cid]
    by_phone = {e.payload["phone"]: e.payload for e in requested}
    assert sorted(by_phone) == ["+33612345601", "+33612345602", "+33612345603", "+447911123456"]
    lea = by_phone["+33612345601"]
    assert lea["request_id"] == request_id_for(cid, "+33612345601")
    assert lea["text"] == "Boulangerie Dupont : Bonjour Léa, -20% sur tout le magasin ce samedi STOP au 36111"
    assert (lea["sender"], lea["postal_code"], lea["segments"], lea["credits_reserved"]) == ("36111", "67000", 1, True)
    assert lea["consent"]["basis"] == "opt_in" and lea["consent"]["wording"]
    assert (lea["account_mode"], lea["hours_profile"], lea["unsubscribe_url"]) == ("marketing", "strict", None)
    amy = by_phone["+447911123456"]
    assert amy["unsubscribe_url"] and amy["text"].endswith(f"STOP : {amy['unsubscribe_url']}")
    token = amy["unsubscribe_url"].rsplit("/u/", 1)[1]
    assert read_unsubscribe_token(service.settings.unsubscribe_secret_value(), token) == (account_id, "+447911123456")
    launched_events = [
        e for e in await read_topic(service.settings, "campaign.launched") if e.payload["campaign_id"] == cid
    ]
    assert [(e.payload["recipients"], e.payload["reserved_credits"]) for e in launched_events] == [(4, 4)]

    # Decisions, sending and delivery come back from the bus.
    later = datetime.now(UTC) + timedelta(hours=12)
    await service.publish(decided(account_id, cid, "+33612345601", "send", "ok"), key="+33612345601")
    await service.publish(decided(account_id, cid, "+33612345602", "refuse", "suppressed"), key="+33612345602")
    await service.publish(
        decided(account_id, cid, "+33612345603", "hold", "sunday", final=False, scheduled_for=later), key="+33612345603"
    )
    hold_event = decided(account_id, cid, "+447911123456", "hold", "outside_hours", final=False)
    final_event = decided(account_id, cid, "+447911123456", "send", "ok", at=datetime.now(UTC) + timedelta(seconds=1))
    await service.publish(final_event, key="+447911123456")
    await service.publish(hold_event, key="+447911123456")  # a late hold never replaces a final decision
    submitted = datetime.now(UTC)
    await service.publish(
        SmsDelivery(
            delivery_id="d-1", carrier="sim", carrier_message_id="c-1", status="delivered", received_at=submitted
        ),
        key="+33612345601",
    )  # arrives before its message
    await service.publish(
        SmsOutbound(
            message_id="m-1",
            request_id=request_id_for(cid, "+33612345601"),
            account_id=account_id,
            campaign_id=cid,
            purpose="campaign",
            phone="+33612345601",
            sender="36111",
            text=lea["text"],
            kind="marketing",
            encoding="GSM-7",
            segments=1,
            carrier="sim",
            carrier_message_id="c-1",
            submitted_at=submitted,
        ),
        key="+33612345601",
    )
    report = await eventually(
        lambda: campaign_status(service, headers, cid),
        lambda c: c["counts"] == {"pending": 0, "sent": 2, "held": 1, "refused": 1} and c["delivery"]["delivered"] == 1,
        what="report",
    )
    assert report["status"] == "dispatched"  # one recipient is still held
    assert report["reasons"] == {"suppressed": 1, "sunday": 1}
    # The foreign recipient's text carries the unsubscribe link: 2 segments, reserved on the way.
    assert amy["segments"] == 2
    assert report["credits"] == {"reserved": 5, "charged": 5, "refunded": 1}
    rows = (await http.get(f"/v1/campaigns/{cid}/recipients", headers=headers)).json()["items"]
    lea_row = next(r for r in rows if r["phone"] == "+33612345601")
    assert (lea_row["outcome"], lea_row["message_id"], lea_row["delivery_status"]) == ("sent", "m-1", "delivered")
    assert lea_row["sent_at"] is not None
    refused = (await http.get(f"/v1/campaigns/{cid}/recipients?outcome=refused", headers=headers)).json()["items"]
    assert [(r["phone"], r["reason"], r["refunded"]) for r in refused] == [("+33612345602", "suppressed", True)]
    held = (await http.get(f"/v1/campaigns/{cid}/recipients?outcome=held", headers=headers)).json()["items"]
    assert held[0]["scheduled_for"] is not None
    assert (await http.get(f"/v1/campaigns/{cid}/recipients?outcome=lost", headers=headers)).status_code == 422

    ledger = (await http.get("/v1/ledger", headers=headers)).json()
    assert ledger["credits"] == 100 - 4 - 1 + 1
    assert [(m["kind"], m["amount"], m["cause"]) for m in ledger["movements"][:3]] == [
        ("refund", 1, f"campaign:{cid}"),
        ("reservation", 1, f"campaign:{cid}"),
        ("reservation", 4, f"campaign:{cid}"),
    ]
    # Evidence for one number: consent, the message with its decision, delivery.
    evidence = (await http.get("/v1/evidence/0612345601", headers=headers)).json()
    assert evidence["consent"]["basis"] == "opt_in"
    [message] = evidence["messages"]
    assert message["decision"]["outcome"] == "sent" and message["consent"]["basis"] == "opt_in"
    assert message["text"].endswith("STOP au 36111")

    # The held recipient is finally sent: the campaign completes.
    await service.publish(decided(account_id, cid, "+33612345603", "send", "ok"), key="+33612345603")
    await eventually(
        lambda: campaign_status(service, headers, cid), lambda c: c["status"] == "completed", what="campaign completed"
    )
    # Its evidence keeps the whole story: held to a date first, then sent.
    [held_message] = (await http.get("/v1/evidence/0612345603", headers=headers)).json()["messages"]
    assert [(d["outcome"], d["final"]) for d in held_message["decisions"]] == [("held", False), ("sent", True)]
    assert held_message["decisions"][0]["scheduled_for"] is not None


async def test_launch_refusals_change_nothing(service):
    http = service.http
    account_id, headers = await service.account(credits=2)
    for n in range(3):
        await service.contact(headers, f"061234560{n}")
    cid = (
        await http.post("/v1/campaigns", headers=headers, json={"name": "Big", "kind": "marketing", "text": "Promo"})
    ).json()["id"]
    short = await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert (short.status_code, short.json()["error"]["code"]) == (402, "insufficient_credits")
    assert (await campaign_status(service, headers, cid))["status"] == "draft"
    assert (await http.get("/v1/account", headers=headers)).json()["credits"] == 2
    empty = (
        await http.post(
            "/v1/campaigns",
            headers=headers,
            json={"name": "None", "kind": "informative", "text": "Info", "audience": {"tags": ["nobody"]}},
        )
    ).json()["id"]
    nobody = await http.post(f"/v1/campaigns/{empty}/launch", headers=headers)
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (422, "empty_audience")
    cancelled = await http.post(f"/v1/campaigns/{cid}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"
    assert (await http.post(f"/v1/campaigns/{cid}/cancel", headers=headers)).status_code == 409
    assert (await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)).status_code == 409

    bad = [
        ({"name": "x", "kind": "promo", "text": "t"}, "invalid_kind", "kind"),
        ({"name": "x", "kind": "marketing", "text": "Code {promo}"}, "unknown_placeholder", "text"),
        ({"name": "x", "kind": "marketing", "text": "Promo STOP au 36999"}, "stop_mention_wrong_number", "text"),
        ({"name": "x", "kind": "marketing", "text": "t", "short_code": "36999"}, "unknown_short_code", "short_code"),
        (
            {"name": "x", "kind": "marketing", "text": "t", "audience": {"phones": ["12"]}},
            "invalid_number",
            "audience.phones",
        ),
        (
            {"name": "x", "kind": "marketing", "text": "t", "send_at": "2020-01-01T10:00:00+01:00"},
            "send_at_in_past",
            "send_at",
        ),
        ({"name": "x", "kind": "marketing", "text": "t", "send_at": "2030-01-01T10:00:00"}, "invalid", "send_at"),
    ]
    for body, code, field in bad:
        response = await http.post("/v1/campaigns", headers=headers, json=body)
        assert response.status_code == 422, body
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field), body
    listed = (await http.get("/v1/campaigns?limit=1", headers=headers)).json()
    assert [c["id"] for c in listed["items"]] == [empty]
    rest = (await http.get(f"/v1/campaigns?cursor={listed['next_cursor']}", headers=headers)).json()["items"]
    assert [(c["id"], c["status"]) for c in rest] == [(cid, "cancelled")]
    drafts = (await http.get("/v1/campaigns?status=draft", headers=headers)).json()["items"]
    assert [c["id"] for c in drafts] == [empty]
    assert (await http.get("/v1/campaigns?status=x", headers=headers)).status_code == 422
    _, notif = await service.account(short_code="38123", mode="notification")
    refused = await http.post("/v1/campaigns", headers=notif, json={"name": "x", "kind": "marketing", "text": "t"})
    assert refused.json()["error"]["code"] == "marketing_not_allowed"
    informative = await http.post(
        "/v1/campaigns", headers=notif, json={"name": "x", "kind": "informative", "text": "Votre colis arrive"}
    )
    assert informative.status_code == 201
    assert (await http.get(f"/v1/campaigns/{informative.json()['id']}/preview", headers=notif)).json()[
        "final_text"
    ] == "Votre colis arrive"


async def resume_in_a_new_runtime(service, campaign_id: str) -> int:
    """Resume a launch as a freshly started process would: its own engine, relay and launcher."""
    runtime = bootstrap(service.settings, suppression=service.suppression, dispatcher=service.dispatcher)
    await runtime.producer.start()
    await runtime.relay.start()
    try:
        return await runtime.launcher.stream_all(campaign_id)
    finally:
        await runtime.relay.stop()
        await runtime.producer.stop()
        await runtime.engine.dispose()


@pytest.fixture(scope="module")
async def manual(start_module) -> object:
    """A service whose launcher only streams when a test asks (batches of 5)."""
    return await start_module(HALTE_LAUNCHER_ENABLED=False, HALTE_LAUNCH_BATCH_SIZE=5)


async def test_stop_while_running_removes_the_contact_and_a_resumed_launch_skips_it(manual):
    service = manual
    http = service.http
    account_id, headers = await service.account(credits=100)
    phones = [f"+336123456{n:02d}" for n in range(12)]
    for phone in phones:
        await service.contact(headers, phone, first_name="Léa")
    cid = (
        await http.post("/v1/campaigns", headers=headers, json={"name": "Soldes", "kind": "marketing", "text": TEXT})
    ).json()["id"]
    assert (await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)).status_code == 202

    # The first batch (numbers 00-04) is streamed.
    assert await service.runtime.launcher.stream_batch(cid) == 5
    # A STOP arrives for a number already requested (02) and for one not yet requested (08).
    for phone in (phones[2], phones[8]):
        await service.publish(optout_recorded(account_id, phone), key=phone)
    for phone in (phones[2], phones[8]):
        await eventually(
            lambda p=phone: http.get(f"/v1/contacts/{p}", headers=headers),
            lambda r: r.status_code == 404,
            what=f"{phone} erased",
        )

    # The next batch dies before its commit (the process crashes): nothing of it is kept.
    async def crash() -> None:
        raise RuntimeError("the process dies mid-batch")

    service.runtime.launcher.before_commit = crash
    try:
        with pytest.raises(RuntimeError):
            await service.runtime.launcher.stream_batch(cid)
    finally:
        service.runtime.launcher.before_commit = None
    assert await service.scalar("SELECT streamed FROM campaigns WHERE id = :c", c=cid) == 5

    # Another process resumes from the checkpoint.
    assert await resume_in_a_new_runtime(service, cid) == 6
    await outbox_drained(service)
    requested = [
        e.payload for e in await read_topic(service.settings, "dispatch.requested") if e.payload["campaign_id"] == cid
    ]
    ids = [p["request_id"] for p in requested]
    assert len(ids) == len(set(ids)) == 11, "every recipient requested exactly once"
    assert phones[8] not in {p["phone"] for p in requested}, "no request after the STOP was enforced"
    assert phones[2] in {p["phone"] for p in requested}, "requested before the STOP arrived"
    status = await campaign_status(service, headers, cid)
    assert (status["status"], status["streamed"], status["credits"]["charged"]) == ("dispatched", 11, 11)
    assert status["credits"]["refunded"] == 1  # the erased recipient's reserved credit

    # The dispatcher refuses the number already in flight as suppressed; its credit comes back.
    await service.publish(decided(account_id, cid, phones[2], "refuse", "suppressed"), key=phones[2])
    report = await eventually(
        lambda: campaign_status(service, headers, cid), lambda c: c["counts"]["refused"] == 1, what="refusal recorded"
    )
    assert report["reasons"] == {"suppressed": 1}
    assert report["credits"]["refunded"] == 2
    optouts = (await http.get("/v1/optouts", headers=headers)).json()["items"]
    assert sorted(o["phone"] for o in optouts) == sorted([phones[2], phones[8]])
    assert all(o["channel"] == "sms" and o["raw_text"] == "STOP" and o["contact_erased"] for o in optouts)
    assert (await http.get(f"/v1/optouts/{phones[8]}", headers=headers)).json()["channel"] == "sms"
    evidence = (await http.get(f"/v1/evidence/{phones[8]}", headers=headers)).json()
    assert evidence["contact"] is None and evidence["suppressed"] is True
    assert [e["reason"] for e in evidence["erasures"]] == ["optout"]
    assert evidence["messages"] == []
    # The number stays refused by upserts.
    assert (
        await http.put(f"/v1/contacts/{phones[8]}", headers=headers, json={"consent": {"basis": "none"}})
    ).status_code == 409


async def test_cancel_while_running_stops_the_stream_and_refunds_the_rest(manual):
    service = manual
    http = service.http
    _, headers = await service.account(credits=100)
    for n in range(12):
        await service.contact(headers, f"+336123456{n:02d}")
    cid = (
        await http.post("/v1/campaigns", headers=headers, json={"name": "Soldes", "kind": "marketing", "text": "Promo"})
    ).json()["id"]
    await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert (await http.get("/v1/account", headers=headers)).json()["credits"] == 88
    assert await service.runtime.launcher.stream_batch(cid) == 5
    cancelled = (await http.post(f"/v1/campaigns/{cid}/cancel", headers=headers)).json()
    assert (cancelled["status"], cancelled["streamed"]) == ("cancelled", 5)
    assert cancelled["credits"] == {"reserved": 12, "charged": 5, "refunded": 7}
    assert await service.runtime.launcher.stream_batch(cid) is None
    assert (await http.get("/v1/account", headers=headers)).json()["credits"] == 95
