"""Prometheus metrics of the suppression service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATEST_SEQUENCE = Gauge(
    "halte_suppression_latest_sequence",
    "Sequence number of the latest committed suppression change (the change feed's head).",
)
OPTOUTS_RECORDED = Counter(
    "halte_optouts_recorded_total", "New suppressions recorded (one per account and number).", ["channel"]
)
OPTOUT_REPEATS = Counter(
    "halte_optout_repeats_total", "Opt-outs received for a number the account had already suppressed."
)
STOP_TO_SUPPRESSION = Histogram(
    "halte_stop_to_suppression_seconds",
    "Time from an opt-out's reception (received_at) to its suppression being recorded.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)
OPTOUTS_UNATTRIBUTED = Counter(
    "halte_optouts_unattributed_total", "Opt-outs kept as evidence because no account could be named yet."
)
OPTINS_RECORDED = Counter("halte_optins_recorded_total", "Suppressions lifted by a new explicit consent.", ["channel"])
OPTINS_REFUSED = Counter(
    "halte_optins_refused_total", "Re-subscription requests refused (no proof, not allowed).", ["reason"]
)
DUPLICATES = Counter(
    "halte_suppression_duplicates_total",
    "Requests received again (redelivery, carrier retry) and ignored without effect.",
    ["kind"],
)
MARKETING_SENDS_PRUNED = Counter(
    "halte_marketing_sends_pruned_total", "Remembered marketing sends forgotten after the 90-day window."
)
OPTOUTS_PARKED = Counter(
    "halte_suppression_optouts_parked_total",
    "Opt-out events that could not be processed, parked, and kept blocked on the feed (pending).",
)
