"""Consent bases with teeth, through the real app: the operator's non-commercial flag, what a customer
bought, what a campaign or a unit send concerns, and the preview's consent groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import ADMIN, eventually, outbox_drained, read_topic

pytestmark = pytest.mark.integration

TEXT = "Bonjour {first_name}, -20% sur tout le magasin ce samedi"
COLLECTED = "2025-06-01T10:00:00+02:00"


def recent() -> str:
    return (datetime.now(UTC) - timedelta(days=30)).isoformat()


def customer(*categories: str) -> dict[str, object]:
    return {
        "basis": "customer",
        "collected_at": COLLECTED,
        "source": "caisse",
        "last_purchase_at": recent(),
        "purchase_categories": list(categories),
    }


B2B_PLUMBER = {"basis": "b2b", "collected_at": COLLECTED, "source": "salon", "profession": "Plombier"}
CHARITY = {"basis": "non_commercial", "collected_at": COLLECTED, "source": "don en ligne"}


async def test_only_the_operator_flags_an_account_non_commercial(service):
    http = service.http
    account_id, headers = await service.account()
    assert (await http.get("/v1/account", headers=headers)).json()["non_commercial"] is False
    # The account's own key cannot reach the operator's endpoints.
    refused = await http.patch(f"/v1/accounts/{account_id}", headers=headers, json={"non_commercial": True})
    assert refused.status_code == 401
    for value in (None, "yes", 1):
        bad = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"non_commercial": value})
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "non_commercial"), (value, bad.text)
    assert (await http.get(f"/v1/accounts/{account_id}", headers=ADMIN)).json()["non_commercial"] is False

    flagged = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"non_commercial": True})
    assert (flagged.status_code, flagged.json()["non_commercial"]) == (200, True)
    assert (await http.get("/v1/account", headers=headers)).json()["non_commercial"] is True
    charity_id, _ = await service.account(non_commercial=True)
    assert (await http.get(f"/v1/accounts/{charity_id}", headers=ADMIN)).json()["non_commercial"] is True
    bad_create = await http.post(
        "/v1/accounts",
        headers=ADMIN,
        json={"name": "X", "short_code": "36111", "mode": "marketing", "contact_info": "x", "non_commercial": "y"},
    )
    assert (bad_create.status_code, bad_create.json()["error"]["field"]) == (422, "non_commercial")

    await outbox_drained(service)
    events = [e for e in await read_topic(service.settings, "account.changed") if e.payload["account_id"] == account_id]
    assert [e.payload["non_commercial"] for e in events] == [False, True]


async def test_non_commercial_contacts_need_a_flagged_account(service):
    http = service.http
    account_id, headers = await service.account()
    refused = await http.put("/v1/contacts/0612345678", headers=headers, json={"consent": CHARITY})
    assert refused.status_code == 422, refused.text
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "non_commercial_not_allowed",
        "consent.basis",
    )
    assert await service.scalar("SELECT count(*) FROM contacts WHERE account_id = :a", a=account_id) == 0

    await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"non_commercial": True})
    created = await http.put("/v1/contacts/0612345678", headers=headers, json={"consent": CHARITY})
    assert created.status_code == 201, created.text
    assert (created.json()["marketing_allowed"], created.json()["marketing_refusal"]) == (True, None)
    # The operator lifts the flag: the record stays (it is the evidence), marketing stops.
    await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"non_commercial": False})
    contact = (await http.get("/v1/contacts/0612345678", headers=headers)).json()
    assert (contact["marketing_allowed"], contact["marketing_refusal"]) == (False, "non_commercial_not_allowed")
    assert "non-commercial" in contact["marketing_refusal_missing"]


async def test_customers_record_what_they_bought(service):
    http = service.http
    _, headers = await service.account()
    created = await http.put(
        "/v1/contacts/0612345601",
        headers=headers,
        json={"consent": customer(" Chaussures ", "chaussures", "Sacs")},
    )
    assert created.status_code == 201, created.text
    assert created.json()["consent"]["purchase_categories"] == ["Chaussures", "Sacs"]
    assert created.json()["marketing_allowed"] is True
    for categories, code in ((None, "missing_field"), ("chaussures", "invalid_type"), (["", " "], "invalid_label")):
        consent = {**customer(), "purchase_categories": categories}
        response = await http.put("/v1/contacts/0612345602", headers=headers, json={"consent": consent})
        assert response.status_code == 422, (categories, response.text)
        assert response.json()["error"]["field"] == "consent.purchase_categories"
        assert response.json()["error"]["code"] == code
    assert (await http.get("/v1/contacts/0612345602", headers=headers)).status_code == 404


async def test_campaigns_declare_what_they_concern_and_the_preview_counts_consent_as_the_dispatcher(service):
    http = service.http
    account_id, headers = await service.account(credits=100)
    await service.contact(headers, "0612345601", first_name="Léa", tags=["vip"])  # opt-in
    await http.put(
        "/v1/contacts/0612345602", headers=headers, json={"tags": ["vip"], "consent": customer("Chaussures")}
    )
    await http.put("/v1/contacts/0612345603", headers=headers, json={"tags": ["vip"], "consent": customer("Vélos")})
    await http.put("/v1/contacts/0612345604", headers=headers, json={"tags": ["vip"], "consent": B2B_PLUMBER})
    await http.put("/v1/contacts/0612345605", headers=headers, json={"tags": ["vip"], "consent": {"basis": "none"}})
    base = {"name": "Soldes", "kind": "marketing", "text": TEXT, "audience": {"tags": ["vip"]}}

    for extra, code, field in [
        ({"category": 3}, "invalid_type", "category"),
        ({"category": "x" * 101}, "too_long", "category"),
        ({"category": "!!"}, "invalid_label", "category"),
        ({"professions": "plombier"}, "invalid_type", "professions"),
        ({"professions": ["plombier", None]}, "invalid_type", "professions"),
        ({"professions": ["p"] * 51}, "too_many", "professions"),
    ]:
        response = await http.post("/v1/campaigns", headers=headers, json={**base, **extra})
        assert response.status_code == 422, (extra, response.text)
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert await service.scalar("SELECT count(*) FROM campaigns WHERE account_id = :a", a=account_id) == 0

    undeclared = (await http.post("/v1/campaigns", headers=headers, json=base)).json()
    assert (undeclared["category"], undeclared["professions"]) == (None, [])
    preview = (await http.get(f"/v1/campaigns/{undeclared['id']}/preview", headers=headers)).json()
    assert (preview["consent"]["allowed"], preview["consent"]["refused"]) == (
        1,
        {"b2b_profession_not_concerned": 1, "customer_category_not_bought": 2, "no_consent": 1},
    )

    draft = await http.post(
        "/v1/campaigns",
        headers=headers,
        json={**base, "category": " CHAUSSURES", "professions": ["plombier", "Chauffagiste", "PLOMBIER"]},
    )
    assert draft.status_code == 201, draft.text
    cid = draft.json()["id"]
    assert (draft.json()["category"], draft.json()["professions"]) == ("CHAUSSURES", ["plombier", "Chauffagiste"])
    preview = (await http.get(f"/v1/campaigns/{cid}/preview", headers=headers)).json()
    assert preview["recipients"] == 5
    assert (preview["consent"]["allowed"], preview["consent"]["refused"]) == (
        3,
        {"customer_category_not_bought": 1, "no_consent": 1},
    )

    launched = await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert launched.status_code == 202, launched.text
    await eventually(
        lambda: http.get(f"/v1/campaigns/{cid}", headers=headers),
        lambda r: r.json()["status"] == "dispatched",
        what="campaign streamed",
    )
    await outbox_drained(service)
    requested = {
        e.payload["phone"]: e.payload
        for e in await read_topic(service.settings, "dispatch.requested")
        if e.payload["campaign_id"] == cid
    }
    assert len(requested) == 5
    for payload in requested.values():
        assert (payload["category"], payload["professions"]) == ("CHAUSSURES", ["plombier", "Chauffagiste"])
        assert payload["account_non_commercial"] is False
    assert requested["+33612345602"]["consent"]["purchase_categories"] == ["Chaussures"]


async def test_unit_sends_carry_what_they_concern(service):
    http = service.http
    _, headers = await service.account()
    await http.put("/v1/contacts/0612345602", headers=headers, json={"consent": customer("Chaussures")})
    body = {"phone": "0612345602", "kind": "marketing", "text": "-20% sur les chaussures"}
    bad = await http.post("/v1/messages", headers=headers, json={**body, "professions": [7]})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "professions")
    assert service.dispatcher.requests == []
    assert (await http.get("/v1/account", headers=headers)).json()["credits"] == 1000

    sent = await http.post(
        "/v1/messages", headers=headers, json={**body, "category": "chaussures", "professions": ["avocat"]}
    )
    assert sent.status_code == 201, sent.text
    [request] = service.dispatcher.requests
    assert (request.category, request.professions, request.account_non_commercial) == ("chaussures", ["avocat"], False)
    assert request.consent is not None and request.consent.purchase_categories == ["Chaussures"]
