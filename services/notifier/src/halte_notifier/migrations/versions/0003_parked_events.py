"""The parked_events table of the notifier service: messages its consumers gave up on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from halte_shared.migrations import create_parked_events_table, drop_parked_events_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_parked_events_table()


def downgrade() -> None:
    drop_parked_events_table()
