"""Carrier webhooks: replies (MO) and delivery reports (DLR), signed JSON or Kannel's get-url/dlr-url.

Each route authenticates before it reads anything else, then never refuses the payload
for its characters: control characters are mapped (domain/text.py; NUL is the GSM-7 "@"
where the carrier's charset says so), undecodable bytes become U+FFFD, unknown JSON
fields are ignored, and the raw payload is kept beside the record whenever any of that
happened. It hands a command to the handler and answers 200 only once the handler's
transaction has committed. A repeated message is answered 200 with
``"status": "duplicate"`` and changes nothing. An authenticated payload that still cannot
be used (not JSON, a field missing, of the wrong type or too long) is kept in
``unprocessable_payloads`` and answered with the precise 4xx. Delivery reports wait for
one of HALTE_INBOUND_DLR_CONCURRENCY slots before any work; replies never wait for them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from halte_inbound import metrics
from halte_inbound.adapters.carriers import Carrier, CarrierRefused
from halte_inbound.adapters.database import autocommit
from halte_inbound.adapters.records import record_unprocessable
from halte_inbound.domain.delivery import delivery_status
from halte_inbound.domain.kannel import decode_text, dlr_status, parse_time
from halte_inbound.domain.text import map_control_characters, map_identifier
from halte_inbound.entrypoints.deps import (
    QueryFields,
    Runtime,
    Unusable,
    json_object,
    raw_query,
    read_body,
    redacted_query,
    validate,
)
from halte_inbound.handlers import (
    ReceiveDeliveryReport,
    ReceiveReply,
    Recorded,
    receive_delivery_report,
    receive_reply,
    smsc_error_code,
)
from halte_shared.web import ApiError, ErrorResponse

log = structlog.get_logger("halte.inbound")

router = APIRouter(tags=["carriers"])

Kind = Literal["mo", "dlr"]

_OUTCOMES = {
    "unauthorized": "unauthorized",
    "payload_too_large": "too_large",
    "unknown_carrier": "unknown_carrier",
}


def _plausible_time(value: Any) -> Any:
    # Times outside this range are typos or attacks, and years near 9999 overflow on conversion.
    if value is not None and not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return value


class MoRequest(BaseModel):
    """A reply from a phone, as a JSON carrier posts it (other fields are ignored, and kept as raw evidence)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=200, description="The carrier's id of the message")
    from_: str = Field(alias="from", min_length=1, max_length=64, description="The sender, any format")
    to: str = Field(min_length=1, max_length=32, description="The short code the reply was sent to")
    text: str = Field(max_length=16 * 1024, description="The reply's text, as received")
    received_at: AwareDatetime | None = Field(default=None, description="When the carrier received it")

    @field_validator("message_id", "from_", "to")
    @classmethod
    def _identifiers(cls, value: str) -> str:
        return value.strip()

    @field_validator("received_at")
    @classmethod
    def _received_at(cls, value: Any) -> Any:
        return _plausible_time(value)


class DlrRequest(BaseModel):
    """A delivery report, as a JSON carrier posts it (other fields are ignored, and kept as raw evidence)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=200, description="The carrier's id of the message")
    our_message_id: str | None = Field(
        default=None, max_length=200, description="Halte's id, when the carrier echoes it"
    )
    status: str = Field(min_length=1, max_length=64, description="delivered, failed, expired, rejected, buffered, ...")
    to: str | None = Field(default=None, max_length=64, description="The recipient")
    reported_at: AwareDatetime | None = None
    error_code: str | None = Field(default=None, max_length=64)

    @field_validator("message_id", "our_message_id", "status", "to", "error_code")
    @classmethod
    def _identifiers(cls, value: str | None) -> str | None:
        return None if value is None else value.strip()

    @field_validator("reported_at")
    @classmethod
    def _reported_at(cls, value: Any) -> Any:
        return _plausible_time(value)


def _fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(info.alias or name for name, info in model.model_fields.items())


_MO_FIELDS = _fields(MoRequest)
_DLR_FIELDS = _fields(DlrRequest)
_MO_IDENTIFIERS = ("message_id", "from", "to")
_DLR_IDENTIFIERS = ("message_id", "our_message_id", "status", "to", "error_code")


class WebhookAck(BaseModel):
    """The answer to a carrier: the record is durable."""

    status: Literal["recorded", "duplicate"]
    id: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "not JSON (kept in unprocessable_payloads), or too many query parameters",
        401: "signature, timestamp or token refused; nothing was recorded",
        404: "no such carrier (of this kind)",
        413: "body over the size limit",
        422: "not a JSON object, or a field missing, of the wrong type or too long (kept in unprocessable_payloads)",
    }.items()
}


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}},
        }
    }


@asynccontextmanager
async def _observed(runtime: Runtime, carrier_id: str, kind: Kind) -> AsyncIterator[list[str]]:
    """Count the request by outcome and time it; the body sets outcome[0] on success."""
    # An unknown id in the URL must not become a new metric label (an attacker could mint millions).
    label = carrier_id if runtime.carriers.get(carrier_id) is not None else "unknown"
    outcome = ["error"]
    started = time.perf_counter()
    try:
        yield outcome
    except ApiError as exc:
        outcome[0] = _OUTCOMES.get(exc.code, "invalid")
        raise
    except RequestValidationError:
        outcome[0] = "invalid"
        raise
    finally:
        metrics.WEBHOOK_REQUESTS.labels(label, kind, outcome[0]).inc()
        metrics.WEBHOOK_SECONDS.labels(label, kind).observe(time.perf_counter() - started)


@asynccontextmanager
async def _kept_if_unusable(runtime: Runtime, carrier: Carrier, kind: Kind, raw: bytes) -> AsyncIterator[None]:
    """Keep an authenticated payload the body finds unusable in unprocessable_payloads, then let the 4xx go."""
    try:
        yield
    except Unusable as exc:
        payload_id = runtime.new_id()
        async with autocommit(runtime.engine) as connection:
            await record_unprocessable(
                connection,
                {
                    "payload_id": payload_id,
                    "carrier": carrier.id,
                    "kind": kind,
                    "code": exc.reason,
                    "field": exc.field and map_identifier(exc.field)[:200],
                    "reason": map_identifier(exc.message),
                    "raw_payload": raw,
                    "received_at": runtime.clock.now(),
                },
            )
        metrics.UNPROCESSABLE.labels(carrier.id, kind, exc.reason).inc()
        log.error(
            "a carrier sent an authenticated payload we cannot use (a STOP in it is not honoured until someone "
            "replays it); it was kept in unprocessable_payloads and the carrier was answered with the error",
            carrier=carrier.id,
            kind=kind,
            reason=exc.reason,
            field=exc.field,
            error=exc.message,
            status=exc.status,
            payload_id=payload_id,
        )
        raise


def _mapped_json(
    data: Mapping[str, Any], *, identifiers: tuple[str, ...], text: str | None = None, gsm7: bool = False
) -> tuple[dict[str, Any], bool]:
    """Return the JSON object with its known string fields mapped (domain/text.py), and whether any changed."""
    fields = dict(data)
    for name in identifiers:
        value = fields.get(name)
        if isinstance(value, str):
            fields[name] = map_identifier(value)
    if text is not None and isinstance(fields.get(text), str):
        fields[text] = map_control_characters(fields[text], gsm7=gsm7)
    names = (*identifiers, text) if text else identifiers
    changed = any(fields[name] != data[name] for name in names if name in data)
    return fields, changed


_TIME = TypeAdapter(AwareDatetime)


def _without_unreadable_time(fields: dict[str, Any], name: str) -> bool:
    """Drop a carrier's time that cannot be read (the record then takes its receipt time); True if dropped.

    A STOP is never refused for its metadata: the time is an indication, the raw payload keeps it.
    """
    if fields.get(name) is None:
        return False
    try:
        _plausible_time(_TIME.validate_python(fields[name]))
        return False
    except (ValueError, ValidationError):
        del fields[name]
        return True


def _noted_evidence(carrier: Carrier, kind: Kind, *, mapped: bool, ignored: bool) -> None:
    if mapped:
        metrics.CHARACTERS_MAPPED.labels(carrier.id, kind).inc()
        log.info(
            "a carrier payload held control characters or undecodable bytes; they were mapped before recording "
            "and the raw payload was kept as evidence",
            carrier=carrier.id,
            kind=kind,
            ignored_fields=ignored,
        )


def _carrier(runtime: Runtime, carrier_id: str, *, kind: Literal["json", "kannel"]) -> Carrier:
    carrier = runtime.carriers.get(carrier_id)
    if carrier is None or carrier.config.kind != kind:
        what = "signed JSON" if kind == "json" else "Kannel"
        raise ApiError(404, "unknown_carrier", f"No {what} carrier is configured under this id.", "carrier")
    return carrier


def _ack(result: Recorded, outcome: list[str]) -> WebhookAck:
    outcome[0] = "duplicate" if result.duplicate else "recorded"
    return WebhookAck(status="duplicate" if result.duplicate else "recorded", id=result.record_id)


async def _signed_body(
    runtime: Runtime, carrier: Carrier, request: Request, timestamp: str | None, signature: str | None
) -> bytes:
    body = await read_body(request, limit=runtime.settings.webhook_max_bytes)
    try:
        # The replay window is about the wire, so it is checked against the real time: carriers
        # sign with theirs, and a test clock moved to another day must not refuse them all.
        carrier.check_signature(timestamp=timestamp, signature=signature, body=body, now_unix=time.time())
    except CarrierRefused as exc:
        raise ApiError(401, "unauthorized", f"Webhook refused: {exc}.", "X-Halte-Signature") from None
    return body


@router.post(
    "/v1/carriers/{carrier}/mo",
    response_model=WebhookAck,
    responses=_ERRORS,
    openapi_extra=_body_schema(MoRequest),
    summary="Receive a reply from a phone (signed JSON)",
)
async def carrier_mo(
    carrier: str,
    request: Request,
    runtime: Runtime,
    x_halte_timestamp: str | None = Header(default=None),
    x_halte_signature: str | None = Header(default=None),
) -> WebhookAck:
    """Record a reply, classify it and queue its events; 200 only after the commit."""
    async with _observed(runtime, carrier, "mo") as outcome, request.app.state.traffic.reply():
        source = _carrier(runtime, carrier, kind="json")
        body = await _signed_body(runtime, source, request, x_halte_timestamp, x_halte_signature)
        async with _kept_if_unusable(runtime, source, "mo", body):
            data, repaired = json_object(body)
            fields, changed = _mapped_json(
                data, identifiers=_MO_IDENTIFIERS, text="text", gsm7=source.config.gsm7_decoded
            )
            changed |= _without_unreadable_time(fields, "received_at")
            mo = validate(MoRequest, fields)
        mapped = repaired or changed
        ignored = not data.keys() <= _MO_FIELDS
        result = await receive_reply(
            runtime,
            ReceiveReply(
                carrier=source,
                carrier_message_id=mo.message_id,
                raw_from=mo.from_,
                raw_to=mo.to,
                text=mo.text,
                text_encoding="json",
                received_at=mo.received_at,
                raw_payload=body if mapped or ignored else None,
            ),
        )
        _noted_evidence(source, "mo", mapped=mapped and not result.duplicate, ignored=ignored)
        return _ack(result, outcome)


@router.post(
    "/v1/carriers/{carrier}/dlr",
    response_model=WebhookAck,
    responses=_ERRORS,
    openapi_extra=_body_schema(DlrRequest),
    summary="Receive a delivery report (signed JSON)",
)
async def carrier_dlr(
    carrier: str,
    request: Request,
    runtime: Runtime,
    x_halte_timestamp: str | None = Header(default=None),
    x_halte_signature: str | None = Header(default=None),
) -> WebhookAck:
    """Record a delivery report and queue sms.delivery; 200 only after the commit (waits for a DLR slot first)."""
    async with _observed(runtime, carrier, "dlr") as outcome, request.app.state.traffic.report():
        source = _carrier(runtime, carrier, kind="json")
        body = await _signed_body(runtime, source, request, x_halte_timestamp, x_halte_signature)
        async with _kept_if_unusable(runtime, source, "dlr", body):
            data, repaired = json_object(body)
            fields, changed = _mapped_json(data, identifiers=_DLR_IDENTIFIERS)
            changed |= _without_unreadable_time(fields, "reported_at")
            dlr = validate(DlrRequest, fields)
        mapped = repaired or changed
        ignored = not data.keys() <= _DLR_FIELDS
        result = await receive_delivery_report(
            runtime,
            ReceiveDeliveryReport(
                carrier=source,
                carrier_message_id=dlr.message_id,
                message_id=dlr.our_message_id,
                raw_to=dlr.to,
                status=delivery_status(dlr.status),
                raw_status=dlr.status,
                error_code=dlr.error_code,
                reported_at=dlr.reported_at,
                raw_payload=body if mapped or ignored else None,
            ),
        )
        _noted_evidence(source, "dlr", mapped=mapped and not result.duplicate, ignored=ignored)
        return _ack(result, outcome)


def _kannel_source(runtime: Runtime, carrier: str, values: dict[str, bytes]) -> Carrier:
    source = _carrier(runtime, carrier, kind="kannel")
    try:
        token = values.get("token", b"").decode("utf-8")
    except UnicodeDecodeError:
        token = ""
    try:
        source.check_token(token)
    except CarrierRefused as exc:
        raise ApiError(401, "unauthorized", f"Kannel request refused: {exc}.", "token") from None
    return source


@router.get(
    "/v1/kannel/{carrier}/mo",
    response_model=WebhookAck,
    responses=_ERRORS,
    summary="Receive a reply through Kannel's sms-service get-url",
)
async def kannel_mo(carrier: str, request: Request, runtime: Runtime) -> WebhookAck:
    """Record a reply Kannel forwards (get-url ``?from=%p&to=%P&text=%a&ts=%t&id=%I&coding=%c&charset=%C&token=``).

    ``text`` is read as the bytes Kannel sent, in the charset ``%C`` names (UTF-16BE for
    UCS-2 replies), so accents and emoji arrive intact; bytes that do not decode become
    U+FFFD, and a NUL in a GSM-7 reply (``coding=0`` or none) is its "@". Configure the
    sms-service with ``max-messages = 0`` and ``omit-empty = true``: this answer is not an
    SMS to send back.
    """
    async with _observed(runtime, carrier, "mo") as outcome, request.app.state.traffic.reply():
        values = raw_query(request)
        source = _kannel_source(runtime, carrier, values)
        raw = redacted_query(request)
        query = QueryFields(values)
        async with _kept_if_unusable(runtime, source, "mo", raw):
            raw_from = query.text("from", required=True, max_length=64)
            raw_to = query.text("to", required=True, max_length=32)
            message_id = query.text("id", required=True, max_length=200)
            coding = query.text("coding", required=False, max_length=4)
            charset = query.text("charset", required=False, max_length=40)
            ts = query.text("ts", required=False, max_length=40)
        assert raw_from is not None and raw_to is not None and message_id is not None
        decoded = decode_text(values.get("text", b""), coding=coding, charset=charset)
        text = map_control_characters(decoded.text, gsm7=decoded.gsm7)
        mapped = query.mapped or not decoded.exact or text != decoded.text
        result = await receive_reply(
            runtime,
            ReceiveReply(
                carrier=source,
                carrier_message_id=message_id,
                raw_from=raw_from,
                raw_to=raw_to,
                text=text,
                text_encoding=decoded.encoding,
                received_at=_plausible_or_none(parse_time(ts)),
                raw_payload=raw if mapped else None,
            ),
        )
        _noted_evidence(source, "mo", mapped=mapped and not result.duplicate, ignored=False)
        return _ack(result, outcome)


def _plausible_or_none(value: Any) -> Any:
    try:
        return _plausible_time(value)
    except ValueError:
        return None


@router.get(
    "/v1/kannel/{carrier}/dlr",
    response_model=WebhookAck,
    responses=_ERRORS,
    summary="Receive a delivery report through Kannel's dlr-url",
)
async def kannel_dlr(carrier: str, request: Request, runtime: Runtime) -> WebhookAck:
    """Record a Kannel delivery report (dlr-url ``?id=<our id>&status=%d&answer=%A&to=%p&ts=%T&token=``).

    Kannel's types map to 1 delivered, 2 failed, 4 buffered, 8 accepted (by the SMSC),
    16 rejected (by the SMSC); the SMSC's ``err:`` code, when its answer has one, is kept.
    The request waits for a delivery report slot before any work.
    """
    async with _observed(runtime, carrier, "dlr") as outcome, request.app.state.traffic.report():
        values = raw_query(request)
        source = _kannel_source(runtime, carrier, values)
        raw = redacted_query(request)
        query = QueryFields(values)
        async with _kept_if_unusable(runtime, source, "dlr", raw):
            message_id = query.text("id", required=True, max_length=200)
            raw_status = query.text("status", required=True, max_length=8)
            answer = query.text("answer", required=False, max_length=1000)
            to = query.text("to", required=False, max_length=64)
            ts = query.text("ts", required=False, max_length=40)
        assert message_id is not None and raw_status is not None
        result = await receive_delivery_report(
            runtime,
            ReceiveDeliveryReport(
                carrier=source,
                carrier_message_id=message_id,
                message_id=message_id,
                raw_to=to or None,
                status=dlr_status(raw_status),
                raw_status=raw_status,
                error_code=smsc_error_code(answer),
                reported_at=_plausible_or_none(parse_time(ts)),
                raw_payload=raw if query.mapped else None,
            ),
        )
        _noted_evidence(source, "dlr", mapped=query.mapped and not result.duplicate, ignored=False)
        return _ack(result, outcome)
