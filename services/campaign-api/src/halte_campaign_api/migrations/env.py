"""Alembic environment of the campaign-api service (see halte_shared.migrations)."""

from halte_campaign_api.adapters.tables import metadata
from halte_shared.migrations import run_env

run_env(metadata)
