"""Campaigns: their life, their audience, what a launch reserves and what comes back.

Rules:

- Life (CONTRACT.md campaign endpoints): a campaign is a ``draft`` until launched; a
  launch makes it ``running`` while its recipients are streamed to the dispatcher, then
  ``dispatched`` once every recipient was requested (``completed`` is reported when no
  decision is pending any more). ``cancel`` stops a draft or a running campaign:
  recipients not yet streamed are never requested; those already handed to the
  dispatcher follow their course (the bus has no recall).
- Audience: the account's contacts carrying any of ``tags``, plus the contacts named in
  ``phones``; neither given means the whole address book. Only contacts that existed
  when the launch was accepted are streamed, so the reservation covers them all; a
  contact deleted meanwhile (erasure, STOP) is never requested.
- Credits (SPEC "credit ledger"; ledger.py): a launch reserves recipients x segments x
  credits per segment of the preview, refusing ``insufficient_credits`` when the account
  cannot cover it. Each recipient is charged its own segments as it is streamed (a
  personalised text may be longer than the preview); a batch that needs more than is
  left reserves the difference, and a recipient no credit covers is requested with
  ``credits_reserved`` false, so the dispatcher refuses it (``insufficient_credits``) and
  the balance never goes below zero. What was reserved and not charged is refunded when
  the stream ends or the campaign is cancelled; a recipient finally refused is refunded
  its charge when the decision arrives.
- Dedupe: a recipient's request id is a UUIDv5 of (campaign, number), so a launch resumed
  after a crash re-emits the same id and the dispatcher decides each recipient once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from halte_campaign_api.domain.errors import DomainError, has_unstorable

STATUSES: Final = ("draft", "running", "dispatched", "cancelled")
LAUNCHABLE: Final = frozenset({"draft"})
CANCELLABLE: Final = frozenset({"draft", "running"})
#: A recipient's outcome, from the dispatcher's decisions (dispatch.decided).
OUTCOMES: Final = ("pending", "sent", "held", "refused")
OUTCOME_OF_DECISION: Final = {"send": "sent", "hold": "held", "refuse": "refused"}
MAX_AUDIENCE_TAGS: Final = 50
MAX_AUDIENCE_PHONES: Final = 10_000
NAME_MAX: Final = 200
TEXT_MAX: Final = 1600
_REQUEST_NAMESPACE: Final = uuid.UUID("6f0a3c1e-8d4b-5a7e-9c2f-1b3d5e7f9a0c")


def check_campaign_name(name: object) -> str:
    """Return the campaign's name tidied, or raise DomainError."""
    if not isinstance(name, str) or not name.strip():
        raise DomainError("missing_field", "A campaign needs a name.", "name")
    if has_unstorable(name):
        raise DomainError("invalid_character", "name contains a NUL or an unpaired surrogate.", "name")
    tidy = " ".join(name.split())
    if len(tidy) > NAME_MAX:
        raise DomainError("too_long", f"name is longer than {NAME_MAX} characters.", "name")
    return tidy


def check_text_length(text: str) -> str:
    """Refuse a text longer than ten concatenated segments' worth of characters."""
    if len(text) > TEXT_MAX:
        raise DomainError("too_long", f"text is longer than {TEXT_MAX} characters.", "text")
    return text


def ensure_can_launch(status: str) -> None:
    """Raise DomainError unless a campaign in this status may be launched."""
    if status not in LAUNCHABLE:
        raise DomainError("invalid_status", f"Only a draft can be launched; this campaign is {status}.", "status")


def ensure_can_cancel(status: str) -> None:
    """Raise DomainError unless a campaign in this status may be cancelled."""
    if status not in CANCELLABLE:
        raise DomainError("invalid_status", f"A {status} campaign cannot be cancelled.", "status")


def reported_status(status: str, *, pending: int) -> str:
    """Return the status shown to the client: ``completed`` once dispatched and nothing pending."""
    if status == "dispatched" and pending == 0:
        return "completed"
    return status


def request_id_for(campaign_id: str, phone: str) -> str:
    """Return the deterministic request id of one recipient of a campaign."""
    return str(uuid.uuid5(_REQUEST_NAMESPACE, f"{campaign_id}:{phone}"))


def outcome_of(decision: str) -> str:
    """Return the recipient outcome a dispatcher decision gives."""
    try:
        return OUTCOME_OF_DECISION[decision]
    except KeyError:
        raise ValueError(f"unknown decision {decision!r}") from None


def reservation_for(*, recipients: int, segments: int, credits_per_segment: int) -> int:
    """Return the credits a launch reserves: recipients x segments x credits per segment."""
    if recipients < 0 or segments < 1 or credits_per_segment < 1:
        raise ValueError("recipients must be >= 0, segments and credits_per_segment >= 1")
    return recipients * segments * credits_per_segment


@dataclass(frozen=True, slots=True)
class BatchCharges:
    """How a batch's recipients are paid for: each one's charge (0 = not covered) and the extra reserved."""

    charges: tuple[int, ...]
    extra_reserved: int

    @property
    def total(self) -> int:
        """The credits charged to the batch's recipients."""
        return sum(self.charges)


def allocate_batch(costs: Sequence[int], *, left: int, available: int) -> BatchCharges:
    """Charge each recipient its cost from what is left reserved, then from the available balance."""
    if left < 0 or available < 0 or any(c < 1 for c in costs):
        raise ValueError("left and available must be >= 0 and every cost >= 1")
    needed = sum(costs)
    extra = min(max(0, needed - left), available)
    budget = left + extra
    charges: list[int] = []
    for cost in costs:
        # In order, so a resumed batch charges the same recipients; one that does not fit is
        # refused by the dispatcher, never sent on credit.
        if cost <= budget:
            charges.append(cost)
            budget -= cost
        else:
            charges.append(0)
    spent = sum(charges)
    # Reserve only what the charged recipients use beyond what was left.
    return BatchCharges(charges=tuple(charges), extra_reserved=max(0, spent - left))


def audience_summary(tags: Iterable[str], phones: Iterable[str]) -> str:
    """Return a sentence describing an audience, for logs and the campaign's view."""
    tags, phones = list(tags), list(phones)
    if not tags and not phones:
        return "the whole address book"
    parts = []
    if tags:
        parts.append("contacts tagged " + " or ".join(tags))
    if phones:
        parts.append(f"{len(phones)} named contact(s)")
    return " plus ".join(parts)
