"""Dependency aliases and request helpers shared by the inbound routes."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from halte_inbound.runtime import InboundRuntime
from halte_shared.web import ApiError


def current_inbound_runtime(request: Request) -> InboundRuntime:
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


def parse_json_body(body: bytes, model: type[M]) -> M:
    """Parse a JSON body into `model`: 400 when it is not UTF-8 JSON, 422 naming the field otherwise."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        reason = "is not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else "is not valid JSON"
        raise ApiError(400, "invalid_json", f"The body {reason}.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


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


def query_text(values: dict[str, bytes], name: str, *, required: bool, max_length: int) -> str | None:
    """Return one query parameter as UTF-8 text, refusing a missing, oversized or undecodable value."""
    raw = values.get(name)
    if raw is None or (required and not raw.strip()):
        if required:
            raise ApiError(422, "missing", f"The query parameter {name} is required.", name)
        return None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", f"The query parameter {name} is not valid UTF-8.", name) from None
    if len(text) > max_length:
        raise ApiError(422, "too_long", f"The query parameter {name} is longer than {max_length} characters.", name)
    if not all(ch.isprintable() for ch in text):
        raise ApiError(422, "invalid", f"The query parameter {name} holds control characters.", name)
    return text
