"""The 90-day attribution window (issue 4; minimal data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from halte_suppression.domain.retention import attribution_window_start, prune_before, worth_remembering

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_the_window_is_ninety_days_back_from_reception():
    assert attribution_window_start(NOW) == NOW - timedelta(days=90)
    assert prune_before(NOW) == NOW - timedelta(days=90)


@pytest.mark.parametrize(
    ("age", "kept"),
    [
        (timedelta(0), True),
        (timedelta(days=89, hours=23), True),
        (timedelta(days=90), True),
        (timedelta(days=91), False),
    ],
)
def test_a_send_is_remembered_while_it_can_attribute(age, kept):
    assert worth_remembering(sent_at=NOW - age, now=NOW) is kept


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        attribution_window_start(datetime(2026, 11, 26))
    with pytest.raises(ValueError):
        prune_before(datetime(2026, 11, 26))
