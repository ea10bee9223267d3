"""Alembic environment of the notifier service (see halte_shared.migrations)."""

from halte_notifier.adapters.tables import metadata
from halte_shared.migrations import run_env

run_env(metadata)
