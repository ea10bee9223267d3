"""Prometheus metrics of the inbound service (names are part of the operators' dashboards)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOK_REQUESTS = Counter(
    "halte_webhook_requests_total",
    "Carrier webhook requests, by carrier, kind (mo, dlr) and outcome.",
    ["carrier", "kind", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "halte_webhook_seconds",
    "Time to answer a carrier webhook (the reply is committed before the answer).",
    ["carrier", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
UNROUTABLE = Counter(
    "halte_inbound_unroutable_total",
    "Replies recorded that could not be routed to an account, by reason.",
    ["reason"],
)
CLASSIFIED = Counter(
    "halte_inbound_classified_total",
    "Replies recorded, by classification (stop, optin, contact, help, other).",
    ["classification"],
)
WEB_OPTOUTS = Counter("halte_web_optouts_total", "Opt-outs confirmed on the unsubscribe page.")
SPAM_REPORTS = Counter(
    "halte_spam_reports_total", "Numbers reported through 33700, by outcome (published, duplicate).", ["outcome"]
)
UNPROCESSABLE = Counter(
    "halte_inbound_unprocessable_total",
    "Authenticated carrier payloads that could not be used, kept in unprocessable_payloads, by carrier, kind "
    "(mo, dlr) and reason (invalid_json, not_an_object, missing, wrong_type, too_long, invalid).",
    ["carrier", "kind", "reason"],
)
CHARACTERS_MAPPED = Counter(
    "halte_inbound_characters_mapped_total",
    "Carrier payloads recorded after control characters or undecodable bytes were mapped (raw payload kept), "
    "by carrier and kind (mo, dlr).",
    ["carrier", "kind"],
)
DLR_WAITING = Gauge(
    "halte_inbound_dlr_waiting",
    "Delivery reports waiting for one of the HALTE_INBOUND_DLR_CONCURRENCY slots (replies never wait).",
    multiprocess_mode="livesum",  # each worker process counts its own
)
