"""Numbers in bulk: the exact E.164 normal form, computed fast for numbers already written so.

A number is suppressed under its E.164 form (``halte_shared.phone.normalize``), so a check
must look up exactly that form: ``+330612345678`` is ``+33612345678`` and must be found as
such. Parsing with phonenumbers costs about 20 µs a number, which dominates a bulk check
of 10,000 numbers. Most callers (the dispatcher, campaign-api) already send E.164, so a
number is first tested against a pattern compiled from phonenumbers' own metadata that
accepts a string only when it *is* the E.164 form of a valid number: its country code has a
single region, its national part matches that region's general and per-type patterns and
lengths (as ``is_valid_number`` checks them), and it does not start with what the region's
``national_prefix_for_parsing`` would strip. Everything else (other formats, shared country
codes, anything doubtful) goes through the full parser. The fast path never answers
differently from the parser; the unit tests compare them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from halte_rules.short_codes import normalise_short_code as normalise_written_code
from halte_shared.phone import InvalidPhoneNumber, normalize
from halte_suppression.domain.limits import MAX_PHONE_TEXT, clip

_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _lengths(lengths: Iterable[int], *, implied: Iterable[int] = ()) -> str:
    wanted = sorted(n for n in lengths if n > 0)
    if not wanted or wanted == sorted(n for n in implied if n > 0):
        return ""  # no constraint, or the same one already checked
    return "(?=" + "|".join(rf"\d{{{n}}}\Z" for n in wanted) + ")"


def _national_pattern(region: str) -> str | None:
    """Return a regex that fully matches exactly the valid national numbers of a region."""
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.leading_digits:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern:
        return None
    types = []
    for name in _TYPE_DESCS:
        desc = getattr(metadata, name, None)
        if desc is None or not desc.national_number_pattern:
            continue
        types.append(
            f"{_lengths(desc.possible_length, implied=general.possible_length)}(?:{desc.national_number_pattern})"
        )
    if not types:
        return None
    guard = f"(?!{metadata.national_prefix_for_parsing})" if metadata.national_prefix_for_parsing else ""
    general_check = f"(?=(?:{general.national_number_pattern})\\Z){_lengths(general.possible_length)}"
    return guard + general_check + "(?:" + "|".join(types) + r")\Z"


def _build_fast_patterns() -> dict[str, re.Pattern[str]]:
    patterns: dict[str, re.Pattern[str]] = {}
    for country_code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        if len(regions) != 1 or regions[0] == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
            continue  # several regions share the code: which one validates is the parser's call
        pattern = _national_pattern(regions[0])
        if pattern is not None:
            # ASCII: a Unicode digit is not the E.164 form (the parser converts it), so it
            # must take the slow path, never match here.
            patterns[str(country_code)] = re.compile(rf"\+{country_code}{pattern}", re.ASCII)
    return patterns


_FAST: dict[str, re.Pattern[str]] = _build_fast_patterns()


def is_canonical_e164(text: str) -> bool:
    """Tell, cheaply, whether `text` is certainly the E.164 form of a valid number."""
    if text[:1] != "+":
        return False
    # Country codes are prefix-free, so at most one of these slices names a country;
    # two-digit codes (most of Europe) are tried first.
    fast = _FAST
    pattern = fast.get(text[1:3]) or fast.get(text[1:4]) or fast.get(text[1:2])
    return pattern is not None and pattern.fullmatch(text) is not None


@lru_cache(maxsize=65_536)
def _parse(text: str) -> tuple[str | None, str]:
    try:
        return normalize(text), ""
    except InvalidPhoneNumber as exc:
        return None, exc.code


def normalize_number(text: str) -> str:
    """Return the E.164 form of a number in any format, or raise InvalidPhoneNumber."""
    if len(text) > MAX_PHONE_TEXT:
        raise InvalidPhoneNumber("invalid_number", f"A phone number has at most {MAX_PHONE_TEXT} characters.")
    if is_canonical_e164(text):
        return text
    e164, code = _parse(text)
    if e164 is None:
        raise InvalidPhoneNumber(code, f"{text!r} is not a valid phone number.")
    return e164


def normalize_many(texts: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Return the E.164 form of each valid number (in order) and each invalid one with its reason."""
    valid: list[str] = []
    invalid: list[tuple[str, str]] = []
    fast = _FAST.get
    for text in texts:
        # is_canonical_e164, inlined: at 10,000 numbers a call the function call itself shows.
        if text[:1] == "+":
            pattern = fast(text[1:3]) or fast(text[1:4]) or fast(text[1:2])
            if pattern is not None and pattern.fullmatch(text) is not None:
                valid.append(text)
                continue
        if len(text) > MAX_PHONE_TEXT:
            invalid.append((clip(text, MAX_PHONE_TEXT) or "", "invalid_number"))
            continue
        e164, code = _parse(text)
        if e164 is None:
            # Echoed back to the caller: made printable as JSON in UTF-8 whatever came in.
            invalid.append((clip(text, MAX_PHONE_TEXT) or "", code))
        else:
            valid.append(e164)
    return valid, invalid


def normalize_short_code(raw: str | None) -> str | None:
    """Return a short code as digits only, or None when it is not one (e.g. an alphanumeric sender)."""
    # Carriers report codes of 3 to 8 digits; the way they are written is halte_rules'.
    digits = normalise_written_code(raw)
    return digits if digits is not None and 3 <= len(digits) <= 8 else None


def masked(phone: str) -> str:
    """Return a number with its last four digits hidden, for logs (minimal data)."""
    return phone[:-4] + "****" if len(phone) > 6 else "****"
