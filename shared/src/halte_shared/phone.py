"""Phone numbers: parse anything phonenumbers understands, answer in E.164, locate the recipient.

France is more than the metropolis: the overseas departments and collectivities have
their own country calling codes (or share +590) and their own time zones, so the
territory of a number is read from phonenumbers' region, never guessed from a prefix.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from phonenumbers import timezone as pn_timezone

from halte_rules.territories import FRENCH_TERRITORY_ZONES

DEFAULT_REGION = "FR"


#: Regions whose ten-digit numbers are dialled from the metropolis in national format.
_OVERSEAS_NATIONAL_PLAN = ("GP", "MQ", "GF", "RE", "YT")

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}


class InvalidPhoneNumber(ValueError):
    """A number that cannot be used, with a machine code and a sentence for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """What the platform needs to know about one recipient number."""

    e164: str
    region: str
    number_type: str
    time_zone: str
    is_french: bool

    @property
    def is_mobile(self) -> bool:
        return self.number_type in ("mobile", "fixed_line_or_mobile")


def _parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("invalid_number", "The phone number is empty.")
    if text.startswith("00"):
        # International prefix written the European way; phonenumbers only knows it
        # relative to the default region, which breaks for a non-FR default.
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber("invalid_number", f"{raw!r} is not a phone number ({exc.args[0]}).") from exc
    if phonenumbers.is_valid_number(number):
        return number
    if default_region == "FR" and not text.startswith("+"):
        # Overseas numbers belong to the French national plan: a carrier in the
        # metropolis writes a Guadeloupe mobile as 0690..., which only the
        # overseas region's metadata recognises.
        for region in _OVERSEAS_NATIONAL_PLAN:
            candidate = phonenumbers.parse(text, region)
            if phonenumbers.is_valid_number(candidate):
                return candidate
    raise InvalidPhoneNumber("invalid_number", f"{raw!r} is not a valid phone number.")


def normalize(raw: str, *, default_region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of a number written in any format phonenumbers parses."""
    return phonenumbers.format_number(_parse(raw, default_region), phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _zones_of_country() -> dict[str, list[str]]:
    """Read the IANA zone.tab that ships with tzdata: country code -> zones, main zone first."""
    table: dict[str, list[str]] = {}
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_ = line.split("\t")
            table.setdefault(country, []).append(zone)
    return table


def _zone_for(number: phonenumbers.PhoneNumber, region: str) -> str:
    if region in FRENCH_TERRITORY_ZONES:
        return FRENCH_TERRITORY_ZONES[region]
    candidates = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    country_zones = _zones_of_country().get(region, [])
    # A mobile number rarely pins one zone (a UK mobile lists Jersey and Guernsey too,
    # a US one every state): the country's own zones, in IANA's order, decide.
    for zone in country_zones:
        if zone in candidates or not candidates:
            return zone
    return candidates[0] if candidates else "UTC"


def describe(raw: str, *, default_region: str = DEFAULT_REGION) -> PhoneInfo:
    """Return the E.164 number with its territory, line type and IANA time zone."""
    number = _parse(raw, default_region)
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    return PhoneInfo(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
        number_type=_TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
        time_zone=_zone_for(number, region),
        is_french=region in FRENCH_TERRITORY_ZONES,
    )


def normalize_mobile(raw: str, *, default_region: str = DEFAULT_REGION) -> PhoneInfo:
    """Return the number's description, refusing anything that cannot receive an SMS."""
    info = describe(raw, default_region=default_region)
    if not info.is_mobile:
        raise InvalidPhoneNumber(
            "not_mobile", f"{info.e164} is a {info.number_type.replace('_', ' ')} number, not a mobile one."
        )
    return info


def is_ordinary_mobile_sender(sender: str) -> bool:
    """Tell whether a sender is a full-length mobile number (e.g. 06/07 in France), not a short code."""
    if not sender or not sender.lstrip("+").isdigit() or len(sender.lstrip("+")) <= 6:
        return False
    try:
        info = describe(sender)
    except InvalidPhoneNumber:
        return False
    return info.number_type in ("mobile", "fixed_line_or_mobile")
