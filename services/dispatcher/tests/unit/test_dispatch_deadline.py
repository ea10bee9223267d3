"""A marketing send must leave before the window closes: window_closes_at and dispatch_deadline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halte_dispatcher.domain.consent import ConsentRecord
from halte_dispatcher.domain.policy import PolicyInput, dispatch_deadline, evaluate
from halte_rules.hours import is_allowed, recipient_calendar, window_closes_at, window_for
from halte_shared.phone import describe

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
BASE = PolicyInput(
    phone="+33612345678",
    kind="marketing",
    sender="36111",
    text="Maison Dupont -20%. STOP au 36111",
    advertiser_name="Maison Dupont",
    short_codes=("36111",),
    consent=ConsentRecord(basis="opt_in", collected_at=datetime(2025, 1, 1, tzinfo=UTC)),
    credits_reserved=True,
    suppression_current=True,
)


@pytest.mark.parametrize(
    ("policy", "now", "deadline"),
    [
        (BASE, datetime(2026, 6, 16, 10, tzinfo=PARIS), datetime(2026, 6, 16, 19, 59, tzinfo=PARIS)),
        (
            replace(BASE, hours_profile="af2m-2026"),
            datetime(2026, 6, 16, 10, tzinfo=PARIS),
            datetime(2026, 6, 16, 21, 29, tzinfo=PARIS),
        ),
        (
            replace(BASE, window_end="18:00"),
            datetime(2026, 6, 16, 10, tzinfo=PARIS),
            datetime(2026, 6, 16, 17, 59, tzinfo=PARIS),
        ),
        (
            replace(BASE, phone="+262692123456"),
            datetime(2026, 6, 16, 10, tzinfo=REUNION),
            datetime(2026, 6, 16, 19, 59, tzinfo=REUNION),
        ),
        # Outside the window (or an unusable number or window): nothing may leave from now on.
        (BASE, datetime(2026, 6, 16, 21, tzinfo=PARIS), datetime(2026, 6, 16, 21, tzinfo=PARIS)),
        (replace(BASE, phone="0612"), datetime(2026, 6, 16, 10, tzinfo=PARIS), datetime(2026, 6, 16, 10, tzinfo=PARIS)),
        (
            replace(BASE, window_start="19:00", window_end="18:00"),
            datetime(2026, 6, 16, 10, tzinfo=PARIS),
            datetime(2026, 6, 16, 10, tzinfo=PARIS),
        ),
        # The day the clocks go forward: closing is 19:59 summer time.
        (BASE, datetime(2026, 3, 28, 10, tzinfo=PARIS), datetime(2026, 3, 28, 19, 59, tzinfo=PARIS)),
    ],
)
def test_the_deadline_is_the_last_dispatch_minute_of_the_recipient_window(
    policy: PolicyInput, now: datetime, deadline: datetime
) -> None:
    assert dispatch_deadline(policy, now=now) == deadline


def test_informative_messages_have_no_deadline() -> None:
    informative = replace(BASE, kind="informative")
    assert dispatch_deadline(informative, now=datetime(2026, 6, 14, 23, tzinfo=PARIS)) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        dispatch_deadline(BASE, now=datetime(2026, 6, 16, 10))


NUMBERS = ["+33612345678", "+262692123456", "+687751234", "+590690001234", "+447400123456"]


@settings(max_examples=300, deadline=None)
@given(
    number=st.sampled_from(NUMBERS),
    profile=st.sampled_from(["strict", "af2m-2024", "af2m-2026"]),
    instant=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
)
def test_the_window_admits_every_instant_before_its_closing_and_none_at_it(
    number: str, profile: str, instant: datetime
) -> None:
    calendar = recipient_calendar(phone_info=describe(number))
    window = window_for(profile)
    closes = window_closes_at(instant, calendar=calendar, window=window)
    if is_allowed(instant, calendar=calendar, window=window) is not None:
        assert closes == instant
        return
    assert closes > instant
    assert is_allowed(closes, calendar=calendar, window=window) is not None
    assert is_allowed(closes - timedelta(microseconds=1), calendar=calendar, window=window) is None


@settings(max_examples=200, deadline=None)
@given(instant=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)))
def test_a_send_decided_now_is_lawful_until_its_deadline(instant: datetime) -> None:
    decision = evaluate(BASE, now=instant)
    deadline = dispatch_deadline(BASE, now=instant)
    assert deadline is not None
    if decision.decision == "send":
        assert deadline > instant
        assert evaluate(BASE, now=deadline - timedelta(microseconds=1)).decision == "send"
        assert evaluate(BASE, now=deadline).decision == "hold"
    else:
        assert deadline == instant
