"""The command line every service shares: `python -m halte_<service> serve|migrate`."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from collections.abc import Callable

import structlog
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from halte_shared.metrics import MULTIPROCESS_DIR_VARIABLE
from halte_shared.migrations import upgrade_to_head
from halte_shared.observability import configure_logging
from halte_shared.settings import HalteSettings


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def run_service_cli(
    *,
    package: str,
    load_settings: Callable[[], HalteSettings],
    create_app: Callable[[HalteSettings], FastAPI],
    app_factory: str | None = None,
    argv: list[str] | None = None,
) -> int:
    """Parse the command line and serve the app or migrate the service's schema.

    ``app_factory`` ("module:function", building the app from the environment) lets a service
    whose settings have ``workers`` above 1 run that many worker processes on one port.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    parser.add_argument("command", choices=["serve", "migrate"], help="serve the HTTP API and consumers, or migrate")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        # A refused configuration must say which variable is wrong, not dump a traceback.
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"{package}: refusing to start: {problems}")
        return 2
    configure_logging(service=settings.service_name, level=settings.log_level)
    log = structlog.get_logger("halte.cli")
    if args.command == "migrate":
        upgrade_to_head(package=package, database_url=settings.database_url, schema=settings.schema_name)
        log.info("database schema is up to date", schema=settings.schema_name)
        return 0
    # uvicorn finishes the lifespan on SIGTERM (consumers drain, the outbox flushes), then
    # re-raises the signal with the handler that was there before it started; this one turns
    # that into exit code 0, so a clean rollout is not reported as a crash.
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, _exit_cleanly)
    served = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds),
    }
    workers = int(getattr(settings, "workers", 1))
    if workers == 1:
        uvicorn.run(create_app(settings), **served)  # type: ignore[arg-type]
        return 0
    if app_factory is None:
        print(f"{package}: refusing to start: {workers} workers asked, but this service runs one process")
        return 2
    # The workers add up their metrics in one directory (halte_shared/metrics.py): a fresh one
    # each start, unless the operator mounted one (it must then be emptied before a start).
    with tempfile.TemporaryDirectory(prefix=f"{package}-metrics-") as fresh:
        os.environ.setdefault(MULTIPROCESS_DIR_VARIABLE, fresh)
        log.info("serving with worker processes", workers=workers, port=settings.port)
        # uvicorn's supervisor restarts a worker that dies and stops them all on SIGTERM.
        uvicorn.run(app_factory, factory=True, workers=workers, **served)  # type: ignore[arg-type]
    return 0


def app_from_environment(
    *, load_settings: Callable[[], HalteSettings], create_app: Callable[[HalteSettings], FastAPI]
) -> FastAPI:
    """Build a worker process's app from the environment, as the supervisor started it."""
    settings = load_settings()
    configure_logging(service=settings.service_name, level=settings.log_level)
    return create_app(settings)
