"""The notifier's HTTP API: operator-only, precise 4xx errors that change nothing."""

from __future__ import annotations

import pytest

from .conftest import ADMIN, Env, new_account_id

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/confirmations?account_id=a"),
        ("GET", "/v1/accounts/a/templates"),
        ("PUT", "/v1/accounts/a/templates/contact_reply/fr"),
        ("DELETE", "/v1/accounts/a/templates/contact_reply/fr"),
    ],
)
async def test_every_route_needs_the_operator_token(world: Env, method: str, path: str) -> None:
    async with world.http() as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-admin-token"}):
            response = await client.request(method, path, headers=headers, json={"text": "x"})
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({}, "missing_filter", "account_id"),
        ({"phone": "not a number"}, "invalid_number", "phone"),
        ({"phone": "+3361"}, "invalid_number", "phone"),
        ({"account_id": "a", "limit": "0"}, "invalid", "limit"),
        ({"account_id": "a", "limit": "many"}, "invalid", "limit"),
        ({"account_id": "x" * 65}, "invalid", "account_id"),
    ],
)
async def test_evidence_refuses_bad_filters(world: Env, params: dict, code: str, field: str) -> None:
    async with world.http() as client:
        response = await client.get("/v1/confirmations", params=params, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field


async def test_evidence_accepts_a_national_number_and_answers_in_e164(world: Env) -> None:
    async with world.http() as client:
        response = await client.get("/v1/confirmations", params={"phone": "06 12 34 56 78"}, headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["phone"] == "+33612345678"


async def test_templates_can_be_set_shown_and_removed(world: Env) -> None:
    account = new_account_id()
    path = f"/v1/accounts/{account}/templates/contact_reply/en"
    async with world.http() as client:
        shown = (await client.get(f"/v1/accounts/{account}/templates", headers=ADMIN)).json()
        assert {t["source"] for t in shown["templates"]} == {"default"}
        assert len(shown["templates"]) == 4

        response = await client.put(path, json={"text": "  {advertiser}, reach us at {contact}  "}, headers=ADMIN)
        assert response.status_code == 200
        mine = [t for t in response.json()["templates"] if t["source"] == "account"]
        assert [(t["purpose"], t["language"], t["text"]) for t in mine] == [
            ("contact_reply", "en", "{advertiser}, reach us at {contact}")
        ]

        assert (await client.delete(path, headers=ADMIN)).status_code == 200
        again = await client.delete(path, headers=ADMIN)
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("contact_reply/fr", {"text": "{advertizer}"}, "unknown_placeholder", "text"),
        ("contact_reply/fr", {"text": "{advertiser"}, "unbalanced_braces", "text"),
        ("contact_reply/fr", {"text": "   "}, "empty_template", "text"),
        ("contact_reply/fr", {"text": ""}, "invalid", "text"),
        ("contact_reply/fr", {"text": "ok", "extra": 1}, "unknown_field", "extra"),
        ("contact_reply/fr", {}, "invalid", "text"),
        ("contact_reply/de", {"text": "ok"}, "invalid", "language"),
        ("welcome/fr", {"text": "ok"}, "invalid", "purpose"),
    ],
)
async def test_bad_templates_are_refused_and_change_nothing(
    world: Env, path: str, body: dict, code: str, field: str
) -> None:
    account = new_account_id()
    async with world.http() as client:
        response = await client.put(f"/v1/accounts/{account}/templates/{path}", json=body, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["field"] == field
        shown = (await client.get(f"/v1/accounts/{account}/templates", headers=ADMIN)).json()
    assert {t["source"] for t in shown["templates"]} == {"default"}


async def test_a_body_that_is_not_json_is_refused(world: Env) -> None:
    async with world.http() as client:
        response = await client.put(
            "/v1/accounts/a/templates/contact_reply/fr",
            content=b"{not json",
            headers={**ADMIN, "Content-Type": "application/json"},
        )
    assert response.status_code == 422
    assert "error" in response.json()


async def test_an_account_id_with_odd_characters_is_refused(world: Env) -> None:
    async with world.http() as client:
        response = await client.get("/v1/accounts/a%20b/templates", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "account_id"
