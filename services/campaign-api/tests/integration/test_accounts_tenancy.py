"""Accounts and API keys (operator), tenancy and body strictness, through the real app."""

from __future__ import annotations

import hashlib

import pytest

from .conftest import ADMIN, CONSENT, eventually, outbox_drained, read_topic

pytestmark = pytest.mark.integration

PHONE = "+33612345678"


async def test_operator_manages_accounts_keys_and_announces_them(service):
    http = service.http
    # Only the operator creates accounts.
    refused = await http.post(
        "/v1/accounts", json={"name": "X", "short_code": "36111", "mode": "marketing", "contact_info": "x"}
    )
    assert refused.status_code == 401
    created = await http.post(
        "/v1/accounts",
        headers=ADMIN,
        json={
            "name": "Boulangerie  Dupont",
            "short_codes": ["36111", "38222"],
            "mode": "marketing",
            "contact_info": "01 23 45 67 89",
            "hours_profile": "af2m-2024",
            "window_end": "21:00",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    account_id, key = body["id"], body["api_key"]
    assert key.startswith("hk_live_") and len(key) == 40
    assert (body["name"], body["short_codes"], body["credits"]) == ("Boulangerie Dupont", ["36111", "38222"], 0)
    # Stored hashed: the key itself is nowhere in the database.
    stored = await service.sql("SELECT key_hash, prefix FROM api_keys WHERE account_id = :a", a=account_id)
    assert [r.key_hash for r in stored] == [hashlib.sha256(key.encode()).hexdigest()]
    assert key not in str(await service.sql("SELECT * FROM api_keys"))
    headers = {"Authorization": f"Bearer {key}"}
    assert (await http.get("/v1/account", headers=headers)).json()["id"] == account_id
    # An account key is not the operator's.
    assert (
        await http.post(f"/v1/accounts/{account_id}/credits", headers=headers, json={"amount": 5, "reason": "x"})
    ).status_code == 401

    # Several keys; a revoked one stops working at once, the other goes on.
    second = (await http.post(f"/v1/accounts/{account_id}/api-keys", headers=ADMIN, json={"label": "crm"})).json()
    listed = (await http.get(f"/v1/accounts/{account_id}/api-keys", headers=ADMIN)).json()["items"]
    assert len(listed) == 2 and all("api_key" not in k for k in listed)
    revoked = await http.delete(f"/v1/accounts/{account_id}/api-keys/{second['key_id']}", headers=ADMIN)
    assert revoked.status_code == 204
    assert (await http.get("/v1/account", headers={"Authorization": f"Bearer {second['api_key']}"})).status_code == 401
    assert (await http.get("/v1/account", headers=headers)).status_code == 200
    missing = await http.delete(f"/v1/accounts/{account_id}/api-keys/nope", headers=ADMIN)
    assert missing.status_code == 404

    # Narrowing the window is allowed, widening it beyond the profile is not.
    narrowed = await http.patch(
        f"/v1/accounts/{account_id}", headers=ADMIN, json={"window_start": "09:00", "allow_resubscribe": True}
    )
    assert narrowed.status_code == 200, narrowed.text
    assert (narrowed.json()["window_start"], narrowed.json()["window_end"]) == ("09:00", "21:00")
    wider = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"hours_profile": "strict"})
    assert wider.status_code == 422
    assert wider.json()["error"]["code"] == "window_wider_than_profile"
    assert wider.json()["error"]["field"] == "window_end"
    only_38 = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json={"short_codes": ["38222"]})
    assert only_38.json()["error"]["code"] == "no_marketing_short_code"
    bad_code = await http.post(
        "/v1/accounts",
        headers=ADMIN,
        json={"name": "Y", "short_code": "3611", "mode": "marketing", "contact_info": "y"},
    )
    assert (bad_code.status_code, bad_code.json()["error"]["code"]) == (422, "invalid_short_code")

    # Each creation and change is announced for the services that need the short codes.
    await outbox_drained(service)
    events = [e for e in await read_topic(service.settings, "account.changed") if e.payload["account_id"] == account_id]
    assert [e.payload["window_start"] for e in events] == [None, "09:00"]
    assert events[-1].payload["short_codes"] == ["36111", "38222"]
    assert events[-1].payload["allow_resubscribe"] is True
    assert events[-1].payload["hours_profile"] == "af2m-2024"


async def test_another_accounts_key_gets_404_on_every_id_of_this_account(service):
    http = service.http
    _, owner = await service.account()
    _, other = await service.account(short_code="36222")
    await service.contact(owner, PHONE, first_name="Léa")
    campaign = (
        await http.post(
            "/v1/campaigns", headers=owner, json={"name": "Soldes", "kind": "marketing", "text": "Soldes -20%"}
        )
    ).json()
    job = await http.post(
        "/v1/contacts/import",
        headers={**owner, "Content-Type": "text/csv"},
        content=b"phone,consent_basis\n0612345679,none\nnot-a-number,none\n",
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    await eventually(
        lambda: http.get(f"/v1/contacts/imports/{job_id}", headers=owner),
        lambda r: r.json()["status"] == "completed",
        what="import done",
    )

    cid = campaign["id"]
    for method, path in [
        ("GET", f"/v1/contacts/{PHONE}"),
        ("DELETE", f"/v1/contacts/{PHONE}"),
        ("GET", f"/v1/campaigns/{cid}"),
        ("GET", f"/v1/campaigns/{cid}/preview"),
        ("POST", f"/v1/campaigns/{cid}/launch"),
        ("POST", f"/v1/campaigns/{cid}/cancel"),
        ("GET", f"/v1/campaigns/{cid}/recipients"),
        ("GET", f"/v1/contacts/imports/{job_id}"),
        ("GET", f"/v1/contacts/imports/{job_id}/errors.csv"),
        ("GET", f"/v1/optouts/{PHONE}"),
    ]:
        response = await http.request(method, path, headers=other)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    # The owner still has everything, untouched.
    assert (await http.get(f"/v1/contacts/{PHONE}", headers=owner)).status_code == 200
    assert (await http.get(f"/v1/campaigns/{cid}", headers=owner)).json()["status"] == "draft"
    errors = await http.get(f"/v1/contacts/imports/{job_id}/errors.csv", headers=owner)
    assert errors.status_code == 200 and "invalid_number" in errors.text
    # Lists and the ledger are the caller's own: nothing of the owner shows.
    assert (await http.get("/v1/contacts", headers=other)).json()["items"] == []
    other_ledger = (await http.get("/v1/ledger", headers=other)).json()
    owner_ledger = (await http.get("/v1/ledger", headers=owner)).json()
    assert {m["id"] for m in other_ledger["movements"]}.isdisjoint({m["id"] for m in owner_ledger["movements"]})
    evidence = (await http.get(f"/v1/evidence/{PHONE}", headers=other)).json()
    assert evidence["contact"] is None and evidence["messages"] == []
    # Without a key, nothing.
    assert (await http.get(f"/v1/contacts/{PHONE}")).status_code == 401
    assert (
        await http.get(f"/v1/contacts/{PHONE}", headers={"Authorization": "Bearer hk_live_" + "x" * 32})
    ).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", f"/v1/contacts/{PHONE}", {"consent": CONSENT, "account_id": "other"}, "account_id"),
        ("PUT", f"/v1/contacts/{PHONE}", {"consent": {**CONSENT, "status": "x"}}, "consent.status"),
        ("PUT", f"/v1/contacts/{PHONE}", {"consent": CONSENT, "phone": "+33700000000"}, "phone"),
        ("POST", "/v1/campaigns", {"name": "n", "kind": "informative", "text": "t", "status": "running"}, "status"),
        ("POST", "/v1/campaigns", {"name": "n", "kind": "informative", "text": "t", "account_id": "x"}, "account_id"),
        ("POST", "/v1/messages", {"phone": PHONE, "kind": "informative", "text": "t", "credits": 0}, "credits"),
        ("POST", "/v1/optouts", {"phone": PHONE, "channel": "api", "account_id": "x"}, "account_id"),
    ],
)
async def test_unknown_fields_are_refused_and_change_nothing(service, method, path, body, field):
    account_id, headers = await service.account()
    response = await service.http.request(method, path, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {
        "code": "unknown_field",
        "message": response.json()["error"]["message"],
        "field": field,
    }
    for table in ("contacts", "campaigns", "recipients"):
        assert await service.scalar(f"SELECT count(*) FROM {table} WHERE account_id = :a", a=account_id) == 0
    assert service.suppression.reported == []
    assert (await service.http.get("/v1/account", headers=headers)).json()["credits"] == 1000


async def test_operator_bodies_refuse_tenant_and_balance_fields(service):
    account_id, headers = await service.account(credits=10)
    http = service.http
    for body in ({"balance": 10**6}, {"credits": 5}, {"id": "other"}, {"api_key": "x"}):
        response = await http.patch(f"/v1/accounts/{account_id}", headers=ADMIN, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_field"), body
    for amount in ("10", 1.5, True, 0, -3):
        response = await http.post(
            f"/v1/accounts/{account_id}/credits", headers=ADMIN, json={"amount": amount, "reason": "x"}
        )
        assert response.status_code == 422, (amount, response.text)
    top = await http.post(
        f"/v1/accounts/{account_id}/credits", headers=ADMIN, json={"amount": 5, "reason": "x", "account_id": "other"}
    )
    assert top.json()["error"]["code"] == "unknown_field"
    assert (await http.get("/v1/account", headers=headers)).json()["credits"] == 10
    # A top-up reference makes a retried top-up harmless.
    first = await http.post(
        f"/v1/accounts/{account_id}/credits",
        headers=ADMIN,
        json={"amount": 5, "reason": "invoice 42", "reference": "inv-42"},
    )
    again = await http.post(
        f"/v1/accounts/{account_id}/credits",
        headers=ADMIN,
        json={"amount": 5, "reason": "invoice 42", "reference": "inv-42"},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["credits"] == 15
