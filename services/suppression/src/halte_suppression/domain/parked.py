"""What an opt-out event that could not be processed still says: enough to keep its number blocked.

Rule (docs/stop-enforcement.md): an ``optout.requested`` the consumer parks (it cannot be
decoded, or its content is refused) must never let marketing reach the number. Whatever can
be read of it (the number, the short code, the account) is announced as a ``pending`` request
on the change feed, and the dispatcher blocks that number for the account named and every
account on that short code until an operator replays or discards the event. The payload is
read leniently, field by field, since the event is by definition one the strict decoder
refused; the message key (the E.164 number, per the topic table) stands in for an unreadable
number. An event that names no usable number blocks nothing, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from halte_shared.phone import InvalidPhoneNumber
from halte_suppression.domain.limits import clip
from halte_suppression.domain.numbers import normalize_number, normalize_short_code

OPTOUT_REQUESTED = "optout.requested"


@dataclass(frozen=True, slots=True)
class ParkedOptout:
    """The fail-safe reading of a parked opt-out event."""

    request_id: str
    phone: str
    short_code: str | None
    account_id: str | None


def _text(value: Any, limit: int) -> str | None:
    return clip(value, limit) if isinstance(value, str) and value.strip() else None


def _number(*candidates: Any) -> str | None:
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return normalize_number(candidate)
            except InvalidPhoneNumber:
                continue
    return None


def read_parked_optout(*, topic: str, value: bytes, key: str | None, parked_id: int) -> ParkedOptout | None:
    """Return what a parked ``optout.requested`` names, or None when it is another event or names no number."""
    if topic != OPTOUT_REQUESTED:
        return None
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
        document = None
    envelope: dict[str, Any] = document if isinstance(document, dict) else {}
    inner = envelope.get("payload")
    payload: dict[str, Any] = inner if isinstance(inner, dict) else {}
    phone = _number(payload.get("phone"), key)
    if phone is None:
        return None
    short_code = payload.get("short_code")
    return ParkedOptout(
        request_id=_text(payload.get("request_id"), 200) or f"parked:{parked_id}",
        phone=phone,
        short_code=normalize_short_code(short_code if isinstance(short_code, str) else None),
        account_id=_text(payload.get("account_id"), 128),
    )
