"""The hours rule when the number and the contact's postal code name different territories.

hours.py's module docstring states the rule: the postal code names where the person lives, the
number where the SIM comes from; when they disagree both calendars apply (the stricter of the
two), and a pair whose windows never meet within the horizon raises NoCommonWindow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halte_rules.hours import (
    COMMON_WINDOW_HORIZON_DAYS,
    HoursConfigError,
    NoCommonWindow,
    RecipientCalendar,
    RecipientCalendars,
    Window,
    is_allowed,
    next_window_start,
    recipient_calendar,
    window_closes_at,
    window_for,
)
from halte_shared.phone import describe

STRICT = window_for("strict")

PARIS = "+33612345678"
GUADELOUPE = "+590690001234"
MARTINIQUE = "+596696201234"
GUYANE = "+594694201234"
REUNION = "+262692123456"
MAYOTTE = "+262639012345"
SAINT_PIERRE = "+508551234"
NOUMEA = "+687751234"
TAHITI = "+68987123456"
WALLIS = "+681821234"
BRUSSELS = "+32470123456"
LONDON = "+447400123456"

GARBAGE_POSTAL_CODES = ["ABCDE", "971", "", "   ", "2A004", "9711", "971100", "00000", "98000", "９７１１０"]

Z_PARIS = "Europe/Paris"
Z_GUADELOUPE = "America/Guadeloupe"
Z_REUNION = "Indian/Reunion"
Z_NOUMEA = "Pacific/Noumea"
Z_TAHITI = "Pacific/Tahiti"
Z_BRUSSELS = "Europe/Brussels"


def calendars_of(phone: str, postal_code: str | None = None) -> RecipientCalendars:
    return recipient_calendar(phone_info=describe(phone), postal_code=postal_code)


def at(year: int, month: int, day: int, hour: int, minute: int = 0, *, zone: str) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def same_instant(left: datetime, right: datetime) -> bool:
    return left.astimezone(UTC) == right.astimezone(UTC)


# -- which calendars apply ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "postal_code", "expected"),
    [
        # (zone, holidays country, subdivision) of each calendar, where the person lives first.
        (PARIS, None, [(Z_PARIS, "FR", None)]),
        (PARIS, "75011", [(Z_PARIS, "FR", None)]),
        (PARIS, "20000", [(Z_PARIS, "FR", None)]),  # Ajaccio: Corsica is metropolitan
        (PARIS, "57000", [(Z_PARIS, "FR", "57")]),
        (PARIS, "67 000", [(Z_PARIS, "FR", "6AE")]),
        (PARIS, "97110", [(Z_GUADELOUPE, "FR", "971"), (Z_PARIS, "FR", None)]),
        (PARIS, " 971 10 ", [(Z_GUADELOUPE, "FR", "971"), (Z_PARIS, "FR", None)]),
        (PARIS, "97200", [("America/Martinique", "FR", "972"), (Z_PARIS, "FR", None)]),
        (PARIS, "97300", [("America/Cayenne", "FR", "973"), (Z_PARIS, "FR", None)]),
        (PARIS, "97400", [(Z_REUNION, "FR", "974"), (Z_PARIS, "FR", None)]),
        (PARIS, "97500", [("America/Miquelon", "FR", "PM"), (Z_PARIS, "FR", None)]),
        (PARIS, "97600", [("Indian/Mayotte", "FR", "976"), (Z_PARIS, "FR", None)]),
        (PARIS, "97150", [("America/Marigot", "FR", "MF"), (Z_PARIS, "FR", None)]),
        (PARIS, "97133", [("America/St_Barthelemy", "FR", "BL"), (Z_PARIS, "FR", None)]),
        (PARIS, "98600", [("Pacific/Wallis", "FR", "WF"), (Z_PARIS, "FR", None)]),
        (PARIS, "98714", [(Z_TAHITI, "FR", "PF"), (Z_PARIS, "FR", None)]),
        (PARIS, "98800", [(Z_NOUMEA, "FR", "NC"), (Z_PARIS, "FR", None)]),
        # +590 is one range for Guadeloupe, Saint-Martin and Saint-Barthélemy: they agree.
        (GUADELOUPE, "97110", [(Z_GUADELOUPE, "FR", "971")]),
        (GUADELOUPE, "97150", [("America/Marigot", "FR", "MF")]),
        (GUADELOUPE, "97133", [("America/St_Barthelemy", "FR", "BL")]),
        (GUADELOUPE, "75011", [(Z_PARIS, "FR", None), (Z_GUADELOUPE, "FR", "971")]),
        (GUADELOUPE, "97200", [("America/Martinique", "FR", "972"), (Z_GUADELOUPE, "FR", "971")]),
        (REUNION, "97400", [(Z_REUNION, "FR", "974")]),
        (REUNION, "97600", [("Indian/Mayotte", "FR", "976"), (Z_REUNION, "FR", "974")]),
        (REUNION, "67000", [(Z_PARIS, "FR", "6AE"), (Z_REUNION, "FR", "974")]),
        (MAYOTTE, "97600", [("Indian/Mayotte", "FR", "976")]),
        (NOUMEA, "98800", [(Z_NOUMEA, "FR", "NC")]),
        (TAHITI, "98714", [(Z_TAHITI, "FR", "PF")]),
        (BRUSSELS, None, [(Z_BRUSSELS, "BE", None)]),
        (BRUSSELS, "97110", [(Z_GUADELOUPE, "FR", "971"), (Z_BRUSSELS, "BE", None)]),
        (BRUSSELS, "59000", [(Z_PARIS, "FR", None), (Z_BRUSSELS, "BE", None)]),
        *[(PARIS, garbage, [(Z_PARIS, "FR", None)]) for garbage in GARBAGE_POSTAL_CODES],
        *[(GUADELOUPE, garbage, [(Z_GUADELOUPE, "FR", "971")]) for garbage in GARBAGE_POSTAL_CODES],
    ],
)
def test_the_postal_code_and_the_number_each_name_a_calendar(phone: str, postal_code: str | None, expected) -> None:
    calendars = calendars_of(phone, postal_code)
    assert [(one.time_zone, one.country, one.subdivision) for one in calendars.calendars] == expected
    # Times are told in the zone the person lives in: the postal code's territory when it names one.
    assert calendars.zone == ZoneInfo(expected[0][0])
    assert calendars.time_zone == expected[0][0]
    assert calendars.agree == (len(expected) == 1)


def test_recipient_calendars_holds_one_or_two_different_calendars() -> None:
    paris = calendars_of(PARIS).home
    with pytest.raises(ValueError, match="one calendar, or two"):
        RecipientCalendars(())
    with pytest.raises(ValueError, match="one calendar, or two"):
        RecipientCalendars((paris, paris))
    with pytest.raises(ValueError, match="one calendar, or two"):
        RecipientCalendars((paris, calendars_of(REUNION).home, calendars_of(NOUMEA).home))


# -- is_allowed: the stricter of the two ------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "postal_code", "instant", "expected"),
    [
        # A metropolitan mobile whose holder lives in Guadeloupe: 03:30 there is 09:30 in Paris.
        (PARIS, "97110", at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), "outside_hours"),
        (PARIS, "97110", at(2026, 1, 13, 3, 30, zone=Z_GUADELOUPE), "outside_hours"),  # winter: 08:30 Paris
        (PARIS, "97110", at(2026, 6, 16, 9, zone=Z_GUADELOUPE), None),  # 15:00 in Paris
        (PARIS, "97110", at(2026, 6, 16, 15, zone=Z_GUADELOUPE), "outside_hours"),  # 21:00 in Paris
        # 27 May, abolition of slavery: a holiday in Guadeloupe only (Wednesday 16:00 in Paris).
        (PARIS, "97110", at(2026, 5, 27, 10, zone=Z_GUADELOUPE), "public_holiday"),
        (PARIS, "97110", at(2027, 5, 27, 10, zone=Z_GUADELOUPE), "public_holiday"),
        (PARIS, None, at(2026, 5, 27, 10, zone=Z_GUADELOUPE), None),
        # A Guadeloupe number whose holder lives in Paris: both apply too.
        (GUADELOUPE, "75011", at(2026, 6, 16, 14, zone=Z_PARIS), None),  # 08:00 in Guadeloupe
        (GUADELOUPE, "75011", at(2026, 6, 16, 13, 59, zone=Z_PARIS), "outside_hours"),  # 07:59 there
        (GUADELOUPE, "75011", at(2026, 6, 16, 19, 58, zone=Z_PARIS), None),
        (GUADELOUPE, "75011", at(2026, 6, 16, 19, 59, zone=Z_PARIS), "outside_hours"),  # Paris margin
        (GUADELOUPE, "75011", at(2026, 5, 27, 15, zone=Z_PARIS), "public_holiday"),  # the number's holiday
        (GUADELOUPE, None, at(2026, 6, 16, 12, zone=Z_PARIS), "outside_hours"),  # 06:00 in Guadeloupe
        # Alsace-Moselle's Good Friday, and none in Paris.
        (PARIS, "57000", at(2026, 4, 3, 10, zone=Z_PARIS), "public_holiday"),
        (PARIS, "57 000", at(2027, 3, 26, 10, zone=Z_PARIS), "public_holiday"),
        (PARIS, "75011", at(2026, 4, 3, 10, zone=Z_PARIS), None),
        # Number and postal code agree in La Réunion.
        (REUNION, "97400", at(2026, 6, 16, 10, zone=Z_REUNION), None),
        (REUNION, "97400", at(2026, 12, 21, 10, zone=Z_REUNION), None),  # the 20th was a Sunday
        (REUNION, "97400", at(2027, 12, 20, 10, zone=Z_REUNION), "public_holiday"),
        # Nouméa: in summer 08:00-10:58 in Paris is 17:00-19:58 in Nouméa, the same date.
        (PARIS, "98800", at(2026, 6, 16, 8, 30, zone=Z_PARIS), None),
        (PARIS, "98800", at(2026, 6, 16, 10, 58, zone=Z_PARIS), None),
        (PARIS, "98800", at(2026, 6, 16, 10, 59, zone=Z_PARIS), "outside_hours"),  # 19:59 in Nouméa
        (PARIS, "98800", at(2026, 1, 13, 9, 58, zone=Z_PARIS), None),  # winter: one hour less
        (PARIS, "98800", at(2026, 1, 13, 9, 59, zone=Z_PARIS), "outside_hours"),
        (PARIS, "98800", at(2026, 6, 16, 12, zone=Z_PARIS), "outside_hours"),  # 21:00 in Nouméa
        (PARIS, "98800", at(2026, 9, 24, 8, 30, zone=Z_PARIS), "public_holiday"),  # Citizenship Day there
        # A foreign SIM (Belgium) and a Guadeloupe postal code.
        (BRUSSELS, "97110", at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), "outside_hours"),  # 09:30 Brussels
        (BRUSSELS, "97110", at(2026, 6, 16, 9, zone=Z_GUADELOUPE), None),  # 15:00 Brussels
        (BRUSSELS, "97110", at(2026, 5, 27, 9, zone=Z_GUADELOUPE), "public_holiday"),  # Guadeloupe's
        (BRUSSELS, "97110", at(2026, 6, 16, 15, zone=Z_GUADELOUPE), "outside_hours"),  # 21:00 Brussels
        # Garbage postal codes are ignored: the number alone decides (Tuesday 09:30 in Paris).
        *[(PARIS, garbage, at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), None) for garbage in GARBAGE_POSTAL_CODES],
    ],
    ids=str,
)
def test_a_send_is_allowed_only_when_both_calendars_allow_it(
    phone: str, postal_code: str | None, instant: datetime, expected: str | None
) -> None:
    assert is_allowed(instant, calendar=calendars_of(phone, postal_code), window=STRICT) == expected


@pytest.mark.parametrize(
    ("phone", "postal_code", "instant", "reasons", "expected"),
    [
        # Saturday 21:00 in Paris (outside_hours) is Sunday 06:00 in Nouméa (sunday).
        (PARIS, "98800", at(2026, 6, 13, 21, zone=Z_PARIS), ("sunday", "outside_hours"), "sunday"),
        # Easter Sunday 23:00 in Paris (sunday) is Easter Monday 08:00 in Nouméa (public_holiday).
        (PARIS, "98800", at(2026, 4, 5, 23, zone=Z_PARIS), ("public_holiday", "sunday"), "public_holiday"),
        # Easter Sunday: a public holiday in Belgium, a Sunday in Guadeloupe.
        (BRUSSELS, "97110", at(2026, 4, 5, 10, zone=Z_GUADELOUPE), ("sunday", "public_holiday"), "public_holiday"),
        # Sunday 19:00 in Guadeloupe (sunday) is Monday 01:00 in Paris (outside_hours).
        (GUADELOUPE, "75011", at(2026, 6, 15, 1, zone=Z_PARIS), ("outside_hours", "sunday"), "sunday"),
        # Both only outside hours.
        (PARIS, "97110", at(2026, 6, 16, 23, zone=Z_GUADELOUPE), ("outside_hours", "outside_hours"), "outside_hours"),
    ],
    ids=str,
)
def test_the_most_specific_reason_among_the_refusing_calendars_wins(
    phone: str, postal_code: str, instant: datetime, reasons: tuple[str, str], expected: str
) -> None:
    calendars = calendars_of(phone, postal_code)
    assert tuple(is_allowed(instant, calendar=one, window=STRICT) for one in calendars.calendars) == reasons
    assert is_allowed(instant, calendar=calendars, window=STRICT) == expected


# -- next_window_start: the earliest instant both allow ---------------------------------------------


@pytest.mark.parametrize(
    ("phone", "postal_code", "instant", "expected"),
    [
        # 03:30 on a Tuesday in Guadeloupe waits for 08:00 there: 14:00 in Paris in summer...
        (PARIS, "97110", at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), at(2026, 6, 16, 14, zone=Z_PARIS)),
        # ...and 13:00 in Paris in winter (Guadeloupe keeps no DST).
        (PARIS, "97110", at(2026, 1, 13, 3, 30, zone=Z_GUADELOUPE), at(2026, 1, 13, 13, zone=Z_PARIS)),
        # Guadeloupe's 27 May waits for the 28th, 08:00 there.
        (PARIS, "97110", at(2026, 5, 27, 10, zone=Z_GUADELOUPE), at(2026, 5, 28, 8, zone=Z_GUADELOUPE)),
        # Paris closed (21:00) while Guadeloupe is open (15:00): the next morning in Guadeloupe.
        (PARIS, "97110", at(2026, 6, 16, 15, zone=Z_GUADELOUPE), at(2026, 6, 17, 8, zone=Z_GUADELOUPE)),
        (GUADELOUPE, "75011", at(2026, 6, 16, 12, zone=Z_PARIS), at(2026, 6, 16, 14, zone=Z_PARIS)),
        # Saturday 20:00 in Paris: Monday 08:00 in Guadeloupe (14:00 in Paris).
        (GUADELOUPE, "75011", at(2026, 6, 13, 20, zone=Z_PARIS), at(2026, 6, 15, 14, zone=Z_PARIS)),
        (GUADELOUPE, "75011", at(2026, 5, 26, 20, zone=Z_PARIS), at(2026, 5, 28, 14, zone=Z_PARIS)),
        # Alsace-Moselle skips Good Friday; Paris does not.
        (PARIS, "57000", at(2026, 4, 2, 20, zone=Z_PARIS), at(2026, 4, 4, 8, zone=Z_PARIS)),
        (PARIS, "75011", at(2026, 4, 2, 20, zone=Z_PARIS), at(2026, 4, 3, 8, zone=Z_PARIS)),
        (REUNION, "97400", at(2026, 6, 16, 20, 30, zone=Z_REUNION), at(2026, 6, 17, 8, zone=Z_REUNION)),
        # Nouméa: the common window opens at 08:00 in Paris, 17:00 (summer) or 18:00 (winter) there.
        (PARIS, "98800", at(2026, 6, 16, 12, zone=Z_PARIS), at(2026, 6, 17, 8, zone=Z_PARIS)),
        (PARIS, "98800", at(2026, 1, 13, 12, zone=Z_PARIS), at(2026, 1, 14, 18, zone=Z_NOUMEA)),
        (PARIS, "98800", at(2026, 6, 13, 12, zone=Z_PARIS), at(2026, 6, 15, 8, zone=Z_PARIS)),  # over Sunday
        (PARIS, "98800", at(2026, 9, 23, 12, zone=Z_PARIS), at(2026, 9, 25, 8, zone=Z_PARIS)),  # Citizenship Day
        # Tahiti and Paris share one hour in the northern winter: 19:00-19:58 Paris, 08:00-08:58 Tahiti.
        (PARIS, "98714", at(2026, 1, 13, 10, zone=Z_PARIS), at(2026, 1, 13, 19, zone=Z_PARIS)),
        # A week before Paris leaves summer time the next common hour is the Monday after.
        (PARIS, "98714", at(2026, 10, 20, 10, zone=Z_PARIS), at(2026, 10, 26, 8, zone=Z_TAHITI)),
        (BRUSSELS, "97110", at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), at(2026, 6, 16, 8, zone=Z_GUADELOUPE)),
        (BRUSSELS, "97110", at(2026, 4, 4, 16, zone=Z_GUADELOUPE), at(2026, 4, 7, 8, zone=Z_GUADELOUPE)),
        # Garbage postal codes: Paris alone, already open.
        *[
            (PARIS, garbage, at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), at(2026, 6, 16, 9, 30, zone=Z_PARIS))
            for garbage in GARBAGE_POSTAL_CODES
        ],
    ],
    ids=str,
)
def test_next_window_start_is_the_first_instant_both_allow(
    phone: str, postal_code: str | None, instant: datetime, expected: datetime
) -> None:
    calendars = calendars_of(phone, postal_code)
    result = next_window_start(instant, calendar=calendars, window=STRICT)
    assert same_instant(result, expected)
    # Told in the zone the person lives in.
    assert result.tzinfo == calendars.zone
    assert is_allowed(result, calendar=calendars, window=STRICT) is None
    if not same_instant(result, instant):
        assert is_allowed(result.astimezone(UTC) - timedelta(microseconds=1), calendar=calendars, window=STRICT)


@pytest.mark.parametrize(
    ("phone", "postal_code", "window", "instant"),
    [
        # Paris's strict window ends (19:59) before Tahiti's opens (08:00) all northern summer long.
        (PARIS, "98714", STRICT, at(2026, 6, 16, 10, zone=Z_PARIS)),
        (TAHITI, "75011", STRICT, at(2026, 6, 16, 10, zone=Z_PARIS)),
        (PARIS, "98714", STRICT, at(2026, 10, 10, 10, zone=Z_PARIS)),  # 16 days before winter time
        # A Belgian SIM in Tahiti: Brussels keeps the same summer time as Paris.
        (BRUSSELS, "98714", STRICT, at(2026, 7, 7, 10, zone=Z_BRUSSELS)),
        # Nouméa's window overlaps Paris's by one or two hours; an account's 09:00-18:00 never does.
        (PARIS, "98800", window_for("strict", start="09:00", end="18:00"), at(2026, 1, 13, 10, zone=Z_PARIS)),
        (PARIS, "98800", window_for("strict", start="09:00", end="18:00"), at(2026, 6, 16, 10, zone=Z_PARIS)),
    ],
    ids=str,
)
def test_calendars_that_never_open_together_refuse_instead_of_waiting(
    phone: str, postal_code: str, window: Window, instant: datetime
) -> None:
    calendars = calendars_of(phone, postal_code)
    with pytest.raises(NoCommonWindow) as error:
        next_window_start(instant, calendar=calendars, window=window)
    assert isinstance(error.value, HoursConfigError)
    assert (error.value.field, error.value.reason, error.value.instant) == ("postal_code", "no_common_window", instant)
    # Indeed no minute of the horizon is allowed; each calendar alone opens within days.
    assert not any(
        is_allowed(instant + timedelta(minutes=minutes), calendar=calendars, window=window) is None
        for minutes in range(COMMON_WINDOW_HORIZON_DAYS * 24 * 60 + 1)
    )
    for one in calendars.calendars:
        assert next_window_start(instant, calendar=one, window=window) - instant < timedelta(days=4)


# -- window_closes_at: the earlier closing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "postal_code", "instant", "expected"),
    [
        # 09:00 in Guadeloupe is 15:00 in Paris, which closes first (19:59 Paris = 13:59 there).
        (PARIS, "97110", at(2026, 6, 16, 9, zone=Z_GUADELOUPE), at(2026, 6, 16, 19, 59, zone=Z_PARIS)),
        (GUADELOUPE, "75011", at(2026, 6, 16, 15, zone=Z_PARIS), at(2026, 6, 16, 19, 59, zone=Z_PARIS)),
        # 08:30 in Paris is 17:30 in Nouméa, which closes first (19:59 there = 10:59 Paris).
        (PARIS, "98800", at(2026, 6, 16, 8, 30, zone=Z_PARIS), at(2026, 6, 16, 19, 59, zone=Z_NOUMEA)),
        (REUNION, "97400", at(2026, 6, 16, 10, zone=Z_REUNION), at(2026, 6, 16, 19, 59, zone=Z_REUNION)),
        # Outside the common window: nothing may leave from the instant itself.
        (PARIS, "97110", at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE), at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE)),
    ],
    ids=str,
)
def test_the_common_window_closes_at_the_earlier_closing(
    phone: str, postal_code: str, instant: datetime, expected: datetime
) -> None:
    calendars = calendars_of(phone, postal_code)
    assert same_instant(window_closes_at(instant, calendar=calendars, window=STRICT), expected)


def test_a_single_territory_calendar_is_still_accepted() -> None:
    # Callers holding one RecipientCalendar (a zone and holidays built by hand) keep working.
    lone = RecipientCalendar(time_zone=Z_GUADELOUPE, country="ZZ")
    instant = at(2026, 6, 16, 3, 30, zone=Z_GUADELOUPE)
    assert is_allowed(instant, calendar=lone, window=STRICT) == "outside_hours"
    assert next_window_start(instant, calendar=lone, window=STRICT) == at(2026, 6, 16, 8, zone=Z_GUADELOUPE)
    assert window_closes_at(instant, calendar=lone, window=STRICT) == instant


# -- properties ----------------------------------------------------------------------------------

NUMBERS = [
    PARIS,
    GUADELOUPE,
    MARTINIQUE,
    GUYANE,
    REUNION,
    MAYOTTE,
    SAINT_PIERRE,
    NOUMEA,
    TAHITI,
    WALLIS,
    BRUSSELS,
    LONDON,
]
# Each postal code with a number of its own territory (that pair agrees): the postal code's
# calendar alone, chosen here by hand. None: the code names nothing.
NATIVE_NUMBER = {
    "75011": PARIS,
    "20000": PARIS,
    "57000": PARIS,
    "67000": PARIS,
    "97110": GUADELOUPE,
    "97150": GUADELOUPE,
    "97133": GUADELOUPE,
    "97200": MARTINIQUE,
    "97300": GUYANE,
    "97400": REUNION,
    "97500": SAINT_PIERRE,
    "97600": MAYOTTE,
    "98600": WALLIS,
    "98714": TAHITI,
    "98800": NOUMEA,
    **dict.fromkeys(GARBAGE_POSTAL_CODES),
}
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 24), timezones=st.just(UTC))
pairs = st.tuples(st.sampled_from(NUMBERS), st.sampled_from(sorted(NATIVE_NUMBER)))
windows = st.sampled_from([STRICT, window_for("af2m-2024"), window_for("strict", start="09:00", end="18:00")])
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, database=None)


def single_calendars(phone: str, postal_code: str) -> list[RecipientCalendars]:
    native = NATIVE_NUMBER[postal_code]
    by_number = calendars_of(phone)
    return [by_number] if native is None else [by_number, calendars_of(native, postal_code)]


@PROPERTY_SETTINGS
@given(instant=instants, pair=pairs, window=windows)
def test_allowed_means_allowed_by_each_territory_alone(instant: datetime, pair: tuple[str, str], window) -> None:
    phone, postal_code = pair
    reason = is_allowed(instant, calendar=calendars_of(phone, postal_code), window=window)
    alone = [is_allowed(instant, calendar=one, window=window) for one in single_calendars(phone, postal_code)]
    assert (reason is None) == all(each is None for each in alone)
    if reason is not None:
        assert reason in alone


@PROPERTY_SETTINGS
@given(instant=instants, pair=pairs, window=windows)
def test_next_window_start_is_allowed_and_not_earlier(instant: datetime, pair: tuple[str, str], window) -> None:
    calendars = calendars_of(*pair)
    try:
        result = next_window_start(instant, calendar=calendars, window=window).astimezone(UTC)
    except NoCommonWindow:
        # Only two calendars may fail to meet, and then no minute of the horizon is allowed.
        assert not calendars.agree
        assert not any(
            is_allowed(instant + timedelta(minutes=minutes), calendar=calendars, window=window) is None
            for minutes in range(COMMON_WINDOW_HORIZON_DAYS * 24 * 60 + 1)
        )
        return
    assert result >= instant
    assert is_allowed(result, calendar=calendars, window=window) is None
    assert all(is_allowed(result, calendar=one, window=window) is None for one in single_calendars(*pair))
    if result > instant:
        assert is_allowed(result - timedelta(microseconds=1), calendar=calendars, window=window) is not None
        assert is_allowed(instant, calendar=calendars, window=window) is not None
    # The window that opens there closes later, at an instant no longer allowed.
    closes = window_closes_at(result, calendar=calendars, window=window).astimezone(UTC)
    assert closes > result
    assert is_allowed(closes, calendar=calendars, window=window) is not None
    assert is_allowed(closes - timedelta(microseconds=1), calendar=calendars, window=window) is None
