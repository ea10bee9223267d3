"""The consumers on the real broker and PostgreSQL: idempotence, attribution, evidence, re-subscription."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from halte_shared.events import (
    DispatchDecided,
    OptinRecorded,
    OptinRequested,
    OptoutRecorded,
    OptoutRequested,
    new_event_id,
)

from .conftest import Service, eventually, fresh_phone, fresh_short_code, read_events

pytestmark = pytest.mark.integration

RECEIVED = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def stop(
    phone: str, short_code: str, *, request_id: str | None = None, text: str = "STOP", received_at: datetime = RECEIVED
) -> OptoutRequested:
    return OptoutRequested(
        request_id=request_id or f"sim:{new_event_id()}",
        channel="sms",
        phone=phone,
        short_code=short_code,
        raw_text=text,
        carrier="sim",
        received_at=received_at,
    )


def marketing_send(account_id: str, phone: str, sender: str, *, days_ago: float, kind: str = "marketing"):
    return DispatchDecided(
        request_id=new_event_id(),
        account_id=account_id,
        phone=phone,
        kind=kind,  # type: ignore[arg-type]
        decision="send",
        reason="ok",
        segments=1,
        sender=sender,
        decided_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


def duplicates() -> float:
    name = "halte_suppression_duplicates_total"
    return sum(REGISTRY.get_sample_value(name, {"kind": k}) or 0.0 for k in ("event", "request"))


async def evidence_count(service: Service, phone: str) -> int:
    return int(await service.scalar("SELECT count(*) FROM optout_evidence WHERE phone = :p", p=phone))


async def test_the_same_stop_delivered_five_times_gives_one_suppression_and_one_event(service: Service):
    phone, code, account = fresh_phone(), fresh_short_code(), f"acc-{new_event_id()[:8]}"
    await service.learn_account(account, code)
    duplicates_before = duplicates()
    # The broker redelivers one envelope three times; the carrier retried the STOP twice more,
    # which the inbound service passed on as new events carrying the same request id.
    request_id = f"sim:{new_event_id()}"
    first = await service.publish(stop(phone, code, request_id=request_id), key=phone)
    await service.publish_envelope(first, key=phone)
    await service.publish_envelope(first, key=phone)
    retries = [await service.publish(stop(phone, code, request_id=request_id), key=phone) for _ in range(2)]

    await eventually(
        lambda: service.scalar(
            "SELECT count(*) FROM inbox WHERE event_id = ANY(:ids)", ids=[first.id, *(r.id for r in retries)]
        ),
        lambda n: n == 3,
        what="the three distinct envelopes reached the consumer",
    )
    await eventually(duplicates, lambda n: n - duplicates_before == 4, what="four deliveries recognised as duplicates")
    recorded = await read_events(service.settings, "optout.recorded", expect=1, phones={phone}, linger=1.5)
    assert len(recorded) == 1, f"one optout.recorded, not {len(recorded)}"
    _, payload = recorded[0]
    assert isinstance(payload, OptoutRecorded)
    assert (payload.account_id, payload.phone, payload.channel) == (account, phone, "sms")
    assert payload.confirmation_due is True
    assert payload.received_at == RECEIVED
    assert payload.source_event_id == first.id
    assert (payload.raw_text, payload.short_code) == ("STOP", code)

    rows = await service.sql("SELECT account_id, active, channel, sequence FROM suppressions WHERE phone = :p", p=phone)
    assert [tuple(r) for r in rows] == [(account, True, "sms", payload.sequence)]
    assert await evidence_count(service, phone) == 1, "retries of one STOP are not repeats"
    status = (await service.http.get(f"/v1/suppressions/{account}/{phone}")).json()
    assert status == {
        "account_id": account,
        "phone": phone,
        "suppressed": True,
        "since": RECEIVED.isoformat().replace("+00:00", "Z"),
        "channel": "sms",
        "sequence": payload.sequence,
    }


async def test_a_second_stop_is_kept_as_a_repeat_without_a_new_suppression(service: Service):
    phone, code, account = fresh_phone(), fresh_short_code(), f"acc-{new_event_id()[:8]}"
    await service.learn_account(account, code)
    repeats_before = REGISTRY.get_sample_value("halte_optout_repeats_total") or 0.0
    await service.publish(stop(phone, code), key=phone)
    await eventually(lambda: evidence_count(service, phone), lambda n: n == 1, what="the first STOP recorded")
    await service.publish(stop(phone, code, text="stop svp", received_at=RECEIVED + timedelta(days=1)), key=phone)
    await eventually(lambda: evidence_count(service, phone), lambda n: n == 2, what="the second STOP kept")
    recorded = await read_events(service.settings, "optout.recorded", expect=1, phones={phone})
    assert len(recorded) == 1
    kinds = await service.sql(
        "SELECT kind, raw_text FROM optout_evidence WHERE phone = :p ORDER BY received_at", p=phone
    )
    assert [tuple(k) for k in kinds] == [("optout", "STOP"), ("repeat", "stop svp")]
    assert (REGISTRY.get_sample_value("halte_optout_repeats_total") or 0.0) - repeats_before == 1
    evidence = (await service.http.get(f"/v1/optouts/{account}/{phone}")).json()
    assert [r["kind"] for r in evidence["records"]] == ["optout", "repeat"]
    assert evidence["suppressed"] is True and evidence["since"] == RECEIVED.isoformat()
    first = evidence["records"][0]
    assert first["channel"] == "sms" and first["raw_text"] == "STOP" and first["enforced_at"] is not None


async def test_a_shared_short_code_attributes_to_recent_senders_else_to_every_account_on_it(service: Service):
    shared, dedicated = fresh_short_code(), fresh_short_code()
    tag = new_event_id()[:8]
    a, b, c = f"acc-a-{tag}", f"acc-b-{tag}", f"acc-c-{tag}"
    await service.learn_account(a, shared)
    await service.learn_account(b, shared)
    await service.learn_account(c, dedicated)
    answered, never_sent, stale = fresh_phone(), fresh_phone(), fresh_phone()
    await service.publish(marketing_send(a, answered, shared, days_ago=10), key=answered)
    # Neither an informative SMS nor a marketing send older than 90 days attributes a STOP.
    await service.publish(marketing_send(b, answered, shared, days_ago=1, kind="informative"), key=answered)
    await service.publish(marketing_send(b, stale, shared, days_ago=120), key=stale)
    await service.publish(marketing_send(a, stale, shared, days_ago=89), key=stale)
    await eventually(
        lambda: service.scalar(
            "SELECT count(*) FROM recent_marketing_sends WHERE phone = ANY(:p)", p=[answered, never_sent, stale]
        ),
        lambda n: n == 2,
        what="the two recent marketing sends remembered",
    )
    now = datetime.now(UTC)
    for phone in (answered, never_sent, stale):
        await service.publish(stop(phone, shared, received_at=now), key=phone)

    recorded = await read_events(service.settings, "optout.recorded", expect=4, phones={answered, never_sent, stale})
    by_phone: dict[str, list[OptoutRecorded]] = {}
    for _, payload in recorded:
        assert isinstance(payload, OptoutRecorded)
        by_phone.setdefault(payload.phone, []).append(payload)
    assert [p.account_id for p in by_phone[answered]] == [a], "only the account whose SMS was answered"
    assert [p.account_id for p in by_phone[stale]] == [a], "a send 89 days ago still attributes, 120 no longer"
    assert sorted(p.account_id for p in by_phone[never_sent]) == [a, b], "no recent sender: every account on it"
    assert sum(p.confirmation_due for p in by_phone[never_sent]) == 1, "one STOP, one confirmation SMS"
    rules = await service.sql("SELECT attribution FROM optout_evidence WHERE phone = :p", p=never_sent)
    assert {r.attribution for r in rules} == {"all_accounts_on_shared_short_code"}
    assert await service.scalar("SELECT count(*) FROM suppressions WHERE account_id = :c", c=c) == 0


async def test_a_stop_on_an_unknown_short_code_is_kept_then_applied_when_the_account_is_known(service: Service):
    phone, code, account = fresh_phone(), fresh_short_code(), f"acc-{new_event_id()[:8]}"
    await service.publish(stop(phone, code), key=phone)
    await eventually(lambda: evidence_count(service, phone), lambda n: n == 1, what="unattributed evidence kept")
    row = (await service.sql("SELECT kind, account_id, resolved_at FROM optout_evidence WHERE phone = :p", p=phone))[0]
    assert (row.kind, row.account_id, row.resolved_at) == ("unattributed", None, None)
    listed = (await service.http.get("/v1/optouts/unattributed")).json()["items"]
    assert code in [i["short_code"] for i in listed]

    await service.learn_account(account, code)
    recorded = await read_events(service.settings, "optout.recorded", expect=1, phones={phone})
    assert [(p.account_id, p.phone, p.confirmation_due) for _, p in recorded] == [(account, phone, True)]
    resolved = await service.scalar(
        "SELECT attribution FROM optout_evidence WHERE kind = 'unattributed' AND phone = :p", p=phone
    )
    assert resolved == "late:dedicated_short_code"


# -- re-subscription -------------------------------------------------------------------------
def start(phone: str, short_code: str, text: str = "START") -> OptinRequested:
    return OptinRequested(
        request_id=f"sim:{new_event_id()}",
        channel="sms",
        phone=phone,
        short_code=short_code,
        raw_text=text,
        received_at=datetime.now(UTC),
    )


async def suppressed(service: Service, account: str, phone: str) -> bool:
    return bool((await service.http.get(f"/v1/suppressions/{account}/{phone}")).json()["suppressed"])


async def evidence_kinds(service: Service, account: str, phone: str) -> list[str]:
    records = (await service.http.get(f"/v1/optouts/{account}/{phone}")).json()["records"]
    return [r["kind"] for r in records]


async def test_a_start_reply_lifts_only_where_the_account_allows_it(service: Service):
    tag = new_event_id()[:8]
    allowing, refusing = f"acc-yes-{tag}", f"acc-no-{tag}"
    code_yes, code_no = fresh_short_code(), fresh_short_code()
    await service.learn_account(allowing, code_yes, allow_resubscribe=True)
    await service.learn_account(refusing, code_no, allow_resubscribe=False)
    phone = fresh_phone()
    await service.publish(stop(phone, code_yes, received_at=datetime.now(UTC)), key=phone)
    await service.publish(stop(phone, code_no, received_at=datetime.now(UTC)), key=phone)
    await eventually(lambda: suppressed(service, allowing, phone), bool, what="suppressed for the allowing account")
    await eventually(lambda: suppressed(service, refusing, phone), bool, what="suppressed for the refusing account")

    await service.publish(start(phone, code_yes, "UNSTOP"), key=phone)
    await service.publish(start(phone, code_no), key=phone)
    await eventually(lambda: suppressed(service, allowing, phone), lambda s: not s, what="lifted by UNSTOP")
    await eventually(
        lambda: evidence_kinds(service, refusing, phone),
        lambda kinds: kinds == ["optout", "resubscription_refused"],
        what="the refused START kept as evidence",
    )
    assert await suppressed(service, refusing, phone), "an account that does not allow START stays suppressed"

    lifted = await read_events(service.settings, "optin.recorded", expect=1, phones={phone})
    assert len(lifted) == 1
    _, payload = lifted[0]
    assert isinstance(payload, OptinRecorded)
    assert (payload.account_id, payload.channel, payload.proof) == (allowing, "sms", "UNSTOP")
    feed = (await service.http.get("/v1/feed", params={"after": payload.sequence - 1, "limit": 1})).json()
    assert feed["changes"][0] == {
        "sequence": payload.sequence,
        "account_id": allowing,
        "phone": phone,
        "action": "lift",
        "at": feed["changes"][0]["at"],
        "request_id": None,
        "short_code": None,
    }

    # A STOP after the re-subscription is a new suppression again, announced again.
    await service.publish(stop(phone, code_yes, received_at=datetime.now(UTC)), key=phone)
    await eventually(lambda: suppressed(service, allowing, phone), bool, what="suppressed again")
    recorded = await read_events(service.settings, "optout.recorded", expect=3, phones={phone})
    assert sorted(p.account_id for _, p in recorded if isinstance(p, OptoutRecorded)) == sorted(
        [allowing, refusing, allowing]
    )
    assert await evidence_kinds(service, allowing, phone) == ["optout", "resubscription", "optout"]


async def test_an_account_lifts_only_with_the_proof_of_a_new_consent(service: Service):
    account, phone = f"acc-{new_event_id()[:8]}", fresh_phone()
    await service.publish(
        OptoutRequested(
            request_id=f"web:{new_event_id()}",
            channel="web",
            phone=phone,
            account_id=account,
            received_at=datetime.now(UTC),
        ),
        key=phone,
    )
    await eventually(lambda: suppressed(service, account, phone), bool, what="suppressed through the web page")

    def consent(proof: str | None) -> OptinRequested:
        return OptinRequested(
            request_id=f"api:{new_event_id()}",
            channel="api",
            phone=phone,
            account_id=account,
            proof=proof,
            received_at=datetime.now(UTC),
        )

    await service.publish(consent("   "), key=phone)
    await eventually(
        lambda: evidence_kinds(service, account, phone),
        lambda kinds: kinds == ["optout", "resubscription_refused"],
        what="a consent without proof refused and kept",
    )
    assert await suppressed(service, account, phone)
    proof = "form https://shop.example/optin, box ticked 2026-11-26T10:00Z, wording v3"
    await service.publish(consent(proof), key=phone)
    await eventually(lambda: suppressed(service, account, phone), lambda s: not s, what="lifted by the proven consent")
    records = (await service.http.get(f"/v1/optouts/{account}/{phone}")).json()["records"]
    assert records[-1]["kind"] == "resubscription" and records[-1]["proof"] == proof
