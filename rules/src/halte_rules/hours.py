"""When a marketing SMS may be dispatched: the hours rule, in the recipient's time and calendar.

Rule (README.md, first paragraph): marketing SMS are never delivered between 20:00 and 08:00,
on Sundays, or on public holidays, all in the *recipient's* local time and calendar. A message
outside the window is held until the next opening, never dropped. Informative SMS are not
restricted (the caller does not ask). Profiles:

- ``strict`` (default, the reference documents): Monday-Saturday 08:00-20:00, never on holidays;
- ``af2m-2024`` (operators' charter 2024): working days Monday-Saturday 08:00-22:00, not holidays;
- ``af2m-2026`` (operators' charter 2026): Monday-Saturday 08:00-21:30, not holidays.

An account may narrow its profile's window (open later, close earlier), never widen it.
Reasons, most specific first: ``public_holiday`` (also when the holiday is a Sunday), ``sunday``,
``outside_hours``.

Dispatch margin: the law constrains *delivery*, and a message handed to a carrier at 19:59:40
may reach the phone after 20:00. The last ``DISPATCH_MARGIN`` (one minute) before closing is
therefore not used to dispatch: under ``strict``, 19:58:59 may go, 19:59:00 waits for the next
opening. ``is_allowed`` and ``next_window_start`` both apply it, so they always agree.

Whose calendar: the number and the postal code
-----------------------------------------------

Two facts about a recipient name a territory, and each may be wrong on its own: the number
(phonenumbers' region: FR, GP, MQ, GF, RE, YT, MF, BL, PM, NC, PF, WF, or a foreign country) says
where the SIM was issued, and the contact's postal code says where the person lives (a metropolitan
mobile is common in Guadeloupe, a Belgian SIM in Lille, and a postal code may be out of date).

- A postal code is cleaned of whitespace; anything but five ASCII digits names nothing and is
  ignored. 97150 names Saint-Martin and 97133 Saint-Barthélemy; the prefixes 971 Guadeloupe,
  972 Martinique, 973 Guyane, 974 La Réunion, 975 Saint-Pierre-et-Miquelon, 976 Mayotte,
  986 Wallis-et-Futuna, 987 French Polynesia and 988 New Caledonia name those territories; a
  department 01-95 (Corsica is written 20xxx) names metropolitan France, with the Alsace-Moselle
  calendar for 57 (Moselle) and 67/68 (Bas-Rhin/Haut-Rhin). Other five-digit codes (00xxx, 96xxx,
  970xx, 977-985xx such as Monaco's 98000, 989xx) are not French territories here and name nothing.
- When the two name the same territory, or there is no usable postal code, that territory's
  calendar applies, refined by the postal code (Alsace-Moselle). The +590 numbers are one range
  shared by Guadeloupe, Saint-Martin and Saint-Barthélemy (phonenumbers reports them all as GP),
  so a +590 number agrees with a postal code of any of the three, which then decides.
- When they disagree, *both* calendars apply: an instant is allowed only if it is inside the
  window in each territory's local time and neither a Sunday nor a holiday on either local date.
  Taking the stricter of the two is the only choice that is lawful whichever fact is the true
  one: trusting the postal code alone would wake a roaming metropolitan subscriber at 03:00, and
  trusting the number alone texts a Guadeloupe resident at 03:30 his time (the old behaviour).
  The cost is a narrower window for these recipients, which a marketing sender can afford.
  The same holds for a foreign number with a French postal code (a French resident keeping a
  foreign SIM). The reason given is the most specific among the calendars that refuse.
- ``recipient_calendar`` returns a ``RecipientCalendars``: one or two ``RecipientCalendar`` (one
  territory's zone and holidays each), the postal code's first. Its ``zone`` is that first
  calendar's, where the person lives, used to express times to people.
- No common window: two windows far apart in time may never overlap. Under ``strict`` most pairs
  share at least an hour (Paris 08:00-09:58 is Nouméa 18:00-19:58 in the northern winter), but
  Paris and Tahiti share one hour in the northern winter and none from April to October, and an
  account window of 09:00-18:00 never overlaps between Paris and Nouméa. ``next_window_start``
  therefore searches ``COMMON_WINDOW_HORIZON_DAYS`` ahead, and when both calendars do not open
  together by then it raises ``NoCommonWindow`` (an ``HoursConfigError`` on ``postal_code``, with
  ``reason`` ``no_common_window``) instead of holding a marketing message for months or looping:
  the caller refuses the message with that reason. The horizon is far beyond the longest real
  closure (a holiday weekend in two calendars at once lasts a few days).

Calendars (checked against holidays 0.108, the pinned version):

- Metropolitan France: ``holidays.country_holidays("FR")``, the eleven national holidays.
- Alsace-Moselle: a postal code starting with 57 (Moselle, subdivision ``"57"``) or 67/68
  (Bas-Rhin/Haut-Rhin, subdivision ``"6AE"``): adds Good Friday and 26 December.
- Overseas: the France subdivision ``"971"`` Guadeloupe, ``"972"`` Martinique, ``"973"`` Guyane,
  ``"974"`` La Réunion, ``"976"`` Mayotte, ``"MF"`` Saint-Martin, ``"BL"`` Saint-Barthélemy,
  ``"PM"`` Saint-Pierre-et-Miquelon, ``"NC"`` New Caledonia, ``"PF"`` French Polynesia, ``"WF"``
  Wallis-et-Futuna, in the territory's zone (halte_rules/territories.py). holidays also ships
  these territories as countries of their own (``country_holidays("GP")``,
  ``holidays.NewCaledonia``...); in this version they give exactly the same dates as the France
  subdivisions (a unit test pins that), and the subdivision keeps one source: French national
  holidays plus the local ones.
- Other countries: the number's own time zone (``NumberLocation.time_zone``) and
  ``holidays.country_holidays(region)``; a country holidays does not support gets no holidays
  (Sundays and hours still apply), since there is no calendar to be faithful to.

Time is always an aware instant passed in by the caller. Local times come from zoneinfo (never a
fixed offset); a wall-clock opening time that does not exist on a day (a DST gap) opens at the
transition, and one that exists twice (a DST fold) opens at its first occurrence. (A window
edge is never inside a fold or gap in any French zone: transitions happen at 02:00-03:00.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays

from halte_rules.territories import FRENCH_TERRITORY_ZONES

# Why a marketing SMS waits, most specific first; the dispatcher's decisions carry these reasons.
PUBLIC_HOLIDAY = "public_holiday"
SUNDAY = "sunday"
OUTSIDE_HOURS = "outside_hours"
#: Why a marketing SMS is refused: the number's and the postal code's windows never meet.
NO_COMMON_WINDOW = "no_common_window"
#: Rank of each hold reason when calendars disagree: the most specific one is given.
_REASON_RANK = {OUTSIDE_HOURS: 1, SUNDAY: 2, PUBLIC_HOLIDAY: 3}

DEFAULT_PROFILE = "strict"
DISPATCH_MARGIN = timedelta(minutes=1)
SUNDAY_WEEKDAY = 6
#: How far next_window_start looks ahead; a real calendar reopens within days.
SEARCH_HORIZON_DAYS = 366
#: How far next_window_start looks for an instant two calendars both allow before giving up.
COMMON_WINDOW_HORIZON_DAYS = 14

#: France subdivision (holidays library code) for each French territory's phonenumbers region.
FRENCH_SUBDIVISIONS: dict[str, str | None] = {
    "FR": None,
    "GP": "971",
    "MQ": "972",
    "GF": "973",
    "RE": "974",
    "YT": "976",
    "MF": "MF",
    "BL": "BL",
    "PM": "PM",
    "NC": "NC",
    "PF": "PF",
    "WF": "WF",
}
#: Department prefix of a metropolitan postal code -> Alsace-Moselle subdivision.
ALSACE_MOSELLE_POSTAL_PREFIXES: dict[str, str] = {"57": "57", "67": "6AE", "68": "6AE"}
#: Whole postal codes naming a territory, read before the prefixes (both lie in 971's range).
OVERSEAS_POSTAL_CODES: dict[str, str] = {"97150": "MF", "97133": "BL"}
#: Three-digit postal prefix -> the overseas territory (phonenumbers region) it names.
OVERSEAS_POSTAL_PREFIXES: dict[str, str] = {
    "971": "GP",
    "972": "MQ",
    "973": "GF",
    "974": "RE",
    "975": "PM",
    "976": "YT",
    "986": "WF",
    "987": "PF",
    "988": "NC",
}
#: Metropolitan departments 01-95 (Corsica's 2A/2B are written 20xxx in postal codes).
METROPOLITAN_POSTAL_PREFIXES = frozenset(f"{number:02d}" for number in range(1, 96))
#: Territories sharing one numbering range: phonenumbers reports every +590 mobile as GP.
SHARED_NUMBER_RANGES: dict[str, frozenset[str]] = dict.fromkeys(("GP", "MF", "BL"), frozenset({"GP", "MF", "BL"}))


class HoursConfigError(ValueError):
    """An hours profile or window that cannot be used, naming the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NoCommonWindow(HoursConfigError):
    """The number's and the postal code's calendars never allow dispatch together within the horizon."""

    reason = NO_COMMON_WINDOW

    def __init__(self, instant: datetime) -> None:
        super().__init__(
            "postal_code",
            f"the number's and the postal code's territories share no dispatch window within "
            f"{COMMON_WINDOW_HORIZON_DAYS} days of {instant.isoformat()}",
        )
        self.instant = instant


@dataclass(frozen=True, slots=True)
class HoursProfile:
    """A named legal window: Monday-Saturday from ``opens`` to ``closes``, never on holidays."""

    name: str
    opens: time
    closes: time


PROFILES: dict[str, HoursProfile] = {
    profile.name: profile
    for profile in (
        HoursProfile("strict", time(8, 0), time(20, 0)),
        HoursProfile("af2m-2024", time(8, 0), time(22, 0)),
        HoursProfile("af2m-2026", time(8, 0), time(21, 30)),
    )
}


@dataclass(frozen=True, slots=True)
class Window:
    """The daily window a marketing SMS may be dispatched in, Monday to Saturday."""

    opens: time
    closes: time
    profile: str = DEFAULT_PROFILE
    margin: timedelta = DISPATCH_MARGIN

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            # The window is wall-clock time in the recipient's zone, never a fixed offset.
            raise HoursConfigError("window", "window times are local wall-clock times, without an offset")
        if self.margin < timedelta(0):
            raise HoursConfigError("margin", "the dispatch margin cannot be negative")
        if self.opens >= self.last_dispatch:
            raise HoursConfigError(
                "window_end", f"the window {self.opens:%H:%M}-{self.closes:%H:%M} leaves no time to send"
            )

    @property
    def last_dispatch(self) -> time:
        """Return the wall-clock time from which nothing more is dispatched that day."""
        return (datetime.combine(date(2000, 1, 1), self.closes) - self.margin).time()

    def admits(self, wall: time) -> bool:
        """Tell whether a local wall-clock time lies in the window."""
        return self.opens <= wall < self.last_dispatch


def parse_clock(value: str | time | None, *, field: str) -> time | None:
    """Return the wall-clock time written ``HH:MM`` (or already a time), None when absent."""
    if value is None or isinstance(value, time):
        return value
    text = value.strip()
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError(text)
        return time(int(hours), int(minutes))
    except ValueError:
        raise HoursConfigError(field, f"{field} must be a time written HH:MM, not {value!r}") from None


def get_profile(name: str) -> HoursProfile:
    """Return the named hours profile, or raise HoursConfigError naming the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise HoursConfigError("hours_profile", f"unknown hours profile {name!r} (known: {known})") from None


def window_for(
    profile: str = DEFAULT_PROFILE,
    *,
    start: str | time | None = None,
    end: str | time | None = None,
    clamp: bool = False,
) -> Window:
    """Return a profile's window narrowed by an account; a wider one is clamped or refused."""
    legal = get_profile(profile)
    opens = parse_clock(start, field="window_start") or legal.opens
    closes = parse_clock(end, field="window_end") or legal.closes
    if opens < legal.opens:
        if not clamp:
            raise HoursConfigError(
                "window_start", f"window_start {opens:%H:%M} is earlier than {legal.name}'s {legal.opens:%H:%M}"
            )
        opens = legal.opens
    if closes > legal.closes:
        if not clamp:
            raise HoursConfigError(
                "window_end", f"window_end {closes:%H:%M} is later than {legal.name}'s {legal.closes:%H:%M}"
            )
        closes = legal.closes
    return Window(opens=opens, closes=closes, profile=legal.name)


@dataclass(frozen=True, slots=True)
class RecipientCalendar:
    """Where a recipient lives, for the hours rule: IANA zone and public-holiday calendar."""

    time_zone: str
    country: str
    subdivision: str | None = None
    public_holidays: holidays.HolidayBase = field(default_factory=holidays.HolidayBase, repr=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        """Return the recipient's time zone."""
        return ZoneInfo(self.time_zone)

    def holiday(self, day: date) -> str | None:
        """Return the name of the public holiday on that local date, or None."""
        return self.public_holidays.get(day)


@dataclass(frozen=True, slots=True)
class RecipientCalendars:
    """Every calendar the hours rule applies to one recipient: one, or two when number and postal code disagree.

    An instant is allowed only when each calendar allows it. The first calendar is where the
    person lives (the postal code's territory when it names one, else the number's).
    """

    calendars: tuple[RecipientCalendar, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.calendars) <= 2 or len(set(self.calendars)) != len(self.calendars):
            raise ValueError("a recipient has one calendar, or two different ones")

    @property
    def home(self) -> RecipientCalendar:
        """Return the calendar of where the person lives."""
        return self.calendars[0]

    @property
    def time_zone(self) -> str:
        """Return the IANA name of the zone the person lives in."""
        return self.home.time_zone

    @property
    def zone(self) -> ZoneInfo:
        """Return the zone the person lives in, to express times to people."""
        return self.home.zone

    @property
    def agree(self) -> bool:
        """Tell whether the number and the postal code named the same territory (or only one spoke)."""
        return len(self.calendars) == 1


@functools.lru_cache(maxsize=256)
def _holidays_of(country: str, subdivision: str | None) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        # holidays knows no calendar for this country: Sundays and hours still apply.
        return holidays.HolidayBase()


def _clean_postal_code(postal_code: str | None) -> str | None:
    text = "".join((postal_code or "").split())
    return text if len(text) == 5 and text.isascii() and text.isdigit() else None


def postal_territory(postal_code: str | None) -> tuple[str, str | None] | None:
    """Return the French territory (phonenumbers region) and holidays subdivision a postal code names, or None."""
    postal = _clean_postal_code(postal_code)
    if postal is None:
        return None
    territory = OVERSEAS_POSTAL_CODES.get(postal) or OVERSEAS_POSTAL_PREFIXES.get(postal[:3])
    if territory is not None:
        return territory, FRENCH_SUBDIVISIONS[territory]
    if postal[:2] in METROPOLITAN_POSTAL_PREFIXES:
        return "FR", ALSACE_MOSELLE_POSTAL_PREFIXES.get(postal[:2])
    return None


def _french_calendar(territory: str, subdivision: str | None) -> RecipientCalendar:
    return RecipientCalendar(
        time_zone=FRENCH_TERRITORY_ZONES[territory],
        country="FR",
        subdivision=subdivision,
        public_holidays=_holidays_of("FR", subdivision),
    )


class NumberLocation(Protocol):
    """Where a number is allocated, as phonenumbers tells it (halte_shared.phone.PhoneInfo is one)."""

    @property
    def region(self) -> str: ...

    @property
    def time_zone(self) -> str: ...


def recipient_calendar(*, phone_info: NumberLocation, postal_code: str | None = None) -> RecipientCalendars:
    """Return the calendars the hours rule applies: the number's territory, the postal code's, or both."""
    region = phone_info.region
    if region in FRENCH_SUBDIVISIONS:
        by_number = _french_calendar(region, FRENCH_SUBDIVISIONS[region])
    else:
        by_number = RecipientCalendar(
            time_zone=phone_info.time_zone,
            country=region,
            subdivision=None,
            public_holidays=_holidays_of(region, None),
        )
    named = postal_territory(postal_code)
    if named is None:
        return RecipientCalendars((by_number,))
    territory, subdivision = named
    by_postal_code = _french_calendar(territory, subdivision)
    if territory in SHARED_NUMBER_RANGES.get(region, frozenset({region})) or by_postal_code == by_number:
        # The same territory: the postal code only refines it (Alsace-Moselle, Saint-Martin...).
        return RecipientCalendars((by_postal_code,))
    return RecipientCalendars((by_postal_code, by_number))


def _require_aware(instant: datetime, name: str = "instant") -> None:
    if instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware; a naive time has no recipient meaning")


def _day_closed(day: date, calendar: RecipientCalendar) -> str | None:
    # A holiday is the more specific reason, so it wins when it falls on a Sunday.
    if calendar.holiday(day) is not None:
        return PUBLIC_HOLIDAY
    if day.weekday() == SUNDAY_WEEKDAY:
        return SUNDAY
    return None


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    # Through UTC: astimezone() to the instant's own tzinfo returns it unchanged, which would
    # hide a wall time that does not exist.
    return instant.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)


def _calendars(calendar: RecipientCalendar | RecipientCalendars) -> tuple[RecipientCalendar, ...]:
    return calendar.calendars if isinstance(calendar, RecipientCalendars) else (calendar,)


def is_allowed(instant: datetime, *, calendar: RecipientCalendar | RecipientCalendars, window: Window) -> str | None:
    """Return why a marketing SMS may not be dispatched at this instant, or None if every calendar allows it.

    When several calendars refuse, the most specific reason is given (public_holiday, sunday,
    outside_hours).
    """
    _require_aware(instant)
    reasons = [reason for one in _calendars(calendar) if (reason := _closed_in(instant, one, window)) is not None]
    return max(reasons, key=_REASON_RANK.__getitem__, default=None)


def _closed_in(instant: datetime, calendar: RecipientCalendar, window: Window) -> str | None:
    local = _wall(instant, calendar.zone)
    closed = _day_closed(local.date(), calendar)
    if closed is not None:
        return closed
    if not window.admits(local.time()):
        return OUTSIDE_HOURS
    return None


def earliest_instant_at(day: date, wall: time, *, zone: ZoneInfo) -> datetime:
    """Return the first instant whose local wall-clock time on that day is at or after ``wall``."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0)
    if _wall(first, zone) == naive:
        # The time exists; fold=0 is its first occurrence when the clocks go back.
        return first
    # The time falls in a DST gap. PEP 495: fold=1 reads it with the offset after the
    # transition (landing before the gap), fold=0 with the one before (landing after it).
    # Local time jumps over ``wall`` exactly at the transition, which lies between the two.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first.astimezone(UTC)
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) // 2
        if _wall(middle, zone) >= naive:
            high = middle
        else:
            low = middle
    return high.astimezone(zone)


def next_window_start(
    instant: datetime, *, calendar: RecipientCalendar | RecipientCalendars, window: Window
) -> datetime:
    """Return the earliest instant at or after ``instant`` when every calendar allows a marketing SMS.

    Raises NoCommonWindow when two calendars do not both allow dispatch within
    ``COMMON_WINDOW_HORIZON_DAYS`` (their windows may never overlap).
    """
    # The result is in the recipient's zone, for people to read; callers do arithmetic on it
    # in UTC, since Python adds a timedelta to a zoned datetime in wall-clock time.
    _require_aware(instant)
    calendars = _calendars(calendar)
    # Compared in UTC: an aware time in a DST fold never compares equal across zones (PEP 495).
    start = instant.astimezone(UTC)
    zone = calendars[0].zone
    if len(calendars) == 1:
        return _next_start_in(start, calendars[0], window).astimezone(zone)
    # Each calendar's next opening from a candidate is a lower bound of the common one: move the
    # candidate to the latest of them until every calendar allows it. Each step reaches a later
    # opening of some calendar (at most a few a day), so the horizon bounds the loop.
    give_up = start + timedelta(days=COMMON_WINDOW_HORIZON_DAYS)
    candidate = start
    while candidate <= give_up:
        latest = max(_next_start_in(candidate, one, window) for one in calendars)
        if latest == candidate:
            return candidate.astimezone(zone)
        candidate = latest
    raise NoCommonWindow(instant)


def _next_start_in(start: datetime, calendar: RecipientCalendar, window: Window) -> datetime:
    """Return the earliest UTC instant at or after ``start`` (in UTC) one calendar allows."""
    if _closed_in(start, calendar, window) is None:
        return start
    zone = calendar.zone
    first_day = start.astimezone(zone).date()
    for offset in range(SEARCH_HORIZON_DAYS + 1):
        day = first_day + timedelta(days=offset)
        if _day_closed(day, calendar) is not None:
            continue
        candidate = max(earliest_instant_at(day, window.opens, zone=zone).astimezone(UTC), start)
        # On the first day the instant may already be past closing: then the next day.
        if _closed_in(candidate, calendar, window) is None:
            return candidate
    raise ValueError(f"no dispatch window within {SEARCH_HORIZON_DAYS} days of {start.isoformat()}")


def window_closes_at(
    instant: datetime, *, calendar: RecipientCalendar | RecipientCalendars, window: Window
) -> datetime:
    """Return the instant the window admitting ``instant`` stops admitting dispatch (margin included).

    A send decided inside the window may reach a carrier later (a rate-limited backlog); from
    this instant on it must be evaluated again, or it would leave after closing time. An
    instant outside the window gets itself: nothing may be dispatched from it. With two
    calendars, the earlier of their closings.
    """
    _require_aware(instant)
    if is_allowed(instant, calendar=calendar, window=window) is not None:
        # The instant itself, not its local-time twin: during a DST fall-back hour Python holds
        # an ambiguous local time unequal to the same instant in another zone (PEP 495).
        return instant
    closings = [
        earliest_instant_at(_wall(instant, one.zone).date(), window.last_dispatch, zone=one.zone)
        for one in _calendars(calendar)
    ]
    return min(closings, key=lambda closing: closing.astimezone(UTC))
