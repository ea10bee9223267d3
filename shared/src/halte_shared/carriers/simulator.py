"""The carrier simulator: the embedded default carrier ``sim``, a small service of its own.

It plays the mobile network for `make run` and the tests, durably: every message it accepts
is a row in PostgreSQL (schema ``carrier_sim``), so a test can count what reached "the
phones" across restarts of the services that send. It behaves like a careful carrier:

- ``POST /v1/messages`` (``Authorization: Bearer <CARRIER_SIM_SECRET>``) accepts an SMS.
  The ``message_id`` is an idempotency key: a resubmission answers 200 with the first
  ``carrier_message_id`` and ``duplicate: true`` and records nothing new; the same key
  with another number or text is refused (409), as a real API refuses a reused key.
- A delivery report follows each accepted message: ``POST {HALTE_INBOUND_URL}/v1/carriers/sim/dlr``
  signed like every carrier webhook, retried while inbound is down, resumed after a
  restart of the simulator. A report that cannot be delivered never fails the submission.
- ``POST /v1/inject/mo`` (operator) makes a phone reply: a signed ``.../v1/carriers/sim/mo``.
- ``POST /v1/control`` (operator) injects failures: the next N submissions fail
  temporarily (503), are throttled (429) or rejected (400); reports for some numbers say
  "failed"; a latency is added. ``GET /v1/messages`` (operator) lists what was received.

Run it with ``python -m halte_shared.carriers.simulator`` (DATABASE_URL, CARRIER_SIM_SECRET,
ADMIN_TOKEN, HALTE_INBOUND_URL, PORT; default port 8010).
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateIndex, CreateTable

from halte_shared.carriers.webhooks import post_signed
from halte_shared.clock import Clock, SystemClock
from halte_shared.db import ensure_schema, make_engine, ping
from halte_shared.events import E164
from halte_shared.observability import configure_logging
from halte_shared.settings import DEV_PLACEHOLDERS
from halte_shared.web import ApiError, bearer_token, install_error_handlers, install_request_context

log = structlog.get_logger("halte.carrier_sim")

CARRIER = "sim"
DEFAULT_PORT = 8010

SIM_MESSAGES = Counter(
    "halte_carrier_sim_submissions_total", "Submissions the carrier simulator answered, by outcome.", ["outcome"]
)
SIM_DLRS = Counter(
    "halte_carrier_sim_dlr_total", "Delivery reports the simulator tried to post, by outcome.", ["outcome"]
)


class SimulatorSettings(BaseSettings):
    """Configuration of the simulator process (environment variables)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    environment: Literal["production", "development", "test"] = Field(default="production", alias="HALTE_ENV")
    database_url: str = Field(alias="DATABASE_URL")
    db_schema: str = Field(default="carrier_sim", alias="HALTE_CARRIER_SIM_SCHEMA")
    secret: SecretStr = Field(alias="CARRIER_SIM_SECRET")
    admin_token: SecretStr | None = Field(default=None, alias="ADMIN_TOKEN")
    inbound_url: str | None = Field(default=None, alias="HALTE_INBOUND_URL")
    host: str = Field(default="127.0.0.1", alias="HALTE_HOST")
    port: int = Field(default=DEFAULT_PORT, alias="PORT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    dlr_delay_seconds: float = Field(default=0.05, ge=0, alias="HALTE_CARRIER_SIM_DLR_DELAY_SECONDS")
    dlr_attempts: int = Field(default=6, ge=1, le=20, alias="HALTE_CARRIER_SIM_DLR_ATTEMPTS")
    dlr_first_retry_seconds: float = Field(default=0.25, gt=0, alias="HALTE_CARRIER_SIM_DLR_RETRY_SECONDS")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> SimulatorSettings:
        if self.environment == "production":
            token = self.admin_token.get_secret_value() if self.admin_token else ""
            if token in DEV_PLACEHOLDERS or len(token) < 16:
                raise ValueError("ADMIN_TOKEN must be set to a real secret (16+ characters) in production")
            if self.secret.get_secret_value() in DEV_PLACEHOLDERS:
                raise ValueError("CARRIER_SIM_SECRET is a development placeholder; refused in production")
        if not self.secret.get_secret_value():
            raise ValueError("CARRIER_SIM_SECRET must not be empty")
        return self


metadata = MetaData()

sim_messages = Table(
    "sim_messages",
    metadata,
    Column("carrier_message_id", Text, primary_key=True),
    Column("message_id", Text, nullable=False, unique=True),
    Column("to_number", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("encoding", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("dlr_url", Text),
    Column("submissions", Integer, nullable=False, server_default="1"),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("last_submitted_at", DateTime(timezone=True), nullable=False),
    # What the "network" will report, decided at acceptance so a restart reports the same.
    Column("dlr_status", Text, nullable=False),
    # pending -> sent | refused | gave_up | no_receiver
    Column("dlr_state", Text, nullable=False, server_default="pending"),
    Column("dlr_attempts", Integer, nullable=False, server_default="0"),
    Column("dlr_http_status", Integer),
    Column("dlr_sent_at", DateTime(timezone=True)),
)

SIM_MESSAGES_BY_NUMBER = Index("sim_messages_to_number", sim_messages.c.to_number)

sim_replies = Table(
    "sim_replies",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("from_number", Text, nullable=False),
    Column("to_number", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("inbound_status", Integer),
    Column("injections", Integer, nullable=False, server_default="1"),
)


async def create_tables(engine: AsyncEngine, schema: str) -> None:
    """Create the simulator's schema and tables if they do not exist."""
    await ensure_schema(engine, schema)
    async with engine.begin() as conn:
        for table in metadata.sorted_tables:
            await conn.execute(CreateTable(table, if_not_exists=True))
        await conn.execute(CreateIndex(SIM_MESSAGES_BY_NUMBER, if_not_exists=True))


# -- wire models -------------------------------------------------------------------------


class Submission(BaseModel):
    """One SMS handed to the simulated carrier."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", description="our idempotency key")
    to: E164
    sender: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1, max_length=2000)
    encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
    kind: Literal["marketing", "informative"] = "informative"
    dlr_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")


class Accepted(BaseModel):
    carrier_message_id: str
    message_id: str
    duplicate: bool
    status: Literal["accepted"] = "accepted"
    received_at: datetime


class ControlChange(BaseModel):
    """Failures and behaviours to inject; a field left out keeps its current value."""

    model_config = ConfigDict(extra="forbid")
    reset: bool = Field(default=False, description="clear every injected behaviour first")
    fail_temporary: int | None = Field(default=None, ge=0, le=100_000, description="next N submissions answer 503")
    throttle: int | None = Field(default=None, ge=0, le=100_000, description="next N submissions answer 429")
    fail_permanent: int | None = Field(default=None, ge=0, le=100_000, description="next N submissions answer 400")
    latency_ms: int | None = Field(default=None, ge=0, le=60_000, description="delay before answering a submission")
    dlr_failed_for: list[E164] | None = Field(default=None, max_length=10_000, description="report 'failed' for these")
    dlr_enabled: bool | None = Field(default=None, description="post delivery reports at all")
    dlr_delay_ms: int | None = Field(default=None, ge=0, le=600_000, description="delay before a delivery report")


class ControlState(BaseModel):
    fail_temporary: int
    throttle: int
    fail_permanent: int
    latency_ms: int
    dlr_failed_for: list[str]
    dlr_enabled: bool
    dlr_delay_ms: int
    refused: dict[str, int]


class InjectedReply(BaseModel):
    """A reply a phone sends to a short code."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", min_length=1, max_length=32)
    to: str = Field(min_length=1, max_length=32)
    text: str = Field(max_length=2000)
    message_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", description="reuse one to test a carrier retry"
    )
    received_at: AwareDatetime | None = None


# -- the simulator -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingReport:
    """A delivery report to post: what it says and where it goes."""

    carrier_message_id: str
    message_id: str
    to: str
    status: str
    url: str


@dataclass
class Behaviour:
    """What the operator told the simulator to do (kept in memory: a restart clears it)."""

    fail_temporary: int = 0
    throttle: int = 0
    fail_permanent: int = 0
    latency_ms: int = 0
    dlr_failed_for: set[str] = field(default_factory=set)
    dlr_enabled: bool = True
    dlr_delay_ms: int = 50
    refused: dict[str, int] = field(default_factory=lambda: {"temporary": 0, "throttled": 0, "permanent": 0})


class CarrierSimulator:
    """The simulator's state and behaviour, behind the HTTP routes."""

    def __init__(self, settings: SimulatorSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.engine = make_engine(
            settings.database_url, schema=settings.db_schema, pool_size=5, application_name="carrier-sim"
        )
        self.behaviour = Behaviour(dlr_delay_ms=int(settings.dlr_delay_seconds * 1000))
        self._client = httpx.AsyncClient(timeout=5.0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    @property
    def inbound_url(self) -> str | None:
        return self.settings.inbound_url.rstrip("/") if self.settings.inbound_url else None

    async def start(self) -> None:
        """Create the tables and resume the delivery reports a previous run left pending."""
        await create_tables(self.engine, self.settings.db_schema)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(sim_messages).where(sim_messages.c.dlr_state == "pending"))).all()
        for row in rows:
            url = self._report_url(row.dlr_url)
            if url is not None:
                report = PendingReport(row.carrier_message_id, row.message_id, row.to_number, row.dlr_status, url)
                self._schedule_report(report, delay=0.0)
        log.info("carrier simulator started", schema=self.settings.db_schema, resumed_reports=len(rows))

    async def stop(self) -> None:
        """Stop posting reports (unsent ones stay pending for the next start) and disconnect."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
        await self.engine.dispose()

    # -- submissions ---------------------------------------------------------------------
    def _injected_refusal(self) -> ApiError | None:
        b = self.behaviour
        if b.fail_temporary > 0:
            b.fail_temporary -= 1
            b.refused["temporary"] += 1
            SIM_MESSAGES.labels("injected_temporary").inc()
            return ApiError(503, "temporarily_unavailable", "The simulated carrier is unavailable (failure injected).")
        if b.throttle > 0:
            b.throttle -= 1
            b.refused["throttled"] += 1
            SIM_MESSAGES.labels("injected_throttle").inc()
            return ApiError(429, "throttled", "The simulated carrier is throttling submissions (failure injected).")
        if b.fail_permanent > 0:
            b.fail_permanent -= 1
            b.refused["permanent"] += 1
            SIM_MESSAGES.labels("injected_permanent").inc()
            return ApiError(400, "rejected", "The simulated carrier rejected this message (failure injected).")
        return None

    async def submit(self, sms: Submission) -> Accepted:
        """Record a message once per idempotency key and schedule its delivery report."""
        if self.behaviour.latency_ms:
            await asyncio.sleep(self.behaviour.latency_ms / 1000)
        refusal = self._injected_refusal()
        if refusal is not None:
            raise refusal
        now = self.clock.now()
        status = "failed" if sms.to in self.behaviour.dlr_failed_for else "delivered"
        report_url = self._report_url(sms.dlr_url)
        report_state = "pending" if report_url else "no_receiver"
        if not self.behaviour.dlr_enabled:
            report_state = "disabled"
        values = insert(sim_messages).values(
            carrier_message_id=f"sim-{uuid.uuid4().hex}",
            message_id=sms.message_id,
            to_number=sms.to,
            sender=sms.sender,
            body=sms.text,
            encoding=sms.encoding,
            kind=sms.kind,
            dlr_url=sms.dlr_url,
            received_at=now,
            last_submitted_at=now,
            dlr_status=status,
            dlr_state=report_state,
        )
        # One statement decides "new or duplicate" atomically, even for concurrent retries;
        # the WHERE makes a reused key with other content return no row at all.
        statement = values.on_conflict_do_update(
            index_elements=[sim_messages.c.message_id],
            set_={
                "submissions": sim_messages.c.submissions + 1,
                "last_submitted_at": values.excluded.last_submitted_at,
            },
            where=(sim_messages.c.to_number == values.excluded.to_number)
            & (sim_messages.c.body == values.excluded.body),
        ).returning(
            sim_messages.c.carrier_message_id,
            sim_messages.c.received_at,
            sim_messages.c.dlr_status,
            literal_column("xmax = 0").label("inserted"),
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            SIM_MESSAGES.labels("key_reused").inc()
            raise ApiError(
                409,
                "idempotency_key_reused",
                f"message_id {sms.message_id} was already used for another number or text.",
                "message_id",
            )
        duplicate = not row.inserted
        SIM_MESSAGES.labels("duplicate" if duplicate else "accepted").inc()
        if duplicate:
            log.info("duplicate submission answered with the first one's id", message_id=sms.message_id)
        else:
            log.info("message accepted", message_id=sms.message_id, carrier_message_id=row.carrier_message_id)
            if report_state == "pending" and report_url is not None:
                report = PendingReport(row.carrier_message_id, sms.message_id, sms.to, row.dlr_status, report_url)
                self._schedule_report(report, delay=self.behaviour.dlr_delay_ms / 1000)
        return Accepted(
            carrier_message_id=row.carrier_message_id,
            message_id=sms.message_id,
            duplicate=duplicate,
            received_at=row.received_at,
        )

    # -- delivery reports ----------------------------------------------------------------
    def _report_url(self, own_url: str | None) -> str | None:
        if own_url:
            return own_url
        return f"{self.inbound_url}/v1/carriers/{CARRIER}/dlr" if self.inbound_url else None

    def _schedule_report(self, report: PendingReport, *, delay: float) -> None:
        task = asyncio.create_task(self._report(report, delay=delay), name=f"dlr:{report.carrier_message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, report: PendingReport, *, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            await self._post_report(report)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a report must never take the simulator down
            log.exception(
                "posting a delivery report failed", carrier_message_id=report.carrier_message_id, error=repr(exc)
            )

    async def _post_report(self, report: PendingReport) -> None:
        carrier_message_id, url = report.carrier_message_id, report.url
        payload = {
            "message_id": carrier_message_id,
            "our_message_id": report.message_id,
            "status": report.status,
            "to": report.to,
            "reported_at": self.clock.now().isoformat(),
        }
        attempts = 1

        async def sleep_and_count(seconds: float) -> None:
            nonlocal attempts
            attempts += 1
            await asyncio.sleep(seconds)

        response = await post_signed(
            self._client,
            url,
            secret=self.settings.secret.get_secret_value(),
            payload=payload,
            attempts=self.settings.dlr_attempts,
            first_delay=self.settings.dlr_first_retry_seconds,
            sleep=sleep_and_count,
        )
        if response is not None and response.status_code < 300:
            state = "sent"
        elif response is not None and response.status_code < 500:
            state = "refused"
            log.error(
                "inbound refused a delivery report",
                carrier_message_id=carrier_message_id,
                status=response.status_code,
                body=response.text[:300],
            )
        else:
            state = "gave_up"
            log.error(
                "gave up posting a delivery report: inbound did not answer",
                carrier_message_id=carrier_message_id,
                attempts=attempts,
            )
        SIM_DLRS.labels(state).inc()
        await self._set_report_state(
            carrier_message_id,
            state=state,
            http_status=response.status_code if response is not None else None,
            attempts=attempts,
        )

    async def _set_report_state(
        self, carrier_message_id: str, *, state: str, http_status: int | None, attempts: int
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(sim_messages)
                .where(sim_messages.c.carrier_message_id == carrier_message_id)
                .values(
                    dlr_state=state,
                    dlr_http_status=http_status,
                    dlr_attempts=sim_messages.c.dlr_attempts + attempts,
                    dlr_sent_at=self.clock.now() if state == "sent" else None,
                )
            )

    # -- replies -------------------------------------------------------------------------
    async def inject_reply(self, reply: InjectedReply) -> dict[str, Any]:
        """Post a phone's reply to inbound, signed, and record it."""
        if not self.inbound_url:
            raise ApiError(409, "inbound_not_configured", "HALTE_INBOUND_URL is not set: there is nowhere to deliver.")
        message_id = reply.message_id or f"sim-mo-{uuid.uuid4().hex}"
        received_at = reply.received_at or self.clock.now()
        payload = {
            "message_id": message_id,
            "from": reply.from_,
            "to": reply.to,
            "text": reply.text,
            "received_at": received_at.isoformat(),
        }
        response = await post_signed(
            self._client,
            f"{self.inbound_url}/v1/carriers/{CARRIER}/mo",
            secret=self.settings.secret.get_secret_value(),
            payload=payload,
            attempts=4,
        )
        status = response.status_code if response is not None else None
        statement = insert(sim_replies).values(
            message_id=message_id,
            from_number=reply.from_,
            to_number=reply.to,
            body=reply.text,
            received_at=received_at,
            inbound_status=status,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[sim_replies.c.message_id],
            set_={"injections": sim_replies.c.injections + 1, "inbound_status": statement.excluded.inbound_status},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
        if response is None or status is None or status >= 500:
            raise ApiError(502, "inbound_unreachable", f"inbound did not take the reply (last status: {status}).")
        log.info("reply injected", message_id=message_id, inbound_status=status)
        try:
            inbound_body: Any = response.json()
        except ValueError:
            inbound_body = response.text[:500]
        return {
            "message_id": message_id,
            "delivered": status < 300,
            "inbound_status": status,
            "inbound_body": inbound_body,
            "payload": payload,
        }

    # -- listing -------------------------------------------------------------------------
    async def list_messages(
        self, *, to: str | None, message_id: str | None, limit: int, offset: int = 0, sender: str | None = None
    ) -> dict[str, Any]:
        """Return one page of the received messages matching the filters, with counts of all of them."""
        conditions = []
        if to is not None:
            conditions.append(sim_messages.c.to_number == to)
        if sender is not None:
            conditions.append(sim_messages.c.sender == sender)
        if message_id is not None:
            conditions.append(sim_messages.c.message_id == message_id)
        async with self.engine.connect() as conn:
            totals = (
                await conn.execute(
                    select(
                        func.count().label("messages"),
                        func.coalesce(func.sum(sim_messages.c.submissions), 0).label("submissions"),
                    ).where(*conditions)
                )
            ).one()
            rows = (
                await conn.execute(
                    select(sim_messages)
                    .where(*conditions)
                    .order_by(sim_messages.c.received_at, sim_messages.c.carrier_message_id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        messages = [
            {
                "carrier_message_id": r.carrier_message_id,
                "message_id": r.message_id,
                "to": r.to_number,
                "sender": r.sender,
                "text": r.body,
                "encoding": r.encoding,
                "kind": r.kind,
                "submissions": r.submissions,
                "received_at": r.received_at.isoformat(),
                "dlr_status": r.dlr_status,
                "dlr_state": r.dlr_state,
                "dlr_attempts": r.dlr_attempts,
            }
            for r in rows
        ]
        return {
            "count": int(totals.messages),
            "offset": offset,
            "counts": {
                "messages": int(totals.messages),
                "submissions": int(totals.submissions),
                "duplicates": int(totals.submissions) - int(totals.messages),
            },
            "messages": messages,
        }

    async def list_replies(self, *, from_number: str | None, limit: int) -> dict[str, Any]:
        """Return the replies injected so far."""
        conditions = [sim_replies.c.from_number == from_number] if from_number is not None else []
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(sim_replies).where(*conditions).order_by(sim_replies.c.received_at).limit(limit)
                )
            ).all()
        return {
            "count": len(rows),
            "replies": [
                {
                    "message_id": r.message_id,
                    "from": r.from_number,
                    "to": r.to_number,
                    "text": r.body,
                    "received_at": r.received_at.isoformat(),
                    "inbound_status": r.inbound_status,
                    "injections": r.injections,
                }
                for r in rows
            ],
        }

    # -- control -------------------------------------------------------------------------
    def control(self, change: ControlChange) -> ControlState:
        """Apply injected behaviours and return the resulting state."""
        if change.reset:
            self.behaviour = Behaviour(dlr_delay_ms=int(self.settings.dlr_delay_seconds * 1000))
        b = self.behaviour
        for name in ("fail_temporary", "throttle", "fail_permanent", "latency_ms", "dlr_enabled", "dlr_delay_ms"):
            value = getattr(change, name)
            if value is not None:
                setattr(b, name, value)
        if change.dlr_failed_for is not None:
            b.dlr_failed_for = set(change.dlr_failed_for)
        log.warning("carrier simulator behaviour changed", **self.state().model_dump())
        return self.state()

    def state(self) -> ControlState:
        b = self.behaviour
        return ControlState(
            fail_temporary=b.fail_temporary,
            throttle=b.throttle,
            fail_permanent=b.fail_permanent,
            latency_ms=b.latency_ms,
            dlr_failed_for=sorted(b.dlr_failed_for),
            dlr_enabled=b.dlr_enabled,
            dlr_delay_ms=b.dlr_delay_ms,
            refused=dict(b.refused),
        )


# -- HTTP ----------------------------------------------------------------------------------


async def current_simulator(request: Request) -> CarrierSimulator:
    """Return the running simulator (a FastAPI dependency)."""
    simulator: CarrierSimulator = request.app.state.simulator
    return simulator


Simulator = Annotated[CarrierSimulator, Depends(current_simulator)]


def _same_secret(given: str, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(given.encode(), (expected or "").encode())


async def require_carrier_secret(simulator: Simulator, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admit only callers holding CARRIER_SIM_SECRET."""
    if not _same_secret(bearer_token(authorization), simulator.settings.secret.get_secret_value()):
        raise ApiError(401, "unauthorized", "Submissions need Authorization: Bearer <CARRIER_SIM_SECRET>.")


async def require_operator(simulator: Simulator, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admit only the operator token."""
    expected = simulator.settings.admin_token.get_secret_value() if simulator.settings.admin_token else None
    if not _same_secret(bearer_token(authorization), expected):
        raise ApiError(401, "unauthorized", "This endpoint needs the operator token (Authorization: Bearer ...).")


def simulator_router() -> APIRouter:
    """Return the simulator's routes."""
    router = APIRouter()

    @router.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Say the process is alive."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["operations"])
    async def readyz(simulator: Simulator) -> JSONResponse:
        """Say whether the database answers."""
        try:
            await asyncio.wait_for(ping(simulator.engine), timeout=2.0)
        except Exception as exc:
            return JSONResponse(
                status_code=503, content={"status": "not_ready", "checks": {"database": f"unreachable: {exc!r}"[:300]}}
            )
        return JSONResponse(content={"status": "ready", "checks": {"database": "ok"}})

    @router.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics_endpoint() -> Response:
        """Expose Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.post(
        "/v1/messages",
        tags=["carrier"],
        dependencies=[Depends(require_carrier_secret)],
        status_code=202,
        responses={200: {"model": Accepted, "description": "a duplicate of an accepted message"}},
    )
    async def submit(sms: Submission, simulator: Simulator) -> JSONResponse:
        """Accept one SMS (idempotent on message_id)."""
        accepted = await simulator.submit(sms)
        return JSONResponse(status_code=200 if accepted.duplicate else 202, content=accepted.model_dump(mode="json"))

    @router.get("/v1/messages", tags=["operator"], dependencies=[Depends(require_operator)])
    async def list_messages(
        simulator: Simulator,
        to: Annotated[E164 | None, Query()] = None,
        message_id: Annotated[str | None, Query(max_length=128)] = None,
        sender: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """List the messages received (filter by number, sender or message id) page by page, with counts."""
        return await simulator.list_messages(to=to, message_id=message_id, limit=limit, offset=offset, sender=sender)

    @router.get("/v1/replies", tags=["operator"], dependencies=[Depends(require_operator)])
    async def list_replies(
        simulator: Simulator,
        from_: Annotated[str | None, Query(alias="from", max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> dict[str, Any]:
        """List the replies injected so far."""
        return await simulator.list_replies(from_number=from_, limit=limit)

    @router.get("/v1/control", tags=["operator"], dependencies=[Depends(require_operator)])
    async def get_control(simulator: Simulator) -> ControlState:
        """Show the injected behaviours."""
        return simulator.state()

    @router.post("/v1/control", tags=["operator"], dependencies=[Depends(require_operator)])
    async def control(change: ControlChange, simulator: Simulator) -> ControlState:
        """Inject failures, latency or failed delivery reports."""
        return simulator.control(change)

    @router.post("/v1/inject/mo", tags=["operator"], dependencies=[Depends(require_operator)])
    async def inject_mo(reply: InjectedReply, simulator: Simulator) -> dict[str, Any]:
        """Make a phone reply to a short code: a signed MO webhook to inbound."""
        return await simulator.inject_reply(reply)

    return router


def create_app(settings: SimulatorSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the simulator's app; its lifespan creates the tables and starts the reporter."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        simulator = CarrierSimulator(settings, clock=clock)
        app.state.simulator = simulator
        await simulator.start()
        try:
            yield
        finally:
            await simulator.stop()

    app = FastAPI(
        title="Halte carrier simulator",
        description="The embedded default carrier `sim`: records messages, reports delivery, injects replies.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_request_context(app, service="carrier-sim")
    app.include_router(simulator_router())
    return app


def main() -> int:
    """Serve the simulator (``python -m halte_shared.carriers.simulator``)."""
    try:
        settings = SimulatorSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"carrier simulator: refusing to start: {problems}")
        return 2
    configure_logging(service="carrier-sim", level=settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
