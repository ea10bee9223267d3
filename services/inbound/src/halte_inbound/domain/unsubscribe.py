"""The unsubscribe page for destinations outside France: which language it speaks, what number it shows.

Rules (SPEC.md rule 3: outside France an unsubscribe link to a page hosted by the platform
takes the place of the STOP reply; the inbound issue):

* The page speaks French or English, chosen from the browser's ``Accept-Language``
  (RFC 9110 section 12.5.4: the highest quality value wins, ``q=0`` means "not this one",
  order breaks ties). A visitor can override it with ``?lang=``. With no usable
  preference the page is in English: it serves numbers outside France.
* The page shows the number it will unsubscribe, masked but for its country code and last
  two digits: enough for the recipient to recognise it, not enough to read someone else's
  number off a forwarded link.
"""

from __future__ import annotations

from typing import Final, Literal

import phonenumbers

Language = Literal["fr", "en"]
SUPPORTED: Final[tuple[Language, ...]] = ("fr", "en")
DEFAULT_LANGUAGE: Final[Language] = "en"


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value.strip())))
            except ValueError:
                return 0.0
    return 1.0


def pick_language(accept_language: str | None, *, override: str | None = None) -> Language:
    """Return "fr" or "en" for a visitor, from ``?lang=`` first, then ``Accept-Language``."""
    wanted = (override or "").strip().lower()
    if wanted in SUPPORTED:
        return wanted  # type: ignore[return-value]
    best: tuple[float, int, Language] | None = None
    for position, item in enumerate((accept_language or "")[:1000].split(",")):
        tag, *parameters = item.split(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in SUPPORTED:
            continue
        quality = _quality(parameters)
        if quality <= 0:
            continue
        candidate = (quality, -position, primary)
        if best is None or candidate[:2] > best[:2]:
            best = candidate  # type: ignore[assignment]
    return best[2] if best else DEFAULT_LANGUAGE


def mask_phone(e164: str) -> str:
    """Return "+44 ••••••••89" for "+447700900089": country code and last two digits only."""
    try:
        country_code = str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        country_code = ""
    national = e164.removeprefix("+").removeprefix(country_code)
    if len(national) <= 2:
        return "•" * len(e164)
    prefix = f"+{country_code} " if country_code else ""
    return f"{prefix}{'•' * (len(national) - 2)}{national[-2:]}"
