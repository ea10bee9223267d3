"""Contact numbers: E.164, mobile only, fast enough for a million-row import.

Rule (CONTRACT.md): numbers are accepted in any format ``phonenumbers`` parses (national
French format defaults to region FR) and always stored and returned in E.164; a number
that is invalid, or that is not a mobile (an SMS cannot reach a landline), is refused
with the reason (``invalid_number``, ``not_mobile``).

Speed: ``phonenumbers`` takes about 30 µs a number, half a minute for a million rows. Most
imported numbers are metropolitan mobiles written ``06 12 34 56 78``, ``+33612345678`` or
``0033 6...``; for those a fast path strips the separators and matches the national number
against phonenumbers' own FR mobile pattern (the same metadata, so the same answer: a
property test pins the equivalence). Anything else goes through ``phonenumbers``.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers

from halte_campaign_api.domain.errors import DomainError
from halte_shared.phone import FRENCH_TERRITORY_ZONES, InvalidPhoneNumber, normalize_mobile

_FR_MOBILE: Final = re.compile(
    str(phonenumbers.PhoneMetadata.metadata_for_region("FR").mobile.national_number_pattern)  # type: ignore[union-attr]
)
_SEPARATORS: Final = re.compile(r"[ .\-()/\u00a0]")
_FR_SHAPE: Final = re.compile(r"(?:\+33|0033|0)([67][0-9]{8})")

#: Country calling codes used only by French territories (+590 is shared by GP, MF, BL).
FRENCH_CALLING_CODES: Final = frozenset(
    str(phonenumbers.country_code_for_region(region)) for region in FRENCH_TERRITORY_ZONES
)
_MAX_RAW: Final = 40


def normalize_contact_phone(raw: object, *, field: str = "phone") -> str:
    """Return the E.164 form of a mobile number, or raise DomainError with the reason."""
    if not isinstance(raw, str):
        raise DomainError("invalid_number", "The phone number must be a string.", field)
    text = raw.strip()
    if not text:
        raise DomainError("invalid_number", "The phone number is empty.", field)
    if len(text) > _MAX_RAW:
        raise DomainError("invalid_number", "The phone number is too long.", field)
    compact = _SEPARATORS.sub("", text)
    shape = _FR_SHAPE.fullmatch(compact)
    if shape is not None and _FR_MOBILE.fullmatch(shape.group(1)):
        return "+33" + shape.group(1)
    try:
        return normalize_mobile(text).e164
    except InvalidPhoneNumber as exc:
        raise DomainError(exc.code, exc.message, field) from exc


def is_french_number(e164: str) -> bool:
    """Tell whether an E.164 number belongs to France (metropolis or overseas)."""
    digits = e164[1:]
    return any(digits.startswith(code) for code in FRENCH_CALLING_CODES)
