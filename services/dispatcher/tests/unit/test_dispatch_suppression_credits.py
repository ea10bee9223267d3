"""The blocklist rule (SPEC.md rules 5 and 8, fail closed) and the credit rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from halte_dispatcher.domain.credits import credits_problem
from halte_dispatcher.domain.decision import Decision
from halte_dispatcher.domain.suppression import is_feed_current, suppression_check

NOW = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "suppressed", "current", "expected"),
    [
        ("marketing", False, True, None),
        ("marketing", True, True, Decision.refuse("suppressed")),
        ("marketing", True, False, Decision.refuse("suppressed")),
        ("marketing", False, False, Decision.hold("suppression_feed_stale")),
        # Informative messages (the opt-out confirmation itself) are never blocked.
        ("informative", True, True, None),
        ("informative", True, False, None),
        ("informative", False, False, None),
    ],
)
def test_suppression_check(kind: str, suppressed: bool, current: bool, expected: Decision | None) -> None:
    assert suppression_check(kind=kind, suppressed=suppressed, feed_current=current) == expected


@pytest.mark.parametrize(
    ("confirmed_at", "pending", "current"),
    [
        (None, 0, False),
        (NOW, 0, True),
        (NOW - timedelta(seconds=30), 0, True),
        (NOW - timedelta(seconds=31), 0, False),
        (NOW - timedelta(seconds=1), 3, False),
        (NOW + timedelta(seconds=5), 0, True),  # clock skew is no lag
    ],
)
def test_feed_currency(confirmed_at: datetime | None, pending: int, current: bool) -> None:
    assert is_feed_current(confirmed_at=confirmed_at, now=NOW, pending_events=pending) is current


def test_feed_currency_bound_is_configurable_and_times_must_be_aware() -> None:
    old = NOW - timedelta(minutes=5)
    assert is_feed_current(confirmed_at=old, now=NOW, max_lag=timedelta(minutes=10))
    with pytest.raises(ValueError):
        is_feed_current(confirmed_at=old, now=datetime(2026, 6, 16))


@pytest.mark.parametrize(
    ("reserved", "cost", "expected"),
    [
        (True, 1, None),
        (True, 3, None),
        (False, 1, "insufficient_credits"),
        (3, 3, None),
        (4, 3, None),
        (2, 3, "insufficient_credits"),
        (0, 1, "insufficient_credits"),
        (0, 0, None),
    ],
)
def test_credits(reserved: bool | int, cost: int, expected: str | None) -> None:
    assert credits_problem(reserved=reserved, cost=cost) == expected


def test_negative_cost_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        credits_problem(reserved=5, cost=-1)
