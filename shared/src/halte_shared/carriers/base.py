"""The carrier port: what the dispatcher and the notifier hand to a carrier, and what comes back.

One interface, three kinds of carrier behind it (the embedded simulator, a Kannel gateway,
an SMPP 3.4 SMSC). An adapter's ``submit`` either returns an accepted :class:`SubmitResult`
or raises: :class:`CarrierTemporaryError` when trying again later can succeed (throttled,
queue full, timeout, connection lost, gateway unavailable) and :class:`CarrierPermanentError`
when the carrier refused this message for good (bad number, bad sender, bad text). The
:class:`~halte_shared.carriers.routing.CarrierRouter` turns both into results, retrying
temporary errors with backoff, so its callers never see an exception from a carrier.

``OutboundSms.message_id`` is our idempotency key. A carrier that honours it (the
simulator) answers a resubmission with the first submission's id and sends nothing; a
carrier that does not (Kannel, SMPP) sends the message again, which is why an error
raised after the request may have reached such a carrier is flagged ``outcome_unknown``.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]
MessageKind = Literal["marketing", "informative"]
#: The final states a delivery report can carry on Halte's carrier webhooks.
DeliveryStatus = Literal["delivered", "failed", "expired", "rejected", "buffered", "accepted", "unknown"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
#: Idempotency keys travel inside carrier URLs (Kannel's dlr-url): keep them URL-safe.
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class CarrierError(Exception):
    """A carrier did not accept a message; the message says why in words an SRE understands."""

    def __init__(self, message: str, *, carrier: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.carrier = carrier
        self.code = code


class CarrierTemporaryError(CarrierError):
    """Trying again later can succeed: throttled, queue full, timeout, connection lost.

    ``outcome_unknown`` is True when the request may have reached the carrier before the
    failure (a timeout waiting for the answer, a connection lost with the submit in
    flight): resending to a carrier that ignores our idempotency key could then send the
    SMS twice. ``retry_after`` is the carrier's own hint, in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        carrier: str = "",
        code: str | None = None,
        outcome_unknown: bool = False,
        throttled: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, carrier=carrier, code=code)
        self.outcome_unknown = outcome_unknown
        self.throttled = throttled
        self.retry_after = retry_after


class CarrierPermanentError(CarrierError):
    """The carrier refused this message for good; sending it again would be refused again."""


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """One SMS to hand to a carrier.

    ``message_id`` is our idempotency key (the same logical SMS always carries the same
    one); ``to`` is E.164; ``sender`` a short code or sender id; ``encoding`` what
    :func:`halte_shared.sms.encoding_for` says for ``text``; ``dlr_url`` overrides where
    the carrier reports delivery, when the carrier supports a per-message report address.
    """

    message_id: str
    to: str
    sender: str
    text: str
    encoding: Encoding = "GSM-7"
    kind: MessageKind = "informative"
    dlr_url: str | None = None

    def __post_init__(self) -> None:
        if not _MESSAGE_ID.match(self.message_id):
            raise ValueError(
                f"message_id {self.message_id!r} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'"
            )
        if not _E164.match(self.to):
            raise ValueError(f"to {self.to!r} is not an E.164 number (+ and 7 to 15 digits)")
        if not self.sender:
            raise ValueError("sender must not be empty")
        if not self.text:
            raise ValueError("text must not be empty")
        if self.encoding not in ("GSM-7", "UCS-2"):
            raise ValueError(f"encoding {self.encoding!r} must be GSM-7 or UCS-2")
        if self.kind not in ("marketing", "informative"):
            raise ValueError(f"kind {self.kind!r} must be marketing or informative")


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What became of one submission.

    ``carrier_message_id`` is the id the carrier's delivery reports will name (for Kannel,
    which reports through our dlr-url, that is our own message id). ``retryable`` says a
    later attempt can succeed; ``outcome_unknown`` that the carrier may have the message
    although we got no acceptance (see :class:`CarrierTemporaryError`). ``attempts``
    counts submissions made, ``duplicate`` that the carrier recognised our idempotency key.
    """

    carrier: str
    carrier_message_id: str | None
    accepted: bool
    retryable: bool = False
    error: str | None = None
    error_code: str | None = None
    outcome_unknown: bool = False
    duplicate: bool = False
    attempts: int = 1
    carrier_part_ids: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def accepted_by(
        cls, carrier: str, carrier_message_id: str | None, *, duplicate: bool = False, parts: tuple[str, ...] = ()
    ) -> SubmitResult:
        """Return the result of an accepted submission."""
        return cls(
            carrier=carrier,
            carrier_message_id=carrier_message_id,
            accepted=True,
            duplicate=duplicate,
            carrier_part_ids=parts,
        )


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A delivery report a carrier pushed to us (an SMPP receipt, for instance)."""

    carrier: str
    carrier_message_id: str
    status: DeliveryStatus
    final: bool
    raw_status: str | None = None
    error_code: str | None = None
    to: str | None = None
    our_message_id: str | None = None
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MobileOriginated:
    """A reply from a phone a carrier pushed to us over its own connection (SMPP deliver_sm)."""

    carrier: str
    message_id: str
    from_number: str
    to: str
    text: str
    received_at: datetime


class CarrierAdapter(abc.ABC):
    """A way to hand SMS to one carrier.

    ``name`` is the carrier's name in configuration, routes and events. Adapters are
    started once (connections, pools) and closed once; ``submit`` is safe to call
    concurrently.
    """

    name: str
    honours_idempotency_key: bool = False

    async def start(self) -> None:  # noqa: B027 - most adapters have nothing to open
        """Open connections (idempotent)."""

    async def close(self) -> None:  # noqa: B027
        """Release connections (idempotent)."""

    @abc.abstractmethod
    async def submit(self, sms: OutboundSms) -> SubmitResult:
        """Hand one SMS to the carrier; raise CarrierTemporaryError or CarrierPermanentError if refused."""

    async def ready(self) -> bool:
        """Say whether the carrier can take a submission right now (for readiness probes)."""
        return True
