"""Event contracts: the envelope every topic carries and one typed, versioned payload per topic.

Envelope (CONTRACT.md): ``{id, type, version, occurred_at, producer, payload}`` as JSON. The
``type`` is the topic name. A consumer decodes with :func:`decode`, which refuses an unknown
type or version with :class:`UnknownEventVersion` (a poison message for the dead-letter
topic) rather than guessing at fields it does not know. Adding an optional field keeps the
version; removing or changing the meaning of one needs a new version registered beside the
old until every consumer reads it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164 phone number")]
MessageKind = Literal["marketing", "informative"]
OptoutChannel = Literal["sms", "web", "api", "spam_report"]
Decision = Literal["send", "hold", "refuse"]


class EventError(ValueError):
    """An event that cannot be read: malformed, or of a type/version nobody registered."""


class UnknownEventVersion(EventError):
    """An event whose (type, version) this build does not know."""


class Payload(BaseModel):
    """Base of every payload: strict about unknown fields, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class ConsentSnapshot(BaseModel):
    """The consent record of a contact as it stood when the message was requested."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    basis: Literal["opt_in", "customer", "b2b", "non_commercial", "none"]
    collected_at: AwareDatetime | None = None
    source: str | None = None
    wording: str | None = None
    last_purchase_at: AwareDatetime | None = None
    profession: str | None = None
    # Basis customer: the categories of products or services bought (halte_rules.consent).
    purchase_categories: list[str] = Field(default_factory=list)


class AccountChanged(Payload):
    TYPE = "account.changed"
    account_id: str
    name: str
    mode: Literal["marketing", "notification"]
    short_codes: list[str]
    contact_info: str
    allow_resubscribe: bool = False
    hours_profile: str = "strict"
    window_start: str | None = None  # "HH:MM", an account's own narrower window
    window_end: str | None = None
    active: bool = True
    # Flagged by the operator: contacts on the non_commercial basis may receive marketing.
    non_commercial: bool = False
    changed_at: AwareDatetime


class CampaignLaunched(Payload):
    TYPE = "campaign.launched"
    campaign_id: str
    account_id: str
    name: str
    kind: MessageKind
    sender: str
    text: str
    recipients: int
    reserved_credits: int
    send_at: AwareDatetime | None = None
    launched_at: AwareDatetime


class DispatchRequested(Payload):
    TYPE = "dispatch.requested"
    request_id: str
    account_id: str
    campaign_id: str | None = None  # None for a unit send (POST /v1/messages)
    phone: E164
    kind: MessageKind
    sender: str
    text: str
    segments: int
    postal_code: str | None = None
    consent: ConsentSnapshot | None = None
    send_at: AwareDatetime | None = None
    account_mode: Literal["marketing", "notification"] = "marketing"
    hours_profile: str = "strict"
    window_start: str | None = None
    window_end: str | None = None
    credits_reserved: bool = True
    unsubscribe_url: str | None = None
    # What a marketing message concerns, for the consent rule (halte_rules.consent): the category
    # of products or services (customer basis) and the professions (b2b basis).
    category: str | None = None
    professions: list[str] = Field(default_factory=list)
    account_non_commercial: bool = False
    requested_at: AwareDatetime


class DispatchDecided(Payload):
    TYPE = "dispatch.decided"
    request_id: str
    account_id: str
    campaign_id: str | None = None
    phone: E164
    kind: MessageKind
    decision: Decision
    reason: str
    final: bool = True  # a hold is followed by a final send/refuse when released
    scheduled_for: AwareDatetime | None = None
    segments: int
    sender: str
    decided_at: AwareDatetime


class SmsOutbound(Payload):
    TYPE = "sms.outbound"
    message_id: str
    request_id: str | None = None
    account_id: str
    campaign_id: str | None = None
    purpose: Literal["campaign", "unit", "optout_confirmation", "contact_reply"]
    phone: E164
    sender: str
    text: str
    kind: MessageKind
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    carrier: str
    carrier_message_id: str | None = None
    submitted_at: AwareDatetime


class SmsDelivery(Payload):
    TYPE = "sms.delivery"
    delivery_id: str
    carrier: str
    carrier_message_id: str
    message_id: str | None = None
    phone: E164 | None = None
    status: Literal["delivered", "failed", "expired", "rejected", "buffered", "accepted", "unknown"]
    raw_status: str | None = None
    error_code: str | None = None
    reported_at: AwareDatetime | None = None
    received_at: AwareDatetime


class InboundReceived(Payload):
    TYPE = "inbound.received"
    inbound_id: str
    carrier: str
    carrier_message_id: str
    phone: E164 | None = None
    raw_from: str
    short_code: str
    text: str
    classification: Literal["stop", "optin", "contact", "help", "other"]
    account_ids: list[str]
    received_at: AwareDatetime


class OptoutRequested(Payload):
    TYPE = "optout.requested"
    request_id: str
    channel: OptoutChannel
    phone: E164
    short_code: str | None = None  # sms and spam_report: the short code the reply/report names
    account_id: str | None = None  # web and api: the account is known
    raw_text: str | None = None
    carrier: str | None = None
    received_at: AwareDatetime


class OptoutRecorded(Payload):
    TYPE = "optout.recorded"
    optout_id: str
    account_id: str
    phone: E164
    channel: OptoutChannel
    short_code: str | None = None
    raw_text: str | None = None
    received_at: AwareDatetime
    recorded_at: AwareDatetime
    confirmation_due: bool
    source_event_id: str
    sequence: int


class OptinRequested(Payload):
    TYPE = "optin.requested"
    request_id: str
    channel: Literal["sms", "api"]
    phone: E164
    short_code: str | None = None
    account_id: str | None = None
    raw_text: str | None = None
    proof: str | None = None
    received_at: AwareDatetime


class OptinRecorded(Payload):
    TYPE = "optin.recorded"
    optin_id: str
    account_id: str
    phone: E164
    channel: Literal["sms", "api"]
    proof: str
    received_at: AwareDatetime
    recorded_at: AwareDatetime
    source_event_id: str
    sequence: int


class ContactRequested(Payload):
    TYPE = "contact.requested"
    request_id: str
    account_id: str
    phone: E164
    short_code: str
    raw_text: str
    carrier: str
    received_at: AwareDatetime


class BillingCharged(Payload):
    TYPE = "billing.charged"
    charge_id: str
    account_id: str
    amount: int
    reason: Literal["optout_confirmation", "contact_reply"]
    cause_event_id: str
    phone: E164
    message_id: str
    charged_at: AwareDatetime


PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    (cls.TYPE, cls.VERSION): cls
    for cls in (
        AccountChanged,
        CampaignLaunched,
        DispatchRequested,
        DispatchDecided,
        SmsOutbound,
        SmsDelivery,
        InboundReceived,
        OptoutRequested,
        OptoutRecorded,
        OptinRequested,
        OptinRecorded,
        ContactRequested,
        BillingCharged,
    )
}

P = TypeVar("P", bound=Payload)


class Envelope(BaseModel):
    """The wrapper every message on the bus carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    type: str
    version: int
    occurred_at: AwareDatetime
    producer: str
    payload: dict[str, Any]

    def typed(self) -> Payload:
        """Return the payload as its registered model, refusing unknown versions."""
        model = PAYLOADS.get((self.type, self.version))
        if model is None:
            known = sorted(v for (t, v) in PAYLOADS if t == self.type)
            if known:
                raise UnknownEventVersion(
                    f"{self.type} version {self.version} is not supported by this build (known: {known})"
                )
            raise UnknownEventVersion(f"event type {self.type!r} is unknown")
        try:
            return model.model_validate(self.payload)
        except ValidationError as exc:
            raise EventError(f"{self.type} v{self.version} payload is invalid: {exc.errors()[:3]}") from exc


def new_event_id() -> str:
    """Return a fresh event id."""
    return str(uuid.uuid4())


def envelope_for(payload: Payload, *, producer: str, occurred_at: datetime, event_id: str | None = None) -> Envelope:
    """Wrap a payload in its envelope."""
    return Envelope(
        id=event_id or new_event_id(),
        type=payload.TYPE,
        version=payload.VERSION,
        occurred_at=occurred_at,
        producer=producer,
        payload=payload.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    """Serialise an envelope to JSON bytes."""
    return envelope.model_dump_json().encode()


def decode(raw: bytes) -> tuple[Envelope, Payload]:
    """Parse JSON bytes into the envelope and its typed payload, or raise EventError."""
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise EventError(f"not an event envelope: {exc.errors()[:3]}") from exc
    return envelope, envelope.typed()


__all__ = [
    "E164",
    "Envelope",
    "EventError",
    "Payload",
    "UnknownEventVersion",
    "decode",
    "encode",
    "envelope_for",
    "new_event_id",
]
