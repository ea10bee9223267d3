"""Why a handler failed: the infrastructure, the message itself, or something unknown.

The consumer loop (bus.py) decides what to do with a failure from its class alone:

* INFRASTRUCTURE: the database, the broker or another service is away, overloaded or in a
  transient conflict (a failover, a dropped pool, a statement timeout, a deadlock, a
  serialization failure, a missing migration). Nothing is wrong with the message: the
  consumer waits in place and retries without limit.
* MESSAGE: the message itself cannot be handled (an undecodable envelope, an unknown
  version, a payload that fails validation, a value PostgreSQL refuses, a domain refusal
  raised as :class:`MessageRejected`). Retrying is pointless: it is parked at once.
* UNKNOWN: anything else, usually a bug. Retried a few times, then parked.

The whole exception chain is read (``__cause__``, ``__context__``, SQLAlchemy's ``.orig``,
exception groups), and infrastructure anywhere in it wins: parking a message because the
database was away is how STOPs got lost, whereas retrying a message that was really broken
only delays it, visibly.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from halte_shared.events import EventError

try:  # httpx is a dependency of every service, but the bus must not need it to import
    import httpx
except ImportError:  # pragma: no cover - httpx ships with the workspace
    httpx = None  # type: ignore[assignment]


class FailureClass(StrEnum):
    """The three kinds of failure the consumer tells apart."""

    INFRASTRUCTURE = "infrastructure"
    MESSAGE = "message"
    UNKNOWN = "unknown"


class MessageRejected(Exception):
    """Raise from a handler to refuse a message for a domain reason: it is parked at once, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failure: its class, a sentence for humans and the error without bound values."""

    kind: FailureClass
    reason: str
    error: str

    def describe(self) -> str:
        """Return one sentence for logs and readiness: the reason, then the error in brackets."""
        return f"{self.reason} ({self.error})"


_MAX_LINKS = 32
_MAX_TEXT = 500
# SQLAlchemy appends the statement, its bound values and a link to the message; the values may
# be phone numbers, so the text stops before them.
_SQLALCHEMY_TAIL = re.compile(r"\n?\[(SQL|parameters):.*", re.DOTALL)
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")


def classify(error: BaseException) -> Failure:
    """Classify an exception by reading its whole chain; infrastructure anywhere in it wins."""
    found: dict[FailureClass, tuple[str, BaseException]] = {}
    for link, shown in _chain(error):
        verdict = _verdict(link)
        if verdict is None:
            continue
        kind, reason = verdict
        # A SQLSTATE says more than "the connection was invalidated" on the wrapper around it.
        if kind not in found or (_is_generic(found[kind][0]) and not _is_generic(reason)):
            found[kind] = (reason, shown)
    for kind in (FailureClass.INFRASTRUCTURE, FailureClass.MESSAGE, FailureClass.UNKNOWN):
        if kind in found:
            reason, shown = found[kind]
            return Failure(kind, reason, safe_text(shown))
    return Failure(FailureClass.UNKNOWN, "an unexpected error (probably a bug)", safe_text(error))


_GENERIC_REASONS = frozenset(
    {
        "the database connection was lost",
        "the database reported an operational error",
        "an unexpected error (probably a bug)",
    }
)


def _is_generic(reason: str) -> bool:
    return reason in _GENERIC_REASONS


def sqlstate_of(error: BaseException) -> str | None:
    """Return the first SQLSTATE found in an exception's chain, if any."""
    for link, _ in _chain(error):
        if (code := _sqlstate(link)) is not None:
            return code
    return None


def safe_text(error: BaseException) -> str:
    """Describe an exception in one line without SQL parameters, e.g. "OperationalError (asyncpg ...): ..."."""
    if isinstance(error, sa_exc.StatementError) and error.orig is not None:
        orig = error.orig
        inner = orig.__cause__ if orig.__cause__ is not None else orig
        code = _sqlstate(orig) or _sqlstate(inner)
        detail = f"{type(inner).__module__.split('.')[0]} {type(inner).__name__}"
        if code:
            detail += f", SQLSTATE {code}"
        text = f"{type(error).__name__} ({detail}): {_clean(str(orig.args[0]) if orig.args else str(orig))}"
    else:
        message = _clean(str(error))
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:_MAX_TEXT]


def safe_trace(error: BaseException) -> str:
    """Return the traceback of an exception and its causes, each message without SQL parameters."""
    parts: list[str] = []
    for link, _ in _chain(error):
        frames = _format_tb(link.__traceback__)
        parts.append(f"{frames}{safe_text(link)}\n")
    return "\n".join(reversed(parts))


def _format_tb(tb: TracebackType | None) -> str:
    return "".join(traceback.format_tb(tb)) if tb is not None else ""


def _clean(text: str) -> str:
    text = _SQLALCHEMY_TAIL.sub("", text)
    text = _BACKGROUND.sub("", text)
    return " ".join(text.split())


def _chain(error: BaseException) -> Iterator[tuple[BaseException, BaseException]]:
    """Yield each exception of the chain (outermost first) with the one to show for it."""
    seen: set[int] = set()
    queue: list[tuple[BaseException, BaseException]] = [(error, error)]
    while queue and len(seen) < _MAX_LINKS:
        link, shown = queue.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link, shown
        orig = getattr(link, "orig", None)
        if isinstance(orig, BaseException):
            # SQLAlchemy's wrapper says more than its .orig alone: show the wrapper.
            queue.append((orig, shown))
        if isinstance(link, BaseExceptionGroup):
            queue.extend((inner, inner) for inner in link.exceptions)
        for nxt in (link.__cause__, link.__context__):
            if nxt is not None:
                queue.append((nxt, nxt))


def _sqlstate(error: BaseException) -> str | None:
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(error, attribute, None)
        if isinstance(value, str) and len(value) == 5:
            return value
    return None


_SQLSTATE_INFRA: dict[str, str] = {
    "40001": "the transaction conflicted with a concurrent one (serialization failure)",
    "40P01": "the transaction was chosen as the victim of a database deadlock",
    "55P03": "a database lock was not available",
    "57014": "a database statement timed out or was cancelled",
    "57P01": "the database is shutting down (administrator command, e.g. a failover)",
    "57P02": "the database crashed and is restarting",
    "57P03": "the database is starting up or shutting down and accepts no connection now",
    "57P04": "the database was dropped",
    "57P05": "the database closed an idle session",
    "53300": "the database refuses more connections (too many connections)",
    "25006": "the database is read-only (a standby, e.g. during a failover)",
    "25P03": "the database ended a transaction left idle too long",
    "3D000": "the database does not exist (a deployment problem)",
    "3F000": "the service's schema does not exist (a missing migration?)",
}
_SQLSTATE_CLASS_INFRA: dict[str, str] = {
    "08": "the database connection failed or was lost",
    "28": "the database refused the service's credentials",
    "40": "the database rolled the transaction back (a transient conflict)",
    "42": "the database schema does not match this code (a missing migration?)",
    "53": "the database is out of resources",
    "57": "an operator intervened on the database",
    "58": "the database server had a system error",
}


def _verdict(error: BaseException) -> tuple[FailureClass, str] | None:
    """Classify one exception on its own, or None when it says nothing."""
    infra = FailureClass.INFRASTRUCTURE
    if isinstance(error, MessageRejected):
        return FailureClass.MESSAGE, "the handler refused the event"
    if isinstance(error, EventError):
        return FailureClass.MESSAGE, "the event cannot be decoded (malformed, or a type or version nobody registered)"
    if isinstance(error, ValidationError):
        return FailureClass.MESSAGE, "the event's payload does not match its schema"
    code = _sqlstate(error)
    if code is not None:
        if code in _SQLSTATE_INFRA:
            return infra, _SQLSTATE_INFRA[code]
        if code[:2] in _SQLSTATE_CLASS_INFRA:
            return infra, _SQLSTATE_CLASS_INFRA[code[:2]]
        if code.startswith("22"):
            return FailureClass.MESSAGE, "the database refused a value of the event (data exception)"
        if code.startswith("23"):
            # Under concurrency a unique violation can be a race that a retry resolves.
            return FailureClass.UNKNOWN, "a database constraint was violated (a race, or a bug)"
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return infra, "the database connection was lost"
    if isinstance(error, sa_exc.TimeoutError):
        return infra, "no database connection became free in time (the pool is exhausted)"
    if isinstance(error, sa_exc.DisconnectionError):
        return infra, "the database connection was lost"
    if isinstance(error, sa_exc.PendingRollbackError) and "invalid transaction" in str(error):
        return infra, "the database connection was lost during the transaction"
    if isinstance(error, sa_exc.OperationalError) and code is None:
        return infra, "the database reported an operational error"
    if type(error).__name__ == "InterfaceError" and re.search(r"connection (is|was) closed", str(error)):
        return infra, "the database connection was lost"
    if isinstance(error, KafkaError):
        return infra, "the Kafka broker is unreachable or refused the request"
    if httpx is not None:
        if isinstance(error, httpx.TransportError):
            return infra, "a service this one calls is unreachable"
        if isinstance(error, httpx.HTTPStatusError) and error.response.status_code in (429, 502, 503, 504):
            return infra, f"a service this one calls is unavailable (HTTP {error.response.status_code})"
    if isinstance(error, TimeoutError):
        return infra, f"{_component(error)} did not answer in time"
    if isinstance(error, OSError):
        return infra, f"{_component(error)} is unreachable"
    return None


_COMPONENTS = (
    (("asyncpg", "sqlalchemy", "psycopg"), "the database"),
    (("aiokafka", "kafka"), "the Kafka broker"),
    (("httpx", "httpcore"), "a service this one calls"),
)


def _component(error: BaseException) -> str:
    """Name what an OS-level error came from, by the modules its traceback went through."""
    tb = error.__traceback__
    modules: list[str] = []
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    for module in reversed(modules):  # the innermost frame knows best
        for prefixes, name in _COMPONENTS:
            if module.split(".")[0] in prefixes:
                return name
    return "a dependency (network or file system)"
