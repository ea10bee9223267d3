"""What the service is asked to do, whatever door the request came through (bus or HTTP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RecordOptout:
    """Record an opt-out request (STOP reply, unsubscribe page, API, 33700 report)."""

    request_id: str
    channel: str
    phone: str  # E.164, already normalised
    received_at: datetime
    source_event_id: str
    short_code: str | None = None
    account_id: str | None = None
    raw_text: str | None = None
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class RecordOptin:
    """Record a new explicit consent (START reply or the account's recorded consent)."""

    request_id: str
    channel: str  # "sms" or "api"
    phone: str  # E.164, already normalised
    received_at: datetime
    source_event_id: str
    short_code: str | None = None
    account_id: str | None = None
    raw_text: str | None = None
    proof: str | None = None


@dataclass(frozen=True, slots=True)
class LearnAccount:
    """Remember an account's short codes and whether it allows START to re-subscribe."""

    account_id: str
    short_codes: tuple[str, ...]
    allow_resubscribe: bool
    active: bool
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class MarketingSend:
    """A marketing SMS an account decided to send to a number from a short code."""

    account_id: str
    phone: str
    short_code: str
    sent_at: datetime
