"""Unit sends, the credit ledger from billing events, opt-outs and opt-ins, through the real app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from halte_campaign_api.domain.ratelimit import RateLimiter
from halte_shared.events import BillingCharged, DispatchDecided, OptinRecorded, OptoutRecorded, SmsOutbound

from .conftest import ADMIN, CONSENT, eventually

pytestmark = pytest.mark.integration

PHONE = "+33612345678"


def charge(account_id: str, reason: str = "optout_confirmation", *, charge_id: str | None = None) -> BillingCharged:
    return BillingCharged(
        charge_id=charge_id or str(uuid.uuid4()),
        account_id=account_id,
        amount=1,
        reason=reason,
        cause_event_id=str(uuid.uuid4()),
        phone=PHONE,
        message_id=str(uuid.uuid4()),
        charged_at=datetime.now(UTC),
    )


async def balance(service, headers) -> dict:
    return (await service.http.get("/v1/account", headers=headers)).json()


async def test_unit_send_is_composed_charged_and_answered_with_the_decision(service):
    http = service.http
    account_id, headers = await service.account(credits=3)
    await service.contact(headers, PHONE, first_name="Léa", postal_code="57000")
    sent = await http.post(
        "/v1/messages",
        headers=headers,
        json={"phone": "06 12 34 56 78", "kind": "marketing", "text": "Bonjour {first_name} !"},
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["decision"], body["cost"], body["segments"]) == ("send", 1, 1)
    assert body["final_text"] == "Boulangerie Dupont : Bonjour Léa ! STOP au 36111"
    [request] = service.dispatcher.requests
    assert (request.campaign_id, request.postal_code, request.consent.basis) == (None, "57000", "opt_in")
    assert (request.sender, request.text, request.credits_reserved) == ("36111", body["final_text"], True)
    assert (await balance(service, headers))["credits"] == 2

    # A refusal gives the credit back and is recorded with its reason.
    service.dispatcher.decision, service.dispatcher.reason = "refuse", "no_consent"
    refused = (
        await http.post(
            "/v1/messages", headers=headers, json={"phone": "0612345679", "kind": "marketing", "text": "Promo"}
        )
    ).json()
    assert (refused["decision"], refused["reason"], refused["cost"]) == ("refuse", "no_consent", 0)
    assert (await balance(service, headers))["credits"] == 2

    # The dispatcher is down: 503, nothing recorded as sent, the credit released.
    service.dispatcher.available = False
    down = await http.post(
        "/v1/messages",
        headers=headers,
        json={"phone": "0612345670", "kind": "informative", "text": "Votre colis arrive"},
    )
    assert (down.status_code, down.json()["error"]["code"]) == (503, "dispatcher_unavailable")
    assert (await balance(service, headers))["credits"] == 2
    row = (
        await service.sql("SELECT * FROM recipients WHERE account_id = :a AND phone = '+33612345670'", a=account_id)
    )[0]
    assert (row.outcome, row.reason, row.refunded, row.sent_at) == ("refused", "dispatcher_unavailable", True, None)
    # ...unless the dispatcher had acted after all: its decision corrects the row and charges again.
    await service.publish(
        DispatchDecided(
            request_id=row.request_id,
            account_id=account_id,
            phone="+33612345670",
            kind="informative",
            decision="send",
            reason="ok",
            segments=1,
            sender="36111",
            decided_at=datetime.now(UTC),
        ),
        key="+33612345670",
    )
    await eventually(lambda: balance(service, headers), lambda b: b["credits"] == 1, what="late charge")
    service.dispatcher.available = True
    service.dispatcher.decision, service.dispatcher.reason = "send", "ok"

    # Refusals before anything is charged.
    cases = [
        ({"phone": "12", "kind": "marketing", "text": "Promo"}, 422, "invalid_number", "phone"),
        ({"phone": PHONE, "kind": "sms", "text": "Promo"}, 422, "invalid_kind", "kind"),
        ({"phone": PHONE, "kind": "marketing", "text": " "}, 422, "empty_text", "text"),
        (
            {"phone": PHONE, "kind": "marketing", "text": "Promo", "short_code": "38000"},
            422,
            "unknown_short_code",
            "short_code",
        ),
        ({"phone": PHONE, "kind": "marketing", "text": "x" * 300}, 402, "insufficient_credits", "amount"),
    ]
    for body, status, code, field in cases:
        response = await http.post("/v1/messages", headers=headers, json=body)
        assert response.status_code == status, body
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field), body
    assert (await balance(service, headers))["credits"] == 1
    # Outside France, the unsubscribe link replaces the STOP reply (and makes the text longer).
    await http.post(f"/v1/accounts/{account_id}/credits", headers=ADMIN, json={"amount": 10, "reason": "more"})
    foreign = (
        await http.post(
            "/v1/messages", headers=headers, json={"phone": "+32470123456", "kind": "marketing", "text": "Promo"}
        )
    ).json()
    assert "/u/" in foreign["final_text"] and "STOP au" not in foreign["final_text"]
    assert (foreign["segments"], foreign["cost"]) == (2, 2)
    assert service.dispatcher.requests[-1].unsubscribe_url in foreign["final_text"]

    evidence = (await http.get(f"/v1/evidence/{PHONE}", headers=headers)).json()
    assert [(m["purpose"], m["decision"]["outcome"]) for m in evidence["messages"]] == [("unit", "sent")]


async def test_sends_are_rate_limited_per_account(service):
    _, headers = await service.account(credits=100)
    _, other = await service.account(credits=100)
    original = service.runtime.send_limiter
    service.runtime.send_limiter = RateLimiter(rate=0.01, burst=2)
    try:
        body = {"phone": PHONE, "kind": "informative", "text": "Code 1234"}
        statuses = [(await service.http.post("/v1/messages", headers=headers, json=body)).status_code for _ in range(3)]
        assert statuses == [201, 201, 429]
        limited = await service.http.post("/v1/messages", headers=headers, json=body)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # Another account has its own bucket.
        assert (await service.http.post("/v1/messages", headers=other, json=body)).status_code == 201
    finally:
        service.runtime.send_limiter = original


async def test_billing_events_debit_once_and_only_confirmations_overdraw(service):
    account_id, headers = await service.account(credits=1)
    first = charge(account_id)
    envelope = await service.publish(first, key=account_id)
    await service.publish(first, key=account_id, event_id=envelope.id)  # redelivered
    await service.publish(first, key=account_id)  # republished under another event id: same charge
    second = charge(account_id)
    await service.publish(second, key=account_id)
    state = await eventually(lambda: balance(service, headers), lambda b: b["credits"] == -1, what="debited twice")
    assert (state["available"], state["debt"]) == (0, 1)
    # A CONTACT reply cannot overdraw: with nothing left, it is waived.
    await service.publish(charge(account_id, "contact_reply"), key=account_id)
    marker = charge(account_id)
    await service.publish(marker, key=account_id)  # processed after the reply (same partition)
    await eventually(lambda: balance(service, headers), lambda b: b["credits"] == -2, what="marker charged")
    ledger = (await service.http.get("/v1/ledger", headers=headers)).json()
    assert [m["kind"] for m in ledger["movements"]] == [
        "optout_confirmation",
        "optout_confirmation",
        "optout_confirmation",
        "topup",
    ]
    assert all(m["event_id"] and m["cause"].startswith("optout_confirmation:") for m in ledger["movements"][:3])
    # A unit send is refused while there is a debt; a top-up settles the debt first.
    refused = await service.http.post(
        "/v1/messages", headers=headers, json={"phone": PHONE, "kind": "informative", "text": "Code"}
    )
    assert refused.json()["error"]["code"] == "insufficient_credits"
    topped = (
        await service.http.post(
            f"/v1/accounts/{account_id}/credits", headers=ADMIN, json={"amount": 5, "reason": "invoice"}
        )
    ).json()
    assert (topped["credits"], topped["debt"]) == (3, 0)
    assert "settles a debt of 2" in topped["movement"]["note"]


async def test_optouts_reported_by_the_account_and_optins_from_the_bus(service):
    http = service.http
    account_id, headers = await service.account()
    await service.contact(headers, PHONE, first_name="Léa", tags=["vip"])
    reported = await http.post("/v1/optouts", headers=headers, json={"phone": "06 12 34 56 78"})
    assert reported.status_code == 202, reported.text
    assert service.suppression.reported == [{"account_id": account_id, "phone": PHONE, "channel": "api"}]
    service.suppression.available = False
    down = await http.post("/v1/optouts", headers=headers, json={"phone": PHONE, "channel": "api"})
    assert (down.status_code, down.json()["error"]["code"]) == (503, "suppression_unavailable")
    assert (await http.post("/v1/optouts", headers=headers, json={"phone": PHONE, "channel": "sms"})).status_code == 422
    service.suppression.available = True
    assert (await http.get(f"/v1/optouts/{PHONE}", headers=headers)).status_code == 404

    now = datetime.now(UTC)
    await service.publish(
        OptoutRecorded(
            optout_id="o-api",
            account_id=account_id,
            phone=PHONE,
            channel="api",
            received_at=now,
            recorded_at=now,
            confirmation_due=False,
            source_event_id="e-1",
            sequence=1,
        ),
        key=PHONE,
    )
    await eventually(
        lambda: http.get(f"/v1/contacts/{PHONE}", headers=headers),
        lambda r: r.status_code == 404,
        what="contact erased",
    )
    # The confirmation SMS the notifier sent is part of the number's evidence.
    await service.publish(
        SmsOutbound(
            message_id="m-conf",
            account_id=account_id,
            purpose="optout_confirmation",
            phone=PHONE,
            sender="36111",
            text="Votre désinscription est enregistrée.",
            kind="informative",
            encoding="UCS-2",
            segments=1,
            carrier="sim",
            submitted_at=now,
        ),
        key=PHONE,
    )
    # START: the number comes back with the reply as its consent.
    await service.publish(
        OptinRecorded(
            optin_id="i-1",
            account_id=account_id,
            phone=PHONE,
            channel="sms",
            proof="START",
            received_at=now,
            recorded_at=now,
            source_event_id="e-2",
            sequence=2,
        ),
        key=PHONE,
    )
    contact = (
        await eventually(
            lambda: http.get(f"/v1/contacts/{PHONE}", headers=headers),
            lambda r: r.status_code == 200,
            what="contact back",
        )
    ).json()
    assert (contact["consent"]["basis"], contact["consent"]["wording"], contact["tags"]) == ("opt_in", "START", [])
    evidence = await eventually(
        lambda: http.get(f"/v1/evidence/{PHONE}", headers=headers),
        lambda r: r.json()["messages"],
        what="confirmation in evidence",
    )
    evidence = evidence.json()
    assert evidence["suppressed"] is False
    assert [o["channel"] for o in evidence["optouts"]] == ["api"]
    assert [i["proof"] for i in evidence["optins"]] == ["START"]
    assert [e["reason"] for e in evidence["erasures"]] == ["optout"]
    assert [m["purpose"] for m in evidence["messages"]] == ["optout_confirmation"]
    # An opt-out older than the opt-in, arriving late, does not suppress the number again.
    await service.publish(
        OptoutRecorded(
            optout_id="o-old",
            account_id=account_id,
            phone=PHONE,
            channel="web",
            received_at=now,
            recorded_at=now,
            confirmation_due=False,
            source_event_id="e-0",
            sequence=1,
        ),
        key=PHONE,
    )
    await eventually(
        lambda: http.get(f"/v1/optouts/{PHONE}", headers=headers),
        lambda r: r.status_code == 200 and len(r.json()["optouts"]) == 2,
        what="late opt-out recorded",
    )
    assert (await http.put(f"/v1/contacts/{PHONE}", headers=headers, json={"consent": CONSENT})).status_code == 200
