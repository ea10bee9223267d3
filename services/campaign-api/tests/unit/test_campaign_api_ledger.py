"""Credit ledger rules (SPEC rule 5: only opt-out confirmations may overdraw)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.ledger import (
    MOVEMENT_KINDS,
    Ledger,
    Movement,
    balance_of,
    next_balance,
    topup_split,
)


def ledger_of(*movements: Movement) -> Ledger:
    ledger = Ledger()
    for movement in movements:
        ledger = ledger.record(movement)
    return ledger


def test_balance_is_the_sum_of_movements() -> None:
    ledger = ledger_of(
        Movement("topup", 100, "op:initial"),
        Movement("reservation", 40, "campaign:c1"),
        Movement("refund", 5, "campaign:c1"),
        Movement("debit", 2, "message:m1"),
        Movement("contact_reply", 1, "event:e1"),
        Movement("optout_confirmation", 1, "event:e2"),
    )
    assert ledger.balance == 100 - 40 + 5 - 2 - 1 - 1 == 61
    assert (ledger.available, ledger.debt) == (61, 0)


@pytest.mark.parametrize("kind", ["reservation", "debit", "contact_reply"])
def test_overdraw_refused(kind: str) -> None:
    ledger = ledger_of(Movement("topup", 3, "op:t"))
    with pytest.raises(DomainError) as err:
        ledger.record(Movement(kind, 4, "cause:x"))
    assert (err.value.code, err.value.field) == ("insufficient_credits", "amount")
    # Exactly the balance is fine.
    assert ledger.record(Movement(kind, 3, "cause:x")).balance == 0


def test_optout_confirmation_may_overdraw_as_a_debt() -> None:
    ledger = ledger_of(Movement("optout_confirmation", 1, "event:o1"), Movement("optout_confirmation", 1, "event:o2"))
    assert (ledger.balance, ledger.debt, ledger.available) == (-2, 2, 0)
    with pytest.raises(DomainError):
        ledger.record(Movement("debit", 1, "message:m"))


def test_topup_first_settles_the_debt() -> None:
    ledger = ledger_of(Movement("optout_confirmation", 1, "event:o1"), Movement("optout_confirmation", 1, "event:o2"))
    assert topup_split(ledger.balance, 10).settled_debt == 2
    assert topup_split(ledger.balance, 10).credited == 8
    assert topup_split(ledger.balance, 1).credited == 0
    assert topup_split(5, 10).settled_debt == 0
    assert ledger.record(Movement("topup", 10, "op:t")).available == 8


def test_same_cause_charged_once() -> None:
    ledger = ledger_of(Movement("topup", 5, "op:t"), Movement("optout_confirmation", 1, "event:o1"))
    again = ledger.record(Movement("optout_confirmation", 1, "event:o1"))
    assert again is ledger
    assert again.balance == 4
    assert (
        ledger.record(Movement("reservation", 2, "campaign:c")).record(Movement("reservation", 2, "campaign:c")).balance
        == 2
    )


def test_refund_never_exceeds_what_was_charged_for_its_cause() -> None:
    ledger = ledger_of(Movement("topup", 50, "op:t"), Movement("reservation", 10, "campaign:c1"))
    ledger = ledger.record(Movement("refund", 6, "campaign:c1"))
    assert ledger.refundable("campaign:c1") == 4
    with pytest.raises(DomainError) as err:
        ledger.record(Movement("refund", 5, "campaign:c1"))
    assert err.value.code == "refund_exceeds_charge"
    with pytest.raises(DomainError):
        ledger.record(Movement("refund", 1, "campaign:unknown"))


@pytest.mark.parametrize(
    ("kind", "amount", "cause", "code"),
    [
        ("bonus", 1, "x", "invalid_movement_kind"),
        ("topup", 0, "x", "invalid_amount"),
        ("topup", -5, "x", "invalid_amount"),
        ("topup", True, "x", "invalid_amount"),
        ("topup", 1.5, "x", "invalid_amount"),
        ("topup", 10**12, "x", "invalid_amount"),
        ("optout_confirmation", 2, "x", "invalid_amount"),
        ("topup", 1, "  ", "invalid_cause"),
    ],
)
def test_invalid_movements(kind: str, amount: object, cause: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        Movement(kind, amount, cause)  # type: ignore[arg-type]
    assert err.value.code == code


def test_naive_timestamp_refused() -> None:
    with pytest.raises(DomainError) as err:
        Movement("topup", 1, "x", at=datetime(2026, 1, 1))
    assert err.value.code == "naive_datetime"


def test_next_balance() -> None:
    assert next_balance(0, Movement("optout_confirmation", 1, "e")) == -1
    assert next_balance(-1, Movement("topup", 3, "t")) == 2
    with pytest.raises(DomainError):
        next_balance(0, Movement("debit", 1, "m"))


attempts = st.lists(
    st.tuples(
        st.sampled_from(MOVEMENT_KINDS),
        st.integers(min_value=1, max_value=50),
        st.sampled_from(["c1", "c2", "c3", "c4"]),
    ),
    max_size=60,
)


@given(attempts)
def test_balance_properties(steps: list[tuple[str, int, str]]) -> None:
    ledger = Ledger()
    for kind, amount, cause in steps:
        if kind == "optout_confirmation":
            amount = 1
        before = ledger.balance
        try:
            after = ledger.record(Movement(kind, amount, cause))
        except DomainError as err:
            assert err.code in ("insufficient_credits", "refund_exceeds_charge")
            continue
        # The balance is the sum of the movements, always.
        assert after.balance == balance_of(after.movements) == sum(m.delta for m in after.movements)
        # Only an opt-out confirmation takes the balance below zero or deepens a debt.
        if after.balance < 0 and after.balance < before:
            assert after.movements[-1].kind == "optout_confirmation"
        # A top-up settles the debt before anything becomes available.
        if after is not ledger and kind == "topup":
            split = topup_split(before, amount)
            assert after.available == max(0, before) + split.credited
            assert after.debt == ledger.debt - split.settled_debt
        ledger = after
    assert ledger.balance >= -sum(1 for m in ledger.movements if m.kind == "optout_confirmation")
