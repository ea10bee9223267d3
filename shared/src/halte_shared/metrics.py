"""Prometheus metrics of the plumbing; services declare their own beside their code.

A service served by several worker processes (``HALTE_INBOUND_WORKERS``, see halte_shared/cli.py) has
``PROMETHEUS_MULTIPROC_DIR`` set before its workers start: each worker writes its samples
there and ``/metrics``, whichever worker answers, adds them all up (:func:`exposition`).
Gauges therefore say how workers combine: ``livemax`` where every worker sees the same thing
(a backlog, a stall), ``livesum`` where each holds its own share.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """Return the metrics in Prometheus text format, every worker's when there are several."""
    if not os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        return bytes(generate_latest())
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return bytes(generate_latest(registry))


CONSUMER_LAG = Gauge(
    "halte_consumer_lag_messages",
    "Messages between a consumer group's position and the partition's end.",
    ["group", "topic", "partition"],
    multiprocess_mode="livemax",
)
CONSUMED = Counter("halte_consumed_total", "Messages a consumer handled, by outcome.", ["group", "topic", "outcome"])
HANDLER_SECONDS = Histogram(
    "halte_handler_seconds",
    "Time to handle one batch of messages.",
    ["group", "topic"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEAD_LETTERED = Counter(
    "halte_dead_lettered_total",
    "Messages parked (dead-letter topic and parked_events), by failure class.",
    ["group", "topic", "class"],
)
CONSUMER_STALLED_SECONDS = Gauge(
    "halte_consumer_stalled_seconds",
    "Seconds a consumer has been retrying in place on one message (0 when it moves).",
    ["group", "topic"],
    multiprocess_mode="livemax",
)
CONSUMER_RETRIES = Counter(
    "halte_consumer_retries_total",
    "Handler attempts that failed and will be retried, by failure class.",
    ["group", "topic", "class"],
)
OUTBOX_BACKLOG = Gauge(
    "halte_outbox_backlog", "Outbox rows not yet published.", ["service"], multiprocess_mode="livemax"
)
OUTBOX_OLDEST_AGE = Gauge(
    "halte_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row.",
    ["service"],
    multiprocess_mode="livemax",
)
OUTBOX_PUBLISHED = Counter("halte_outbox_published_total", "Outbox rows published to the broker.", ["service", "topic"])
OUTBOX_REPLAYS = Counter(
    "halte_outbox_replays_total",
    "Times the outbox republished its replay window after the broker lost a log.",
    ["service"],
)
OUTBOX_PUBLISH_ERRORS = Counter("halte_outbox_publish_errors_total", "Failed outbox publish attempts.", ["service"])
HTTP_REQUESTS = Counter("halte_http_requests_total", "HTTP requests served.", ["service", "route", "method", "status"])
HTTP_SECONDS = Histogram(
    "halte_http_request_seconds",
    "HTTP request latency.",
    ["service", "route", "method"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
