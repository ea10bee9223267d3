"""The suppression service's HTTP app in the bench's own process, over its database alone.

Two benchmarks ask the real suppression service (its routes, authentication, JSON, query)
without a socket or a broker: bench/suppression_check.py measures it, bench/contact_import.py
has the import check its numbers with it. (A leading underscore: bench/report.py runs no such file.)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from halte_suppression.bootstrap import bootstrap
from halte_suppression.config import Settings
from halte_suppression.entrypoints.http import create_app


def suppression_app(*, database_url: str, schema: str, token: str) -> tuple[FastAPI, Any]:
    """Return the app and its runtime; the caller disposes of the runtime's engine and producer."""
    settings = Settings(
        DATABASE_URL=database_url,
        HALTE_DB_SCHEMA=schema,
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",  # never contacted: the check needs only the database
        ADMIN_TOKEN=token,
        HALTE_ENV="development",
        LOG_LEVEL="WARNING",
    )
    runtime = bootstrap(settings)
    app = create_app(settings)
    app.state.runtime = runtime
    return app, runtime
