"""Accounts: who sends, from which short codes, in which mode, within which hours.

Rules:

- SPEC rule 3 (reference/004): replies (STOP) reach the platform through the account's
  numeric 5-digit short codes; an account has one or several. The 38xxx range is assigned
  to transactional traffic, so an account in ``marketing`` mode needs at least one code
  outside it (its marketing would otherwise be refused for every French number).
- SPEC rule 2 (reference/002): an account in ``notification`` mode sends informative SMS
  only (the composition refuses its marketing, see compose.py).
- SPEC rule 2 (CNIL, reference/003): every marketing SMS names the advertiser, so the
  account's name is required and is what the text is prefixed with; ``contact_info`` is
  what a CONTACT reply tells the recipient (SPEC rule 6).
- SPEC rule 4: the operator chooses a named hours profile (``strict``, the reference
  documents' 08:00-20:00, is the default; ``af2m-2024`` 08:00-22:00 and ``af2m-2026``
  08:00-21:30 are the operators' charters), and an account may narrow its window but never
  widen it beyond its profile. The windows here mirror the dispatcher's table (it applies
  them; campaign-api refuses a configuration the dispatcher would have to clamp).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import time
from typing import Final

from halte_campaign_api.domain.errors import DomainError

MODES: Final = ("marketing", "notification")
SHORT_CODE_RE: Final = re.compile(r"[0-9]{5}")
TRANSACTIONAL_PREFIX: Final = "38"
MAX_SHORT_CODES: Final = 10
NAME_MAX: Final = 100
CONTACT_INFO_MAX: Final = 300
DEFAULT_HOURS_PROFILE: Final = "strict"

#: Monday-Saturday opening and closing (local wall-clock) of each named profile (SPEC rule 4).
HOURS_PROFILES: Final[dict[str, tuple[time, time]]] = {
    "strict": (time(8, 0), time(20, 0)),
    "af2m-2024": (time(8, 0), time(22, 0)),
    "af2m-2026": (time(8, 0), time(21, 30)),
}

_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
_CLOCK_RE: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def check_name(name: object, *, field: str = "name") -> str:
    """Return the advertiser name tidied, or raise DomainError."""
    if not isinstance(name, str) or not name.strip():
        raise DomainError("missing_field", "The advertiser name is required: marketing SMS must name it.", field)
    if _CONTROL_RE.search(name):
        raise DomainError("invalid_character", "The advertiser name contains a control character.", field)
    tidy = " ".join(name.split())
    if len(tidy) > NAME_MAX:
        raise DomainError("too_long", f"The advertiser name is longer than {NAME_MAX} characters.", field)
    return tidy


def check_contact_info(contact_info: object, *, field: str = "contact_info") -> str:
    """Return the contact line (what a CONTACT reply says), or raise DomainError."""
    if not isinstance(contact_info, str) or not contact_info.strip():
        raise DomainError("missing_field", "contact_info (how recipients reach the advertiser) is required.", field)
    if _CONTROL_RE.search(contact_info):
        raise DomainError("invalid_character", "contact_info contains a control character.", field)
    tidy = " ".join(contact_info.split())
    if len(tidy) > CONTACT_INFO_MAX:
        raise DomainError("too_long", f"contact_info is longer than {CONTACT_INFO_MAX} characters.", field)
    return tidy


def check_mode(mode: object) -> str:
    """Return the account mode, or raise DomainError."""
    if mode not in MODES:
        raise DomainError("invalid_mode", "mode must be 'marketing' or 'notification'.", "mode")
    return str(mode)


def check_short_codes(codes: Iterable[object], *, mode: str, field: str = "short_codes") -> tuple[str, ...]:
    """Return the account's short codes (5 digits, distinct, in order), or raise DomainError."""
    found: list[str] = []
    for code in codes:
        value = code.strip() if isinstance(code, str) else ""
        if not SHORT_CODE_RE.fullmatch(value):
            raise DomainError("invalid_short_code", f"{code!r} is not a 5-digit short code.", field)
        if value not in found:
            found.append(value)
    if not found:
        raise DomainError("missing_field", "An account needs at least one 5-digit short code.", field)
    if len(found) > MAX_SHORT_CODES:
        raise DomainError("too_many", f"An account has at most {MAX_SHORT_CODES} short codes.", field)
    if mode == "marketing" and all(c.startswith(TRANSACTIONAL_PREFIX) for c in found):
        raise DomainError(
            "transactional_short_code",
            "38xxx short codes are assigned to transactional traffic; a marketing account needs a 36xxx one.",
            field,
        )
    return tuple(found)


def marketing_short_code(short_codes: Iterable[str]) -> str | None:
    """Return the code marketing is sent from: the first one outside the transactional range."""
    return next((c for c in short_codes if not c.startswith(TRANSACTIONAL_PREFIX)), None)


def _clock(value: object, field: str) -> time | None:
    if value is None:
        return None
    match = _CLOCK_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise DomainError("invalid_time", f"{field} must be a time written HH:MM.", field)
    return time(int(match.group(1)), int(match.group(2)))


def check_hours(
    profile: object, window_start: object = None, window_end: object = None
) -> tuple[str, str | None, str | None]:
    """Return (profile, start, end) when the window lies inside the profile's, or raise DomainError."""
    if profile not in HOURS_PROFILES:
        raise DomainError(
            "invalid_hours_profile", f"hours_profile must be one of {', '.join(HOURS_PROFILES)}.", "hours_profile"
        )
    opens, closes = HOURS_PROFILES[str(profile)]
    start = _clock(window_start, "window_start")
    end = _clock(window_end, "window_end")
    if start is not None and start < opens:
        raise DomainError(
            "window_wider_than_profile",
            f"window_start {start:%H:%M} is earlier than the {profile} profile's {opens:%H:%M}: "
            "an account may narrow its window, never widen it.",
            "window_start",
        )
    if end is not None and end > closes:
        raise DomainError(
            "window_wider_than_profile",
            f"window_end {end:%H:%M} is later than the {profile} profile's {closes:%H:%M}: "
            "an account may narrow its window, never widen it.",
            "window_end",
        )
    if (start or opens) >= (end or closes):
        raise DomainError("empty_window", "window_start must be before window_end.", "window_end")
    return str(profile), (f"{start:%H:%M}" if start else None), (f"{end:%H:%M}" if end else None)
