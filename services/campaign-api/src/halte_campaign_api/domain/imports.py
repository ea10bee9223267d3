"""Bulk import rows: the same checks as ``PUT /v1/contacts/{phone}``, one row at a time.

Rules (CONTRACT.md ``POST /v1/contacts/import``):

- CSV (``text/csv``, UTF-8, a header line) names its columns among :data:`CSV_COLUMNS`;
  ``phone`` and ``consent_basis`` are required, an unknown or repeated column refuses the
  whole file before anything is stored (a misspelt ``consent_wordng`` would otherwise drop
  proof of consent silently). Tags share one cell, separated by ``|`` or ``;``, and so do
  a customer's purchase categories (``consent_purchase_categories``: ``chaussures|sacs``).
  Empty cells are absent values.
- JSON lines (``application/x-ndjson``): one object a line, shaped as the body of
  ``PUT /v1/contacts/{phone}`` plus ``phone``; unknown keys refuse the row.
- Each row is checked like a single contact (contacts.py, consent.py, phones.py); a bad
  row is reported with its line number, code, message and field, and the others go on.
- A number that appears on several rows is imported once, from its last row; the
  earlier rows are reported as ``duplicate_phone``. A number on the account's
  suppression list is refused with ``suppressed`` (SPEC rule 5: it stays only there).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from halte_campaign_api.domain.contacts import ContactRecord, check_contact, split_csv_tags
from halte_campaign_api.domain.errors import DomainError, safe_text

CSV_COLUMNS: Final = (
    "phone",
    "first_name",
    "last_name",
    "postal_code",
    "tags",
    "consent_basis",
    "consent_collected_at",
    "consent_source",
    "consent_wording",
    "consent_last_purchase_at",
    "consent_profession",
    "consent_purchase_categories",
)
REQUIRED_CSV_COLUMNS: Final = ("phone", "consent_basis")
JSON_FIELDS: Final = frozenset({"phone", "first_name", "last_name", "postal_code", "tags", "consent"})
_CONSENT_PREFIX: Final = "consent_"


def check_csv_header(header: Sequence[str]) -> tuple[str, ...]:
    """Return the header's column names normalised, or raise DomainError naming the bad column."""
    names: list[str] = []
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").strip().lower()
        if index == len(header) - 1 and not name and names:
            continue  # a trailing separator at the end of the header line
        if name not in CSV_COLUMNS:
            raise DomainError(
                "unknown_column", f"{raw!r} is not an import column (known: {', '.join(CSV_COLUMNS)}).", raw
            )
        if name in names:
            raise DomainError("duplicate_column", f"The column {name!r} appears twice.", name)
        names.append(name)
    for required in REQUIRED_CSV_COLUMNS:
        if required not in names:
            raise DomainError("missing_column", f"The CSV header needs a {required!r} column.", required)
    return tuple(names)


@functools.lru_cache(maxsize=64)
def _csv_plan(columns: tuple[str, ...]) -> tuple[tuple[int, str, bool], ...]:
    # Where each column's value goes, decided once per file rather than once per row.
    return tuple(
        (
            index,
            name[len(_CONSENT_PREFIX) :] if name.startswith(_CONSENT_PREFIX) else name,
            name.startswith(_CONSENT_PREFIX),
        )
        for index, name in enumerate(columns)
    )


def contact_from_csv(
    cells: Sequence[str], *, columns: Sequence[str], now: datetime, account_non_commercial: bool = False
) -> ContactRecord:
    """Return the contact of one CSV row, or raise DomainError naming the bad field."""
    width = len(columns)
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        raise DomainError("too_many_cells", f"The row has {len(cells)} cells for {width} columns.", None)
    values: dict[str, str] = {}
    consent: dict[str, Any] = {}
    count = len(cells)
    for index, name, is_consent in _csv_plan(tuple(columns)):
        if index >= count:
            break
        cell = cells[index]
        if cell:
            if is_consent:
                consent[name] = cell
            else:
                values[name] = cell
    tags = values.get("tags")
    categories = consent.get("purchase_categories")
    if categories is not None:
        consent["purchase_categories"] = split_csv_tags(categories)
    return check_contact(
        phone=values.get("phone", ""),
        first_name=values.get("first_name"),
        last_name=values.get("last_name"),
        postal_code=values.get("postal_code"),
        tags=split_csv_tags(tags) if tags else None,
        consent=consent,
        now=now,
        account_non_commercial=account_non_commercial,
    )


def contact_from_json(data: Any, *, now: datetime, account_non_commercial: bool = False) -> ContactRecord:
    """Return the contact of one JSON line, or raise DomainError naming the bad field."""
    if not isinstance(data, Mapping):
        raise DomainError("invalid_row", "Each line must be a JSON object.", None)
    for key in data:
        if key not in JSON_FIELDS:
            raise DomainError("unknown_field", f"{key!r} is not a contact field.", safe_text(str(key))[:100])
    if "phone" not in data:
        raise DomainError("missing_field", "phone is required.", "phone")
    if "consent" not in data:
        raise DomainError("missing_field", "consent is required.", "consent")
    return check_contact(
        phone=data.get("phone"),
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        postal_code=data.get("postal_code"),
        tags=data.get("tags"),
        consent=data.get("consent"),
        now=now,
        account_non_commercial=account_non_commercial,
    )
