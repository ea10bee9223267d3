"""The hours rule's daily window: profiles, edges in several zones, narrowing, DST, next opening."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from halte_rules.hours import (
    HoursConfigError,
    RecipientCalendar,
    RecipientCalendars,
    Window,
    earliest_instant_at,
    get_profile,
    is_allowed,
    next_window_start,
    parse_clock,
    recipient_calendar,
    window_for,
)
from halte_shared.phone import describe

PARIS_NUMBER = "+33612345678"
ZONES_BY_NUMBER = {
    "Europe/Paris": "+33612345678",
    "Indian/Reunion": "+262692123456",
    "Pacific/Noumea": "+687751234",
    "America/Cayenne": "+594694201234",
}
PROFILE_CLOSING = {"strict": time(20, 0), "af2m-2024": time(22, 0), "af2m-2026": time(21, 30)}
TUESDAY = date(2026, 6, 16)  # an ordinary working day in all four territories


def calendar_of(phone: str, postal_code: str | None = None) -> RecipientCalendars:
    return recipient_calendar(phone_info=describe(phone), postal_code=postal_code)


def local(day: date, wall: time, zone: str = "Europe/Paris", *, fold: int = 0) -> datetime:
    return datetime.combine(day, wall, tzinfo=ZoneInfo(zone)).replace(fold=fold)


def minus(wall: time, minutes: int) -> time:
    return (datetime.combine(TUESDAY, wall) - timedelta(minutes=minutes)).time()


@pytest.mark.parametrize("zone", sorted(ZONES_BY_NUMBER))
@pytest.mark.parametrize("profile", sorted(PROFILE_CLOSING))
def test_window_edges_in_the_recipient_zone(zone: str, profile: str) -> None:
    calendar = calendar_of(ZONES_BY_NUMBER[zone])
    window = window_for(profile)
    closes = PROFILE_CLOSING[profile]
    cases = [
        (time(7, 59), "outside_hours"),
        (time(7, 59, 59, 999999), "outside_hours"),
        (time(8, 0), None),
        (minus(closes, 2), None),  # e.g. 19:58, the last dispatch minute under strict
        (time(minus(closes, 2).hour, minus(closes, 2).minute, 59), None),
        (minus(closes, 1), "outside_hours"),  # 19:59: the dispatch margin before 20:00
        (closes, "outside_hours"),
        (time(23, 59), "outside_hours"),
        (time(0, 0), "outside_hours"),
    ]
    for wall, expected in cases:
        # Passed as UTC: the rule must convert to the recipient's zone itself.
        instant = local(TUESDAY, wall, zone).astimezone(UTC)
        assert is_allowed(instant, calendar=calendar, window=window) == expected, (zone, profile, wall)


@pytest.mark.parametrize("profile", sorted(PROFILE_CLOSING))
def test_profiles_differ_only_in_the_evening(profile: str) -> None:
    calendar = calendar_of(PARIS_NUMBER)
    window = window_for(profile)
    at_2130 = is_allowed(local(TUESDAY, time(21, 0)), calendar=calendar, window=window)
    assert at_2130 == ("outside_hours" if profile == "strict" else None)
    at_2145 = is_allowed(local(TUESDAY, time(21, 45)), calendar=calendar, window=window)
    assert at_2145 == (None if profile == "af2m-2024" else "outside_hours")
    # Every profile keeps Sundays and holidays closed.
    assert is_allowed(local(date(2026, 6, 14), time(12)), calendar=calendar, window=window) == "sunday"
    assert is_allowed(local(date(2026, 7, 14), time(12)), calendar=calendar, window=window) == "public_holiday"


def test_without_margin_the_legal_edges_are_exact() -> None:
    calendar = calendar_of(PARIS_NUMBER)
    window = Window(opens=time(8), closes=time(20), margin=timedelta(0))
    assert is_allowed(local(TUESDAY, time(19, 59, 59)), calendar=calendar, window=window) is None
    assert is_allowed(local(TUESDAY, time(20, 0)), calendar=calendar, window=window) == "outside_hours"


@pytest.mark.parametrize(
    ("profile", "start", "end", "expected"),
    [
        ("strict", None, None, (time(8), time(20))),
        ("strict", "09:00", "18:30", (time(9), time(18, 30))),
        ("strict", time(10), None, (time(10), time(20))),
        ("af2m-2024", None, "21:00", (time(8), time(21))),
        ("af2m-2026", "08:00", "21:30", (time(8), time(21, 30))),
    ],
)
def test_an_account_may_narrow_its_window(profile: str, start, end, expected) -> None:
    window = window_for(profile, start=start, end=end)
    assert (window.opens, window.closes, window.profile) == (*expected, profile)


@pytest.mark.parametrize(
    ("profile", "start", "end", "field", "clamped"),
    [
        ("strict", "07:00", None, "window_start", (time(8), time(20))),
        ("strict", None, "21:00", "window_end", (time(8), time(20))),
        ("af2m-2026", "06:30", "22:00", "window_start", (time(8), time(21, 30))),
        ("af2m-2024", "09:00", "23:00", "window_end", (time(9), time(22))),
    ],
)
def test_an_account_may_not_widen_its_window(profile: str, start, end, field: str, clamped) -> None:
    with pytest.raises(HoursConfigError) as error:
        window_for(profile, start=start, end=end)
    assert error.value.field == field
    window = window_for(profile, start=start, end=end, clamp=True)
    assert (window.opens, window.closes) == clamped


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"profile": "lenient"}, "hours_profile"),
        ({"start": "19:00", "end": "19:00"}, "window_end"),
        ({"start": "19:59", "end": "20:00"}, "window_end"),  # nothing left after the margin
        ({"start": "25:00"}, "window_start"),
        ({"end": "8h"}, "window_end"),
        ({"start": "9:00"}, "window_start"),
    ],
)
def test_unusable_window_configuration_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(HoursConfigError) as error:
        window_for(**kwargs)
    assert error.value.field == field
    assert error.value.message


def test_clock_parsing_and_profiles() -> None:
    assert parse_clock(" 07:45 ", field="x") == time(7, 45)
    assert parse_clock(None, field="x") is None
    assert get_profile("af2m-2026").closes == time(21, 30)


def test_naive_instants_are_refused() -> None:
    calendar = calendar_of(PARIS_NUMBER)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_allowed(datetime(2026, 6, 16, 10), calendar=calendar, window=window_for())
    with pytest.raises(ValueError, match="timezone-aware"):
        next_window_start(datetime(2026, 6, 16, 10), calendar=calendar, window=window_for())


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Saturday evening waits for Monday morning (19:59 is inside the dispatch margin).
        (local(date(2026, 6, 13), time(19, 59)), local(date(2026, 6, 15), time(8))),
        (local(date(2026, 6, 13), time(20, 0)), local(date(2026, 6, 15), time(8))),
        (local(date(2026, 6, 13), time(23, 30)), local(date(2026, 6, 15), time(8))),
        (local(date(2026, 6, 14), time(3, 0)), local(date(2026, 6, 15), time(8))),
        # Before opening on a working day: the same morning.
        (local(date(2026, 6, 16), time(6, 15)), local(date(2026, 6, 16), time(8))),
        # Inside the window: the instant itself.
        (local(date(2026, 6, 16), time(12, 34, 56)), local(date(2026, 6, 16), time(12, 34, 56))),
        # The Saturday before Easter Monday waits for Tuesday.
        (local(date(2026, 4, 4), time(20)), local(date(2026, 4, 7), time(8))),
        (local(date(2027, 3, 27), time(21)), local(date(2027, 3, 30), time(8))),
        (local(date(2028, 4, 15), time(19, 59)), local(date(2028, 4, 18), time(8))),
        # Whit Monday, Ascension bridge, New Year.
        (local(date(2026, 5, 23), time(20)), local(date(2026, 5, 26), time(8))),
        (local(date(2026, 5, 13), time(20)), local(date(2026, 5, 15), time(8))),
        (local(date(2026, 12, 31), time(20)), local(date(2027, 1, 2), time(8))),
    ],
    ids=lambda value: value.isoformat() if isinstance(value, datetime) else str(value),
)
def test_next_window_start_in_paris(instant: datetime, expected: datetime) -> None:
    result = next_window_start(instant, calendar=calendar_of(PARIS_NUMBER), window=window_for())
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


def test_reunion_and_paris_open_at_different_instants() -> None:
    paris, reunion = calendar_of(PARIS_NUMBER), calendar_of("+262692123456")
    window = window_for()
    saturday_evening = datetime(2026, 6, 13, 17, 30, tzinfo=UTC)  # 19:30 Paris, 21:30 Réunion
    assert is_allowed(saturday_evening, calendar=paris, window=window) is None
    assert is_allowed(saturday_evening, calendar=reunion, window=window) == "outside_hours"
    assert next_window_start(saturday_evening, calendar=reunion, window=window) == datetime(
        2026, 6, 15, 4, 0, tzinfo=UTC
    )
    monday_dawn = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)  # 07:00 Paris, 09:00 Réunion
    assert next_window_start(monday_dawn, calendar=paris, window=window) == datetime(2026, 6, 15, 6, 0, tzinfo=UTC)
    assert next_window_start(monday_dawn, calendar=reunion, window=window) == monday_dawn


def test_noumea_is_already_saturday_morning_when_paris_is_friday_night() -> None:
    friday_night = datetime(2026, 6, 12, 21, 30, tzinfo=UTC)  # 23:30 Paris, Saturday 08:30 Nouméa
    window = window_for()
    assert is_allowed(friday_night, calendar=calendar_of("+687751234"), window=window) is None
    assert next_window_start(friday_night, calendar=calendar_of(PARIS_NUMBER), window=window) == local(
        date(2026, 6, 13), time(8)
    )


def test_cayenne_opens_five_hours_after_paris_in_summer() -> None:
    cayenne = calendar_of("+594694201234")
    instant = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)  # 12:00 Paris, 07:00 Cayenne
    assert is_allowed(instant, calendar=cayenne, window=window_for()) == "outside_hours"
    assert next_window_start(instant, calendar=cayenne, window=window_for()) == datetime(2026, 6, 16, 11, 0, tzinfo=UTC)


# Last Sundays of March (clocks forward) and October (clocks back), 2026-2028, with the day the
# window reopens: in 2027 Easter Monday and All Saints' Day follow the change.
DST_SUNDAYS = [
    (date(2026, 3, 29), "spring", date(2026, 3, 30)),
    (date(2026, 10, 25), "autumn", date(2026, 10, 26)),
    (date(2027, 3, 28), "spring", date(2027, 3, 30)),
    (date(2027, 10, 31), "autumn", date(2027, 11, 2)),
    (date(2028, 3, 26), "spring", date(2028, 3, 27)),
    (date(2028, 10, 29), "autumn", date(2028, 10, 30)),
]


@pytest.mark.parametrize(("sunday", "season", "monday"), DST_SUNDAYS, ids=str)
def test_around_a_dst_change(sunday: date, season: str, monday: date) -> None:
    calendar, window = calendar_of(PARIS_NUMBER), window_for()
    saturday = sunday - timedelta(days=1)
    before, after = (1, 2) if season == "spring" else (2, 1)  # UTC offsets in hours
    # Saturday still has the old offset; Monday has the new one.
    saturday_open_utc = datetime.combine(saturday, time(8), tzinfo=UTC) - timedelta(hours=before)
    assert is_allowed(saturday_open_utc, calendar=calendar, window=window) is None
    assert is_allowed(saturday_open_utc - timedelta(minutes=1), calendar=calendar, window=window) == "outside_hours"
    monday_open_utc = datetime.combine(monday, time(8), tzinfo=UTC) - timedelta(hours=after)
    assert is_allowed(monday_open_utc, calendar=calendar, window=window) is None
    assert is_allowed(monday_open_utc - timedelta(seconds=1), calendar=calendar, window=window) == "outside_hours"
    # Held on Saturday evening, released at Monday 08:00 local under the new offset.
    held = next_window_start(local(saturday, time(20)), calendar=calendar, window=window)
    assert held == monday_open_utc
    assert held.utcoffset() == timedelta(hours=after)
    assert held.astimezone(ZoneInfo("Europe/Paris")).time() == time(8)
    # Both sides of the change on the Sunday itself are closed and reopen on Monday.
    for utc_hour in (0, 1, 2, 3):
        instant = datetime.combine(sunday, time(utc_hour, 30), tzinfo=UTC)
        assert is_allowed(instant, calendar=calendar, window=window) == "sunday"
        assert next_window_start(instant, calendar=calendar, window=window) == monday_open_utc


def test_dst_in_other_zones_uses_their_own_rules() -> None:
    # Nouméa and Réunion keep no DST: Monday after the Paris change opens at the same UTC time.
    window = window_for()
    for phone, offset in (("+687751234", 11), ("+262692123456", 4)):
        calendar = calendar_of(phone)
        for monday in (date(2026, 3, 23), date(2026, 3, 30)):
            expected = datetime.combine(monday, time(8), tzinfo=UTC) - timedelta(hours=offset)
            instant = expected - timedelta(hours=3)
            assert next_window_start(instant, calendar=calendar, window=window) == expected


def test_wall_time_in_a_gap_opens_at_the_transition() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 02:30 does not exist in Paris on 29 March 2026: local time jumps from 02:00 to 03:00.
    assert earliest_instant_at(date(2026, 3, 29), time(2, 30), zone=paris) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # 02:30 exists twice on 25 October 2026: the first occurrence (summer time) comes first.
    # (Compared in UTC: Python never finds a time in a fold equal to one in another zone.)
    first = earliest_instant_at(date(2026, 10, 25), time(2, 30), zone=paris)
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # An ordinary time is just that time.
    assert earliest_instant_at(date(2026, 3, 29), time(8), zone=paris) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


def test_a_window_opening_inside_a_gap_opens_at_the_transition() -> None:
    # Israel moves its clocks on a Friday (27 March 2026, 02:00 -> 03:00), a working day here.
    calendar = RecipientCalendar(time_zone="Asia/Jerusalem", country="ZZ")
    window = Window(opens=time(2, 30), closes=time(20))
    midnight = datetime(2026, 3, 27, 0, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
    opening = next_window_start(midnight, calendar=calendar, window=window)
    assert opening == datetime(2026, 3, 27, 0, 0, tzinfo=UTC)  # 03:00 local, +03:00
    assert is_allowed(opening, calendar=calendar, window=window) is None
    # Arithmetic in UTC: on a zoned datetime Python would subtract in wall-clock time.
    just_before = opening.astimezone(UTC) - timedelta(microseconds=1)
    assert is_allowed(just_before, calendar=calendar, window=window) == "outside_hours"
