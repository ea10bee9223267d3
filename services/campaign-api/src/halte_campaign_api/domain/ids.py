"""Identifiers the API hands out: UUIDs, checked before a lookup so a malformed one is a clean 404."""

from __future__ import annotations

import uuid


def is_uuid(value: str) -> bool:
    """Tell whether the text is a UUID."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
