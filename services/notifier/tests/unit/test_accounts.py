"""An account change replaces the copy only when it is not older."""

from datetime import UTC, datetime, timedelta

import pytest

from halte_notifier.domain.accounts import supersedes

T = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("incoming", "stored", "expected"),
    [(T, None, True), (T, T - timedelta(seconds=1), True), (T, T, True), (T - timedelta(seconds=1), T, False)],
)
def test_supersedes(incoming: datetime, stored: datetime | None, expected: bool) -> None:
    assert supersedes(incoming, stored) is expected
