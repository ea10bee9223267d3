"""Alembic environment of the suppression service (see halte_shared.migrations)."""

from halte_shared.migrations import run_env
from halte_suppression.adapters.tables import metadata

run_env(metadata)
