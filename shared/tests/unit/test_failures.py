"""The failure classes of failures.py, on real exception instances built as the libraries build them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from pydantic import BaseModel, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi

from halte_shared.events import EventError, UnknownEventVersion, decode
from halte_shared.failures import Failure, FailureClass, MessageRejected, classify, safe_text, safe_trace

INFRA = FailureClass.INFRASTRUCTURE
MESSAGE = FailureClass.MESSAGE
UNKNOWN = FailureClass.UNKNOWN

_DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)
_PARAMS = {"phone": "+33612345678"}


def through_sqlalchemy(error: Exception, *, invalidated: bool = False) -> BaseException:
    """Return what SQLAlchemy raises when asyncpg raises ``error`` during a statement."""
    try:
        try:
            raise error
        except Exception as raised:
            # The asyncpg dialect's own translation into its DBAPI-style error, chained from the original.
            AsyncAdapt_asyncpg_connection._handle_exception_no_connection(_DBAPI, raised)
    except _DBAPI.Error as translated:
        try:
            raise sa_exc.DBAPIError.instance(  # type: ignore[misc]
                "INSERT INTO suppressions (phone) VALUES ($1)",
                _PARAMS,
                translated,
                _DBAPI.Error,
                connection_invalidated=invalidated,
            ) from translated
        except sa_exc.DBAPIError as wrapped:
            return wrapped
    raise AssertionError("the dialect did not translate the error")


def raised(make: Callable[[], BaseException]) -> BaseException:
    """Return an exception after it was really raised (so it has a traceback)."""
    try:
        raise make()
    except BaseException as exc:  # noqa: BLE001 - the point is to capture it
        return exc


def raised_from(outer: Exception, inner: BaseException) -> BaseException:
    try:
        raise outer from inner
    except Exception as exc:
        return exc


def raised_while_handling(outer: Exception, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit __context__ is what is tested
    except Exception as exc:
        return exc


def a_validation_error() -> ValidationError:
    class Model(BaseModel):
        n: int

    try:
        Model.model_validate({"n": "not a number"})
    except ValidationError as exc:
        return exc
    raise AssertionError


def an_event_error() -> EventError:
    try:
        decode(b"{not json")
    except EventError as exc:
        return exc
    raise AssertionError


def an_asyncio_timeout() -> BaseException:
    async def too_slow() -> None:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.001)

    try:
        asyncio.run(too_slow())
    except TimeoutError as exc:
        return exc
    raise AssertionError


def an_http_status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://suppression:8003/v1/x")
    return httpx.HTTPStatusError("refused", request=request, response=httpx.Response(status, request=request))


CASES: list[tuple[str, Callable[[], BaseException], FailureClass, str]] = [
    # -- the infrastructure --
    (
        "unix socket gone (failover)",
        lambda: FileNotFoundError(2, "No such file or directory"),
        INFRA,
        "is unreachable",
    ),
    ("connection refused", lambda: ConnectionRefusedError(111, "Connect call failed"), INFRA, "unreachable"),
    ("connection reset", lambda: ConnectionResetError(104, "Connection reset by peer"), INFRA, "unreachable"),
    ("asyncio wait_for timeout", an_asyncio_timeout, INFRA, "did not answer in time"),
    (
        "asyncpg connection lost mid-statement",
        lambda: asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        INFRA,
        "connection failed or was lost",
    ),
    (
        "asyncpg interface error on a closed connection",
        lambda: asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        INFRA,
        "connection was lost",
    ),
    (
        "admin shutdown",
        lambda: asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        INFRA,
        "shutting down",
    ),
    (
        "cannot connect now",
        lambda: asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        INFRA,
        "accepts no connection now",
    ),
    (
        "too many connections",
        lambda: asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        INFRA,
        "too many connections",
    ),
    (
        "statement timeout",
        lambda: asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        INFRA,
        "timed out or was cancelled",
    ),
    (
        "serialization failure",
        lambda: asyncpg.exceptions.SerializationError("could not serialize access"),
        INFRA,
        "serialization failure",
    ),
    ("deadlock", lambda: asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), INFRA, "deadlock"),
    (
        "lock not available",
        lambda: asyncpg.exceptions.LockNotAvailableError("could not obtain lock"),
        INFRA,
        "lock was not available",
    ),
    (
        "read-only standby after a failover",
        lambda: asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        INFRA,
        "read-only",
    ),
    (
        "missing table (a migration not applied)",
        lambda: asyncpg.exceptions.UndefinedTableError('relation "parked_events" does not exist'),
        INFRA,
        "missing migration",
    ),
    (
        "missing column",
        lambda: asyncpg.exceptions.UndefinedColumnError('column "x" does not exist'),
        INFRA,
        "missing migration",
    ),
    (
        "disk full (class 53)",
        lambda: asyncpg.exceptions.DiskFullError("could not extend file"),
        INFRA,
        "out of resources",
    ),
    ("system error (class 58)", lambda: asyncpg.exceptions.PostgresIOError("could not read block"), INFRA, "system"),
    (
        "statement timeout through SQLAlchemy",
        lambda: through_sqlalchemy(asyncpg.exceptions.QueryCanceledError("canceling statement")),
        INFRA,
        "timed out or was cancelled",
    ),
    (
        "deadlock through SQLAlchemy",
        lambda: through_sqlalchemy(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
        INFRA,
        "deadlock",
    ),
    (
        "serialization failure through SQLAlchemy",
        lambda: through_sqlalchemy(asyncpg.exceptions.SerializationError("could not serialize access")),
        INFRA,
        "serialization failure",
    ),
    (
        "admin shutdown through SQLAlchemy, connection invalidated",
        lambda: through_sqlalchemy(
            asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
            invalidated=True,
        ),
        INFRA,
        "shutting down",
    ),
    (
        "closed connection through SQLAlchemy",
        lambda: through_sqlalchemy(
            asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection is closed"), invalidated=True
        ),
        INFRA,
        "connection was lost",
    ),
    (
        "missing table through SQLAlchemy",
        lambda: through_sqlalchemy(asyncpg.exceptions.UndefinedTableError('relation "suppressions" does not exist')),
        INFRA,
        "missing migration",
    ),
    (
        "pool checkout timeout",
        lambda: sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached, connection timed out"),
        INFRA,
        "pool is exhausted",
    ),
    ("broker unreachable", lambda: KafkaConnectionError("Unable to bootstrap"), INFRA, "Kafka broker"),
    ("broker timeout", lambda: KafkaTimeoutError(), INFRA, "Kafka broker"),
    ("broker node not ready", lambda: NodeNotReadyError(), INFRA, "Kafka broker"),
    (
        "another service unreachable",
        lambda: httpx.ConnectError("All connection attempts failed"),
        INFRA,
        "unreachable",
    ),
    ("another service times out", lambda: httpx.ReadTimeout("timed out"), INFRA, "unreachable"),
    ("another service unavailable", lambda: an_http_status_error(503), INFRA, "HTTP 503"),
    (
        "a connection error wrapped by the handler's own exception",
        lambda: raised_from(RuntimeError("could not record the opt-out"), ConnectionRefusedError(111, "refused")),
        INFRA,
        "unreachable",
    ),
    (
        "a validation error raised while the database was away (infrastructure wins)",
        lambda: raised_while_handling(a_validation_error(), ConnectionResetError(104, "reset")),
        INFRA,
        "unreachable",
    ),
    (
        "an exception group holding a deadlock",
        lambda: ExceptionGroup("tasks", [ValueError("x"), asyncpg.exceptions.DeadlockDetectedError("deadlock")]),
        INFRA,
        "deadlock",
    ),
    # -- the message itself --
    ("undecodable envelope", an_event_error, MESSAGE, "cannot be decoded"),
    ("unknown version", lambda: UnknownEventVersion("optout.requested version 9 is unknown"), MESSAGE, "decoded"),
    ("payload fails validation", a_validation_error, MESSAGE, "does not match its schema"),
    ("domain refusal", lambda: MessageRejected("the account is closed"), MESSAGE, "the handler refused the event"),
    (
        "a value PostgreSQL refuses (class 22)",
        lambda: through_sqlalchemy(asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence")),
        MESSAGE,
        "refused a value",
    ),
    (
        "string too long (class 22)",
        lambda: asyncpg.exceptions.StringDataRightTruncationError("value too long for type character varying(20)"),
        MESSAGE,
        "refused a value",
    ),
    # -- anything else --
    (
        "unique violation (may be a race)",
        lambda: through_sqlalchemy(asyncpg.exceptions.UniqueViolationError("duplicate key value")),
        UNKNOWN,
        "constraint was violated",
    ),
    ("a bug", lambda: KeyError("phone"), UNKNOWN, "unexpected error"),
    ("another bug", lambda: RuntimeError("this event breaks the handler"), UNKNOWN, "unexpected error"),
    ("a peer's internal error", lambda: an_http_status_error(500), UNKNOWN, "unexpected error"),
]


@pytest.mark.parametrize(("make", "kind", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_failure_is_classified_as_documented(make: Callable[[], BaseException], kind: FailureClass, reason: str):
    failure = classify(raised(make))
    assert failure.kind is kind, failure
    assert reason in failure.reason, failure


def test_the_description_is_one_sentence_with_the_error_in_brackets():
    failure = classify(raised(lambda: ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")))
    assert failure == Failure(
        INFRA,
        "a dependency (network or file system) is unreachable",
        "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432)",
    )
    assert failure.describe().endswith("(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432))")


def test_an_os_error_raised_inside_the_database_driver_names_the_database():
    async def connect() -> None:
        await asyncpg.connect(host="/nonexistent-socket-directory", user="halte", database="halte", timeout=2)

    with pytest.raises(OSError) as caught:
        asyncio.run(connect())
    failure = classify(caught.value)
    assert failure.kind is INFRA
    assert failure.reason == "the database is unreachable"


def test_sqlalchemy_errors_are_described_without_their_bound_parameters():
    error = through_sqlalchemy(asyncpg.exceptions.UniqueViolationError("duplicate key value violates constraint"))
    assert "+33612345678" in str(error), "SQLAlchemy itself shows the parameters"
    text = safe_text(error)
    assert "+33612345678" not in text
    assert "INSERT" not in text
    assert text == (
        "IntegrityError (asyncpg UniqueViolationError, SQLSTATE 23505): duplicate key value violates constraint"
    )
    assert "+33612345678" not in classify(error).describe()
    assert "+33612345678" not in safe_trace(error)


def test_a_domain_refusal_is_described_by_its_reason():
    failure = classify(raised(lambda: MessageRejected("the account is closed")))
    assert failure.describe() == "the handler refused the event (MessageRejected: the account is closed)"


def test_the_outermost_wrapper_is_shown_for_an_error_found_in_its_orig():
    failure = classify(through_sqlalchemy(asyncpg.exceptions.QueryCanceledError("canceling statement")))
    assert failure.error.startswith("DBAPIError (asyncpg QueryCanceledError, SQLSTATE 57014)")
