"""Alembic environment of the dispatcher service (see halte_shared.migrations)."""

from halte_dispatcher.adapters.tables import metadata
from halte_shared.migrations import run_env

run_env(metadata)
