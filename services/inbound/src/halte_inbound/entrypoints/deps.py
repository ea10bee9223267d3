"""Dependency aliases and request helpers shared by the inbound routes."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from halte_inbound.domain.text import map_identifier
from halte_inbound.runtime import InboundRuntime
from halte_shared.web import ApiError


async def current_inbound_runtime(request: Request) -> InboundRuntime:
    """Return the running inbound runtime (a FastAPI dependency)."""
    runtime: InboundRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[InboundRuntime, Depends(current_inbound_runtime)]

_MAX_QUERY_FIELDS = 64
M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, *, limit: int) -> bytes:
    """Return the raw body, refusing with 413 as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "bad_request", "Content-Length is not a number of bytes.", "Content-Length")
        if int(declared) > limit:
            raise ApiError(413, "payload_too_large", f"The body is larger than the {limit} bytes accepted.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"The body is larger than the {limit} bytes accepted.")
        chunks.append(chunk)
    return b"".join(chunks)


class Unusable(ApiError):
    """An authenticated carrier payload that cannot be used: answered 4xx and kept for review.

    ``reason`` is one of a few words (invalid_json, not_an_object, missing, wrong_type,
    too_long, invalid), safe as a metric label; the message says precisely what is wrong.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None, *, reason: str) -> None:
        super().__init__(status, code, message, field)
        self.reason = reason


def json_object(body: bytes) -> tuple[dict[str, Any], bool]:
    """Return the body's JSON object and whether undecodable bytes were replaced to read it.

    Raw control characters inside strings are read (``strict=False``) so that the caller
    maps them (domain/text.py) instead of refusing the payload; bytes that are not UTF-8
    become U+FFFD. Raise Unusable when the body is not JSON or not a JSON object.
    """
    repaired = False
    try:
        data: Any = json.loads(body, strict=False)
    except UnicodeDecodeError:
        repaired = True
        try:
            data = json.loads(body.decode("utf-8", errors="replace"), strict=False)
        except (ValueError, RecursionError):
            raise Unusable(400, "invalid_json", "The body is not valid JSON.", reason="invalid_json") from None
    except (ValueError, RecursionError):
        raise Unusable(400, "invalid_json", "The body is not valid JSON.", reason="invalid_json") from None
    if not isinstance(data, dict):
        raise Unusable(422, "invalid", "The body is not a JSON object.", reason="not_an_object")
    return data, repaired


def _reason(error_type: str) -> str:
    if error_type == "missing":
        return "missing"
    if error_type.endswith("too_long"):
        return "too_long"
    if error_type.endswith("_type"):
        return "wrong_type"
    return "invalid"


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Return `data` as `model`, or raise Unusable (422) naming the first field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        raise Unusable(422, "invalid", message, field, reason=_reason(str(first["type"]))) from None


def raw_query(request: Request) -> dict[str, bytes]:
    """Return the query parameters as raw bytes (first value wins), without guessing their charset."""
    try:
        # latin-1 maps every byte to one code point, so percent-decoded bytes survive untouched.
        pairs = parse_qsl(
            request.scope.get("query_string", b"").decode("latin-1"),
            keep_blank_values=True,
            encoding="latin-1",
            max_num_fields=_MAX_QUERY_FIELDS,
        )
    except ValueError:
        raise ApiError(400, "bad_request", f"The query has more than {_MAX_QUERY_FIELDS} parameters.") from None
    values: dict[str, bytes] = {}
    for name, value in pairs:
        values.setdefault(name, value.encode("latin-1"))
    return values


_SECRET_PARAMETERS = frozenset({b"token"})


def redacted_query(request: Request) -> bytes:
    """Return the raw query string, byte for byte, with the value of every token parameter redacted.

    This is the evidence of a Kannel request; the token is our secret, not the carrier's
    message, and must not be copied into the database.
    """
    raw: bytes = request.scope.get("query_string", b"")
    parts = raw.split(b"&")
    for index, part in enumerate(parts):
        name = unquote_to_bytes(part.partition(b"=")[0].replace(b"+", b" "))
        if name in _SECRET_PARAMETERS:
            parts[index] = name + b"=redacted"
    return b"&".join(parts)


class QueryFields:
    """Kannel's query parameters as text: never refused for their bytes or characters.

    Bytes that are not UTF-8 become U+FFFD and control characters are mapped as
    identifiers (domain/text.py); :attr:`mapped` tells whether anything was, so the caller
    keeps the raw query string. A missing or oversized value raises Unusable.
    """

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values
        self.mapped = False

    def text(self, name: str, *, required: bool, max_length: int) -> str | None:
        """Return one parameter as text (stripped), None when absent and not required."""
        raw = self.values.get(name)
        if raw is None or (required and not raw.strip()):
            if required:
                raise Unusable(422, "missing", f"The query parameter {name} is required.", name, reason="missing")
            return None
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("utf-8", errors="replace")
            self.mapped = True
        text = map_identifier(decoded)
        self.mapped = self.mapped or text != decoded
        text = text.strip()
        if len(text) > max_length:
            raise Unusable(
                422,
                "too_long",
                f"The query parameter {name} is longer than {max_length} characters.",
                name,
                reason="too_long",
            )
        return text
