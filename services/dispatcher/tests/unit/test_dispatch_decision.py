"""The Decision value: reasons belong to their decision, holds carry aware release times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from halte_dispatcher.domain.decision import Decision


def test_constructors_and_json_shape() -> None:
    assert Decision.send().as_dict() == {"decision": "send", "reason": "ok", "next_window_start": None}
    until = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)
    held = Decision.hold("sunday", until)
    assert held.as_dict()["next_window_start"] == "2026-06-15T06:00:00+00:00"
    assert not held.is_final
    assert Decision.refuse("suppressed").is_final


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("drop", "ok"), "send, hold or refuse"),
        (("send", "suppressed"), "not a reason"),
        (("refuse", "sunday"), "not a reason"),
        (("hold", "no_consent"), "not a reason"),
        (("refuse", "suppressed", datetime(2026, 1, 1, tzinfo=UTC)), "only a hold"),
        (("hold", "sunday", datetime(2026, 1, 1)), "timezone-aware"),
    ],
)
def test_inconsistent_decisions_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Decision(*args)
