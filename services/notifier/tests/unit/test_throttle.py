"""At most N CONTACT replies per number and account in a sliding window."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_notifier.domain.throttle import ContactLimit, contact_reply_allowed

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RULE = ContactLimit()


@pytest.mark.parametrize(
    ("hours_ago", "allowed"),
    [
        ([], True),
        ([1], True),
        ([1, 2], True),
        ([1, 2, 3], False),
        ([1, 2, 25], True),  # the oldest left the window
        ([1, 2, 24], True),  # exactly 24 h ago: out of the window
        ([1, 2, 23.9], False),
        ([0, 0, 0, 0], False),
    ],
)
def test_contact_reply_allowed(hours_ago: list[float], allowed: bool) -> None:
    previous = [NOW - timedelta(hours=h) for h in hours_ago]
    assert contact_reply_allowed(previous_replies=previous, now=NOW, rule=RULE) is allowed


def test_future_replies_do_not_count() -> None:
    previous = [NOW + timedelta(minutes=1)] * 5
    assert contact_reply_allowed(previous_replies=previous, now=NOW, rule=RULE)


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"window": timedelta(0)}])
def test_limit_must_be_sensible(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ContactLimit(**kwargs)


@given(st.lists(st.integers(min_value=0, max_value=48 * 60), max_size=20), st.integers(min_value=1, max_value=5))
def test_a_flood_never_gets_more_than_the_limit_in_any_window(minutes: list[int], limit: int) -> None:
    rule = ContactLimit(limit=limit)
    granted: list[datetime] = []
    for m in sorted(minutes):
        at = NOW + timedelta(minutes=m)
        if contact_reply_allowed(previous_replies=granted, now=at, rule=rule):
            granted.append(at)
    for at in granted:
        in_window = [g for g in granted if at - rule.window < g <= at]
        assert len(in_window) <= limit
