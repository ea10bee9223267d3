"""Delivery reports of replies: delivered, failed then retried with backoff, failed for good."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from halte_notifier import metrics
from halte_shared.events import SmsDelivery

from .conftest import ADMIN, Env, account_changed, eventually, french_mobile, new_account_id, optout

pytestmark = pytest.mark.integration


def report(sms: dict[str, Any], status: str, *, by: str = "carrier_id") -> SmsDelivery:
    return SmsDelivery(
        delivery_id=str(uuid.uuid4()),
        carrier="sim",
        carrier_message_id=sms["carrier_message_id"],
        message_id=sms["message_id"] if by == "message_id" else None,
        phone=sms["to"],
        status=status,
        received_at=datetime.now(UTC),
    )


async def confirm(world: Env) -> tuple[str, dict[str, Any]]:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account), key=account)
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    [sms] = await eventually(lambda: world.sent_to(phone))
    await eventually(lambda: world.scalar("SELECT state = 'submitted' FROM messages WHERE phone = :p", p=phone))
    return phone, sms


async def evidence(world: Env, phone: str) -> dict[str, Any]:
    async with world.http() as client:
        response = await client.get("/v1/confirmations", params={"phone": phone}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_delivered_report_settles_the_confirmation(world: Env) -> None:
    phone, sms = await confirm(world)
    await world.publish(report(sms, "delivered"), key=phone)
    await eventually(lambda: world.scalar("SELECT state = 'delivered' FROM messages WHERE phone = :p", p=phone))
    [item] = (await evidence(world, phone))["items"]
    assert item["delivery_status"] == "delivered" and item["delivered_at"]
    assert item["submissions"][0]["delivery_status"] == "delivered"


async def test_other_services_reports_are_ignored(world: Env) -> None:
    phone, ours = await confirm(world)
    stranger = {"carrier_message_id": f"sim-{uuid.uuid4().hex}", "message_id": str(uuid.uuid4()), "to": phone}
    strangers = [
        await world.publish(report(stranger, "failed", by="message_id"), key=phone),
        await world.publish(report(stranger, "failed"), key=phone),
    ]
    # Same key, same partition: once ours is handled, the strangers before it were too.
    await world.publish(report(ours, "delivered"), key=phone)
    await eventually(lambda: world.scalar("SELECT state = 'delivered' FROM messages WHERE phone = :p", p=phone))
    for event in strangers:
        # Most reports are campaign messages: not even an inbox row for them.
        assert not await world.scalar("SELECT count(*) FROM inbox WHERE event_id = :e", e=event.id)
    assert len(await world.sent_to(phone)) == 1


async def test_failed_confirmation_is_retried_then_failed_final_and_visible(world: Env) -> None:
    before = metrics.CONFIRMATIONS.labels("failed_final")._value.get()
    phone, first = await confirm(world)
    sent = [first]
    # Each try is accepted, then reported failed by the network: 3 tries, then failed_final.
    for n in range(2, 4):
        await world.publish(report(sent[-1], "failed", by="message_id" if n % 2 else "carrier_id"), key=phone)
        sent = await eventually(lambda n=n: _at_least(world, phone, n))
    assert len({m["message_id"] for m in sent}) == 3, "each retry is a new submission (the carrier dedupes ids)"
    assert len({m["text"] for m in sent}) == 1
    await world.publish(report(sent[-1], "expired"), key=phone)
    await eventually(lambda: world.scalar("SELECT state = 'failed_final' FROM messages WHERE phone = :p", p=phone))

    [item] = (await evidence(world, phone))["items"]
    assert item["state"] == "failed_final" and item["tries"] == 3
    assert "expired" in item["last_error"]
    assert [s["delivery_status"] for s in item["submissions"]] == ["failed", "failed", "expired"]
    assert item["charge"]["amount"] == 1, "still one charge for the one confirmation"
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 1
    assert metrics.CONFIRMATIONS.labels("failed_final")._value.get() - before == 1
    # A late report of an old try changes nothing.
    await world.publish(report(sent[0], "failed"), key=phone)
    assert len(await world.sent_to(phone)) == 3


async def test_a_late_delivered_report_of_an_earlier_try_settles_the_confirmation(world: Env) -> None:
    phone, sms = await confirm(world)
    await world.publish(report(sms, "failed"), key=phone)
    await eventually(lambda: _at_least(world, phone, 2))
    await world.publish(report(sms, "delivered"), key=phone)
    await eventually(lambda: world.scalar("SELECT state = 'delivered' FROM messages WHERE phone = :p", p=phone))


async def _at_least(world: Env, phone: str, count: int) -> list[dict[str, Any]] | None:
    sent = await world.sent_to(phone)
    return sent if len(sent) >= count else None
