"""The opt-out journal: every acknowledged opt-out request, numbered in commit order, pushed on commit.

A trigger on the outbox copies each ``optout.requested`` event into the journal in the
transaction that writes it, which is the transaction whose commit the carrier's 200 (or the
unsubscribe page's confirmation) waits for: an acknowledged opt-out is a journaled one,
whichever code path wrote it, and a notification on ``halte_optout_journal`` wakes the readers
waiting for the next entry. Writers take no shared lock: a reader numbers the committed entries
that have no number yet, under the single-row head's lock, before it reads, so numbers are
gap-free and follow the order readers saw commits in (adapters/journal.py,
docs/stop-enforcement.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from halte_shared.notify import notify_trigger_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "optout_journal",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=True, unique=True),
        sa.Column("request_id", sa.String(200), nullable=False, unique=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("short_code", sa.String(32), nullable=True),
        sa.Column("account_id", sa.String(128), nullable=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("acknowledged_at", TZ, nullable=False, server_default=sa.text("clock_timestamp()")),
    )
    op.create_index("optout_journal_by_time", "optout_journal", ["acknowledged_at"])
    op.create_index("optout_journal_unnumbered", "optout_journal", ["id"], postgresql_where=sa.text("sequence IS NULL"))
    op.create_table(
        "optout_journal_head",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="optout_journal_head_single_row"),
    )
    op.execute("INSERT INTO optout_journal_head (id, last_sequence) VALUES (1, 0)")
    # The payload is read as json, not jsonb: a reply text may hold escapes jsonb refuses,
    # and only the identifying fields below are extracted.
    op.execute(
        """
        CREATE FUNCTION optout_journal_record() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            payload json := convert_from(NEW.envelope, 'UTF8')::json -> 'payload';
        BEGIN
            INSERT INTO optout_journal
                (request_id, event_id, channel, phone, short_code, account_id, received_at)
            VALUES (
                payload ->> 'request_id',
                NEW.event_id,
                payload ->> 'channel',
                payload ->> 'phone',
                payload ->> 'short_code',
                payload ->> 'account_id',
                (payload ->> 'received_at')::timestamptz
            )
            ON CONFLICT (request_id) DO NOTHING;  -- the same request written twice is journaled once
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER outbox_journals_optouts AFTER INSERT ON outbox
        FOR EACH ROW WHEN (NEW.topic = 'optout.requested') EXECUTE FUNCTION optout_journal_record()
        """
    )
    for statement in notify_trigger_sql(table="optout_journal", channel="halte_optout_journal"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_journals_optouts ON outbox")
    op.execute("DROP FUNCTION optout_journal_record()")
    op.drop_table("optout_journal")
    op.execute("DROP FUNCTION optout_journal_notify()")
    op.drop_table("optout_journal_head")
