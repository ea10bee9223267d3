"""Pushed feeds on real PostgreSQL: a commit wakes the waiting reader; a lost listener falls back to polling."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from halte_shared.db import libpq_url
from halte_shared.notify import Notifications, long_poll, notify_trigger_sql
from halte_shared.testing import Isolation

pytestmark = pytest.mark.integration

CHANNEL = "halte_test_feed"


@pytest.fixture
async def feed(isolation: Isolation):
    """Give the test a schema with a notifying table, a connection on it, and a started listener."""
    schema = isolation.schema("notify")
    connection = await asyncpg.connect(libpq_url(isolation.database_url))
    await connection.execute(f"CREATE SCHEMA {schema}")
    await connection.execute(f"SET search_path TO {schema}")
    await connection.execute("CREATE TABLE entries (n int PRIMARY KEY)")
    for statement in notify_trigger_sql(table="entries", channel=CHANNEL):
        await connection.execute(statement)
    notifications = Notifications(isolation.database_url, schema=schema, channels=[CHANNEL])
    listening = asyncio.create_task(notifications.run())
    for _ in range(200):
        if notifications.listening:
            break
        await asyncio.sleep(0.02)
    assert notifications.listening
    yield connection, notifications, schema
    listening.cancel()
    await asyncio.gather(listening, return_exceptions=True)
    await connection.close()


async def count(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM entries"))


async def test_a_commit_wakes_a_waiting_reader_at_once(feed, isolation: Isolation) -> None:
    connection, notifications, _ = feed
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(
        long_poll(
            lambda: count(connection),
            empty=lambda n: n == 0,
            notifications=notifications,
            channel=CHANNEL,
            wait_seconds=20,
        )
    )
    await asyncio.sleep(0.2)
    assert not waiting.done()
    writer = await asyncpg.connect(libpq_url(isolation.database_url))
    try:
        await writer.execute(f"SET search_path TO {feed[2]}")
        async with writer.transaction():
            await writer.execute("INSERT INTO entries VALUES (1), (2)")
            await asyncio.sleep(0.3)
            assert not waiting.done(), "nothing is delivered before the commit"
    finally:
        await writer.close()
    assert await asyncio.wait_for(waiting, timeout=10) == 2
    assert loop.time() - started < 10, "woken by the notification, not by the end of the 20 s wait"


async def test_another_schemas_commit_wakes_nobody_here(feed, isolation: Isolation) -> None:
    _, notifications, _ = feed
    generation = notifications.generation(CHANNEL)
    other = await asyncpg.connect(libpq_url(isolation.database_url))
    try:
        await other.execute("SELECT pg_notify($1, 'some_other_schema')", CHANNEL)
    finally:
        await other.close()
    assert not await notifications.wait(CHANNEL, beyond=generation, timeout=0.5)


async def test_a_lost_listening_connection_falls_back_to_polling_and_comes_back(feed, isolation: Isolation) -> None:
    connection, notifications, _ = feed
    admin = await asyncpg.connect(libpq_url(isolation.database_url))
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            f"halte-listen-{feed[2]}",
        )
    finally:
        await admin.close()
    assert killed == 1
    for _ in range(100):
        if not notifications.listening:
            break
        await asyncio.sleep(0.02)
    # Meanwhile a reader polls: a row committed while nobody listens is still found quickly.
    await connection.execute("INSERT INTO entries VALUES (3)")
    found = await asyncio.wait_for(
        long_poll(
            lambda: count(connection),
            empty=lambda n: n == 0,
            notifications=notifications,
            channel=CHANNEL,
            wait_seconds=5,
        ),
        timeout=10,
    )
    assert found == 1
    for _ in range(300):
        if notifications.listening:
            break
        await asyncio.sleep(0.05)
    assert notifications.listening, "the listener reconnects by itself"
