"""The dispatcher service's tables (its own schema; search_path points there).

- ``accounts``: what ``account.changed`` said last about each account (the content rule needs
  the advertiser's name and short codes, the hours rule the profile and window).
- ``blocklist``: the local copy of the suppression service's blocklist, one row per
  (account, number) with the feed sequence of the change that set it; a change is applied only
  if its sequence is newer, so the feed and the ``optout.recorded`` fast path never undo each other.
- ``feed_state``: one row: the last feed sequence applied and when the copy was last proven
  current (a poll that returned everything up to the feed's latest sequence).
- ``dispatches``: one row per recipient request, its life from decision to carrier answer.
  ``request_id`` and ``(campaign_id, phone)`` are unique: exactly one decision per recipient.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

#: States of a dispatch row.
PENDING_ACCOUNT = "pending_account"  # marketing for an account not known yet: waits for account.changed
HELD = "held"  # a hold was decided: re-evaluated at release_at
SENDING = "sending"  # a send was decided: the sender loop submits it
SUBMITTED = "submitted"  # a carrier accepted it
REFUSED = "refused"  # refused by the policy, by the last check before submission, or by the carrier
STATES = (PENDING_ACCOUNT, HELD, SENDING, SUBMITTED, REFUSED)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("short_codes", ARRAY(Text), nullable=False),
    Column("contact_info", Text, nullable=False),
    Column("hours_profile", Text, nullable=False),
    Column("window_start", Text, nullable=True),
    Column("window_end", Text, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    # The operator's flag: contacts on the non_commercial consent basis may receive marketing.
    Column("non_commercial", Boolean, nullable=False, server_default=false()),
)

blocklist = Table(
    "blocklist",
    metadata,
    Column("account_id", Text, primary_key=True),
    Column("phone", Text, primary_key=True),
    Column("suppressed", Boolean, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

feed_state = Table(
    "feed_state",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("applied_sequence", BigInteger, nullable=False, server_default=text("0")),
    Column("caught_up_at", DateTime(timezone=True), nullable=True),
    Column("latest_sequence", BigInteger, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
)

dispatches = Table(
    "dispatches",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("campaign_id", Text, nullable=True),
    Column("phone", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("request", JSONB, nullable=False),
    Column("state", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("scheduled_for", DateTime(timezone=True), nullable=True),
    Column("release_at", DateTime(timezone=True), nullable=True),
    Column("send_by", DateTime(timezone=True), nullable=True),
    Column("message_id", Text, nullable=False, unique=True),
    Column("priority", SmallInteger, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("carrier", Text, nullable=True),
    Column("carrier_message_id", Text, nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("campaign_id", "phone", name="dispatches_one_per_campaign_recipient"),
    Index("dispatches_held_due", "release_at", postgresql_where=text("state = 'held'")),
    Index("dispatches_sending_due", "priority", "next_attempt_at", postgresql_where=text("state = 'sending'")),
    Index("dispatches_pending_account", "account_id", postgresql_where=text("state = 'pending_account'")),
)
