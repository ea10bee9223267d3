"""The plumbing every service runs: engine, producer, outbox relay, consumers, clock.

A service's ``bootstrap()`` builds one :class:`ServiceRuntime`, registers its consumers
and background tasks, and the FastAPI lifespan starts and stops it. Readiness is true
only when the database answers, the broker answers and every consumer is running: a
consumer stalled on a message (waiting out an outage, bus.py) makes the service not ready,
with a sentence saying where and why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from halte_shared.bus import BatchHandler, EventConsumer, Handler, make_producer
from halte_shared.clock import AdjustableClock, Clock, SystemClock
from halte_shared.db import make_engine, make_session_factory, ping
from halte_shared.outbox import OutboxRelay
from halte_shared.parked import ParkHook
from halte_shared.settings import HalteSettings

log = structlog.get_logger("halte.runtime")


@dataclass
class ReadinessReport:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


class ServiceRuntime:
    """Own the connections and loops of one service process."""

    def __init__(
        self,
        settings: HalteSettings,
        *,
        clock: Clock | None = None,
        engine: AsyncEngine | None = None,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or self._default_clock(settings)
        self.engine = engine or make_engine(
            settings.database_url,
            schema=settings.schema_name,
            pool_size=settings.db_pool_size,
            application_name=settings.service_name,
        )
        self.sessions: async_sessionmaker[AsyncSession] = make_session_factory(self.engine)
        self.producer = producer or make_producer(settings)
        self.relay = OutboxRelay(
            session_factory=self.sessions,
            producer=self.producer,
            service=settings.service_name,
            topic_prefix=settings.topic_prefix,
            retention_seconds=settings.outbox_replay_window_seconds,
            bootstrap_servers=settings.kafka_bootstrap_servers,
        )
        self.consumers: list[EventConsumer] = []  # started together in start()
        self._background: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._broker_checked_at = 0.0
        self._broker_ok = False
        self.started = False

    @staticmethod
    def _default_clock(settings: HalteSettings) -> Clock:
        if not settings.test_mode:
            return SystemClock()
        clock = AdjustableClock()
        # A test that restarts a service hands it the offset it had, so time does not jump back.
        clock.shift(timedelta(seconds=settings.test_clock_offset_seconds))
        return clock

    def add_consumer(
        self,
        *,
        group: str,
        topics: list[str],
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 500,
        on_park: ParkHook | None = None,
        on_discard: ParkHook | None = None,
    ) -> EventConsumer:
        """Register a consumer group member started with the service.

        ``on_park(session, parked)`` runs in the transaction that records a message the
        consumer gave up on in parked_events (once: a redelivery of a message already parked
        is not recorded again); ``on_discard(session, parked)`` in the one that closes it when
        an operator discards it (parked.py). An on_park that keeps failing for a reason other
        than the infrastructure is dropped after a few attempts and the row says so.
        """
        if any(c.group == group for c in self.consumers):
            raise ValueError(f"a consumer of group {group} is already registered")
        consumer = EventConsumer(
            settings=self.settings,
            group_id=group,
            topics=topics,
            handler=handler,
            batch_handler=batch_handler,
            producer=self.producer,
            sessions=self.sessions,
            on_park=on_park,
            on_discard=on_discard,
            max_batch=max_batch,
        )
        self.consumers.append(consumer)
        return consumer

    def consumer_for_group(self, group: str) -> EventConsumer | None:
        """Return the consumer registered under a group name, if any."""
        return next((c for c in self.consumers if c.group == group), None)

    def add_background(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Register a coroutine that runs for the life of the service (cancelled at stop)."""
        self._background.append((name, loop))

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Register a clean-up step run after consumers stop."""
        self._on_stop.append(callback)

    async def start(self) -> None:
        """Connect, then start the relay, the consumers and the background loops."""
        await self._start_producer()
        await self.relay.start()
        # Joining a group takes seconds on some brokers: join them all at once.
        await asyncio.gather(*(consumer.start() for consumer in self.consumers))
        for name, loop in self._background:
            self._tasks.append(asyncio.create_task(loop(), name=name))
        self.started = True
        log.info(
            "service started",
            consumers=[c.group_id for c in self.consumers],
            background=[name for name, _ in self._background],
        )

    async def _start_producer(self) -> None:
        # The broker may come up after us (or be down for a while): keep trying, since a
        # service that refuses to start would only be restarted into the same wait.
        delay = 0.5
        while True:
            try:
                await self.producer.start()
                return
            except KafkaError as exc:
                log.warning("the broker is not reachable yet; retrying", error=repr(exc), retry_in_seconds=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        """Stop consuming, finish in-flight work, flush the outbox, disconnect."""
        self.started = False
        # Together, not one after another: each may spend most of the grace period on a
        # message it waits on, and the whole stop must fit in that period.
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for callback in self._on_stop:
            await callback()
        await self.relay.stop()
        await self.producer.stop()
        await self.engine.dispose()
        log.info("service stopped cleanly")

    async def readiness(self) -> ReadinessReport:
        """Check the database, the broker and the consumers."""
        report = ReadinessReport(ready=True)
        try:
            await asyncio.wait_for(ping(self.engine), timeout=2.0)
            report.checks["database"] = "ok"
        except Exception as exc:
            report.ready = False
            report.checks["database"] = f"unreachable: {exc!r}"[:300]
        if await self._broker_reachable():
            report.checks["broker"] = "ok"
        else:
            report.ready = False
            report.checks["broker"] = "unreachable"
        for consumer in self.consumers:
            state = consumer.state
            report.checks[f"consumer:{consumer.group_id}"] = state.describe()
            report.ready &= state.healthy
        report.checks["outbox_relay"] = "running" if self.relay.running else "stopped"
        report.ready &= self.relay.running and self.started
        return report

    async def _broker_reachable(self) -> bool:
        # Asking for metadata at every probe would load the broker; a few seconds' cache is enough.
        now = time.monotonic()
        if now - self._broker_checked_at < 3.0:
            return self._broker_ok
        self._broker_checked_at = now
        try:
            client = self.producer.client
            self._broker_ok = bool(await asyncio.wait_for(client.fetch_all_metadata(), timeout=2.0))
        except Exception:
            self._broker_ok = False
        return self._broker_ok
