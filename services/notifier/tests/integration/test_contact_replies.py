"""CONTACT replies: once per request, billed like confirmations, throttled per number."""

from __future__ import annotations

import asyncio

import pytest

from halte_notifier import metrics

from .conftest import Env, account_changed, contact, eventually, french_mobile, new_account_id

pytestmark = pytest.mark.integration


def throttled_so_far() -> float:
    return metrics.CONFIRMATIONS.labels("throttled")._value.get()


async def test_contact_reply_names_the_advertiser_and_is_billed_once(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account, contact_info="01 23 45 67 89 ou bonjour@martin.fr"), key=account)
    first = await world.publish(contact(f"c-{phone}", account_id=account, phone=phone), key=phone)
    await world.publish(contact(f"c-{phone}", account_id=account, phone=phone), key=phone, envelope=first)
    await world.publish(contact(f"c-{phone}", account_id=account, phone=phone), key=phone)
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["text"] == "Boulangerie Martin : pour nous contacter, 01 23 45 67 89 ou bonjour@martin.fr"
    assert sms["kind"] == "informative" and "STOP" not in sms["text"]
    await asyncio.sleep(0.8)
    assert len(await world.sent_to(phone)) == 1
    charges = await world.rows("SELECT reason, amount, cause_event_id FROM charges WHERE phone = :p", p=phone)
    assert [tuple(c) for c in charges] == [("contact_reply", 1, f"c-{phone}")]


async def test_a_contact_flood_from_one_number_is_throttled(world: Env) -> None:
    account, phone, other = new_account_id(), french_mobile(), french_mobile()
    await world.publish(account_changed(account), key=account)
    before = throttled_so_far()
    for n in range(10):
        await world.publish(contact(f"flood-{phone}-{n}", account_id=account, phone=phone), key=phone)
    await world.publish(contact(f"c-{other}", account_id=account, phone=other), key=other)

    await eventually(
        lambda: world.scalar("SELECT count(*) = 10 FROM contact_requests WHERE phone = :p", p=phone), timeout=30
    )
    await eventually(lambda: world.sent_to(other))
    await asyncio.sleep(0.8)
    assert len(await world.sent_to(phone)) == 3, "at most 3 replies per number and account in 24 h"
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 3
    outcomes = await world.rows(
        "SELECT outcome, count(*) FROM contact_requests WHERE phone = :p GROUP BY outcome ORDER BY outcome", p=phone
    )
    assert [tuple(o) for o in outcomes] == [("replied", 3), ("throttled", 7)]
    assert throttled_so_far() - before == 7
    assert len(await world.sent_to(other)) == 1, "another number of the same account is not throttled"

    async with world.http() as client:
        response = await client.get(
            "/v1/confirmations", params={"phone": phone}, headers={"Authorization": "Bearer test-admin-token"}
        )
    body = response.json()
    assert len(body["items"]) == 3 and len(body["throttled_contact_requests"]) == 7


async def test_the_limit_is_per_account(world: Env) -> None:
    first, second, phone = new_account_id(), new_account_id(), french_mobile()
    await world.publish(account_changed(first), key=first)
    await world.publish(account_changed(second, name="Garage Dupont"), key=second)
    for n in range(4):
        await world.publish(contact(f"a-{phone}-{n}", account_id=first, phone=phone), key=phone)
    await world.publish(contact(f"b-{phone}", account_id=second, phone=phone), key=phone)
    await eventually(lambda: world.scalar("SELECT count(*) = 5 FROM contact_requests WHERE phone = :p", p=phone))
    await eventually(lambda: _count_is(world, phone, 4))
    texts = sorted(m["text"].split(" :")[0] for m in await world.sent_to(phone))
    assert texts == ["Boulangerie Martin"] * 3 + ["Garage Dupont"]


async def _count_is(world: Env, phone: str, count: int) -> bool:
    return len(await world.sent_to(phone)) == count
