"""Accounts: who sends, from which short codes, in which mode, within which hours.

Rules (docs/compliance-rules.md; the short-code ranges and the hours profiles are
halte_rules', the dispatcher's very tables):

- Replies (STOP) reach the platform through the account's 5-digit short codes; an account
  has one or several. Only the 36xxx range is assigned to SMS marketing, so an account in
  ``marketing`` mode needs at least one such code, and its marketing leaves from the first.
- An account in ``notification`` mode sends informative SMS only (the composition refuses
  its marketing, see compose.py).
- Every marketing SMS names the advertiser, so the account's name is required and is what
  the text is prefixed with; ``contact_info`` is what a CONTACT reply tells the recipient.
- The operator chooses a named hours profile (``strict``, 08:00-20:00, is the default;
  ``af2m-2024`` 08:00-22:00 and ``af2m-2026`` 08:00-21:30 are the operators' charters), and
  an account may narrow its window but never widen it beyond its profile, nor narrow it
  until nothing is left to send in once the dispatch margin is kept
  (``halte_rules.hours.window_for``, as the dispatcher applies it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import time
from typing import Final

from halte_campaign_api.domain.errors import DomainError
from halte_rules.hours import DEFAULT_PROFILE, PROFILES, HoursConfigError, window_for
from halte_rules.short_codes import is_short_code, may_carry_marketing, normalise_short_code

MODES: Final = ("marketing", "notification")
MAX_SHORT_CODES: Final = 10
NAME_MAX: Final = 100
CONTACT_INFO_MAX: Final = 300
DEFAULT_HOURS_PROFILE: Final = DEFAULT_PROFILE

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
        if not isinstance(code, str) or not is_short_code(code):
            raise DomainError("invalid_short_code", f"{code!r} is not a 5-digit short code.", field)
        value = normalise_short_code(code) or code
        if value not in found:
            found.append(value)
    if not found:
        raise DomainError("missing_field", "An account needs at least one 5-digit short code.", field)
    if len(found) > MAX_SHORT_CODES:
        raise DomainError("too_many", f"An account has at most {MAX_SHORT_CODES} short codes.", field)
    if mode == "marketing" and not any(may_carry_marketing(c) for c in found):
        raise DomainError(
            "no_marketing_short_code",
            "Only the 36xxx range is assigned to SMS marketing (38xxx is transactional): "
            "a marketing account needs a 36xxx short code.",
            field,
        )
    return tuple(found)


def marketing_short_code(short_codes: Iterable[str]) -> str | None:
    """Return the code marketing is sent from: the first one of the marketing range."""
    return next((c for c in short_codes if may_carry_marketing(c)), None)


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
    """Return (profile, start, end) when the window lies inside the profile's and leaves time to send."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise DomainError(
            "invalid_hours_profile", f"hours_profile must be one of {', '.join(PROFILES)}.", "hours_profile"
        )
    start = _clock(window_start, "window_start")
    end = _clock(window_end, "window_end")
    try:
        window_for(profile, start=start, end=end)
    except HoursConfigError as exc:
        legal = PROFILES[profile]
        wider = (start is not None and start < legal.opens) or (end is not None and end > legal.closes)
        code = "window_wider_than_profile" if wider else "empty_window"
        suffix = " An account may narrow its window, never widen it." if code == "window_wider_than_profile" else ""
        raise DomainError(code, f"{exc.message}.{suffix}", exc.field) from exc
    return profile, (f"{start:%H:%M}" if start else None), (f"{end:%H:%M}" if end else None)
