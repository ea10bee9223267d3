"""The parked_events table of the dispatcher service: messages its consumers gave up on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from halte_shared.migrations import create_parked_events_table, drop_parked_events_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_parked_events_table()


def downgrade() -> None:
    drop_parked_events_table()
