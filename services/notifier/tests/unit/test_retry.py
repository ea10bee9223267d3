"""Backoff, the last try, permanent refusals, and what a delivery status means."""

from datetime import UTC, datetime, timedelta

import pytest

from halte_notifier.domain.retry import GiveUp, RetryPolicy, TryAgain, after_failed_try, classify_delivery

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy()


@pytest.mark.parametrize(("tries", "minutes"), [(1, 1), (2, 4), (3, 16), (4, 60), (9, 60)])
def test_backoff_grows_and_is_capped(tries: int, minutes: int) -> None:
    assert POLICY.delay_after(tries) == timedelta(minutes=minutes)


def test_failed_try_is_retried_with_backoff_until_the_last() -> None:
    decisions = [
        after_failed_try(tries=n, now=NOW, policy=POLICY, permanent=False, carrier_accepted=False) for n in (1, 2, 3)
    ]
    assert [d.at - NOW for d in decisions if isinstance(d, TryAgain)] == [
        timedelta(minutes=1),
        timedelta(minutes=4),
        timedelta(minutes=16),
    ]
    last = after_failed_try(tries=4, now=NOW, policy=POLICY, permanent=False, carrier_accepted=False)
    assert isinstance(last, GiveUp) and "4 tries" in last.reason


@pytest.mark.parametrize(("accepted", "new_id"), [(True, True), (False, False)])
def test_new_submission_id_only_after_the_carrier_accepted(accepted: bool, new_id: bool) -> None:
    decision = after_failed_try(tries=1, now=NOW, policy=POLICY, permanent=False, carrier_accepted=accepted)
    assert isinstance(decision, TryAgain) and decision.new_submission is new_id


def test_permanent_refusal_is_not_retried() -> None:
    decision = after_failed_try(tries=1, now=NOW, policy=POLICY, permanent=True, carrier_accepted=False)
    assert isinstance(decision, GiveUp)


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        ("delivered", "delivered"),
        ("failed", "failed"),
        ("expired", "failed"),
        ("rejected", "failed"),
        ("buffered", "in_progress"),
        ("accepted", "in_progress"),
        ("unknown", "in_progress"),
    ],
)
def test_classify_delivery(status: str, meaning: str) -> None:
    assert classify_delivery(status) == meaning


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tries": 0}, {"factor": 0.5}, {"first_delay": timedelta(hours=2), "max_delay": timedelta(hours=1)}],
)
def test_policy_refuses_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
