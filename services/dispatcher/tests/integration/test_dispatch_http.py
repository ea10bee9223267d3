"""The dispatcher's HTTP API on real PostgreSQL: the policy probe, service-to-service dispatch, errors.

Account API keys are checked by asking campaign-api ``GET /v1/account``; here a stand-in of that
one route (``campaign_api_stand_in``) answers, served in-process, since campaign-api is another
service. The blocklist is the real suppression service's feed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from sqlalchemy import text

from halte_dispatcher.adapters.account_keys import AccountKeyVerifier
from halte_dispatcher.adapters.repository import InboxEntry
from halte_dispatcher.bootstrap import DispatcherRuntime
from halte_dispatcher.entrypoints.http import create_app
from halte_dispatcher.testing import (
    ACCOUNT,
    TUESDAY_10,
    Inbound,
    Suppression,
    account_changed,
    build,
    dispatcher_settings,
    request,
)
from halte_shared.carriers.testing import RunningSimulator
from halte_shared.clock import AdjustableClock
from halte_shared.testing import Isolation, migrate

pytestmark = pytest.mark.integration
PARIS = ZoneInfo("Europe/Paris")
OPERATOR = {"Authorization": "Bearer test-admin-token"}
ACCOUNT_KEY = {"Authorization": "Bearer hk_live_dupont"}
SUNDAY_NOON = datetime(2026, 6, 14, 12, 0, tzinfo=PARIS).isoformat()
TUESDAY_NOON = datetime(2026, 6, 16, 12, 0, tzinfo=PARIS).isoformat()


def campaign_api_stand_in(calls: list[str]) -> FastAPI:
    """Answer campaign-api's GET /v1/account for one known key, 401 for any other."""
    app = FastAPI()

    @app.get("/v1/account")
    async def account(authorization: str = Header(default="")) -> JSONResponse:
        calls.append(authorization)
        if authorization == ACCOUNT_KEY["Authorization"]:
            return JSONResponse({"id": ACCOUNT, "name": "Maison Dupont", "credits": 10})
        return JSONResponse({"error": {"code": "unauthorized", "message": "bad key", "field": None}}, status_code=401)

    return app


@pytest.fixture
async def api(
    isolation: Isolation, simulator: RunningSimulator, suppression: Suppression, inbound: Inbound
) -> AsyncIterator[tuple[httpx.AsyncClient, DispatcherRuntime, list[str]]]:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    settings = dispatcher_settings(isolation, sim=simulator, suppression_url=suppression.url, inbound_url=inbound.url)
    calls: list[str] = []
    keys = AccountKeyVerifier(
        campaign_api_url="http://campaign-api.test", transport=httpx.ASGITransport(app=campaign_api_stand_in(calls))
    )
    clock = AdjustableClock()
    clock.set(TUESDAY_10)
    runtime = build(settings, clock=clock, account_keys=keys)
    await runtime.dispatcher.record_account(account_changed(), inbox=InboxEntry("account-1", "account.changed", 0, 0))
    await suppression.stop(account_id=ACCOUNT, number="+33611111111")
    await runtime.dispatcher.poll_feed_once()
    app = create_app(settings)
    app.state.runtime = runtime  # the routes need the database, not the consumer: no lifespan
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dispatcher.test") as client:
        yield client, runtime, calls
    await runtime.stop()


async def evaluate(client: httpx.AsyncClient, headers: dict[str, str] = OPERATOR, **body: Any) -> httpx.Response:
    return await client.post("/v1/policy/evaluate", json=body, headers=headers)


async def test_the_operator_probes_the_policy(api: tuple[httpx.AsyncClient, DispatcherRuntime, list[str]]) -> None:
    client, _, _ = api
    sunday = await evaluate(client, phone="06 12 34 56 78", kind="marketing", at=SUNDAY_NOON)
    assert sunday.status_code == 200
    assert sunday.json() == {
        "decision": "hold",
        "reason": "sunday",
        "next_window_start": datetime(2026, 6, 15, 8, 0, tzinfo=PARIS).isoformat(),
    }
    informative = await evaluate(client, phone="+33612345678", kind="informative", at=SUNDAY_NOON)
    assert informative.json() == {"decision": "send", "reason": "ok", "next_window_start": None}
    landline = await evaluate(client, phone="01 40 00 00 00", kind="informative", at=TUESDAY_NOON)
    assert landline.json()["reason"] == "not_mobile"
    alphanumeric = await evaluate(client, phone="0612345678", kind="marketing", at=TUESDAY_NOON, sender="DUPONT")
    assert (alphanumeric.json()["decision"], alphanumeric.json()["reason"]) == ("refuse", "alphanumeric_sender")
    alsace = await evaluate(
        client,
        phone="0612345678",
        kind="marketing",
        at=datetime(2026, 12, 26, 10, tzinfo=PARIS).isoformat(),
        postal_code="67000",
    )
    assert alsace.json()["reason"] == "public_holiday"


async def test_an_account_key_probes_with_its_own_settings_and_blocklist(
    api: tuple[httpx.AsyncClient, DispatcherRuntime, list[str]],
) -> None:
    client, _, calls = api
    suppressed = await evaluate(client, ACCOUNT_KEY, phone="0611111111", kind="marketing", at=TUESDAY_NOON)
    assert suppressed.json()["reason"] == "suppressed"
    other_code = await evaluate(
        client, ACCOUNT_KEY, phone="0612345678", kind="marketing", at=TUESDAY_NOON, sender="36222"
    )
    assert other_code.json()["reason"] == "unknown_short_code"
    fine = await evaluate(client, ACCOUNT_KEY, phone="0612345678", kind="marketing", at=TUESDAY_NOON, sender="36111")
    assert fine.json()["decision"] == "send"
    assert len(calls) == 1, "the key's answer is cached"
    other_tenant = await evaluate(
        client, ACCOUNT_KEY, phone="0612345678", kind="marketing", at=TUESDAY_NOON, account_id="acct-other"
    )
    assert other_tenant.status_code == 403
    assert other_tenant.json()["error"]["field"] == "account_id"


BAD_PROBES: list[tuple[dict[str, str], dict[str, Any], int, str, str | None]] = [
    ({}, {"phone": "0612345678", "kind": "marketing", "at": TUESDAY_NOON}, 401, "unauthorized", None),
    (
        {"Authorization": "Bearer not-a-key"},
        {"phone": "0612345678", "kind": "marketing", "at": TUESDAY_NOON},
        401,
        "unauthorized",
        None,
    ),
    (OPERATOR, {"phone": "12", "kind": "marketing", "at": TUESDAY_NOON}, 422, "invalid_number", "phone"),
    (OPERATOR, {"phone": "0612345678", "kind": "promo", "at": TUESDAY_NOON}, 422, "invalid", "kind"),
    (OPERATOR, {"phone": "0612345678", "kind": "marketing", "at": "2026-06-16T12:00:00"}, 422, "invalid", "at"),
    (
        OPERATOR,
        {"phone": "0612345678", "kind": "marketing", "at": "9999-12-31T23:59:59+00:00"},
        422,
        "invalid",
        "at",
    ),
    (OPERATOR, {"phone": "0612345678", "kind": "marketing"}, 422, "invalid", "at"),
    (
        OPERATOR,
        {"phone": "0612345678", "kind": "marketing", "at": TUESDAY_NOON, "text": "hi"},
        422,
        "unknown_field",
        "text",
    ),
    (
        OPERATOR,
        {"phone": "0612345678", "kind": "marketing", "at": TUESDAY_NOON, "postal_code": "<script>"},
        422,
        "invalid",
        "postal_code",
    ),
]


async def test_bad_probes_get_a_precise_4xx(api: tuple[httpx.AsyncClient, DispatcherRuntime, list[str]]) -> None:
    client, _, _ = api
    for headers, body, status, code, field in BAD_PROBES:
        response = await client.post("/v1/policy/evaluate", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field), body


async def test_dispatch_is_operator_only_idempotent_and_uses_the_consumer_path(
    api: tuple[httpx.AsyncClient, DispatcherRuntime, list[str]],
) -> None:
    client, runtime, _ = api
    unit = request("+33622222222", campaign_id=None, kind="informative")
    body = unit.model_dump(mode="json")
    assert (await client.post("/v1/dispatch", json=body)).status_code == 401
    assert (await client.post("/v1/dispatch", json=body, headers=ACCOUNT_KEY)).status_code == 401
    first = await client.post("/v1/dispatch", json=body, headers=OPERATOR)
    assert first.status_code == 200
    assert first.json() == {
        "request_id": unit.request_id,
        "decision": "send",
        "reason": "ok",
        "next_window_start": None,
    }
    again = await client.post("/v1/dispatch", json=body, headers=OPERATOR)
    assert again.json() == first.json()
    state = await client.get(f"/v1/dispatches/{unit.request_id}", headers=OPERATOR)
    assert (state.json()["state"], state.json()["decision"]) == ("sending", "send")
    assert (await client.get("/v1/dispatches/nope", headers=OPERATOR)).status_code == 404

    stopped = request("+33611111111", campaign_id="camp-http").model_dump(mode="json")
    refused = await client.post("/v1/dispatch", json=stopped, headers=OPERATOR)
    assert (refused.json()["decision"], refused.json()["reason"]) == ("refuse", "suppressed")

    bad_phone = await client.post("/v1/dispatch", json={**body, "phone": "0612"}, headers=OPERATOR)
    assert bad_phone.status_code == 422 and bad_phone.json()["error"]["field"] == "phone"
    extra = await client.post("/v1/dispatch", json={**body, "priority": 1}, headers=OPERATOR)
    assert extra.status_code == 422 and extra.json()["error"]["code"] == "unknown_field"
    async with runtime.sessions() as session:
        count = (await session.execute(text("SELECT count(*) FROM dispatches"))).scalar_one()
    assert count == 2, "refused bodies changed nothing"
