"""Contacts of an address book: the fields a campaign may use, each checked before it is stored.

Rules:

- CONTRACT.md ``PUT /v1/contacts/{phone}``: a contact is its E.164 mobile number
  (phones.py), optional ``first_name``, ``last_name``, ``postal_code`` and ``tags``, and its
  consent record, validated by basis (consent.py, SPEC rule 1).
- Names end up inside SMS texts (personalisation), so a name with a control character or
  a line break is refused rather than allowed to reshape the message; names are limited
  to 100 characters.
- The postal code decides the recipient's holiday calendar (SPEC rule 4: Alsace-Moselle,
  Saint-Martin, Saint-Barthélemy), so it is kept as written: 2 to 10 letters, digits,
  spaces or dashes (French codes are 5 digits; foreign ones vary).
- Tags select audiences: 1 to 50 letters, digits, ``_ - : .``; at most 50 tags a contact,
  distinct, in the order given. In a CSV import they share one column, separated by ``|``
  or ``;``.
- A contact stores what its campaigns need and nothing more (data minimisation): unknown
  fields are refused, never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from halte_campaign_api.domain.consent import consent_values
from halte_campaign_api.domain.errors import DomainError, check_one_line
from halte_campaign_api.domain.phones import normalize_contact_phone

NAME_MAX: Final = 100
MAX_TAGS: Final = 50
TAG_RE: Final = re.compile(r"[A-Za-z0-9_\-:.]{1,50}")
POSTAL_CODE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 \-]{0,8}[A-Za-z0-9]")


def check_person_name(value: object, *, field: str) -> str | None:
    """Return a first or last name tidied (None when empty), or raise DomainError."""
    if value is None:
        return None
    return check_one_line(value, field=field, what=field, max_length=NAME_MAX) or None


def check_postal_code(value: object, *, field: str = "postal_code") -> str | None:
    """Return the postal code (None when empty), or raise DomainError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise DomainError("invalid_type", "postal_code must be a string.", field)
    tidy = value.strip()
    if not tidy:
        return None
    if not POSTAL_CODE_RE.fullmatch(tidy):
        raise DomainError("invalid_postal_code", f"{tidy!r} is not a postal code.", field)
    return tidy.upper()


def check_tags(values: object, *, field: str = "tags") -> list[str]:
    """Return the distinct tags in order, or raise DomainError."""
    if values is None:
        return []
    if type(values) is not list and (isinstance(values, str) or not isinstance(values, Iterable)):
        raise DomainError("invalid_type", "tags must be a list of strings.", field)
    tags: list[str] = []
    for value in values:
        tag = value.strip() if isinstance(value, str) else None
        if tag is None or not TAG_RE.fullmatch(tag):
            raise DomainError("invalid_tag", f"{value!r} is not a tag (1 to 50 letters, digits or _ - : .).", field)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise DomainError("too_many", f"A contact has at most {MAX_TAGS} tags.", field)
    return tags


def split_csv_tags(cell: str) -> list[str]:
    """Return the tags of a CSV cell (``vip|paris``), ignoring empty parts."""
    parts = cell.replace(";", "|").split("|")
    return [tag for tag in (part.strip() for part in parts) if tag]


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A contact checked and tidied, ready to store: number, fields, tags and consent values."""

    phone: str
    first_name: str | None
    last_name: str | None
    postal_code: str | None
    tags: list[str]
    consent: dict[str, Any]


def check_contact(
    *,
    phone: object,
    first_name: object = None,
    last_name: object = None,
    postal_code: object = None,
    tags: object = None,
    consent: object,
    now: datetime,
    account_non_commercial: bool = False,
) -> ContactRecord:
    """Return the contact checked field by field, or raise DomainError naming the first bad field.

    ``account_non_commercial``: whether the operator flagged the account non-commercial (the
    ``non_commercial`` consent basis needs it).
    """
    return ContactRecord(
        phone=normalize_contact_phone(phone),
        first_name=check_person_name(first_name, field="first_name"),
        last_name=check_person_name(last_name, field="last_name"),
        postal_code=check_postal_code(postal_code),
        tags=check_tags(tags),
        consent=consent_values(consent, now=now, account_non_commercial=account_non_commercial),
    )
