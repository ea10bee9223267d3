"""The invariant checker on crafted facts: a clean story passes, and each broken promise is named."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from invariants import (
    CarrierMessage,
    DeadLetter,
    Facts,
    Movement,
    Optout,
    Recipient,
    check_all,
    report,
)

T0 = datetime(2026, 3, 7, 18, 58, tzinfo=UTC)
SC = "36111"
TEXT = "Soldes ! Halte Shop. STOP au 36111"
CONFIRM = "Halte Shop : votre désinscription est bien prise en compte. Vous ne recevrez plus de SMS commerciaux."
A, B, C, D = "+33612000001", "+33612000002", "+33612000003", "+33612000004"


def clean_facts() -> Facts:
    """Four recipients: A sent, B sent then STOP, C held then sent Monday, D refused (no consent)."""
    return Facts(
        account_id="acc",
        short_code=SC,
        balance=100 - 4 + 2 - 1,
        movements=[
            Movement("topup", 100, "op-1"),
            Movement("reservation", -4, "campaign:c1"),
            Movement("refund", 2, "campaign:c1"),
            Movement("optout_confirmation", -1, "evt-stop-b", B),
        ],
        optouts=[Optout(B, "sms", T0 + timedelta(minutes=1), "Stop SMS")],
        recipients=[
            Recipient("c1", A, "sent", sent_at=T0),
            Recipient("c1", B, "sent", sent_at=T0),
            Recipient("c1", C, "sent", sent_at=T0 + timedelta(days=1, hours=13)),
            Recipient("c1", D, "refused", "no_consent"),
        ],
        audiences={"c1": {A, B, C, D}},
        campaign_texts={"c1": TEXT},
        carrier_messages=[
            CarrierMessage(A, SC, TEXT, "marketing", T0),
            CarrierMessage(B, SC, TEXT, "marketing", T0),
            CarrierMessage(B, SC, CONFIRM, "informative", T0 + timedelta(minutes=1, seconds=2)),
            CarrierMessage(C, SC, TEXT, "marketing", T0 + timedelta(days=1, hours=13)),
        ],
        new_optouts={B},
    )


def codes(facts: Facts, **kwargs: object) -> set[str]:
    return {v.code for v in check_all(facts, **kwargs)}  # type: ignore[arg-type]


def test_a_clean_story_has_no_violation() -> None:
    violations = check_all(clean_facts())
    assert violations == [], report(violations)


def test_a_clean_story_seen_through_kannel_without_kinds_has_no_violation() -> None:
    facts = clean_facts()
    facts.carrier_messages = [dataclasses.replace(m, kind=None) for m in facts.carrier_messages]
    assert check_all(facts) == []


def test_a_marketing_sms_after_the_stop_was_acknowledged_is_caught() -> None:
    facts = clean_facts()
    facts.carrier_messages.append(
        CarrierMessage(B, SC, "Encore des soldes. STOP au 36111", "marketing", T0 + timedelta(hours=1))
    )
    found = check_all(facts)
    assert "marketing_after_optout" in {v.code for v in found}
    assert any(v.phone == B for v in found)


def test_a_marketing_sms_before_the_acknowledgement_is_allowed() -> None:
    facts = clean_facts()
    facts.optouts = [Optout(B, "sms", T0 + timedelta(seconds=1))]
    assert "marketing_after_optout" not in codes(facts)


def test_an_informative_sms_after_the_stop_is_allowed() -> None:
    facts = clean_facts()
    facts.carrier_messages.append(
        CarrierMessage(B, SC, "Votre colis arrive demain.", "informative", T0 + timedelta(hours=2))
    )
    assert check_all(facts) == []


@pytest.mark.parametrize(
    "text",
    [
        "Soldes -50% ce week-end !",
        "Offre exclusive : 2 pizzas achetées = 1 offerte…",
        "Black Friday : jusqu'à -70%…",
    ],
)
def test_a_promotion_sent_as_informative_after_the_stop_is_caught(text: str) -> None:
    facts = clean_facts()
    # The carrier says "informative" (the client's label); the checker reads the text.
    facts.carrier_messages.append(CarrierMessage(B, SC, text, "informative", T0 + timedelta(hours=2)))
    assert "marketing_after_optout" in codes(facts)


def test_another_accounts_marketing_is_not_this_accounts_business() -> None:
    facts = clean_facts()
    facts.carrier_messages.append(
        CarrierMessage(B, "36222", "Autre marque. STOP au 36222", "marketing", T0 + timedelta(hours=2))
    )
    assert check_all(facts) == []


def test_two_decisions_for_one_recipient_are_caught() -> None:
    facts = clean_facts()
    facts.recipients.append(Recipient("c1", A, "sent", sent_at=T0))
    assert "duplicate_decision" in codes(facts)


def test_the_same_sms_twice_is_caught() -> None:
    facts = clean_facts()
    facts.carrier_messages.append(CarrierMessage(A, SC, TEXT, "marketing", T0 + timedelta(seconds=5)))
    assert "duplicate_send" in codes(facts)


def test_a_recipient_without_a_row_is_lost() -> None:
    facts = clean_facts()
    facts.recipients = [r for r in facts.recipients if r.phone != D]
    found = check_all(facts)
    assert [v.code for v in found] == ["recipient_lost"]
    assert found[0].phone == D


def test_a_recipient_still_held_is_unfinished_only_when_finality_is_required() -> None:
    facts = clean_facts()
    facts.recipients = [dataclasses.replace(r, outcome="held") if r.phone == C else r for r in facts.recipients]
    facts.carrier_messages = [m for m in facts.carrier_messages if m.to != C]
    assert codes(facts) == {"recipient_unfinished"}
    assert codes(facts, require_final=False) == set()


def test_a_send_the_carrier_never_saw_is_caught() -> None:
    facts = clean_facts()
    facts.carrier_messages = [m for m in facts.carrier_messages if m.to != A]
    assert codes(facts) == {"sent_not_at_carrier"}


def test_a_marketing_sms_no_recipient_explains_is_a_phantom() -> None:
    facts = clean_facts()
    facts.carrier_messages.append(CarrierMessage(D, SC, TEXT, "marketing", T0))
    assert "phantom_send" in codes(facts)


@pytest.mark.parametrize("copies", [0, 2])
def test_not_exactly_one_confirmation_is_caught(copies: int) -> None:
    facts = clean_facts()
    others = [m for m in facts.carrier_messages if m.text != CONFIRM]
    confirmation = CarrierMessage(B, SC, CONFIRM, "informative", T0 + timedelta(minutes=2))
    facts.carrier_messages = others + [confirmation] * copies
    assert "confirmation_count" in codes(facts)


def test_a_second_debit_for_one_optout_is_caught() -> None:
    facts = clean_facts()
    facts.movements.append(Movement("optout_confirmation", -1, "evt-stop-b-again", B))
    facts.balance = (facts.balance or 0) - 1
    assert codes(facts) == {"debit_count"}


def test_a_missing_debit_is_caught_even_when_the_ledger_names_no_phone() -> None:
    facts = clean_facts()
    facts.movements = [dataclasses.replace(m, phone=None) for m in facts.movements if m.kind != "optout_confirmation"]
    facts.balance = sum(m.delta for m in facts.movements)
    assert codes(facts) == {"debit_count"}


def test_a_debit_without_an_optout_is_caught() -> None:
    facts = clean_facts()
    facts.movements.append(Movement("optout_confirmation", -1, "evt-x", A))
    facts.balance = (facts.balance or 0) - 1
    assert "debit_without_optout" in codes(facts)


def test_a_balance_that_is_not_the_sum_of_its_movements_is_caught() -> None:
    facts = clean_facts()
    facts.balance = (facts.balance or 0) + 1
    found = check_all(facts)
    assert [v.code for v in found] == ["ledger_unbalanced"]
    assert "movements add up to" in str(found[0])


def test_the_report_counts_and_truncates() -> None:
    facts = clean_facts()
    facts.carrier_messages += [CarrierMessage(A, SC, TEXT, "marketing", T0)] * 40
    text = report(check_all(facts), limit=3)
    assert "duplicate_send" in text and text.count("\n") <= 5


def test_a_marketing_sms_abroad_is_recognised_by_its_words_when_the_carrier_has_no_kinds() -> None:
    facts = clean_facts()
    # Words the promotional detector does not flag: only the campaign's marker tells them.
    abroad = "Halte Shop : nos pâtissiers vous attendent. Ne plus recevoir : https://halte.example/u/abc"
    facts.carrier_messages = [dataclasses.replace(m, kind=None) for m in facts.carrier_messages]
    facts.carrier_messages.append(CarrierMessage(B, SC, abroad, None, T0 + timedelta(hours=1)))
    assert check_all(facts) == []
    facts.marketing_markers = ["nos pâtissiers"]
    assert "marketing_after_optout" in codes(facts)


def test_a_send_decision_no_carrier_took_is_unfinished_not_lost() -> None:
    facts = clean_facts()
    facts.recipients = [dataclasses.replace(r, sent_at=None) if r.phone == A else r for r in facts.recipients]
    facts.carrier_messages = [m for m in facts.carrier_messages if m.to != A]
    found = check_all(facts)
    assert [(v.code, v.phone) for v in found] == [("recipient_unfinished", A)]
    assert check_all(facts, require_final=False) == []


# -- acknowledged STOPs (test_stop_faults.py) ------------------------------------------------------

ACK_B = T0 + timedelta(seconds=50)
BOUND = timedelta(seconds=2)


def stop_facts() -> Facts:
    """Return the clean story with B's acknowledged STOP, its opt-out id, the ledger cause and the verdict."""
    facts = clean_facts()
    facts.optouts = [
        Optout(B, "sms", T0 + timedelta(minutes=1), "Stop SMS", "opt-b", enforced_at=T0 + timedelta(minutes=1))
    ]
    facts.movements = [
        dataclasses.replace(m, phone=None, cause="optout_confirmation:opt-b") if m.kind == "optout_confirmation" else m
        for m in facts.movements
    ]
    facts.stops_acknowledged = {B: ACK_B}
    facts.dispatcher_verdicts = {B: ("refuse", "suppressed")}
    return facts


def test_a_clean_story_with_an_acknowledged_stop_has_no_violation() -> None:
    violations = check_all(stop_facts(), grace=BOUND)
    assert violations == [], report(violations)


def test_marketing_after_the_acknowledgement_and_the_bound_is_caught_before_the_optout_shows() -> None:
    facts = stop_facts()
    facts.carrier_messages.append(CarrierMessage(B, SC, TEXT + " bis", "marketing", ACK_B + timedelta(seconds=3)))
    found = check_all(facts, grace=BOUND)
    assert [(v.code, v.phone) for v in found] == [("marketing_after_stop", B)]
    assert "3.00 s after inbound acknowledged its STOP" in str(found[0])


def test_marketing_within_the_bound_after_the_acknowledgement_is_allowed() -> None:
    facts = stop_facts()
    facts.carrier_messages.append(CarrierMessage(B, SC, TEXT + " bis", "marketing", ACK_B + timedelta(seconds=1)))
    assert check_all(facts, grace=BOUND) == []


def test_an_acknowledged_stop_that_never_reached_the_account_is_caught_with_its_marketing() -> None:
    facts = stop_facts()
    facts.optouts = []
    facts.carrier_messages = [m for m in facts.carrier_messages if m.text != CONFIRM]
    facts.movements = [m for m in facts.movements if m.kind != "optout_confirmation"]
    facts.balance = sum(m.delta for m in facts.movements)
    facts.carrier_messages.append(CarrierMessage(B, SC, TEXT + " bis", "marketing", ACK_B + timedelta(minutes=5)))
    found = {(v.code, v.phone) for v in check_all(facts, grace=BOUND)}
    assert {
        ("marketing_after_stop", B),
        ("stop_not_visible", B),
        ("stop_debit_count", B),
        ("confirmation_count", B),
    } <= found


def test_an_optout_without_enforced_at_is_not_visible() -> None:
    facts = stop_facts()
    facts.optouts = [dataclasses.replace(o, enforced_at=None) for o in facts.optouts]
    assert {(v.code, v.phone) for v in check_all(facts, grace=BOUND)} == {("stop_not_visible", B)}


@pytest.mark.parametrize("verdict", [("hold", "suppression_feed_stale"), ("send", "ok"), None])
def test_a_dispatcher_that_does_not_refuse_an_acknowledged_stop_is_caught(verdict: tuple[str, str] | None) -> None:
    facts = stop_facts()
    facts.dispatcher_verdicts = {} if verdict is None else {B: verdict}
    found = check_all(facts, grace=BOUND)
    assert [(v.code, v.phone) for v in found] == [("stop_not_enforced", B)]


def test_verdicts_that_were_not_gathered_are_not_checked() -> None:
    facts = stop_facts()
    facts.dispatcher_verdicts = None
    assert check_all(facts, grace=BOUND) == []


def test_a_second_debit_traced_through_the_ledger_cause_is_caught() -> None:
    facts = stop_facts()
    facts.movements.append(Movement("optout_confirmation", -1, "optout_confirmation:opt-b"))
    facts.balance = (facts.balance or 0) - 1
    assert {(v.code, v.phone) for v in check_all(facts, grace=BOUND)} >= {("stop_debit_count", B)}


def test_a_dead_lettered_or_parked_optout_event_is_caught_and_other_dead_letters_are_not() -> None:
    facts = stop_facts()
    facts.dead_letters = [
        DeadLetter("optout.requested.dlq", "optout.requested", "optout.requested", "e1", B, "FileNotFoundError(2)"),
        DeadLetter("parked:notifier", "optout.recorded", "optout.recorded", "e2", B, "account_unknown"),
        DeadLetter("sms.delivery.dlq", "sms.delivery", "sms.delivery", "e3", A, "ValueError()"),
    ]
    found = check_all(facts, grace=BOUND)
    assert [(v.code, v.phone) for v in found] == [("optout_dead_lettered", B)] * 2
    assert "FileNotFoundError" in str(found[0]) and "parked:notifier" in str(found[1])


def test_a_dead_letter_record_is_read_from_its_envelope_and_headers() -> None:
    value = b'{"id": "evt-1", "type": "optout.requested", "version": 1, "payload": {"phone": "+33612000002"}}'
    headers = [
        ("halte-error", b"FileNotFoundError(2, 'No such file or directory')"),
        ("halte-consumer-group", b"suppression"),
        ("other", b"x"),
    ]
    letter = DeadLetter.from_record("optout.requested.dlq", b"+33612000002", value, headers)
    assert (letter.topic, letter.event_type, letter.event_id, letter.phone) == (
        "optout.requested",
        "optout.requested",
        "evt-1",
        B,
    )
    assert letter.is_optout and "FileNotFoundError" in (letter.error or "") and letter.group == "suppression"
    assert "by suppression" in str(letter)
    undecodable = DeadLetter.from_record("optout.recorded.dlq", b"+33612000001", b"\xff not json")
    assert undecodable.is_optout and undecodable.event_type is None and undecodable.phone == A


def test_a_parked_row_is_read_whatever_names_its_fields() -> None:
    row = {"event_id": "e9", "topic": "optout.recorded", "reason": "account_unknown", "envelope": {"payload": {}}}
    letter = DeadLetter.from_parked("notifier", {**row, "phone": C})
    assert (letter.where, letter.event_type, letter.phone, letter.error) == (
        "parked:notifier",
        "optout.recorded",
        C,
        "account_unknown",
    )
    assert letter.is_optout


def test_a_parked_row_as_halte_shared_parked_shows_it_is_read() -> None:
    value = '{"id": "e7", "type": "optout.requested", "payload": {"phone": "+33612000004"}}'
    row = {"id": 3, "consumer_group": "suppression", "topic": "optout.requested", "key": D, "event_id": "e7"}
    letter = DeadLetter.from_parked("suppression", {**row, "event_type": "optout.requested", "value": value})
    assert (letter.event_type, letter.phone, letter.group, letter.is_optout) == (
        "optout.requested",
        D,
        "suppression",
        True,
    )
