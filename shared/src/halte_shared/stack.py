"""The embedded stack: PostgreSQL, the broker, the topics, the migrations, the five services and the carrier simulator.

`make run` is ``python -m halte_shared.stack run``; the end-to-end tests drive the same
:class:`Stack` (start, SIGKILL, restart a service), so what the tests prove is what a
person runs. With DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS set, the stack uses those
instead of starting its own.

The carrier simulator (carrier ``sim``) is a sixth process, ``carrier-sim``, started first
(port 8010, or a free port when the services are given non-default ports, as tests do);
every process gets its URL as ``HALTE_CARRIER_SIM_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from halte_shared.bus import ensure_topics
from halte_shared.infra import (
    EmbeddedBroker,
    EmbeddedPostgres,
    FaultUnavailable,
    ensure_database,
    free_port,
    terminate_backends,
)
from halte_shared.migrations import upgrade_to_head
from halte_shared.settings import DEV_ADMIN_TOKEN, DEV_SIM_SECRET, SERVICE_PORTS

SERVICES: tuple[str, ...] = ("suppression", "inbound", "dispatcher", "notifier", "campaign-api")
CARRIER_SIM = "carrier-sim"
CARRIER_SIM_PORT = 8010
#: Every process of the stack, in start order: the simulator first, since the senders call it.
PROCESSES: tuple[str, ...] = (CARRIER_SIM, *SERVICES)


def package_of(service: str) -> str:
    """Return the Python package of a service."""
    return "halte_" + service.replace("-", "_")


def command_of(name: str) -> list[str]:
    """Return the command line that runs one process of the stack."""
    if name == CARRIER_SIM:
        return [sys.executable, "-m", "halte_shared.carriers.simulator"]
    return [sys.executable, "-m", package_of(name), "serve"]


def url_variable(service: str) -> str:
    """Return the environment variable that holds a service's base URL."""
    return f"HALTE_{service.replace('-', '_').upper()}_URL"


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """Start and stop the whole platform as separate processes."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    broker_port: int | None = None
    test_mode: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()
        self.log_dir = self.workdir / "logs"
        self.ports = dict(self.ports)  # the caller's mapping stays as it was given
        if CARRIER_SIM not in self.ports:
            default_ports = all(self.ports.get(name) == port for name, port in SERVICE_PORTS.items())
            self.ports[CARRIER_SIM] = CARRIER_SIM_PORT if default_ports else free_port()
        self.services = {
            name: ServiceProcess(name, self.ports[name], self.log_dir / f"{name}.log") for name in PROCESSES
        }
        self._postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None

    # -- infrastructure -------------------------------------------------------------
    def start_infrastructure(self) -> None:
        """Start (or connect to) PostgreSQL and the broker, create topics, migrate every service."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url is None:
            self._postgres = EmbeddedPostgres(self.workdir / "postgres")
            self.database_url = ensure_database(self._postgres.start(), "halte")
        if self.kafka_bootstrap_servers is None:
            self.broker = EmbeddedBroker(self.broker_port, log_path=self.log_dir / "broker.log")
            self.kafka_bootstrap_servers = self.broker.start()
        self.create_topics()
        for name in SERVICES:
            upgrade_to_head(package=package_of(name), database_url=self.database_url, schema=name.replace("-", "_"))

    def create_topics(self) -> None:
        """Create every topic of the table on the broker (again after a memory-only restart)."""
        assert self.kafka_bootstrap_servers is not None
        asyncio.run(ensure_topics(self.kafka_bootstrap_servers, prefix=self.topic_prefix))

    def restart_broker(self, *, down_seconds: float = 0.0) -> None:
        """Stop the embedded broker (losing its memory), wait, start it on the same port."""
        assert self.broker is not None, "only the embedded broker can be restarted"
        self.broker.stop()
        time.sleep(down_seconds)
        self.broker.start()
        self.create_topics()

    def freeze_broker(self, *, for_seconds: float) -> None:
        """SIGSTOP the embedded broker for `for_seconds`, then SIGCONT it (it keeps its memory)."""
        if self.broker is None:
            raise FaultUnavailable("the broker is not the embedded one (KAFKA_BOOTSTRAP_SERVERS): it cannot be frozen")
        self.broker.freeze()
        try:
            time.sleep(for_seconds)
        finally:
            self.broker.thaw()

    def restart_database(self, *, down_seconds: float, mode: str = "immediate") -> None:
        """Stop the embedded PostgreSQL for `down_seconds`, then start it on the same data and socket."""
        if self._postgres is None:
            raise FaultUnavailable("PostgreSQL is an external server (DATABASE_URL): the stack cannot restart it")
        self._postgres.restart(down_seconds=down_seconds, mode=mode)

    def terminate_database_connections(self, *, for_seconds: float, interval: float = 0.1) -> int:
        """Terminate every connection to the stack's database every `interval` for `for_seconds`; return how many."""
        assert self.database_url is not None
        return asyncio.run(terminate_backends(self.database_url, for_seconds=for_seconds, interval=interval))

    def stop_infrastructure(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self._postgres is not None:
            self._postgres.stop()

    # -- services --------------------------------------------------------------------
    def environment(self, name: str) -> dict[str, str]:
        """Return the environment a service process runs with."""
        assert self.database_url and self.kafka_bootstrap_servers
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "HALTE_TOPIC_PREFIX": self.topic_prefix,
            "HALTE_ENV": "development",
            "ADMIN_TOKEN": os.environ.get("ADMIN_TOKEN", DEV_ADMIN_TOKEN),
            "CARRIER_SIM_SECRET": os.environ.get("CARRIER_SIM_SECRET", DEV_SIM_SECRET),
            "PORT": str(self.ports[name]),
            "PYTHONUNBUFFERED": "1",
        }
        env.update({url_variable(other): self.services[other].url for other in PROCESSES})
        if self.test_mode:
            env["HALTE_TEST_MODE"] = "1"
        env.update(self.extra_env)
        return env

    def start_service(self, name: str) -> None:
        """Start one service process (its output appended to its log file)."""
        service = self.services[name]
        log_file = open(service.log_path, "ab")  # noqa: SIM115 - the child owns it for its life
        service.process = subprocess.Popen(
            command_of(name),
            env=self.environment(name),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()

    def wait_ready(self, name: str, *, timeout: float = 90.0) -> None:
        """Wait until a service answers 200 on /readyz."""
        service = self.services[name]
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if service.process is not None and service.process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {service.process.returncode}; see {service.log_path}")
            try:
                response = httpx.get(f"{service.url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready after {timeout:.0f} s: {last}; see {service.log_path}")

    def start_services(self, names: tuple[str, ...] = PROCESSES) -> None:
        for name in names:
            self.start_service(name)
        for name in names:
            self.wait_ready(name)

    def signal_service(self, name: str, sig: signal.Signals) -> None:
        process = self.services[name].process
        if process is not None and process.poll() is None:
            process.send_signal(sig)

    def kill_service(self, name: str) -> None:
        """SIGKILL a service and every process it started (workers, import pools): as in a crash."""
        process = self.services[name].process
        if process is not None and process.poll() is None:
            # Each service leads its own session (start_new_session), so its group is its own.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if process is not None:
            process.wait()

    def stop_service(self, name: str, *, timeout: float = 30.0) -> int | None:
        """SIGTERM a service and wait for it to exit; return its exit code."""
        process = self.services[name].process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop_services(self) -> None:
        for name in reversed(PROCESSES):
            self.signal_service(name, signal.SIGTERM)
        for name in reversed(PROCESSES):
            self.stop_service(name)

    def __enter__(self) -> Stack:
        self.start_infrastructure()
        self.start_services()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_services()
        self.stop_infrastructure()


def _run(args: argparse.Namespace) -> int:
    ports = {name: free_port() for name in SERVICES} if args.free_ports else dict(SERVICE_PORTS)
    stack = Stack(
        workdir=Path(args.data_dir),
        ports=ports,
        database_url=os.environ.get("DATABASE_URL"),
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        broker_port=None if args.free_ports else args.broker_port,
        test_mode=os.environ.get("HALTE_TEST_MODE") == "1",
        # Carrier webhooks are the platform's internet-facing hot path: two worker processes.
        extra_env={"HALTE_INBOUND_WORKERS": os.environ.get("HALTE_INBOUND_WORKERS", "2")},
    )
    stopping = False

    def _request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    started = time.monotonic()
    try:
        print("Starting PostgreSQL, the broker, topics and migrations...", flush=True)
        stack.start_infrastructure()
        print("Starting the carrier simulator and the five services...", flush=True)
        stack.start_services()
        print(f"\nHalte is up ({time.monotonic() - started:.1f} s).\n")
        for name in PROCESSES:
            service = stack.services[name]
            print(f"  {name:<13} {service.url}   docs {service.url}/docs   log {service.log_path}")
        print(f"\n  PostgreSQL    {stack.database_url}")
        print(f"  Kafka         {stack.kafka_bootstrap_servers}")
        print(f"  Operator token: {stack.environment('campaign-api')['ADMIN_TOKEN']}")
        print("\nCtrl-C stops everything.", flush=True)
        while not stopping:
            for name, service in stack.services.items():
                if service.process is not None and service.process.poll() is not None:
                    print(f"{name} exited (code {service.process.returncode}); restarting it. Log: {service.log_path}")
                    stack.start_service(name)
            time.sleep(0.5)
    except Exception as exc:
        print(f"Halte failed to start: {exc}", file=sys.stderr)
        stopping = True
        return_code = 1
    else:
        return_code = 0
    finally:
        print("\nStopping services...", flush=True)
        stack.stop_services()
        stack.stop_infrastructure()
        print("Stopped.", flush=True)
    return return_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halte_shared.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start everything in the foreground; Ctrl-C stops it")
    run.add_argument("--data-dir", default=".halte", help="where PostgreSQL data and logs live (kept across runs)")
    run.add_argument("--broker-port", type=int, default=9092)
    run.add_argument(
        "--free-ports", action="store_true", help="pick free ports instead of 8001-8005 and 9092 (tests, second stacks)"
    )
    args = parser.parse_args(argv)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
