"""Informative templates: the wording an account declares for its informative SMS, and the operator's requirement.

- ``accounts.informative_templates``: ``off`` (existing accounts and the default), ``declared``
  or ``approved``; set by the operator (PATCH /v1/accounts/{id}).
- ``templates``: one row per declared template, its state (pending, approved, rejected,
  retired), the operator's note and the detector version that screened it. Retired rows stay.

The rule is services/campaign-api/src/halte_campaign_api/domain/templates.py.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("informative_templates", sa.String(10), nullable=False, server_default="off"))
    op.create_table(
        "templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("placeholders", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("detector_version", sa.String(20), nullable=False),
        sa.Column("review_note", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    )
    op.create_index("templates_by_account", "templates", ["account_id", "created_at", "id"])
    op.create_index("templates_by_state", "templates", ["state", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("templates_by_state", table_name="templates")
    op.drop_index("templates_by_account", table_name="templates")
    op.drop_table("templates")
    op.drop_column("accounts", "informative_templates")
