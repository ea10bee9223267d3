"""Ids derive from the cause: the same cause always names the same message, charge and submission."""

import uuid

import pytest

from halte_notifier.domain.identifiers import charge_id_for, message_id_for, submission_id_for


def test_same_cause_same_ids() -> None:
    assert message_id_for(purpose="optout_confirmation", cause_event_id="o-1") == message_id_for(
        purpose="optout_confirmation", cause_event_id="o-1"
    )
    assert charge_id_for(purpose="contact_reply", cause_event_id="r-1") == charge_id_for(
        purpose="contact_reply", cause_event_id="r-1"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("optout_confirmation", "x"), ("optout_confirmation", "y")),
        (("optout_confirmation", "x"), ("contact_reply", "x")),
    ],
)
def test_different_causes_or_purposes_differ(a: tuple, b: tuple) -> None:
    assert message_id_for(purpose=a[0], cause_event_id=a[1]) != message_id_for(purpose=b[0], cause_event_id=b[1])


def test_message_charge_and_submission_ids_are_uuids_and_distinct() -> None:
    message_id = message_id_for(purpose="optout_confirmation", cause_event_id="o-1")
    charge_id = charge_id_for(purpose="optout_confirmation", cause_event_id="o-1")
    assert uuid.UUID(message_id) and uuid.UUID(charge_id)
    assert message_id != charge_id


def test_first_submission_is_the_message_id_and_later_ones_are_new_and_stable() -> None:
    message_id = message_id_for(purpose="optout_confirmation", cause_event_id="o-1")
    assert submission_id_for(message_id, 1) == message_id
    second, third = submission_id_for(message_id, 2), submission_id_for(message_id, 3)
    assert len({message_id, second, third}) == 3
    assert submission_id_for(message_id, 2) == second


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError):
        submission_id_for("m", 0)
