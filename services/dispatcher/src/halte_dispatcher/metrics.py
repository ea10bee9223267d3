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
STOP_TO_AWARE = Histogram(
    "halte_stop_to_dispatcher_aware_seconds",
    "Seconds from a blocklist change (its time at the suppression service) to the dispatcher applying it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
HELD_BACKLOG = Gauge(
    "halte_dispatcher_held_backlog",
    "Messages held (outside hours, scheduled, feed stale) or waiting for their account.",
)
SUBMISSIONS = Counter(
    "halte_dispatcher_submissions_total", "Carrier submissions, by carrier and outcome.", ["carrier", "outcome"]
)
FEED_POLL_ERRORS = Counter("halte_dispatcher_suppression_feed_errors_total", "Failed reads of the suppression feed.")
