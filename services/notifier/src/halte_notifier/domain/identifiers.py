"""Deterministic identifiers: the same cause always names the same message, charge and submission.

Rule (SPEC rule 5: one confirmation and one credit per opt-out, whatever happens to the
process): every id the notifier hands out is derived from the event that caused the work
(the opt-out id, the CONTACT request id), never drawn at random. A redelivered event, a
restarted process or a second replica therefore computes the same ids, and the database's
unique keys and the carrier's idempotency key (our submission id) absorb the repetition.

A message is tried as one or more *submissions*. The first submission carries the message
id itself, so the common case has a single id end to end. A new submission id is used only
when the carrier accepted an earlier one and later reported it undelivered: re-using that
id would be deduplicated by the carrier, which is exactly what a retry must not be.
"""

from __future__ import annotations

import uuid
from typing import Literal

Purpose = Literal["optout_confirmation", "contact_reply"]

#: Fixed forever: changing it would give old causes new ids and break deduplication.
NAMESPACE = uuid.UUID("8f0e3c52-6a55-4b8e-9d8e-2f1b9f3c7a10")


def message_id_for(*, purpose: Purpose, cause_event_id: str) -> str:
    """Return the message id of the SMS a cause (opt-out or CONTACT request) calls for."""
    return str(uuid.uuid5(NAMESPACE, f"message:{purpose}:{cause_event_id}"))


def charge_id_for(*, purpose: Purpose, cause_event_id: str) -> str:
    """Return the id of the one charge a cause may produce."""
    return str(uuid.uuid5(NAMESPACE, f"charge:{purpose}:{cause_event_id}"))


def submission_id_for(message_id: str, attempt: int) -> str:
    """Return the idempotency key of a message's n-th carrier submission (the first is the message id)."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt == 1:
        return message_id
    return str(uuid.uuid5(NAMESPACE, f"submission:{message_id}:{attempt}"))
