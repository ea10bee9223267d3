"""The whole journey through a real Kannel gateway: import, launch at Saturday 19:58, STOP, Monday.

Everything goes through public interfaces: the operator and client HTTP APIs, the phones
of Kannel's fakesmsc (what they receive, what they reply), the services' test clock, and
the unsubscribe page in a real headless Chromium.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import scenario as sc
from harness import Api, Platform, wait_until
from invariants import check_all, gather, handset_messages, report

pytestmark = [pytest.mark.e2e, pytest.mark.kannel, pytest.mark.slow]

FINAL = {"sent", "delivered", "refused", "failed", "suppressed", "cancelled", "expired"}


def _outcome(row: dict[str, Any] | None) -> str | None:
    return None if row is None else row.get("outcome")


class Journey:
    """What the journey learnt on its way, for the checks that follow."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.saturday = sc.journey_saturday(datetime.now(sc.PARIS).date())
        self.launch = sc.launch_instant(self.saturday)
        self.account_id = ""
        self.client: Api
        self.campaign_id = ""
        self.final_text = ""
        self.preview: dict[str, Any] = {}
        self.import_report: Any = None
        self.stop_acknowledged: datetime | None = None
        self.before_monday: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def journey(kannel_platform: Platform) -> Iterator[Journey]:
    """Run the journey up to the STOP reply; the tests below check what it left behind."""
    platform = kannel_platform
    assert platform.kannel is not None
    j = Journey(platform)
    platform.set_clock(j.launch)

    # The operator opens the account with credits.
    j.account_id, key = platform.admin().create_account(
        name=sc.ADVERTISER, short_code=sc.SHORT_CODE, contact_info=sc.CONTACT_INFO, credits=100
    )
    j.client = platform.api(key)

    # A number the client already knows to have said STOP elsewhere.
    j.client.ok("POST", "/v1/optouts", json={"phone": sc.SUPPRESSED.written, "channel": "api"})
    wait_until(
        lambda: j.client.request("GET", f"/v1/optouts/{sc.SUPPRESSED.phone}").status_code == 200,
        timeout=20,
        what="the client's own opt-out to be recorded",
    )

    j.import_report = j.client.import_contacts(sc.import_rows(j.launch))
    yield j
    platform.reset_clock()


def _rows_of_report(report_body: Any) -> str:
    return str(report_body)


def test_import_refuses_the_invalid_and_the_suppressed_number(journey: Journey) -> None:
    text = _rows_of_report(journey.import_report)
    assert "invalid_number" in text, text
    assert "suppressed" in text, text
    assert journey.client.request("GET", f"/v1/contacts/{sc.SUPPRESSED.phone}").status_code == 404
    for person in (sc.OPT_IN, sc.RECENT, sc.OLD, sc.B2B, sc.NONE, sc.REUNION_OPT_IN, sc.BELGIAN):
        response = journey.client.request("GET", f"/v1/contacts/{person.phone}")
        assert response.status_code == 200, (person.key, response.text)
        assert response.json().get("phone") == person.phone


def test_preview_shows_the_final_text_with_stop_mention_and_cost(journey: Journey) -> None:
    j = journey
    j.campaign_id = j.client.create_campaign(
        name="Galettes",
        text=sc.CAMPAIGN_TEXT,
        audience={"tags": ["galettes"]},
        category=sc.CAMPAIGN_CATEGORY,
        professions=list(sc.CAMPAIGN_PROFESSIONS),
    )
    j.preview = j.client.ok("GET", f"/v1/campaigns/{j.campaign_id}/preview")
    body = str(j.preview)
    assert f"STOP au {sc.SHORT_CODE}" in body, body
    assert sc.ADVERTISER in body
    assert re.search(r"GSM-7|UCS-2", body), body
    assert "segments" in j.preview and "cost" in str(j.preview)
    final = j.preview.get("text") or j.preview.get("final_text") or ""
    assert sc.CAMPAIGN_TEXT in final and f"STOP au {sc.SHORT_CODE}" in final
    j.final_text = final


def test_launch_at_saturday_1958_sends_part_and_holds_the_rest_to_monday(journey: Journey) -> None:
    j = journey
    assert j.campaign_id, "the preview test creates the campaign"
    kannel = j.platform.kannel
    assert kannel is not None
    j.client.ok("POST", f"/v1/campaigns/{j.campaign_id}/launch")

    expected = {p.phone: p.expected for p in sc.CAST if p.expected in ("sent", "held", "refused")}

    def settled() -> dict[str, dict[str, Any]] | None:
        rows = j.client.by_phone(j.campaign_id)
        done = all(_outcome(rows.get(phone)) in (FINAL | {"held", "hold"}) for phone in expected)
        return rows if done and len(rows) >= len(expected) else None

    rows = wait_until(settled, timeout=60, what="every recipient to be decided")
    j.before_monday = rows
    assert sc.SUPPRESSED.phone not in rows or _outcome(rows[sc.SUPPRESSED.phone]) in ("refused", "suppressed")
    for person in sc.CAST:
        row = rows.get(person.phone)
        if person.expected == "sent":
            assert _outcome(row) in ("sent", "delivered"), (person.key, row)
        elif person.expected == "held":
            assert _outcome(row) in ("held", "hold"), (person.key, row)
            scheduled = datetime.fromisoformat(str(row["scheduled_for"]).replace("Z", "+00:00"))
            assert scheduled == sc.monday_opening(j.saturday, sc.REUNION), (person.key, row)
        elif person.expected == "refused":
            assert _outcome(row) == "refused", (person.key, row)
    assert rows[sc.OLD.phone].get("reason") == "customer_consent_expired", rows[sc.OLD.phone]
    assert rows[sc.NONE.phone].get("reason") == "no_consent", rows[sc.NONE.phone]

    # What the phones got: one SMS each for those sent, with the mention (or the link abroad).
    senders = [p for p in sc.CAST if p.expected == "sent"]
    for person in senders:
        got = kannel.wait_for(count=1, receiver=person.phone, timeout=30)
        assert len(got) == 1, (person.key, got)
        assert got[0].sender == sc.SHORT_CODE
        assert sc.CAMPAIGN_TEXT in got[0].text
        if person is sc.BELGIAN:
            assert "/u/" in got[0].text, got[0].text
        else:
            assert f"STOP au {sc.SHORT_CODE}" in got[0].text, got[0].text
    for person in sc.CAST:
        if person.expected in ("held", "refused", "suppressed"):
            assert kannel.messages_to(person.phone) == [], person.key


def test_a_stop_sms_through_kannel_unsubscribes_confirms_once_and_debits_once(journey: Journey) -> None:
    j = journey
    assert j.before_monday, "the launch test runs first"
    kannel = j.platform.kannel
    assert kannel is not None
    ledger_before = j.client.ok("GET", "/v1/ledger")
    kannel.send_mo(sender=sc.STOPPER.written.replace(" ", ""), to=sc.SHORT_CODE, text="Stop SMS")

    def enforced() -> dict[str, Any] | None:
        response = j.client.request("GET", f"/v1/optouts/{sc.STOPPER.phone}")
        return response.json() if response.status_code == 200 and response.json().get("enforced_at") else None

    optout = wait_until(enforced, timeout=30, what="the STOP to be enforced")
    j.stop_acknowledged = datetime.now(UTC)
    assert optout["channel"] == "sms" and optout["raw_text"] == "Stop SMS", optout

    # Gone from the address book, kept only on the suppression list.
    assert j.client.request("GET", f"/v1/contacts/{sc.STOPPER.phone}").status_code == 404

    confirmations = kannel.wait_for(count=1, receiver=sc.STOPPER.phone, timeout=30)
    assert len(confirmations) == 1, confirmations
    assert "désinscription" in confirmations[0].text and sc.ADVERTISER in confirmations[0].text
    assert confirmations[0].coding == "ucs-2" or all(ord(ch) < 0x2000 for ch in confirmations[0].text)

    # A repeated STOP costs nothing and sends nothing.
    kannel.send_mo(sender=sc.STOPPER.written.replace(" ", ""), to=sc.SHORT_CODE, text="STOP")

    def debits() -> list[dict[str, Any]] | None:
        movements = _movements(j.client.ok("GET", "/v1/ledger"))
        found = [m for m in movements if (m.get("kind") or m.get("reason")) == "optout_confirmation"]
        return found or None

    found = wait_until(debits, timeout=30, what="the confirmation to be debited")
    assert len(found) == 1 and abs(int(found[0]["amount"])) == 1, found
    assert len(_movements(ledger_before)) < len(_movements(j.client.ok("GET", "/v1/ledger")))
    # Let a would-be second confirmation arrive before counting.
    time.sleep(3)
    assert len(kannel.messages_to(sc.STOPPER.phone)) == 1, kannel.messages_to(sc.STOPPER.phone)
    found = [
        m
        for m in _movements(j.client.ok("GET", "/v1/ledger"))
        if (m.get("kind") or m.get("reason")) == "optout_confirmation"
    ]
    assert len(found) == 1, found


def test_a_contact_reply_gets_the_advertisers_identity(journey: Journey) -> None:
    kannel = journey.platform.kannel
    assert kannel is not None
    before = len(kannel.messages_to(sc.CONTACTER.phone))
    kannel.send_mo(sender=sc.CONTACTER.written.replace(" ", ""), to=sc.SHORT_CODE, text="contact")
    got = kannel.wait_for(count=before + 1, receiver=sc.CONTACTER.phone, timeout=30)
    assert len(got) == before + 1, got
    reply = got[-1]
    assert sc.ADVERTISER in reply.text and sc.CONTACT_INFO in reply.text, reply
    assert "STOP au" not in reply.text  # informative: no marketing mention


def test_on_monday_0800_the_held_sms_of_the_stopper_is_never_sent(journey: Journey) -> None:
    j = journey
    assert j.stop_acknowledged is not None, "the STOP test runs first"
    kannel = j.platform.kannel
    assert kannel is not None
    monday = sc.monday_opening(j.saturday, sc.REUNION)
    j.platform.set_clock(monday.astimezone(UTC))

    def released() -> dict[str, Any] | None:
        row = j.client.by_phone(j.campaign_id).get(sc.STOPPER.phone)
        return row if _outcome(row) in FINAL else None

    row = wait_until(released, timeout=30, what="the held message to be evaluated again on Monday")
    assert _outcome(row) in ("refused", "suppressed") and row.get("reason") == "suppressed", row
    marketing = [m for m in kannel.messages_to(sc.STOPPER.phone) if "STOP au" in m.text or sc.CAMPAIGN_TEXT in m.text]
    assert marketing == [], marketing


def test_the_evidence_endpoint_tells_the_whole_story(journey: Journey) -> None:
    j = journey
    evidence = j.client.ok("GET", f"/v1/evidence/{sc.STOPPER.phone}")
    dump = json.dumps(evidence, ensure_ascii=False, indent=1)
    assert evidence["phone"] == sc.STOPPER.phone and evidence.get("suppressed") is True, dump
    campaign_messages = [m for m in evidence["messages"] if m.get("campaign_id") == j.campaign_id]
    assert len(campaign_messages) == 1, dump
    message = campaign_messages[0]
    # The consent record as it stood when the message was requested (the contact itself is erased).
    consent = message.get("consent") or evidence.get("consent") or {}
    assert consent.get("basis") == "opt_in" and consent.get("source") == "boutique en ligne", dump
    # Held on Saturday to Monday 08:00 Réunion time, then refused on Monday because of the STOP.
    decision = message["decision"]
    assert (decision["outcome"], decision["reason"]) == ("refused", "suppressed"), dump
    # The whole story includes Saturday's hold to Monday 08:00: as a decision history, or as the
    # hold's scheduled_for kept beside the final decision.
    monday = sc.monday_opening(j.saturday, sc.REUNION)
    history = message.get("decisions") or []
    held = [d for d in history if d.get("outcome") in ("held", "hold") and d.get("scheduled_for")]
    scheduled = [d["scheduled_for"] for d in held] or [decision.get("scheduled_for")]
    assert any(s and _instant(s) == monday for s in scheduled), (
        "the evidence does not show that the message was held to Monday 08:00 before being refused:\n" + dump
    )
    assert message.get("sent_at") is None, dump
    (optout,) = evidence["optouts"]
    assert (optout["channel"], optout["raw_text"]) == ("sms", "Stop SMS"), dump
    assert optout.get("received_at") and optout.get("enforced_at"), dump
    assert any(e.get("contact_existed") for e in evidence.get("erasures", [])), dump


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_the_invariants_hold_after_the_journey(journey: Journey) -> None:
    j = journey
    kannel = j.platform.kannel
    assert kannel is not None and j.stop_acknowledged is not None
    audience = {p.phone for p in sc.CAST if p.expected in ("sent", "held", "refused")}
    with j.client.client() as client:
        facts = gather(
            client,
            account_id=j.account_id,
            short_code=sc.SHORT_CODE,
            campaigns={j.campaign_id: audience},
            campaign_texts={},
            marketing_markers=[sc.CAMPAIGN_TEXT],
            carrier_messages=handset_messages(kannel.messages()),
            new_optouts={sc.STOPPER.phone},
            acknowledged={sc.STOPPER.phone: j.stop_acknowledged},
        )
    violations = check_all(facts)
    assert violations == [], report(violations)


def test_the_unsubscribe_link_works_in_a_real_browser(journey: Journey, tmp_path: Any) -> None:
    from browser import Chromium, chromium_path

    if chromium_path() is None:
        pytest.skip("chromium is not installed (scripts/system-deps.sh installs it)")
    j = journey
    kannel = j.platform.kannel
    assert kannel is not None
    got = kannel.messages_to(sc.BELGIAN.phone)
    assert got, "the Belgian recipient got the campaign"
    match = re.search(r"https?://\S+/u/[A-Za-z0-9._~-]+", got[0].text)
    assert match, got[0].text
    link = match.group(0)
    with Chromium(tmp_path / "chromium") as browser:
        page = browser.open(link)
        before = page.text()
        assert sc.ADVERTISER in before or "désinscri" in before.lower() or "unsubscribe" in before.lower(), before
        page.submit_first_form()
        after = page.wait_for_text(lambda t: t != before, timeout=15)
    assert re.search(r"désinscri|unsubscribed|enregistr", after, re.I), after

    def recorded() -> dict[str, Any] | None:
        response = j.client.request("GET", f"/v1/optouts/{sc.BELGIAN.phone}")
        return response.json() if response.status_code == 200 else None

    optout = wait_until(recorded, timeout=30, what="the web opt-out to be recorded")
    assert optout["channel"] == "web", optout
    assert j.client.request("GET", f"/v1/contacts/{sc.BELGIAN.phone}").status_code == 404


def _movements(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for name in ("movements", "entries", "items"):
        if isinstance(body, dict) and isinstance(body.get(name), list):
            return list(body[name])
    raise AssertionError(f"unexpected ledger shape: {str(body)[:300]}")


def test_kannel_gateway_answers_on_loopback_only(kannel_platform: Platform) -> None:
    gateway = kannel_platform.kannel
    assert gateway is not None
    assert "sendsms-interface = 127.0.0.1" in gateway.config_text()
    assert httpx.get(gateway.sendsms_url, params={"username": "x", "password": "y"}, timeout=5).status_code in (
        401,
        403,
    )
