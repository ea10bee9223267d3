"""Prometheus metrics of carrier submissions (every process that sends SMS exposes them)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SUBMISSIONS = Counter(
    "halte_carrier_submissions_total",
    "SMS handed to carriers, by carrier and final outcome "
    "(accepted, duplicate, rejected, failed_temporary, outcome_unknown).",
    ["carrier", "outcome"],
)
ERRORS = Counter(
    "halte_carrier_errors_total",
    "Failed submission attempts, by carrier, kind (temporary, throttled, permanent, unexpected) and code.",
    ["carrier", "kind", "code"],
)
RETRIES = Counter("halte_carrier_retries_total", "Submission attempts retried after a temporary error.", ["carrier"])
SUBMIT_SECONDS = Histogram(
    "halte_carrier_submit_seconds",
    "Time one submission attempt took at the carrier (excluding rate-limit waits).",
    ["carrier"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "halte_carrier_rate_limit_wait_seconds",
    "Time a submission waited for its carrier's rate limit.",
    ["carrier"],
    buckets=(0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
