"""Kafka handlers of the suppression service: turn each event into a command, hand it over.

Consumer groups:
- ``suppression-optouts``: ``optout.requested`` and ``optin.requested`` (one group, so a
  STOP and a START of one number, both keyed by the number, are handled by one member).
- ``suppression-accounts``: ``account.changed`` (short codes, allow_resubscribe).
- ``suppression-marketing-sends``: ``dispatch.decided`` (marketing sends, for attribution),
  handled in batches: the busiest topic of the platform, and its effect (an upsert that
  keeps the latest time) is idempotent by construction, so it needs no inbox row.
"""

from __future__ import annotations

import structlog

from halte_shared.bus import BatchHandler, Delivery, Handler
from halte_shared.events import AccountChanged, DispatchDecided, Envelope, OptinRequested, OptoutRequested, Payload
from halte_shared.failures import MessageRejected
from halte_shared.phone import InvalidPhoneNumber
from halte_suppression.domain.commands import LearnAccount, MarketingSend, RecordOptin, RecordOptout
from halte_suppression.domain.limits import clip
from halte_suppression.domain.numbers import masked, normalize_number, normalize_short_code
from halte_suppression.handlers import InboxEntry, SuppressionHandlers

log = structlog.get_logger("halte.suppression.consumers")

OPTOUT_GROUP = "suppression-optouts"
ACCOUNT_GROUP = "suppression-accounts"
SENDS_GROUP = "suppression-marketing-sends"


def _short_code(raw: str | None) -> str | None:
    code = normalize_short_code(raw)
    if code is None and raw and raw.strip():
        # Unusable for attribution, but kept as written (cut to the column): the evidence shows what came in.
        return clip(raw.strip(), 16)
    return code


def optout_command(payload: OptoutRequested, *, event_id: str) -> RecordOptout:
    """Build the command of an optout.requested event."""
    return RecordOptout(
        request_id=clip(payload.request_id, 200) or "",
        channel=payload.channel,
        phone=normalize_number(payload.phone),
        received_at=payload.received_at,
        source_event_id=event_id,
        short_code=_short_code(payload.short_code),
        account_id=payload.account_id,
        raw_text=payload.raw_text,
        carrier=clip(payload.carrier, 64),
    )


def optin_command(payload: OptinRequested, *, event_id: str) -> RecordOptin:
    """Build the command of an optin.requested event."""
    return RecordOptin(
        request_id=clip(payload.request_id, 200) or "",
        channel=payload.channel,
        phone=normalize_number(payload.phone),
        received_at=payload.received_at,
        source_event_id=event_id,
        short_code=_short_code(payload.short_code),
        account_id=payload.account_id,
        raw_text=payload.raw_text,
        proof=payload.proof,
    )


def optout_handler(handlers: SuppressionHandlers) -> Handler:
    """Return the handler of the opt-out consumer group."""

    async def handle(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        inbox = InboxEntry(OPTOUT_GROUP, envelope.id, delivery)
        try:
            if isinstance(payload, OptoutRequested):
                await handlers.record_optout(optout_command(payload, event_id=envelope.id), inbox=inbox)
            elif isinstance(payload, OptinRequested):
                await handlers.record_optin(optin_command(payload, event_id=envelope.id), inbox=inbox)
            else:
                log.warning("an unexpected event type reached the opt-out consumer; ignored", event_type=envelope.type)
        except InvalidPhoneNumber as exc:
            # The event's own defect: parked at once (bus.py), and an opt-out stays blocked by its key.
            raise MessageRejected(f"the event's number cannot be used: {exc}") from exc

    return handle


def account_handler(handlers: SuppressionHandlers) -> Handler:
    """Return the handler of the account consumer group."""

    async def handle(envelope: Envelope, payload: Payload, delivery: Delivery) -> None:
        if not isinstance(payload, AccountChanged):
            log.warning("an unexpected event type reached the account consumer; ignored", event_type=envelope.type)
            return
        codes = [c for c in (normalize_short_code(raw) for raw in payload.short_codes) if c]
        if len(codes) != len(payload.short_codes):
            log.warning(
                "an account lists short codes that are not numeric short codes; those cannot receive a STOP "
                "and are ignored for attribution",
                account_id=payload.account_id,
                short_codes=payload.short_codes,
            )
        await handlers.learn_account(
            LearnAccount(
                account_id=payload.account_id,
                short_codes=tuple(codes),
                allow_resubscribe=payload.allow_resubscribe,
                active=payload.active,
                changed_at=payload.changed_at,
            )
        )

    return handle


def marketing_send_of(payload: Payload) -> MarketingSend | None:
    """Return the marketing send a dispatch decision announces, or None when it is not one."""
    if not isinstance(payload, DispatchDecided) or payload.decision != "send" or payload.kind != "marketing":
        return None
    code = normalize_short_code(payload.sender)
    if code is None:
        return None  # an alphanumeric sender cannot receive a STOP: nothing to attribute
    try:
        phone = normalize_number(payload.phone)
    except InvalidPhoneNumber:
        log.warning("a dispatch decision names an invalid number; not remembered", phone=masked(payload.phone))
        return None
    return MarketingSend(account_id=payload.account_id, phone=phone, short_code=code, sent_at=payload.decided_at)


def marketing_sends_handler(handlers: SuppressionHandlers) -> BatchHandler:
    """Return the batch handler of the marketing-sends consumer group."""

    async def handle(items: list[tuple[Envelope, Payload, Delivery]]) -> None:
        sends = [send for _, payload, _ in items if (send := marketing_send_of(payload)) is not None]
        if sends:
            await handlers.remember_marketing_sends(sends)

    return handle
