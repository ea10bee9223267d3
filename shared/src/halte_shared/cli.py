"""The command line every service shares: `python -m halte_<service> serve|migrate`."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable

import structlog
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

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
    argv: list[str] | None = None,
) -> int:
    """Parse the command line and serve the app or migrate the service's schema."""
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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    return 0
