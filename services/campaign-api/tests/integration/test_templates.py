"""Informative templates through the real app: declaring, the operator's review, tenancy, enforcement."""

from __future__ import annotations

import pytest

from .conftest import ADMIN

pytestmark = pytest.mark.integration

PHONE = "+33612345678"
RDV = "Bonjour {first_name}, votre rendez-vous du {date} à {heure} est confirmé."
RDV_TEXT = "Bonjour Léa, votre rendez-vous du 12/03 à 10h30 est confirmé."


def error(response) -> tuple[int, str, str | None]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["field"]


async def declare(service, headers, *, name: str = "Rappel RDV", text: str = RDV):
    return await service.http.post("/v1/templates", headers=headers, json={"name": name, "text": text})


async def test_templates_are_declared_listed_reviewed_and_retired_within_their_account(service):
    http = service.http
    account_id, headers = await service.account(mode="notification", short_code="38111")
    _, other = await service.account()

    created = await declare(service, headers)
    assert created.status_code == 201, created.text
    template = created.json()
    tid = template["id"]
    assert (template["state"], template["name"], template["text"]) == ("pending", "Rappel RDV", RDV)
    assert (template["placeholders"], template["account_id"], template["review_note"]) == (
        ["first_name", "date", "heure"],
        account_id,
        None,
    )
    assert template["detector_version"]

    # Refusals: each names its rule and field, and nothing is stored.
    promotional = await declare(service, headers, name="Promo", text="SOLDES : -50% sur tout, {first_name} !")
    assert error(promotional) == (422, "promotional_content", "text")
    assert "discount" in promotional.json()["error"]["message"]
    assert "'-50%'" in promotional.json()["error"]["message"]
    cases = [
        ({"name": "Rappel RDV", "text": "Votre colis {numero} est parti."}, 409, "duplicate_template", "name"),
        ({"name": "x" * 101, "text": "Votre colis {numero} est parti."}, 422, "too_long", "name"),
        ({"name": "Colis", "text": "Votre colis {n} est parti." + "." * 1000}, 422, "too_long", "text"),
        ({"name": "Colis", "text": "Votre colis\u0007 {n} est parti."}, 422, "invalid_character", "text"),
        ({"name": "Colis\n", "text": "Votre colis {n} est parti."}, 422, "invalid_character", "name"),
        (
            {"name": "Colis", "text": "Colis " + " - ".join(f"{{v{i}}}" for i in range(11))},
            422,
            "too_many_placeholders",
            "text",
        ),
        ({"name": "Colis", "text": "{a} - {b}"}, 422, "template_too_generic", "text"),
        ({"name": "Colis", "text": "Votre colis est parti.", "state": "approved"}, 422, "unknown_field", "state"),
    ]
    for body, status, code, field in cases:
        response = await http.post("/v1/templates", headers=headers, json=body)
        assert error(response) == (status, code, field), body
    assert (await http.post("/v1/templates", json={"name": "n", "text": RDV})).status_code == 401

    # The account sees its own templates; the other account sees none of them.
    listed = (await http.get("/v1/templates", headers=headers)).json()
    assert [t["id"] for t in listed["items"]] == [tid]
    assert (listed["informative_templates"], listed["counts"]["pending"], listed["max_templates"]) == ("off", 1, 200)
    assert (await http.get(f"/v1/templates/{tid}", headers=headers)).json()["text"] == RDV
    assert (await http.get("/v1/templates", headers=other)).json()["items"] == []
    for method in ("GET", "DELETE"):
        response = await http.request(method, f"/v1/templates/{tid}", headers=other)
        assert error(response) == (404, "not_found", "id"), method
    assert error(await http.get("/v1/templates/not-an-id", headers=headers)) == (404, "not_found", "id")
    assert error(await http.get("/v1/templates?state=weird", headers=headers)) == (422, "invalid_filter", "state")

    # The operator's queue spans accounts; only the operator token reaches it.
    queue = await http.get(f"/v1/operator/templates?state=pending&account_id={account_id}", headers=ADMIN)
    assert [(t["id"], t["account_name"]) for t in queue.json()["items"]] == [(tid, "Boulangerie Dupont")]
    assert tid in [
        t["id"] for t in (await http.get("/v1/operator/templates?state=pending", headers=ADMIN)).json()["items"]
    ]
    for path in ("/v1/operator/templates", f"/v1/operator/templates/{tid}"):
        assert (await http.get(path, headers=headers)).status_code == 401
    assert (await http.post(f"/v1/operator/templates/{tid}/approve", headers=headers)).status_code == 401

    # Review: a rejection needs a note the account reads; approval may follow.
    no_note = await http.post(f"/v1/operator/templates/{tid}/reject", headers=ADMIN, json={})
    assert error(no_note) == (422, "missing_field", "note")
    rejected = await http.post(
        f"/v1/operator/templates/{tid}/reject", headers=ADMIN, json={"note": "Précisez  l'objet."}
    )
    assert (rejected.status_code, rejected.json()["state"], rejected.json()["review_note"]) == (
        200,
        "rejected",
        "Précisez l'objet.",
    )
    assert (await http.get(f"/v1/templates/{tid}", headers=headers)).json()["review_note"] == "Précisez l'objet."
    approved = await http.post(f"/v1/operator/templates/{tid}/approve", headers=ADMIN)
    assert (approved.status_code, approved.json()["state"]) == (200, "approved")
    assert approved.json()["reviewed_at"] is not None
    again = await http.post(f"/v1/operator/templates/{tid}/approve", headers=ADMIN, json={"note": "ok"})
    assert (again.status_code, again.json()["state"], again.json()["reviewed_at"]) == (
        200,
        "approved",
        approved.json()["reviewed_at"],
    )
    pending = (await http.get(f"/v1/operator/templates?state=pending&account_id={account_id}", headers=ADMIN)).json()
    assert pending["items"] == []
    missing = await http.post("/v1/operator/templates/00000000-0000-4000-8000-000000000000/approve", headers=ADMIN)
    assert error(missing) == (404, "not_found", "id")

    # Retiring keeps the history; a retired template is not reviewed again, and its name is free.
    assert (await http.delete(f"/v1/templates/{tid}", headers=headers)).status_code == 204
    retired = (await http.get(f"/v1/templates/{tid}", headers=headers)).json()
    assert (retired["state"], retired["retired_at"] is not None) == ("retired", True)
    assert (await http.delete(f"/v1/templates/{tid}", headers=headers)).status_code == 204
    assert error(await http.post(f"/v1/operator/templates/{tid}/approve", headers=ADMIN)) == (
        409,
        "invalid_status",
        "state",
    )
    assert (await declare(service, headers)).status_code == 201
    listed = (await http.get("/v1/templates", headers=headers)).json()
    assert [t["state"] for t in listed["items"]] == ["pending", "retired"]
    assert [t["state"] for t in (await http.get("/v1/templates?state=retired", headers=headers)).json()["items"]] == [
        "retired"
    ]
    page = (await http.get("/v1/templates?limit=1", headers=headers)).json()
    rest = (await http.get(f"/v1/templates?limit=1&cursor={page['next_cursor']}", headers=headers)).json()
    assert [t["state"] for t in page["items"] + rest["items"]] == ["pending", "retired"]
    assert rest["next_cursor"] is None


async def test_the_operator_requirement_is_enforced_on_unit_sends_and_campaigns(service):
    http = service.http
    account_id, headers = await service.account(mode="notification", short_code="38111")
    other_id, other = await service.account(mode="notification", short_code="38222")
    await service.contact(headers, PHONE, first_name="Léa")

    # The operator sets the requirement on the account (PATCH), which shows it.
    for value in ("sometimes", None):
        refused = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"informative_templates": value})
        assert error(refused) == (422, "invalid_informative_templates", "informative_templates"), value
    assert (await http.get("/v1/account", headers=headers)).json()["informative_templates"] == "off"
    patched = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"informative_templates": "approved"})
    assert (patched.status_code, patched.json()["informative_templates"]) == (200, "approved")
    assert (await http.get("/v1/account", headers=headers)).json()["informative_templates"] == "approved"
    assert (await http.get(f"/v1/accounts/{account_id}", headers=ADMIN)).json()["informative_templates"] == "approved"
    assert (await http.patch(f"/v1/accounts/{account_id}", headers=headers, json={})).status_code == 401

    tid = (await declare(service, headers)).json()["id"]
    credits = (await http.get("/v1/account", headers=headers)).json()["credits"]
    message = {"phone": PHONE, "kind": "informative", "text": RDV_TEXT}

    # Pending: the text matches a template the operator has not approved.
    held = await http.post("/v1/messages", headers=headers, json=message)
    assert error(held) == (422, "informative_template_required", "text")
    assert "awaits the operator's approval" in held.json()["error"]["message"]
    assert "1 template" in held.json()["error"]["message"]
    assert service.dispatcher.requests == []
    assert (await http.get("/v1/account", headers=headers)).json()["credits"] == credits

    # Approved: the same send is accepted and decided by the dispatcher.
    assert (await http.post(f"/v1/operator/templates/{tid}/approve", headers=ADMIN)).status_code == 200
    sent = await http.post("/v1/messages", headers=headers, json=message)
    assert sent.status_code == 201, sent.text
    assert (sent.json()["decision"], sent.json()["final_text"]) == ("send", RDV_TEXT)
    [request] = service.dispatcher.requests
    assert (request.kind, request.text) == ("informative", RDV_TEXT)
    # The account's personalisation placeholder stands where the template has one.
    personal = await http.post(
        "/v1/messages",
        headers=headers,
        json={**message, "text": "Bonjour {first_name}, votre rendez-vous du 12/03 à 10h30 est confirmé."},
    )
    assert (personal.status_code, personal.json()["final_text"]) == (201, RDV_TEXT)

    # A text no template vouches for, or a value holding a line break, is refused.
    for text in (
        "Votre colis est arrivé en point relais.",
        "Bonjour Léa, votre rendez-vous du 12/03\nvendredi à 10h30 est confirmé.",
        "Bonjour Léa, votre rendez-vous du 12/03 à 10h30 est confirmé. Bonus !",
    ):
        response = await http.post("/v1/messages", headers=headers, json={**message, "text": text})
        assert error(response) == (422, "informative_template_required", "text"), text
        assert "Declare its wording with POST /v1/templates" in response.json()["error"]["message"]
    assert len(service.dispatcher.requests) == 2

    # Tenancy: another account with the same requirement cannot use this account's template.
    await http.patch(f"/v1/accounts/{other_id}", headers=ADMIN, json={"informative_templates": "approved"})
    foreign = await http.post("/v1/messages", headers=other, json=message)
    assert error(foreign) == (422, "informative_template_required", "text")
    assert "0 templates" in foreign.json()["error"]["message"]
    # "declared": a pending template of its own suffices.
    await http.patch(f"/v1/accounts/{other_id}", headers=ADMIN, json={"informative_templates": "declared"})
    assert (await declare(service, other)).json()["state"] == "pending"
    assert (await http.post("/v1/messages", headers=other, json=message)).status_code == 201
    # "off": informative texts are left to the detector.
    await http.patch(f"/v1/accounts/{other_id}", headers=ADMIN, json={"informative_templates": "off"})
    free = {**message, "text": "Votre colis est arrivé en point relais."}
    assert (await http.post("/v1/messages", headers=other, json=free)).status_code == 201

    # Campaigns: the draft is checked, and the launch again (a template may have been retired since).
    draft = {"name": "Rappels", "kind": "informative", "audience": {"phones": [PHONE]}}
    refused = await http.post("/v1/campaigns", headers=headers, json={**draft, "text": "Votre colis est arrivé."})
    assert error(refused) == (422, "informative_template_required", "text")
    created = await http.post(
        "/v1/campaigns",
        headers=headers,
        json={**draft, "text": "Bonjour {first_name}, votre rendez-vous du 12/03 à 10h30 est confirmé."},
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert (await http.delete(f"/v1/templates/{tid}", headers=headers)).status_code == 204
    launch = await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert error(launch) == (422, "informative_template_required", "text")
    assert (await http.get(f"/v1/campaigns/{cid}", headers=headers)).json()["status"] == "draft"
    replacement = (await declare(service, headers, name="Rappel RDV v2")).json()["id"]
    await http.post(f"/v1/operator/templates/{replacement}/approve", headers=ADMIN)
    launched = await http.post(f"/v1/campaigns/{cid}/launch", headers=headers)
    assert launched.status_code == 202, launched.text
