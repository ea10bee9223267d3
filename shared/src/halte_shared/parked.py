"""Parked events: messages a consumer gave up on, kept in the service's own schema until resolved.

The consumer (bus.py) publishes such a message to ``<topic>.dlq`` and also records it here,
because the embedded broker keeps nothing across a restart: this table is the record an
operator works from. ``GET /v1/operator/parked`` lists them, ``POST .../{id}/replay`` hands
one to its consumer's handler again, ``POST .../{id}/discard`` closes it with a note (web.py).
A service may act in the same transaction as the row, through the consumer's ``on_park`` and
``on_discard`` hooks (runtime.py ``add_consumer``).
"""

# No `from __future__ import annotations`: FastAPI must see the route annotations of
# parked_router(), whose names are imported inside it, as objects rather than strings.

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

import structlog
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from halte_shared.events import Envelope, Payload, decode
from halte_shared.failures import Failure, FailureClass, classify, sqlstate_of
from halte_shared.plumbing_tables import parked_events_table
from halte_shared.sql import METADATA_FOR_PLUMBING

log = structlog.get_logger("halte.parked")

PARKED = parked_events_table(METADATA_FOR_PLUMBING)
#: A parked event's id: a bigint (a larger number in the URL is refused, not overflowed).
ParkedId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the parked event's id")]


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """One row of parked_events."""

    id: int
    consumer_group: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: list[tuple[str, str]]
    event_id: str | None
    event_type: str | None
    error_class: str
    error: str
    parked_at: datetime
    state: str
    resolved_at: datetime | None
    resolution_note: str | None

    def decoded(self) -> tuple[Envelope, Payload] | None:
        """Return the stored message as an event, or None when it cannot be decoded."""
        try:
            return decode(self.value)
        except Exception:
            return None

    def as_json(self) -> dict[str, Any]:
        """Return the row as the operator endpoints show it."""
        return {
            "id": self.id,
            "consumer_group": self.consumer_group,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "error_class": self.error_class,
            "error": self.error,
            "parked_at": self.parked_at.isoformat(),
            "state": self.state,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolution_note": self.resolution_note,
            "headers": [list(h) for h in self.headers],
            "value": pg_text(self.value.decode("utf-8", "backslashreplace")),
        }


ParkHook = Callable[[AsyncSession, ParkedEvent], Awaitable[None]]


class ReplayTarget(Protocol):
    """What the operator actions need of a consumer (bus.py EventConsumer)."""

    group: str
    on_discard: ParkHook | None

    async def replay(self, parked: ParkedEvent) -> Failure | None: ...


class ParkedError(Exception):
    """An operator action that cannot be done, with the HTTP status that says why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class ReplayFailed(ParkedError):
    """The handler failed again: the event stays parked with the new error."""

    def __init__(self, parked: ParkedEvent, failure: Failure) -> None:
        super().__init__(409, "replay_failed", f"The event is still parked: {failure.describe()}")
        self.parked = parked
        self.failure = failure


def pg_text(text: str) -> str:
    """Escape NUL, which PostgreSQL text and jsonb cannot hold (a parked row must always be writable)."""
    return text.replace("\x00", "\\x00")


def describe_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """Return Kafka headers as text pairs fit for jsonb."""
    return [
        (pg_text(str(name)), pg_text((value or b"").decode("utf-8", "backslashreplace"))) for name, value in headers
    ]


def _identify(value: bytes) -> tuple[str | None, str | None]:
    """Return the event id and type of a raw message, as far as they can be read."""
    try:
        data = json.loads(value)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    event_id, event_type = data.get("id"), data.get("type")
    return (
        pg_text(event_id)[:64] if isinstance(event_id, str) else None,
        pg_text(event_type)[:200] if isinstance(event_type, str) else None,
    )


def _from_row(row: Any) -> ParkedEvent:
    return ParkedEvent(
        id=row.id,
        consumer_group=row.consumer_group,
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        key=row.key,
        value=bytes(row.value),
        headers=[(str(k), str(v)) for k, v in (row.headers or [])],
        event_id=row.event_id,
        event_type=row.event_type,
        error_class=row.error_class,
        error=row.error,
        parked_at=row.parked_at,
        state=row.state,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
    )


async def park_message(
    session: AsyncSession,
    *,
    group: str,
    topic: str,
    partition: int,
    offset: int,
    key: str | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
    failure: Failure,
    error: str | None = None,
) -> ParkedEvent | None:
    """Record a message the consumer gave up on; None when this very message was already recorded."""
    event_id, event_type = _identify(value)
    row = (
        await session.execute(
            insert(PARKED)
            .values(
                consumer_group=group,
                topic=topic,
                partition=partition,
                offset=offset,
                key=pg_text(key) if key is not None else None,
                value=value,
                value_sha256=hashlib.sha256(value).hexdigest(),
                headers=[list(h) for h in describe_headers(headers)],
                event_id=event_id,
                event_type=event_type,
                error_class=failure.kind.value,
                error=pg_text(error if error is not None else failure.describe()),
            )
            .on_conflict_do_nothing(constraint="parked_events_message")
            .returning(*PARKED.c)
        )
    ).first()
    return _from_row(row) if row is not None else None


async def list_parked(
    session: AsyncSession,
    *,
    state: str | None = "parked",
    limit: int = 100,
    group: str | None = None,
    topic: str | None = None,
) -> list[ParkedEvent]:
    """Return parked events, oldest first, filtered by state, consumer group and topic."""
    query = select(PARKED).order_by(PARKED.c.id).limit(limit)
    if state is not None:
        query = query.where(PARKED.c.state == state)
    if group is not None:
        query = query.where(PARKED.c.consumer_group == group)
    if topic is not None:
        query = query.where(PARKED.c.topic == topic)
    return [_from_row(row) for row in (await session.execute(query)).all()]


async def get_parked(session: AsyncSession, parked_id: int) -> ParkedEvent | None:
    """Return one parked event by id."""
    row = (await session.execute(select(PARKED).where(PARKED.c.id == parked_id))).first()
    return _from_row(row) if row is not None else None


async def _lock_open(session: AsyncSession, parked_id: int) -> ParkedEvent:
    """Lock a parked event for an operator action, refusing one that is gone, resolved or busy."""
    try:
        row = (
            await session.execute(select(PARKED).where(PARKED.c.id == parked_id).with_for_update(nowait=True))
        ).first()
    except Exception as exc:
        if sqlstate_of(exc) == "55P03":  # lock_not_available: NOWAIT met another action's lock
            raise ParkedError(
                409, "busy", "Another operator action on this parked event is in progress; try again."
            ) from exc
        raise
    if row is None:
        raise ParkedError(404, "not_found", f"No parked event has id {parked_id}.")
    parked = _from_row(row)
    if parked.state != "parked":
        raise ParkedError(409, "already_resolved", f"This event was already {parked.state}.")
    return parked


async def _resolve(session: AsyncSession, parked_id: int, *, state: str, note: str) -> ParkedEvent:
    row = (
        await session.execute(
            update(PARKED)
            .where(PARKED.c.id == parked_id)
            .values(state=state, resolved_at=func.now(), resolution_note=pg_text(note))
            .returning(*PARKED.c)
        )
    ).one()
    return _from_row(row)


def _find(consumers: Sequence[ReplayTarget], group: str) -> ReplayTarget | None:
    return next((c for c in consumers if c.group == group), None)


async def replay_parked(
    sessions: async_sessionmaker[AsyncSession], consumers: Sequence[ReplayTarget], parked_id: int
) -> ParkedEvent:
    """Hand a parked event to its consumer's handler once; mark it replayed, or keep it parked with the new error."""
    async with sessions() as session, session.begin():
        # The row stays locked while the handler runs, so two operators cannot replay it at once.
        parked = await _lock_open(session, parked_id)
        consumer = _find(consumers, parked.consumer_group)
        if consumer is None:
            raise ParkedError(
                409,
                "no_consumer",
                f"No consumer of group {parked.consumer_group} runs in this service, so nothing can replay it.",
            )
        failure = await consumer.replay(parked)
        if failure is None:
            replayed = await _resolve(session, parked_id, state="replayed", note="replayed by an operator")
            log.warning(
                "an operator replayed a parked event and it was handled",
                parked_id=parked_id,
                group=parked.consumer_group,
                topic=parked.topic,
                event_id=parked.event_id,
            )
            return replayed
        row = (
            await session.execute(
                update(PARKED)
                .where(PARKED.c.id == parked_id)
                .values(error_class=failure.kind.value, error=pg_text(failure.describe()))
                .returning(*PARKED.c)
            )
        ).one()
        log.warning(
            "an operator replayed a parked event and it failed again; it stays parked",
            parked_id=parked_id,
            group=parked.consumer_group,
            topic=parked.topic,
            event_id=parked.event_id,
            failure_class=failure.kind.value,
            reason=failure.reason,
            error=failure.error,
        )
        still = _from_row(row)
    raise ReplayFailed(still, failure)


async def discard_parked(
    sessions: async_sessionmaker[AsyncSession], consumers: Sequence[ReplayTarget], parked_id: int, *, note: str
) -> ParkedEvent:
    """Close a parked event without handling it, with the operator's note; run the consumer's on_discard hook."""
    async with sessions() as session, session.begin():
        parked = await _lock_open(session, parked_id)
        discarded = await _resolve(session, parked_id, state="discarded", note=note)
        consumer = _find(consumers, parked.consumer_group)
        if consumer is not None and consumer.on_discard is not None:
            await consumer.on_discard(session, discarded)
    log.warning(
        "an operator discarded a parked event",
        parked_id=parked_id,
        group=parked.consumer_group,
        topic=parked.topic,
        event_id=parked.event_id,
        note=note,
    )
    return discarded


class DiscardRequest(BaseModel):
    """Why an operator closes a parked event without handling it."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="the operator's resolution, kept with the row")


def parked_router() -> APIRouter:
    """Return the operator endpoints that list, replay and discard parked events (mounted by web.py)."""
    # web.py mounts this router and itself needs the runtime, which needs the bus, which needs
    # this module: its names are imported here, once the modules are loaded.
    from halte_shared.web import AdminOnly, ApiError, Runtime

    router = APIRouter(prefix="/v1/operator/parked", tags=["operations"], dependencies=[AdminOnly])

    def refused(exc: Exception) -> ApiError:
        if isinstance(exc, ParkedError):
            return ApiError(exc.status, exc.code, exc.message)
        failure = classify(exc)
        if failure.kind is FailureClass.INFRASTRUCTURE:
            # The database (or what the handler needs) is away: say so rather than answer a bare 500.
            return ApiError(503, "unavailable", f"Try again later: {failure.describe()}")
        raise exc

    @router.get("")
    async def list_parked_events(
        runtime: Runtime,
        state: Annotated[Literal["parked", "replayed", "discarded", "all"], Query()] = "parked",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        group: Annotated[str | None, Query(max_length=200)] = None,
        topic: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        """List parked events, oldest first, with the reason each was parked."""
        async with runtime.sessions() as session:
            rows = await list_parked(
                session, state=None if state == "all" else state, limit=limit, group=group, topic=topic
            )
        return {"items": [row.as_json() for row in rows]}

    @router.get("/{parked_id}")
    async def get_parked_event(parked_id: ParkedId, runtime: Runtime) -> dict[str, Any]:
        """Show one parked event."""
        async with runtime.sessions() as session:
            parked = await get_parked(session, parked_id)
        if parked is None:
            raise ApiError(404, "not_found", f"No parked event has id {parked_id}.")
        return parked.as_json()

    @router.post("/{parked_id}/replay", responses={409: {"description": "still parked: the handler failed again"}})
    async def replay_parked_event(parked_id: ParkedId, runtime: Runtime) -> dict[str, Any]:
        """Hand the stored message to its consumer's handler again, now; it stays parked if that fails."""
        try:
            parked = await replay_parked(runtime.sessions, runtime.consumers, parked_id)
        except Exception as exc:
            raise refused(exc) from exc
        return parked.as_json()

    @router.post("/{parked_id}/discard")
    async def discard_parked_event(parked_id: ParkedId, body: DiscardRequest, runtime: Runtime) -> dict[str, Any]:
        """Close a parked event without handling it, with a note saying why."""
        try:
            parked = await discard_parked(runtime.sessions, runtime.consumers, parked_id, note=body.note)
        except Exception as exc:
            raise refused(exc) from exc
        return parked.as_json()

    return router
