"""Properties of the hours rule, checked against an independent oracle of the legal window.

The oracle re-states SPEC.md rule 4 on its own (recipient's wall clock, Sunday, the holidays
library's calendar for a hand-picked subdivision, profile hours minus the dispatch margin), so a
mistake in hours.py's zone or calendar choice shows up as a disagreement.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from halte_dispatcher.domain.consent import ConsentRecord
from halte_dispatcher.domain.policy import PolicyInput, evaluate
from halte_rules.hours import is_allowed, next_window_start, recipient_calendar, window_for
from halte_shared.phone import describe

YEARS = range(2025, 2031)
# (number, postal code, zone, holidays country, subdivision): chosen here by hand, not by hours.py.
TERRITORIES = [
    ("+33612345678", "75011", "Europe/Paris", "FR", None),
    ("+33612345678", "67000", "Europe/Paris", "FR", "6AE"),
    ("+33612345678", "57000", "Europe/Paris", "FR", "57"),
    ("+262692123456", None, "Indian/Reunion", "FR", "974"),
    ("+687751234", None, "Pacific/Noumea", "FR", "NC"),
    ("+594694201234", None, "America/Cayenne", "FR", "973"),
    ("+590690001234", None, "America/Guadeloupe", "FR", "971"),
    ("+68987123456", None, "Pacific/Tahiti", "FR", "PF"),
    ("+508551234", None, "America/Miquelon", "FR", "PM"),  # has DST, on North American dates
    ("+447400123456", None, "Europe/London", "GB", None),
    ("+12015550123", None, "America/New_York", "US", None),
]
HOLIDAY_SETS = {
    (country, subdivision): frozenset(holidays.country_holidays(country, subdiv=subdivision, years=YEARS))
    for _, _, _, country, subdivision in TERRITORIES
}
PROFILES = {"strict": (time(8), time(20)), "af2m-2024": (time(8), time(22)), "af2m-2026": (time(8), time(21, 30))}
MARGIN = timedelta(minutes=1)

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 24), timezones=st.just(UTC))
territories = st.sampled_from(TERRITORIES)
profiles = st.sampled_from(sorted(PROFILES))
starts = st.sampled_from([None, time(8), time(9), time(10, 30)])
ends = st.sampled_from([None, time(18), time(19, 45), time(21)])
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)


def oracle_allowed(instant: datetime, territory: tuple, opens: time, closes: time) -> bool:
    _, _, zone, country, subdivision = territory
    local = instant.astimezone(UTC).astimezone(ZoneInfo(zone))
    if local.weekday() == 6 or local.date() in HOLIDAY_SETS[(country, subdivision)]:
        return False
    last = (datetime.combine(local.date(), closes) - MARGIN).time()
    return opens <= local.time() < last


def effective_hours(profile: str, start: time | None, end: time | None) -> tuple[time, time]:
    legal_opens, legal_closes = PROFILES[profile]
    return max(start or legal_opens, legal_opens), min(end or legal_closes, legal_closes)


@PROPERTY_SETTINGS
@given(instant=instants, territory=territories, profile=profiles, start=starts, end=ends)
def test_next_window_start_is_allowed_and_minimal(instant, territory, profile, start, end) -> None:
    phone, postal_code, zone, _, _ = territory
    calendar = recipient_calendar(phone_info=describe(phone), postal_code=postal_code)
    window = window_for(profile, start=start, end=end, clamp=True)
    opens, closes = effective_hours(profile, start, end)

    result = next_window_start(instant, calendar=calendar, window=window).astimezone(UTC)

    assert result >= instant
    assert is_allowed(result, calendar=calendar, window=window) is None
    assert oracle_allowed(result, territory, opens, closes)
    if result > instant:
        # Minimal: the instant just before is closed, and so is every minute from the request on.
        assert not oracle_allowed(result - timedelta(microseconds=1), territory, opens, closes)
        probe = instant
        while probe < result:
            assert not oracle_allowed(probe, territory, opens, closes), probe
            probe += timedelta(minutes=1)
    assert is_allowed(instant, calendar=calendar, window=window) is None or result > instant


def valid_marketing(territory: tuple, profile: str, send_at: datetime | None = None) -> PolicyInput:
    phone, postal_code, _, country, _ = territory
    french = country == "FR"
    url = "https://u.halte.example/u/abc123"
    text = "Soldes chez Maison Dupont: -20% ce week-end. " + ("STOP au 36111" if french else f"Unsubscribe: {url}")
    return PolicyInput(
        phone=phone,
        kind="marketing",
        account_id="acct-1",
        sender="36111",
        text=text,
        advertiser_name="Maison Dupont",
        short_codes=("36111",),
        unsubscribe_url=url,
        consent=ConsentRecord(basis="opt_in", collected_at=datetime(2025, 1, 1, tzinfo=UTC), source="form"),
        postal_code=postal_code,
        hours_profile=profile,
        credits_reserved=True,
        suppressed=False,
        suppression_current=True,
        send_at=send_at,
    )


@PROPERTY_SETTINGS
@given(now=instants, territory=territories, profile=profiles)
def test_a_marketing_send_never_falls_in_a_forbidden_slot(now, territory, profile) -> None:
    opens, closes = PROFILES[profile]
    decision = evaluate(valid_marketing(territory, profile), now=now)
    allowed = oracle_allowed(now, territory, opens, closes)
    assert (decision.decision == "send") == allowed, decision
    if decision.decision == "hold":
        assert decision.reason in {"outside_hours", "sunday", "public_holiday"}
        assert decision.next_window_start is not None and decision.next_window_start > now
        assert oracle_allowed(decision.next_window_start, territory, opens, closes)


@PROPERTY_SETTINGS
@given(
    now=instants,
    delay=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=10)),
    territory=territories,
    profile=profiles,
)
def test_a_future_send_at_is_held_until_an_allowed_instant_at_or_after_it(now, delay, territory, profile) -> None:
    opens, closes = PROFILES[profile]
    send_at = now + delay
    decision = evaluate(valid_marketing(territory, profile, send_at=send_at), now=now)
    assert decision.decision == "hold"
    release = decision.next_window_start
    assert release is not None and release >= send_at
    assert oracle_allowed(release, territory, opens, closes)
    assert (decision.reason == "scheduled") == oracle_allowed(send_at, territory, opens, closes)
    # Released at that instant, the same message goes.
    assert evaluate(valid_marketing(territory, profile, send_at=send_at), now=release).decision == "send"
