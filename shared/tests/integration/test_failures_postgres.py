"""failures.py against a real PostgreSQL: each outage or conflict, caused for real, is classified as documented."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from halte_shared.db import async_url, ensure_schema, make_engine
from halte_shared.failures import FailureClass, classify, safe_text

pytestmark = pytest.mark.integration

INFRA = FailureClass.INFRASTRUCTURE


@pytest.fixture
async def engine(database_server_url: str) -> AsyncIterator[AsyncEngine]:
    schema = f"f{uuid.uuid4().hex[:10]}"
    engine = make_engine(database_server_url, schema=schema, pool_size=4)
    await ensure_schema(engine, schema)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE rows (id int PRIMARY KEY, n int NOT NULL, label varchar(5))"))
        await conn.execute(text("INSERT INTO rows (id, n) VALUES (1, 0), (2, 0)"))
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    await engine.dispose()


async def failure_of(coro) -> BaseException:
    try:
        await coro
    except Exception as exc:
        return exc
    raise AssertionError("the statement should have failed")


async def test_a_backend_terminated_by_another_session_is_an_infrastructure_failure(engine: AsyncEngine):
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as other:
            assert (await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        error = await failure_of(conn.execute(text("SELECT 1")))
        failure = classify(error)
    assert failure.kind is INFRA, (failure, repr(error))
    assert "database" in failure.reason


async def test_a_statement_timeout_is_an_infrastructure_failure(engine: AsyncEngine):
    async with engine.connect() as conn:
        await conn.execute(text("SET statement_timeout = '100ms'"))
        failure = classify(await failure_of(conn.execute(text("SELECT pg_sleep(2)"))))
    assert failure.kind is INFRA
    assert failure.reason == "a database statement timed out or was cancelled"
    assert "SQLSTATE 57014" in failure.error


async def test_a_real_deadlock_is_an_infrastructure_failure(engine: AsyncEngine):
    both_hold_their_first_lock = asyncio.Barrier(2)

    async def transaction(first: int, second: int) -> BaseException | None:
        async with engine.connect() as conn:
            try:
                async with conn.begin():
                    await conn.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
                    await conn.execute(text("UPDATE rows SET n = n + 1 WHERE id = :id"), {"id": first})
                    await both_hold_their_first_lock.wait()
                    await conn.execute(text("UPDATE rows SET n = n + 1 WHERE id = :id"), {"id": second})
            except Exception as exc:
                return exc
        return None

    results = await asyncio.wait_for(asyncio.gather(transaction(1, 2), transaction(2, 1)), timeout=30)
    errors = [r for r in results if r is not None]
    assert len(errors) == 1, "PostgreSQL breaks a deadlock by failing exactly one of the two"
    failure = classify(errors[0])
    assert failure.kind is INFRA
    assert "deadlock" in failure.reason
    assert "SQLSTATE 40P01" in failure.error


async def test_a_real_serialization_failure_is_an_infrastructure_failure(engine: AsyncEngine):
    async with engine.connect() as reader, engine.connect() as writer:
        await reader.execution_options(isolation_level="REPEATABLE READ")
        async with reader.begin():
            await reader.execute(text("SELECT n FROM rows WHERE id = 1"))  # the snapshot is taken here
            async with writer.begin():
                await writer.execute(text("UPDATE rows SET n = 42 WHERE id = 1"))
            failure = classify(await failure_of(reader.execute(text("UPDATE rows SET n = n + 1 WHERE id = 1"))))
    assert failure.kind is INFRA
    assert "serialization failure" in failure.reason
    assert "SQLSTATE 40001" in failure.error


async def test_an_engine_pointed_at_a_closed_port_is_an_infrastructure_failure(database_server_url: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nobody listens once the probe closes
    url = async_url(database_server_url).set(host="127.0.0.1", port=port, query={})
    engine = create_async_engine(url)
    try:
        error = await failure_of(engine.connect().__aenter__())
    finally:
        await engine.dispose()
    failure = classify(error)
    assert failure.kind is INFRA, repr(error)
    assert failure.reason == "the database is unreachable"
    assert failure.error.startswith(("ConnectionRefusedError", "OSError")), failure


async def test_an_engine_pointed_at_a_missing_unix_socket_directory_is_an_infrastructure_failure(
    database_server_url: str,
):
    url = make_url(async_url(database_server_url).render_as_string(hide_password=False)).set(
        host=None, port=None, query={"host": "/nonexistent/halte-postgres-socket"}
    )
    engine = create_async_engine(url)
    try:
        error = await failure_of(engine.connect().__aenter__())
    finally:
        await engine.dispose()
    failure = classify(error)
    assert failure.kind is INFRA, repr(error)
    assert failure.reason == "the database is unreachable"


async def test_a_pool_that_stays_exhausted_is_an_infrastructure_failure(database_server_url: str):
    engine = create_async_engine(async_url(database_server_url), pool_size=1, max_overflow=0, pool_timeout=0.3)
    try:
        async with engine.connect():
            error = await failure_of(engine.connect().__aenter__())
    finally:
        await engine.dispose()
    failure = classify(error)
    assert failure.kind is INFRA
    assert "pool" in failure.reason


async def test_a_missing_table_is_an_infrastructure_failure(engine: AsyncEngine):
    async with engine.connect() as conn:
        failure = classify(await failure_of(conn.execute(text("SELECT * FROM parked_events_not_migrated"))))
    assert failure.kind is INFRA
    assert "missing migration" in failure.reason


async def test_a_value_postgresql_refuses_is_a_message_failure(engine: AsyncEngine):
    async with engine.connect() as conn:
        too_long = classify(
            await failure_of(conn.execute(text("UPDATE rows SET label = :label WHERE id = 1"), {"label": "x" * 9}))
        )
    async with engine.connect() as conn:
        nul = classify(
            await failure_of(conn.execute(text("UPDATE rows SET label = :label WHERE id = 1"), {"label": "a\x00b"}))
        )
    assert too_long.kind is FailureClass.MESSAGE, too_long
    assert nul.kind is FailureClass.MESSAGE, nul


async def test_a_unique_violation_is_unknown_and_its_description_holds_no_parameter(engine: AsyncEngine):
    async with engine.connect() as conn:
        error = await failure_of(conn.execute(text("INSERT INTO rows (id, n) VALUES (1, :n)"), {"n": 987654321}))
    failure = classify(error)
    assert failure.kind is FailureClass.UNKNOWN
    assert "987654321" in str(error)
    assert "987654321" not in failure.describe()
    assert "987654321" not in safe_text(error)
