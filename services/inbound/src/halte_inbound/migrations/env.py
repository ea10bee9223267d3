"""Alembic environment of the inbound service (see halte_shared.migrations)."""

from halte_inbound.adapters.tables import metadata
from halte_shared.migrations import run_env

run_env(metadata)
