"""Delivery reports: the carriers' words for what happened to a message, in the platform's vocabulary.

Rule (CONTRACT.md ``sms.delivery``; the inbound issue): a report is recorded and published
once per (carrier, message, status): a carrier that repeats a report (its retry) changes
nothing, while a message may legitimately go through several statuses (buffered, then
delivered). Statuses a carrier invents are kept raw beside ``unknown`` rather than guessed.
"""

from __future__ import annotations

from typing import Final

from halte_inbound.domain.kannel import DeliveryStatus

_STATUSES: Final[dict[str, DeliveryStatus]] = {
    "delivered": "delivered",
    "delivrd": "delivered",  # SMPP receipt spelling
    "failed": "failed",
    "undeliv": "failed",
    "undeliverable": "failed",
    "expired": "expired",
    "rejected": "rejected",
    "rejectd": "rejected",
    "buffered": "buffered",
    "enroute": "buffered",
    "accepted": "accepted",
    "acceptd": "accepted",
    "unknown": "unknown",
}


def delivery_status(raw: str) -> DeliveryStatus:
    """Return the platform's status for a carrier's status word ("DELIVRD" -> "delivered")."""
    return _STATUSES.get((raw or "").strip().lower(), "unknown")


def report_key(*, message_ref: str, status: DeliveryStatus, raw_status: str) -> str:
    """Return the key that makes a report unique for its carrier: the message it is about and its status.

    Two spellings of one status ("DELIVRD", "delivered") are one report; statuses the
    platform does not know are told apart by their raw word.
    """
    if status == "unknown":
        return f"{message_ref}|unknown:{(raw_status or '').strip().lower()}"
    return f"{message_ref}|{status}"
