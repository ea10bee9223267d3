"""One confirmation SMS per STOP, only for SMS and only for a new suppression (SPEC.md rule 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from halte_suppression.domain.confirmation import confirmation_account

T = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("why", "channel", "new", "senders", "expected"),
    [
        ("an SMS STOP on a dedicated code", "sms", ["a"], {}, "a"),
        ("the unsubscribe page answers on screen", "web", ["a"], {}, None),
        ("the account's API call", "api", ["a"], {}, None),
        ("a 33700 report is not the person writing", "spam_report", ["a"], {}, None),
        ("a repeat (nothing new) gets none", "sms", [], {"a": T}, None),
        ("shared code: the most recent sender", "sms", ["a", "b"], {"a": T, "b": T + timedelta(days=1)}, "b"),
        ("shared code, no sender: the first account", "sms", ["b", "a"], {}, "a"),
        ("a sender already suppressed does not count", "sms", ["a"], {"b": T + timedelta(days=3), "a": T}, "a"),
        ("equal times: the account id breaks the tie", "sms", ["a", "b"], {"a": T, "b": T}, "b"),
    ],
)
def test_confirmation_account(why, channel, new, senders, expected):
    assert confirmation_account(channel=channel, new_accounts=new, recent_senders=senders) == expected, why
