"""The journey's cast and calendar, shared by the e2e tests and `make demo`'s narration.

A bakery ("Boulangerie Halte", short code 36111) imports contacts with mixed consent and
launches a marketing campaign at 19:58 on a Saturday, Paris time. Who gets what follows
from the rules: metropolitan and Belgian recipients are inside their window (20:00 is two
minutes away); the Réunion recipient is at 22:58 his time, so his SMS is held to Monday
08:00, his time; consent that is missing or too old refuses the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
SHORT_CODE = "36111"
ADVERTISER = "Boulangerie Halte"
CONTACT_INFO = "boulangerie-halte.fr ou 01 23 45 67 89"
CAMPAIGN_TEXT = "Boulangerie Halte : -20 % sur les galettes ce week-end avec le code GALETTE."
#: What the campaign concerns: customers who bought pastries, and restaurant owners (b2b).
CAMPAIGN_CATEGORY = "pâtisserie"
CAMPAIGN_PROFESSIONS = ("restaurateur", "traiteur")


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    phone: str  # E.164
    written: str  # how the client writes it in the import
    basis: str
    expected: str  # "sent", "held", "refused", "invalid", "suppressed"
    note: str


OPT_IN = Person("opt_in", "+33612345601", "06 12 34 56 01", "opt_in", "sent", "ticked the box on the web shop")
RECENT = Person("recent_customer", "+33612345602", "+33 6 12 34 56 02", "customer", "sent", "bought a cake last month")
OLD = Person("old_customer", "+33612345603", "0612345603", "customer", "refused", "last purchase five years ago")
B2B = Person("b2b", "+33612345604", "0033612345604", "b2b", "sent", "a restaurant owner (legitimate interest)")
NONE = Person("no_consent", "+33612345605", "06.12.34.56.05", "none", "refused", "never consented")
INVALID = Person("invalid", "", "12345", "opt_in", "invalid", "not a phone number")
SUPPRESSED = Person("suppressed", "+33612345606", "06 12 34 56 06", "opt_in", "suppressed", "said STOP last year")
REUNION_OPT_IN = Person("reunion", "+262692123456", "0692 12 34 56", "opt_in", "held", "lives in Réunion (UTC+4)")
BELGIAN = Person("belgian", "+32470123456", "+32 470 12 34 56", "opt_in", "sent", "lives in Brussels")

CAST = (OPT_IN, RECENT, OLD, B2B, NONE, INVALID, SUPPRESSED, REUNION_OPT_IN, BELGIAN)
#: The one who replies "Stop SMS" (his marketing SMS is held) and the one who asks for CONTACT.
STOPPER = REUNION_OPT_IN
CONTACTER = RECENT


def _is_open_day(day: date) -> bool:
    french = holidays.France(years=day.year)
    reunion = holidays.France(subdiv="974", years=day.year)
    return day not in french and day not in reunion


def journey_saturday(today: date) -> date:
    """Return the first Saturday after `today` that, like the Monday after it, is no public holiday."""
    day = today + timedelta(days=1)
    while True:
        if day.weekday() == 5 and _is_open_day(day) and _is_open_day(day + timedelta(days=2)):
            return day
        day += timedelta(days=1)


def launch_instant(saturday: date) -> datetime:
    """Return Saturday 19:58, Paris time."""
    return datetime.combine(saturday, time(19, 58), PARIS)


def monday_opening(saturday: date, zone: ZoneInfo) -> datetime:
    """Return Monday 08:00 after `saturday`, in `zone`."""
    return datetime.combine(saturday + timedelta(days=2), time(8, 0), zone)


def import_rows(launch: datetime) -> list[dict[str, object]]:
    """Return the JSON-lines rows the client imports."""
    collected = (launch - timedelta(days=200)).isoformat()

    def consent(basis: str, **extra: object) -> dict[str, object]:
        return {"basis": basis, "collected_at": collected, "source": "boutique en ligne", **extra}

    wording = "J'accepte de recevoir les offres de la Boulangerie Halte par SMS."
    rows: dict[str, dict[str, object]] = {
        "opt_in": {"consent": consent("opt_in", wording=wording)},
        "recent_customer": {
            "consent": consent(
                "customer",
                last_purchase_at=(launch - timedelta(days=30)).isoformat(),
                purchase_categories=["Pâtisserie", "Pain"],
            )
        },
        "old_customer": {
            "consent": consent(
                "customer",
                last_purchase_at=(launch - timedelta(days=5 * 365)).isoformat(),
                purchase_categories=["Pâtisserie"],
            )
        },
        "b2b": {"consent": consent("b2b", profession="restaurateur")},
        "no_consent": {"consent": consent("none")},
        "invalid": {"consent": consent("opt_in", wording=wording)},
        "suppressed": {"consent": consent("opt_in", wording=wording)},
        "reunion": {"consent": consent("opt_in", wording=wording), "postal_code": "97400"},
        "belgian": {"consent": consent("opt_in", wording=wording)},
    }
    return [
        {
            "phone": person.written,
            "first_name": person.key.replace("_", " ").title(),
            "tags": ["galettes"],
            **rows[person.key],
        }
        for person in CAST
    ]


def next_sending_instant(now: datetime, *, latest: time) -> datetime | None:
    """Return None when `now` lies in Paris's strict window up to `latest`, else its next opening at 10:00.

    Fault scenarios and benchmarks need time to send marketing before the window closes: when
    real time does not leave it, they move the services' clocks to that instant.
    """
    local = now.astimezone(PARIS)
    if (
        local.weekday() < 6
        and local.date() not in holidays.France(years=local.year)
        and (time(8, 30) <= local.time() <= latest)
    ):
        return None
    day = local.date() + (timedelta(days=1) if local.time() > latest else timedelta(0))
    while day.weekday() == 6 or day in holidays.France(years=day.year):
        day += timedelta(days=1)
    return datetime.combine(day, time(10, 0), PARIS)
