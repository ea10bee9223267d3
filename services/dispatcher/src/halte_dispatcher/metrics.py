"""Prometheus metrics of the dispatcher."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "halte_dispatch_decisions_total",
    "Decisions published on dispatch.decided, by decision and reason (holds included, and corrections).",
    ["decision", "reason"],
)
FEED_LAG = Gauge(
    "halte_dispatcher_suppression_feed_lag_seconds",
    "Seconds since the local blocklist copy was last proven current by the suppression feed.",
)
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300)
STOP_TO_AWARE = Histogram(
    "halte_stop_to_dispatcher_aware_seconds",
    "Seconds from an opt-out's receipt by the carrier (received_at) to the dispatcher blocking its number "
    "(from inbound's journal, or suppression's feed when that came first).",
    buckets=_LATENCY_BUCKETS,
)
ACKNOWLEDGED_TO_AWARE = Histogram(
    "halte_optout_acknowledged_to_dispatcher_aware_seconds",
    "Seconds from inbound recording an opt-out (before its acknowledgement) to the dispatcher blocking its number.",
    buckets=_LATENCY_BUCKETS,
)
FEED_CHANGE_TO_AWARE = Histogram(
    "halte_suppression_change_to_dispatcher_aware_seconds",
    "Seconds from a suppression recorded by the suppression service to the dispatcher applying it.",
    buckets=_LATENCY_BUCKETS,
)
OPTOUT_SOURCE_AGE = Gauge(
    "halte_dispatcher_optout_source_age_seconds",
    "Seconds since an opt-out source (journal: inbound's journal; feed: suppression's feed) was last read to its end.",
    ["source"],
)
OPTOUT_SOURCE_ERRORS = Counter(
    "halte_dispatcher_optout_source_errors_total", "Failed reads of an opt-out source.", ["source"]
)
UNRESOLVED_OPTOUTS = Gauge(
    "halte_dispatcher_unresolved_optouts",
    "Opt-out requests blocked here (fail-safe) that suppression has not resolved yet.",
)
UNRESOLVED_OPTOUT_AGE = Gauge(
    "halte_dispatcher_unresolved_optout_age_seconds",
    "Age of the oldest opt-out request suppression has not resolved yet (0 when none).",
)
HELD_BACKLOG = Gauge(
    "halte_dispatcher_held_backlog",
    "Messages held (outside hours, scheduled, feed stale) or waiting for their account.",
)
SUBMISSIONS = Counter(
    "halte_dispatcher_submissions_total", "Carrier submissions, by carrier and outcome.", ["carrier", "outcome"]
)
FEED_POLL_ERRORS = Counter("halte_dispatcher_suppression_feed_errors_total", "Failed reads of the suppression feed.")
