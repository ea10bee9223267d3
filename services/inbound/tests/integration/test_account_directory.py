"""The short code -> accounts directory, learnt from account.changed on the real broker (or the operator sync)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from halte_inbound.handlers import on_account_changed
from halte_inbound.testing import Inbound, account, mo_body
from halte_shared.bus import Delivery
from halte_shared.events import envelope_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


async def test_account_changed_events_build_the_directory_in_order_of_change_once_each(inbound: Inbound):
    # The consumer's handler on the real database; the wire (account.changed through the
    # broker and the consumer group) is exercised end to end by test_kannel_e2e.py.
    newer = envelope_for(
        account("acc-1", short_codes=["36 111", "38123"], name="Boulangerie", changed_at=T0 + timedelta(hours=1)),
        producer="campaign-api",
        occurred_at=T0,
    )
    older = envelope_for(
        account("acc-1", short_codes=["36999"], name="Old name", changed_at=T0), producer="campaign-api", occurred_at=T0
    )
    # Newer first, then the older one late, then the newer one again (a redelivery).
    for offset, envelope in enumerate((newer, older, newer)):
        delivery = Delivery(topic="account.changed", partition=0, offset=offset, key="acc-1")
        await on_account_changed(inbound.runtime, envelope, envelope.typed(), delivery)

    assert await inbound.count("inbox") == 2
    [row] = await inbound.rows("SELECT account_id, name, short_codes, changed_at FROM accounts")
    assert (row.account_id, row.name, row.short_codes) == ("acc-1", "Boulangerie", ["36111", "38123"])
    assert row.changed_at == T0 + timedelta(hours=1)

    assert (await inbound.post_mo(mo_body("CONTACT", to="38123"))).status_code == 200
    [(_, contact)] = await inbound.read("contact.requested", expect=1, linger=0)
    assert (contact.account_id, contact.short_code) == ("acc-1", "38123")

    # An account that closes stops receiving CONTACT requests.
    closed = envelope_for(
        account("acc-1", short_codes=["38123"], active=False, changed_at=T0 + timedelta(hours=2)),
        producer="campaign-api",
        occurred_at=T0,
    )
    delivery = Delivery(topic="account.changed", partition=0, offset=3, key="acc-1")
    await on_account_changed(inbound.runtime, closed, closed.typed(), delivery)
    assert (await inbound.post_mo(mo_body("CONTACT", to="38123"))).status_code == 200
    [row] = await inbound.rows("SELECT unroutable FROM inbound_messages ORDER BY recorded_at DESC LIMIT 1")
    assert row.unroutable == "unknown_short_code"


async def test_the_operator_sync_applies_only_newer_states_and_needs_the_operator_token(inbound: Inbound):
    current = account("acc-1", short_codes=["36111"], name="Now", changed_at=T0 + timedelta(hours=1))
    stale = account("acc-1", short_codes=["36000"], name="Before", changed_at=T0)
    body = {"accounts": [current.model_dump(mode="json"), stale.model_dump(mode="json")]}

    refused = await inbound.client.post("/v1/accounts/sync", json=body)
    assert refused.status_code == 401
    headers = {"Authorization": "Bearer test-admin-token"}
    response = await inbound.client.post("/v1/accounts/sync", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "applied": 1}
    [row] = await inbound.rows("SELECT name, short_codes FROM accounts")
    assert (row.name, row.short_codes) == ("Now", ["36111"])

    invalid = await inbound.client.post("/v1/accounts/sync", json={"accounts": [{"account_id": "x"}]}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["error"]["field"].startswith("accounts.0.")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_id": "a" * 65}, "accounts.0.account_id"),
        ({"short_codes": ["3" * 40]}, "accounts.0.short_codes.0"),
        ({"name": "Shop\u0000"}, None),  # refused at the edge (halte_shared.web.JsonBodyGuard)
    ],
)
async def test_the_operator_sync_refuses_what_the_directory_cannot_hold(inbound: Inbound, change, field):
    state = account("acc-1", short_codes=["36111"]).model_dump(mode="json") | change
    headers = {"Authorization": "Bearer test-admin-token"}
    response = await inbound.client.post("/v1/accounts/sync", json={"accounts": [state]}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await inbound.count("accounts") == 0
