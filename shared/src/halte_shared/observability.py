"""Structured JSON logs that carry the request id or event id of the work in hand."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, merge_contextvars


def configure_logging(*, service: str, level: str = "INFO") -> None:
    """Send every log line (ours and the libraries') to stdout as one JSON object."""
    shared_processors: list[structlog.types.Processor] = [
        merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_logger_name,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka narrates every reconnect at INFO; our own lines already say what matters.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    bind_contextvars(service=service)


@contextmanager
def bind_event(event_id: str, event_type: str) -> Iterator[None]:
    """Tag every log line inside the block with the event being handled."""
    with bound_contextvars(event_id=event_id, event_type=event_type):
        yield


@contextmanager
def bind_request(request_id: str) -> Iterator[None]:
    """Tag every log line inside the block with the HTTP request id."""
    with bound_contextvars(request_id=request_id):
        yield
