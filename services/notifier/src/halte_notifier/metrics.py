"""Prometheus metrics of the notifier."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONFIRMATIONS = Counter(
    "halte_notifier_confirmations_total",
    "Opt-out confirmations and CONTACT replies by outcome: sent (accepted by a carrier), duplicate "
    "(a redelivered or repeated cause, no second effect), failed_retry, failed_final, throttled.",
    ["outcome"],
)
PENDING_MESSAGES = Gauge(
    "halte_notifier_pending_messages",
    "Replies recorded but not yet accepted by a carrier (pending, submitting or waiting for a retry).",
)
PARKED_EVENTS = Gauge(
    "halte_notifier_parked_events",
    "Opt-outs and CONTACT requests waiting for their account to be known.",
)
