"""The one table of Kafka topics: the embedded stack, the tests and the Kubernetes manifests read it.

Partition counts follow the keys: per-number topics spread by E.164 number, so 12
partitions let up to 12 consumers of a group share the load; account-keyed topics are
small. Retention is long enough to replay a day's traffic after an incident and short
enough not to keep personal data (phone numbers) longer than the evidence needs; the
database, not the bus, is the record.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    partitions: int
    key: str
    retention_ms: int
    purpose: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "account.changed",
        3,
        "account id",
        30 * DAY_MS,
        "accounts, modes and short codes",
    ),
    Topic("campaign.launched", 3, "account id", 7 * DAY_MS, "a campaign was launched"),
    Topic("dispatch.requested", 12, "E.164 number", 7 * DAY_MS, "one recipient of a campaign or a unit send to decide"),
    Topic("dispatch.decided", 12, "E.164 number", 7 * DAY_MS, "the policy decision for one recipient"),
    Topic("sms.outbound", 12, "E.164 number", 7 * DAY_MS, "an SMS handed to a carrier"),
    Topic("sms.delivery", 12, "E.164 number", 7 * DAY_MS, "a carrier's delivery report"),
    Topic("inbound.received", 12, "E.164 number", 7 * DAY_MS, "a reply from a phone, classified"),
    Topic("optout.requested", 12, "E.164 number", 14 * DAY_MS, "a STOP (or web, API, 33700 report) to attribute"),
    Topic("optout.recorded", 12, "E.164 number", 14 * DAY_MS, "a new suppression, enforced"),
    Topic("optin.requested", 12, "E.164 number", 14 * DAY_MS, "a START/UNSTOP reply or an account's renewed consent"),
    Topic("optin.recorded", 12, "E.164 number", 14 * DAY_MS, "a suppression lifted by new explicit consent"),
    Topic("contact.requested", 12, "E.164 number", 7 * DAY_MS, "a CONTACT reply to answer"),
    Topic(
        "billing.charged",
        6,
        "account id",
        30 * DAY_MS,
        "debits for confirmations and CONTACT replies",
    ),
)

DLQ_SUFFIX = ".dlq"
DLQ_RETENTION_MS = 30 * DAY_MS


def dead_letter_topic(name: str) -> str:
    """Return the dead-letter topic of a topic."""
    return f"{name}{DLQ_SUFFIX}"


def all_topic_specs() -> list[Topic]:
    """Return every topic with its dead-letter twin, in a stable order."""
    specs: list[Topic] = []
    for topic in TOPICS:
        specs.append(topic)
        specs.append(
            Topic(dead_letter_topic(topic.name), 1, topic.key, DLQ_RETENTION_MS, f"poison messages of {topic.name}")
        )
    return specs


TOPIC_NAMES = frozenset(t.name for t in TOPICS)
