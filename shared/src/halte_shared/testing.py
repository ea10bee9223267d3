"""Pytest fixtures: real PostgreSQL and a real broker, once per test session, isolated per test.

Where DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set, the tests use those servers (a fresh
database is created on the PostgreSQL server); with HALTE_TESTCONTAINERS=1 and a Docker
engine that answers, testcontainers provides them; otherwise the embedded ones start in
the test session's own temporary directory on free ports, so the tests pass beside a
running `make run` stack or the machine's own PostgreSQL. Each test gets its own schema
and its own topic prefix, so tests never see each other's rows or events.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from halte_shared.bus import ensure_topics
from halte_shared.infra import EmbeddedBroker, EmbeddedPostgres, ensure_database
from halte_shared.settings import HalteSettings


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-not-found]

        docker.from_env().ping()  # type: ignore[attr-defined]
        return True
    except Exception:  # noqa: BLE001 - no engine, no client: fall back to embedded
        return False


def _use_testcontainers() -> bool:
    return os.environ.get("HALTE_TESTCONTAINERS") == "1" and _docker_answers()


@pytest.fixture(scope="session")
def infra_stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def database_server_url(tmp_path_factory: pytest.TempPathFactory, infra_stack: ExitStack) -> str:
    """Return the URL of a PostgreSQL database reserved for this test session."""
    name = f"halte_test_{os.getpid()}"
    if url := os.environ.get("DATABASE_URL"):
        return ensure_database(url, name)
    if _use_testcontainers():
        from testcontainers.postgres import PostgresContainer

        container = infra_stack.enter_context(PostgresContainer("postgres:16-alpine"))
        return ensure_database(container.get_connection_url(), name)
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres") / "data")
    admin_url = server.start()
    infra_stack.callback(server.stop)
    return ensure_database(admin_url, name)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory, infra_stack: ExitStack) -> str:
    """Return the bootstrap address of a real Kafka-protocol broker."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return servers
    if _use_testcontainers():
        from testcontainers.kafka import KafkaContainer

        container = infra_stack.enter_context(KafkaContainer())
        return str(container.get_bootstrap_server())
    broker = EmbeddedBroker(log_path=Path(tmp_path_factory.mktemp("broker")) / "broker.log")
    broker.start()
    infra_stack.callback(broker.stop)
    return broker.bootstrap_servers


@pytest.fixture(scope="session")
def embedded_broker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Return a maker of extra embedded brokers (for tests that stop their broker)."""
    brokers: list[EmbeddedBroker] = []

    def make() -> EmbeddedBroker:
        broker = EmbeddedBroker(log_path=Path(tmp_path_factory.mktemp("broker")) / "broker.log")
        broker.start()
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


_MIGRATION_LOCK = threading.Lock()


class Isolation:
    """One test's private corner of the shared servers: a schema suffix and a topic prefix."""

    def __init__(self, database_url: str, kafka_bootstrap: str) -> None:
        self.token = uuid.uuid4().hex[:10]
        self.database_url = database_url
        self.kafka_bootstrap = kafka_bootstrap
        self.topic_prefix = f"t{self.token}."

    def schema(self, service: str) -> str:
        return f"t{self.token}_{service.replace('-', '_')}"

    def settings(self, settings_cls: type[HalteSettings], *, service: str, **overrides: Any) -> Any:
        """Build a service's settings pointed at this test's schema and topics."""
        values: dict[str, Any] = {
            "HALTE_SERVICE": service,
            "HALTE_ENV": "test",
            "DATABASE_URL": self.database_url,
            "HALTE_DB_SCHEMA": self.schema(service),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "HALTE_TOPIC_PREFIX": self.topic_prefix,
            "ADMIN_TOKEN": "test-admin-token",
            "CARRIER_SIM_SECRET": "test-sim-secret",
            "HALTE_SHUTDOWN_GRACE_SECONDS": 5,
        }
        values.update(overrides)
        return settings_cls(**values)

    def migrate(self, package: str, service: str) -> None:
        """Apply a service's migrations to this test's schema."""
        from halte_shared.migrations import upgrade_to_head

        # alembic keeps its context in module globals: two migrations at once would share it.
        with _MIGRATION_LOCK:
            upgrade_to_head(package=package, database_url=self.database_url, schema=self.schema(service))

    async def create_topics(self) -> None:
        await ensure_topics(self.kafka_bootstrap, prefix=self.topic_prefix)


@pytest.fixture
async def isolation(database_server_url: str, kafka_bootstrap: str) -> AsyncIterator[Isolation]:
    """Give the test its own schema names and topic prefix, with the topics created."""
    iso = Isolation(database_server_url, kafka_bootstrap)
    await iso.create_topics()
    yield iso


async def migrate(iso: Isolation, package: str, service: str) -> None:
    """Apply a service's migrations to the test's schema without blocking the loop."""
    await asyncio.to_thread(iso.migrate, package, service)
