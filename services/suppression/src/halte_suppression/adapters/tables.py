"""The suppression service's tables (its own schema; search_path points there).

Minimal data (SPEC.md rule 5, GDPR art. 5(1)(c)): numbers and the evidence of what each
number asked, nothing else: no names, no e-mail, no address book. Phone columns use the
"C" collation: E.164 strings need no linguistic ordering, and byte comparison keeps the
bulk check's index probes cheap.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

PHONE = Text(collation="C")
ACCOUNT = String(128)
SHORT_CODE = String(16)

#: Accounts as account.changed describes them: only what attribution and START need.
accounts = Table(
    "accounts",
    metadata,
    Column("account_id", ACCOUNT, primary_key=True),
    Column("allow_resubscribe", Boolean, nullable=False, server_default=text("false")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

#: Which accounts a short code speaks for (one row: dedicated; several: shared).
account_short_codes = Table(
    "account_short_codes",
    metadata,
    Column("short_code", SHORT_CODE, primary_key=True),
    Column("account_id", ACCOUNT, primary_key=True),
    Index("account_short_codes_by_account", "account_id"),
)

#: The last marketing SMS each account sent each number from each short code (90 days kept).
recent_marketing_sends = Table(
    "recent_marketing_sends",
    metadata,
    Column("phone", PHONE, primary_key=True),
    Column("short_code", SHORT_CODE, primary_key=True),
    Column("account_id", ACCOUNT, primary_key=True),
    Column("last_sent_at", DateTime(timezone=True), nullable=False),
    Index("recent_marketing_sends_by_time", "last_sent_at"),
)

#: One row per (account, number) ever opted out: the state in force and the change that set it.
suppressions = Table(
    "suppressions",
    metadata,
    Column("account_id", ACCOUNT, primary_key=True),
    Column("phone", PHONE, primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("since", DateTime(timezone=True), nullable=True),
    Column("channel", String(16), nullable=True),
    Column("short_code", SHORT_CODE, nullable=True),
    Column("evidence_id", String(36), nullable=True),
    Column("sequence", BigInteger, nullable=True),
    Column("lifted_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

EVIDENCE_KINDS = ("optout", "repeat", "unattributed", "resubscription", "resubscription_refused")

#: Every request received, kept as proof: first opt-outs, repeats, resubscriptions, refusals.
optout_evidence = Table(
    "optout_evidence",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("account_id", ACCOUNT, nullable=True),
    Column("phone", PHONE, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("short_code", SHORT_CODE, nullable=True),
    Column("raw_text", Text, nullable=True),
    Column("proof", Text, nullable=True),
    Column("carrier", String(64), nullable=True),
    Column("request_id", String(200), nullable=False),
    Column("source_event_id", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("sequence", BigInteger, nullable=True),
    Column("attribution", String(160), nullable=True),
    Column("reason", String(64), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(f"kind IN ({', '.join(repr(k) for k in EVIDENCE_KINDS)})", name="optout_evidence_kind"),
    Index("optout_evidence_by_number", "account_id", "phone", "recorded_at"),
    Index(
        "optout_evidence_unattributed",
        "short_code",
        postgresql_where=text("kind = 'unattributed' AND resolved_at IS NULL"),
    ),
)

#: Requests already handled, by their producer's id: a carrier retry of one STOP is no repeat.
processed_requests = Table(
    "processed_requests",
    metadata,
    Column("request_key", String(240), primary_key=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

#: The change feed, numbered in commit order: a suppress/lift per (account, number), and per
#: opt-out request a ``pending`` (known, not applied yet: blocked fail-safe) or ``resolve``.
suppression_changes = Table(
    "suppression_changes",
    metadata,
    Column("sequence", BigInteger, primary_key=True),
    Column("account_id", ACCOUNT, nullable=True),
    Column("phone", PHONE, nullable=True),
    Column("action", String(8), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("evidence_id", String(36), nullable=True),
    Column("request_id", String(200), nullable=True),
    Column("short_code", SHORT_CODE, nullable=True),
    CheckConstraint(
        "(action IN ('suppress', 'lift') AND account_id IS NOT NULL AND phone IS NOT NULL)"
        " OR (action = 'pending' AND phone IS NOT NULL AND request_id IS NOT NULL)"
        " OR (action = 'resolve' AND request_id IS NOT NULL)",
        name="suppression_changes_action",
    ),
)

#: The single-row counter the change feed's sequence numbers come from (see repository).
sequence_counter = Table(
    "sequence_counter",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="sequence_counter_single_row"),
)
