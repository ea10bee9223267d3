"""Opt-out confirmations on the real broker, database and carrier simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from halte_shared.events import BillingCharged, SmsOutbound

from .conftest import Env, account_changed, eventually, french_mobile, new_account_id, optout

pytestmark = pytest.mark.integration

FRENCH_CONFIRMATION = (
    "Boulangerie Martin : votre désinscription est bien prise en compte. Vous ne recevrez plus de SMS commerciaux."
)


async def handled(world: Env, event_id: str, consumer: str = "notifier-requests") -> bool:
    sql = "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e"
    return bool(await world.scalar(sql, c=consumer, e=event_id))


async def test_same_optout_delivered_five_times_sends_and_bills_once(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account), key=account)
    first = await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    for _ in range(4):
        await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone, envelope=first)
    # The same opt-out announced again under a new event id is a repeat too.
    again = await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)

    await eventually(lambda: world.sent_to(phone))
    await eventually(lambda: handled(world, again.id))
    await asyncio.sleep(1.0)  # room for a duplicate to show up
    [sms] = await world.sent_to(phone)
    assert sms["text"] == FRENCH_CONFIRMATION
    assert (sms["sender"], sms["kind"], sms["submissions"]) == ("36111", "informative", 1)
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 1
    assert await world.scalar("SELECT state FROM messages WHERE phone = :p", p=phone) == "submitted"

    charged = [e for e in await world.topic("billing.charged") if e.payload["phone"] == phone]
    assert len({e.id for e in charged}) == 1
    charge = BillingCharged.model_validate(charged[0].payload)
    assert (charge.amount, charge.reason, charge.cause_event_id, charge.account_id) == (
        1,
        "optout_confirmation",
        f"o-{phone}",
        account,
    )
    outbound = [e for e in await world.topic("sms.outbound", linger=0.5) if e.payload["phone"] == phone]
    assert len({e.id for e in outbound}) == 1
    sent = SmsOutbound.model_validate(outbound[0].payload)
    assert (sent.purpose, sent.kind, sent.carrier) == ("optout_confirmation", "informative", "sim")
    assert sent.carrier_message_id == sms["carrier_message_id"]
    assert sent.message_id == charge.message_id == sms["message_id"]


async def test_foreign_number_is_answered_in_english_from_the_short_code_it_wrote_to(world: Env) -> None:
    account, phone = new_account_id(), "+447700900" + french_mobile()[-3:]
    await world.publish(account_changed(account, short_codes=["36111", "36222"]), key=account)
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone, short_code="36222"), key=phone)
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["text"] == (
        "Boulangerie Martin: your unsubscription has been recorded. You will not receive marketing SMS any more."
    )
    assert sms["sender"] == "36222"


async def test_web_optout_is_confirmed_from_the_accounts_first_short_code(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account, short_codes=["36333", "36111"]), key=account)
    await world.publish(
        optout(f"o-{phone}", account_id=account, phone=phone, channel="web", short_code=None, raw_text=None), key=phone
    )
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["sender"] == "36333"


async def test_the_accounts_own_template_is_used(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    async with world.http() as client:
        response = await client.put(
            f"/v1/accounts/{account}/templates/optout_confirmation/fr",
            json={"text": "{advertiser} : c'est noté, plus aucun SMS promotionnel."},
            headers={"Authorization": "Bearer test-admin-token"},
        )
        assert response.status_code == 200, response.text
    await world.publish(account_changed(account), key=account)
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["text"] == "Boulangerie Martin : c'est noté, plus aucun SMS promotionnel."


async def test_optout_before_its_account_is_parked_then_answered(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    await eventually(lambda: world.scalar("SELECT count(*) FROM pending_events WHERE account_id = :a", a=account))
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 0
    assert await world.sent_to(phone) == []

    await world.publish(account_changed(account, name="Garage Dupont"), key=account)
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["text"].startswith("Garage Dupont : votre désinscription")
    assert await world.scalar("SELECT count(*) FROM pending_events WHERE account_id = :a", a=account) == 0
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 1
    dead = [e for e in await world.topic("optout.recorded.dlq", linger=0.3) if e.payload.get("phone") == phone]
    assert dead == []


async def test_account_without_short_code_waits_until_it_has_one(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account, short_codes=[]), key=account)
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    # Whichever of the two events comes first, the opt-out ends up waiting for a short code.
    await eventually(
        lambda: world.scalar("SELECT reason = 'no_short_code' FROM pending_events WHERE account_id = :a", a=account)
    )
    later = datetime(2026, 11, 26, tzinfo=UTC)
    await world.publish(account_changed(account, short_codes=["36444"], changed_at=later), key=account)
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["sender"] == "36444"


async def test_no_confirmation_when_none_is_due(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account), key=account)
    event = await world.publish(
        optout(f"o-{phone}", account_id=account, phone=phone, confirmation_due=False), key=phone
    )
    await eventually(lambda: handled(world, event.id))
    await asyncio.sleep(0.5)
    assert await world.sent_to(phone) == []
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 0


async def test_an_older_account_change_does_not_overwrite_a_newer_one(world: Env) -> None:
    account = new_account_id()
    await world.publish(account_changed(account, name="New Name"), key=account)
    old = await world.publish(
        account_changed(account, name="Old Name", changed_at=datetime(2026, 1, 1, tzinfo=UTC)), key=account
    )
    await eventually(lambda: handled(world, old.id, "notifier-accounts"))
    assert await world.scalar("SELECT name FROM accounts WHERE account_id = :a", a=account) == "New Name"


async def test_out_of_credit_account_still_confirms_and_is_debited(world: Env) -> None:
    # The notifier never looks at the balance before a confirmation (SPEC rule 5: it is
    # legally required); campaign-api applies billing.charged and may take the balance
    # below zero for it, which is the debt. An account that was never topped up at all:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account, name="Compte Sans Crédit", mode="notification"), key=account)
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    [sms] = await eventually(lambda: world.sent_to(phone))
    assert sms["text"].startswith("Compte Sans Crédit : votre désinscription")
    charged = [e for e in await world.topic("billing.charged") if e.payload["account_id"] == account]
    assert [(e.payload["amount"], e.payload["reason"]) for e in charged] == [(1, "optout_confirmation")]


async def test_temporary_carrier_failures_are_retried_under_the_same_key(world: Env) -> None:
    account, phone = new_account_id(), french_mobile()
    await world.publish(account_changed(account), key=account)
    # The router retries 4 times within one try; 5 failures make the notifier's first try fail.
    await world.sim.control(fail_temporary=5)
    await world.publish(optout(f"o-{phone}", account_id=account, phone=phone), key=phone)
    [sms] = await eventually(lambda: world.sent_to(phone))
    await eventually(lambda: world.scalar("SELECT state = 'submitted' FROM messages WHERE phone = :p", p=phone))
    message_id, tries = (await world.rows("SELECT message_id, tries FROM messages WHERE phone = :p", p=phone))[0]
    assert tries == 2
    assert sms["message_id"] == message_id
    assert await world.scalar("SELECT count(*) FROM submissions WHERE message_id = :m", m=message_id) == 1
    assert await world.scalar("SELECT count(*) FROM charges WHERE phone = :p", p=phone) == 1
