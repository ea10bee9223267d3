"""The change feed tells what happened to each opt-out request, and is pushed on commit.

Two actions join ``suppress`` and ``lift``: ``pending`` (an opt-out request known but not
applied yet: no account known on its short code, or its event could not be processed; its
number stays blocked, fail-safe, for every account on that short code) and ``resolve`` (the
request is applied, or an operator resolved it). A notification on ``halte_suppression_feed``
wakes the readers waiting for the next change. See docs/stop-enforcement.md.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from halte_shared.notify import notify_trigger_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("suppression_changes", sa.Column("request_id", sa.String(200), nullable=True))
    op.add_column("suppression_changes", sa.Column("short_code", sa.String(16), nullable=True))
    op.alter_column("suppression_changes", "account_id", nullable=True)
    op.alter_column("suppression_changes", "phone", nullable=True)
    op.alter_column("suppression_changes", "evidence_id", nullable=True)
    op.drop_constraint("suppression_changes_action", "suppression_changes")
    op.create_check_constraint(
        "suppression_changes_action",
        "suppression_changes",
        "(action IN ('suppress', 'lift') AND account_id IS NOT NULL AND phone IS NOT NULL)"
        " OR (action = 'pending' AND phone IS NOT NULL AND request_id IS NOT NULL)"
        " OR (action = 'resolve' AND request_id IS NOT NULL)",
    )
    for statement in notify_trigger_sql(table="suppression_changes", channel="halte_suppression_feed"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER suppression_changes_notify ON suppression_changes")
    op.execute("DROP FUNCTION suppression_changes_notify()")
    op.execute("DELETE FROM suppression_changes WHERE action IN ('pending', 'resolve')")
    op.drop_constraint("suppression_changes_action", "suppression_changes")
    op.create_check_constraint("suppression_changes_action", "suppression_changes", "action IN ('suppress', 'lift')")
    op.alter_column("suppression_changes", "evidence_id", nullable=False)
    op.alter_column("suppression_changes", "phone", nullable=False)
    op.alter_column("suppression_changes", "account_id", nullable=False)
    op.drop_column("suppression_changes", "short_code")
    op.drop_column("suppression_changes", "request_id")
