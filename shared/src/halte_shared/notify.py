"""PostgreSQL LISTEN/NOTIFY for the pushed feeds: a reader waits for a commit instead of polling.

A feed (inbound's opt-out journal, suppression's change feed) is a table numbered in commit
order; its migration adds a trigger that runs ``pg_notify(<channel>, current_schema())`` on
every insert, which PostgreSQL delivers when the writing transaction commits. One
:class:`Notifications` per process holds one dedicated connection that LISTENs, and wakes
the requests waiting in :func:`long_poll` on any replica of the service, whichever replica
committed.

Notifications only make a reader faster, never correct: a reader always reads the table
again after waking, and while the listening connection is down (a database restart) the
waits fall back to short polls, so a lost notification costs at most one poll interval.
The payload is the writer's schema: tests run many schemas on one database, and a
notification for another schema wakes nobody here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg
import structlog

from halte_shared.db import libpq_url

log = structlog.get_logger("halte.notify")

T = TypeVar("T")

#: While the listening connection is down, waits end after this long so readers poll instead.
FALLBACK_POLL_SECONDS = 0.1


class Notifications:
    """Listen on a few channels for one schema and wake whoever waits on them."""

    def __init__(
        self,
        database_url: str,
        *,
        schema: str,
        channels: Iterable[str],
        fallback_poll_seconds: float = FALLBACK_POLL_SECONDS,
    ) -> None:
        self._url = libpq_url(database_url)
        self._schema = schema
        self._channels = tuple(channels)
        self._fallback = fallback_poll_seconds
        self._generation = dict.fromkeys(self._channels, 0)
        self._changed = {channel: asyncio.Event() for channel in self._channels}
        self._connection: Any = None
        self._lost = asyncio.Event()
        self.listening = False

    def generation(self, channel: str) -> int:
        """Return how many wake-ups the channel has had: take it before reading, wait beyond it."""
        return self._generation[channel]

    async def wait(self, channel: str, *, beyond: int, timeout: float) -> bool:
        """Wait until the channel's generation passes `beyond` or `timeout` ends; return True if it did."""
        if self._generation[channel] > beyond:
            return True
        if not self.listening:
            timeout = min(timeout, self._fallback)
        event = self._changed[channel]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._generation[channel] <= beyond:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=remaining)
        return True

    def _wake(self, channel: str) -> None:
        self._generation[channel] += 1
        event = self._changed[channel]
        event.set()
        # Waiters already woken re-check their generation; new waiters must not see a stale set.
        event.clear()

    def _on_notification(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        if channel in self._generation and payload == self._schema:
            self._wake(channel)

    def _on_termination(self, _connection: Any) -> None:
        self._lost.set()

    async def run(self) -> None:
        """Keep a listening connection open until cancelled, reconnecting after any loss."""
        delay = 0.2
        try:
            while True:
                try:
                    await self._listen()
                    delay = 0.2
                    await self._lost.wait()
                    log.warning("the database connection that listens for feed notifications was lost; reconnecting")
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    log.warning(
                        "cannot listen for feed notifications; feed readers poll meanwhile",
                        error=repr(exc),
                        retry_in_seconds=delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                finally:
                    await self._close()
        finally:
            await self._close()

    async def _listen(self) -> None:
        self._lost.clear()
        connection = await asyncio.wait_for(
            asyncpg.connect(self._url, server_settings={"application_name": f"halte-listen-{self._schema}"}),
            timeout=10,
        )
        self._connection = connection
        connection.add_termination_listener(self._on_termination)
        for channel in self._channels:
            await connection.add_listener(channel, self._on_notification)
        self.listening = True
        # Whatever was committed while nobody listened must be read: wake every reader once.
        for channel in self._channels:
            self._wake(channel)

    async def _close(self) -> None:
        self.listening = False
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=2)


async def long_poll(
    read: Callable[[], Awaitable[T]],
    *,
    empty: Callable[[T], bool],
    notifications: Notifications | None,
    channel: str,
    wait_seconds: float,
    poll_seconds: float = FALLBACK_POLL_SECONDS,
) -> T:
    """Return `read()`'s answer as soon as it is not empty, or the last empty one after `wait_seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        generation = notifications.generation(channel) if notifications is not None else 0
        result = await read()
        remaining = deadline - loop.time()
        if not empty(result) or remaining <= 0:
            return result
        if notifications is None:
            await asyncio.sleep(min(poll_seconds, remaining))
        else:
            await notifications.wait(channel, beyond=generation, timeout=remaining)


def notify_trigger_sql(*, table: str, channel: str) -> list[str]:
    """Return the DDL of a trigger that notifies `channel` (payload: the schema) on inserts into `table`."""
    function = f"{table}_notify"
    return [
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Delivered at commit, once per transaction whatever the number of rows.
            PERFORM pg_notify('{channel}', current_schema());
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER {table}_notify AFTER INSERT ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {function}()
        """,
    ]
