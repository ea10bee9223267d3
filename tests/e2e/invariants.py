"""The platform's promises, checked from the outside: gather facts through public APIs, list violations.

The checks are pure functions of :class:`Facts`, so they are tested on crafted facts as well
as run after every e2e and fault scenario. Facts come only from public interfaces: the
campaign-api (recipients, ledger, account, opt-outs), the carrier simulator's operator
listing (``GET /v1/messages``) or what Kannel's fakesmsc printed. Nothing reads a database.

Invariants (SPEC rules 5 and 7, the non-negotiables, and issue 8):

1. ``marketing_after_optout``: no marketing SMS reaches a number after its opt-out was
   acknowledged (the instant the platform showed it as enforced), from that account.
2. ``duplicate_decision`` / ``duplicate_send``: exactly one decision per recipient of a
   campaign, and at most one carrier message per recipient and campaign text.
3. ``recipient_lost`` / ``recipient_unfinished`` / ``sent_not_at_carrier`` /
   ``phantom_send``: every recipient of a campaign is accounted for with a final outcome;
   a recipient reported sent reached the carrier, and the carrier received no marketing
   SMS that no recipient explains.
4. ``confirmation_count`` / ``debit_count``: exactly one confirmation SMS and one debit
   per new opt-out; ``debit_without_optout``: no confirmation debit without an opt-out.
5. ``ledger_unbalanced``: the balance equals the sum of the ledger's movements.

Acknowledged STOPs (the carrier got inbound's 2xx; checked when the facts carry them):

6. ``marketing_after_stop``: no marketing SMS reaches the number later than the awareness
   bound after the acknowledgement, whether or not the opt-out ever reached the account.
7. ``stop_not_visible`` / ``stop_not_enforced`` / ``stop_debit_count``: the STOP shows in the
   account's opt-outs with ``enforced_at``, the dispatcher refuses marketing to the number
   (``suppressed``), and exactly one confirmation debit bills it (the ledger's cause names the
   opt-out); ``confirmation_count`` (4) counts its confirmation SMS.
8. ``optout_dead_lettered``: no opt-out event (optout.requested, optout.recorded) sits on a
   dead-letter topic or among a service's parked events.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from halte_rules.promotional import is_promotional

#: Outcomes after which nothing more will happen to a recipient.
FINAL_OUTCOMES = frozenset({"sent", "delivered", "failed", "refused", "cancelled", "canceled", "expired", "suppressed"})
#: Outcomes that say the message left for the carrier.
SENT_OUTCOMES = frozenset({"sent", "delivered", "failed", "expired"})
#: Ledger kinds that add to the balance (campaign-api domain/ledger.py); every other kind takes away.
CREDITING_KINDS = frozenset({"topup", "refund"})
#: The notifier's default confirmation texts (fr and en) say this; a custom template must too.
CONFIRMATION_PATTERN = re.compile(r"d[ée]sinscription|unsubscription|d[ée]sabonnement", re.IGNORECASE)
#: The events an opt-out travels as: none may end on a dead-letter topic or parked.
OPTOUT_EVENT_TYPES = frozenset({"optout.requested", "optout.recorded"})
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class CarrierMessage:
    """One SMS a carrier received (the simulator's record, or what fakesmsc printed)."""

    to: str
    sender: str
    text: str
    kind: str | None  # "marketing"/"informative" when the carrier knows it (the simulator does)
    received_at: datetime  # real (wall-clock) time
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One row of GET /v1/campaigns/{id}/recipients."""

    campaign_id: str
    phone: str
    outcome: str | None
    reason: str | None = None
    scheduled_for: datetime | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Optout:
    """One opt-out of the account, with the real instant from which no marketing may reach the number."""

    phone: str
    channel: str
    acknowledged_at: datetime | None  # real time; None while not yet enforced
    raw_text: str | None = None
    optout_id: str | None = None  # what a confirmation debit's cause names
    enforced_at: datetime | None = None  # real time, as the account's API shows it (never overridden)


@dataclass(frozen=True, slots=True)
class Movement:
    """One ledger movement, with its signed effect on the balance."""

    kind: str
    delta: int
    cause: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message a consumer gave up on: on a ``*.dlq`` topic, or parked by a service."""

    where: str  # the dead-letter topic (without the test prefix), or "parked:<service>"
    topic: str | None  # the topic the message came from
    event_type: str | None
    event_id: str | None
    phone: str | None
    error: str | None = None
    group: str | None = None  # the consumer group (or service) that gave up on it

    @property
    def is_optout(self) -> bool:
        return self.event_type in OPTOUT_EVENT_TYPES or self.topic in OPTOUT_EVENT_TYPES

    def __str__(self) -> str:
        kind = self.event_type or self.topic or "an undecodable message"
        by = f" by {self.group}" if self.group else ""
        return f"{kind} {self.event_id or ''} for {self.phone or '?'} on {self.where}{by}: {(self.error or '')[:160]}"

    @classmethod
    def from_record(cls, dlq_topic: str, key: bytes | None, value: bytes | None, headers: Any = ()) -> DeadLetter:
        """Read a dead-letter record: the envelope it carries and the error halte_shared.bus put in its headers."""
        named = {name: raw.decode(errors="replace") for name, raw in (headers or ()) if raw is not None}
        envelope: dict[str, Any] = {}
        try:
            decoded = json.loads(value or b"")
            envelope = decoded if isinstance(decoded, dict) else {}
        except ValueError:
            pass
        payload = envelope.get("payload") if isinstance(envelope.get("payload"), dict) else {}
        phone = payload.get("phone") or (key.decode(errors="replace") if key else None)
        return cls(
            where=dlq_topic,
            topic=dlq_topic.removesuffix(DLQ_SUFFIX),
            event_type=envelope.get("type"),
            event_id=envelope.get("id"),
            phone=phone,
            error=named.get("halte-error"),
            group=named.get("halte-consumer-group"),
        )

    @classmethod
    def from_parked(cls, service: str, row: dict[str, Any]) -> DeadLetter:
        """Read one row of a service's GET /v1/operator/parked (halte_shared/parked.py shows the message as `value`)."""
        envelope = row.get("envelope")
        if not isinstance(envelope, dict):
            try:
                envelope = json.loads(row.get("value") or "")
            except (TypeError, ValueError):
                envelope = None
        envelope = envelope if isinstance(envelope, dict) else {}
        payload = envelope.get("payload") if isinstance(envelope.get("payload"), dict) else {}
        topic = row.get("topic") or envelope.get("type")
        return cls(
            where=f"parked:{service}",
            topic=str(topic) if topic else None,
            event_type=row.get("event_type") or row.get("type") or envelope.get("type") or topic,
            event_id=row.get("event_id") or row.get("id") or envelope.get("id"),
            phone=row.get("phone") or payload.get("phone") or row.get("key"),
            error=row.get("error") or row.get("reason"),
            group=row.get("consumer_group") or row.get("group") or service,
        )


@dataclass
class Facts:
    """Everything the checks need about one account, as the public interfaces tell it."""

    account_id: str
    short_code: str
    balance: int | None = None
    movements: list[Movement] = field(default_factory=list)
    optouts: list[Optout] = field(default_factory=list)
    recipients: list[Recipient] = field(default_factory=list)
    #: campaign id -> the numbers expected among its recipients (what the test put in the audience)
    audiences: dict[str, set[str]] = field(default_factory=dict)
    #: campaign id -> the final text of the campaign (from the preview), to match carrier messages
    campaign_texts: dict[str, str] = field(default_factory=dict)
    carrier_messages: list[CarrierMessage] = field(default_factory=list)
    #: numbers whose opt-out was new in this scenario: each gets one confirmation and one debit
    new_optouts: set[str] = field(default_factory=set)
    #: for carriers that do not report the kind (Kannel): substrings only marketing texts carry
    marketing_markers: list[str] = field(default_factory=list)
    #: number -> the real instant the carrier got inbound's 2xx for its STOP
    stops_acknowledged: dict[str, datetime] = field(default_factory=dict)
    #: number -> the dispatcher's (decision, reason) for a marketing SMS to it; None: not asked
    dispatcher_verdicts: dict[str, tuple[str, str]] | None = None
    #: what sits on the dead-letter topics and among the services' parked events
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    message: str
    phone: str | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


# -- the checks -----------------------------------------------------------------------------


def _is_marketing(message: CarrierMessage, facts: Facts) -> bool:
    # What was sent decides, not the label the client chose: a promotion that went out as
    # "informative" is marketing (halte_rules.promotional is the platform's own detector).
    if message.kind == "marketing" or is_promotional(message.text):
        return True
    if message.kind is not None:
        return False
    # A carrier that does not know the kind (Kannel): a marketing SMS carries the STOP mention
    # (or, abroad, the campaign's own words beside an unsubscribe link).
    return (
        f"STOP au {facts.short_code}" in message.text
        or message.text in facts.campaign_texts.values()
        or any(marker in message.text for marker in facts.marketing_markers)
    )


def _account_messages(facts: Facts) -> list[CarrierMessage]:
    return [m for m in facts.carrier_messages if m.sender == facts.short_code]


def check_no_marketing_after_optout(facts: Facts, *, grace: timedelta = timedelta(0)) -> list[Violation]:
    """No marketing SMS reaches a number after its opt-out was acknowledged."""
    acknowledged: dict[str, datetime] = {}
    for optout in facts.optouts:
        if optout.acknowledged_at is not None:
            previous = acknowledged.get(optout.phone)
            acknowledged[optout.phone] = min(previous, optout.acknowledged_at) if previous else optout.acknowledged_at
    violations = []
    for message in _account_messages(facts):
        since = acknowledged.get(message.to)
        if since is not None and _is_marketing(message, facts) and message.received_at > since + grace:
            violations.append(
                Violation(
                    "marketing_after_optout",
                    f"a marketing SMS reached {message.to} at {message.received_at.isoformat()}, "
                    f"after its opt-out was acknowledged at {since.isoformat()}: {message.text[:60]!r}",
                    message.to,
                )
            )
    return violations


def check_one_decision_per_recipient(facts: Facts) -> list[Violation]:
    """Each recipient of a campaign has exactly one row, and gets at most one SMS of it."""
    violations = []
    rows = Counter((r.campaign_id, r.phone) for r in facts.recipients)
    for (campaign_id, phone), count in sorted(rows.items()):
        if count > 1:
            violations.append(
                Violation(
                    "duplicate_decision", f"{phone} has {count} decisions in campaign {campaign_id}, not one", phone
                )
            )
    sends = Counter((m.to, m.text) for m in _account_messages(facts) if _is_marketing(m, facts))
    for (phone, text), count in sorted(sends.items()):
        if count > 1:
            violations.append(
                Violation(
                    "duplicate_send", f"{phone} received the same marketing SMS {count} times: {text[:60]!r}", phone
                )
            )
    return violations


def check_no_recipient_lost(facts: Facts, *, require_final: bool = True) -> list[Violation]:
    """Every recipient is accounted for; what was reported sent reached the carrier, and nothing else did."""
    violations = []
    by_campaign: dict[str, dict[str, Recipient]] = defaultdict(dict)
    for recipient in facts.recipients:
        by_campaign[recipient.campaign_id][recipient.phone] = recipient
    for campaign_id, expected in sorted(facts.audiences.items()):
        rows = by_campaign.get(campaign_id, {})
        for phone in sorted(expected - rows.keys()):
            violations.append(
                Violation("recipient_lost", f"{phone} of campaign {campaign_id} has no recipient row at all", phone)
            )
        if require_final:
            for phone in sorted(expected & rows.keys()):
                outcome = rows[phone].outcome
                if outcome not in FINAL_OUTCOMES:
                    violations.append(
                        Violation(
                            "recipient_unfinished",
                            f"{phone} of campaign {campaign_id} is still {outcome!r}, not a final outcome",
                            phone,
                        )
                    )
                elif outcome in SENT_OUTCOMES and rows[phone].sent_at is None:
                    # A send decision is an intent; sent_at says a carrier took the message.
                    violations.append(
                        Violation(
                            "recipient_unfinished",
                            f"{phone} of campaign {campaign_id} was decided 'send' but no carrier ever took it",
                            phone,
                        )
                    )
    marketing = [m for m in _account_messages(facts) if _is_marketing(m, facts)]
    received = defaultdict(list)
    for message in marketing:
        received[message.to].append(message)
    explained: set[str] = set()
    for campaign_id, rows in sorted(by_campaign.items()):
        text = facts.campaign_texts.get(campaign_id)
        for phone, recipient in sorted(rows.items()):
            if recipient.outcome not in SENT_OUTCOMES:
                continue
            explained.add(phone)
            if recipient.sent_at is None:
                continue  # still in flight: recipient_unfinished reports it when finality is required
            arrived = [m for m in received.get(phone, []) if text is None or m.text == text]
            if not arrived:
                violations.append(
                    Violation(
                        "sent_not_at_carrier",
                        f"{phone} is reported {recipient.outcome!r} in campaign {campaign_id} "
                        "but the carrier never received it",
                        phone,
                    )
                )
    campaign_texts = set(facts.campaign_texts.values())
    rows_by_phone = {r.phone: r for r in facts.recipients}
    for message in marketing:
        if message.to not in explained and (not campaign_texts or message.text in campaign_texts):
            row = rows_by_phone.get(message.to)
            shown = f" (its row says {row.outcome}/{row.reason})" if row is not None else ""
            violations.append(
                Violation(
                    "phantom_send",
                    f"the carrier received a marketing SMS for {message.to} at {message.received_at.isoformat()} "
                    f"that no recipient reported as sent{shown}",
                    message.to,
                )
            )
    return violations


def check_one_confirmation_and_debit(
    facts: Facts, *, is_confirmation: Callable[[str], bool] = lambda text: bool(CONFIRMATION_PATTERN.search(text))
) -> list[Violation]:
    """Each new opt-out gets exactly one confirmation SMS and exactly one debit."""
    violations = []
    confirmations = Counter(
        m.to
        for m in _account_messages(facts)
        if m.kind in (None, "informative") and is_confirmation(m.text) and not _is_marketing(m, facts)
    )
    debits = [m for m in facts.movements if m.kind == "optout_confirmation"]
    debits_with_phone = Counter(m.phone for m in debits if m.phone)
    for phone in sorted(facts.new_optouts):
        if confirmations[phone] != 1:
            violations.append(
                Violation(
                    "confirmation_count",
                    f"{phone} received {confirmations[phone]} opt-out confirmation SMS, not exactly one",
                    phone,
                )
            )
        if debits_with_phone and debits_with_phone[phone] != 1:
            violations.append(
                Violation(
                    "debit_count", f"{phone} was debited {debits_with_phone[phone]} times for its confirmation", phone
                )
            )
    for debit in debits:
        if debit.delta != -1:
            violations.append(
                Violation("debit_count", f"a confirmation debit moved {debit.delta} credits, not -1", debit.phone)
            )
    if not debits_with_phone and len(debits) != len(facts.new_optouts):
        violations.append(
            Violation(
                "debit_count",
                f"{len(debits)} confirmation debits for {len(facts.new_optouts)} new opt-outs; exactly one each",
            )
        )
    optout_phones = {o.phone for o in facts.optouts}
    for phone in sorted(set(debits_with_phone) - optout_phones):
        violations.append(
            Violation("debit_without_optout", f"{phone} was debited a confirmation but has no opt-out", phone)
        )
    return violations


def check_ledger_balance(facts: Facts) -> list[Violation]:
    """The balance equals the sum of the ledger's movements."""
    if facts.balance is None:
        return []
    total = sum(m.delta for m in facts.movements)
    if total != facts.balance:
        return [
            Violation(
                "ledger_unbalanced",
                f"account {facts.account_id} shows a balance of {facts.balance} "
                f"but its {len(facts.movements)} movements add up to {total}",
            )
        ]
    return []


def check_no_marketing_after_stop(facts: Facts, *, grace: timedelta = timedelta(0)) -> list[Violation]:
    """No marketing SMS reaches a number later than `grace` after inbound acknowledged its STOP."""
    violations = []
    for message in _account_messages(facts):
        since = facts.stops_acknowledged.get(message.to)
        if since is not None and _is_marketing(message, facts) and message.received_at > since + grace:
            late = (message.received_at - since).total_seconds()
            violations.append(
                Violation(
                    "marketing_after_stop",
                    f"a marketing SMS reached {message.to} at {message.received_at.isoformat()}, {late:.2f} s "
                    f"after inbound acknowledged its STOP (bound {grace.total_seconds():g} s): {message.text[:60]!r}",
                    message.to,
                )
            )
    return violations


def check_stops_enforced(facts: Facts) -> list[Violation]:
    """Every acknowledged STOP shows in the account's opt-outs, enforced, and the dispatcher refuses marketing to it."""
    visible = {o.phone for o in facts.optouts if o.enforced_at is not None}
    violations = []
    for phone, since in sorted(facts.stops_acknowledged.items()):
        if phone not in visible:
            violations.append(
                Violation(
                    "stop_not_visible",
                    f"{phone}'s STOP was acknowledged at {since.isoformat()} "
                    "but the account's opt-outs show no enforced opt-out for it",
                    phone,
                )
            )
        if facts.dispatcher_verdicts is not None:
            verdict = facts.dispatcher_verdicts.get(phone)
            if verdict != ("refuse", "suppressed"):
                shown = "no answer" if verdict is None else "/".join(verdict)
                violations.append(
                    Violation(
                        "stop_not_enforced",
                        f"the dispatcher answers {shown} for a marketing SMS to {phone}, not refuse/suppressed, "
                        f"although its STOP was acknowledged at {since.isoformat()}",
                        phone,
                    )
                )
    return violations


def _billed_optout(cause: str | None) -> str | None:
    """Return the opt-out id a confirmation debit's cause names (``optout_confirmation:<id>``)."""
    if not cause or ":" not in cause:
        return None
    kind, _, optout_id = cause.partition(":")
    return optout_id if kind == "optout_confirmation" and optout_id else None


def check_one_debit_per_stop(facts: Facts) -> list[Violation]:
    """Each acknowledged STOP is billed exactly one confirmation debit."""
    ids_by_phone: dict[str, set[str]] = defaultdict(set)
    for optout in facts.optouts:
        if optout.optout_id:
            ids_by_phone[optout.phone].add(optout.optout_id)
    debits = [m for m in facts.movements if m.kind == "optout_confirmation"]
    violations = []
    for phone in sorted(facts.stops_acknowledged):
        ids = ids_by_phone.get(phone, set())
        count = sum(1 for m in debits if m.phone == phone or _billed_optout(m.cause) in ids)
        if count != 1:
            why = "" if ids else " (no opt-out of the account names it, so no debit can be traced to it)"
            violations.append(
                Violation(
                    "stop_debit_count",
                    f"{phone}'s STOP was billed {count} confirmation debit(s), not exactly one{why}",
                    phone,
                )
            )
    return violations


def check_no_optout_dead_lettered(facts: Facts) -> list[Violation]:
    """No opt-out event sits on a dead-letter topic or among a service's parked events."""
    return [
        Violation("optout_dead_lettered", f"an opt-out event was given up: {letter}", letter.phone)
        for letter in facts.dead_letters
        if letter.is_optout
    ]


def check_all(facts: Facts, *, require_final: bool = True, grace: timedelta = timedelta(0)) -> list[Violation]:
    """Run every check and return every violation found."""
    return [
        *check_no_marketing_after_optout(facts, grace=grace),
        *check_one_decision_per_recipient(facts),
        *check_no_recipient_lost(facts, require_final=require_final),
        *check_one_confirmation_and_debit(facts),
        *check_ledger_balance(facts),
        *check_no_marketing_after_stop(facts, grace=grace),
        *check_stops_enforced(facts),
        *check_one_debit_per_stop(facts),
        *check_no_optout_dead_lettered(facts),
    ]


def report(violations: Iterable[Violation], *, limit: int = 30) -> str:
    """Return the violations as lines for an assertion message."""
    items = list(violations)
    lines = [str(v) for v in items[:limit]]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more")
    counts = Counter(v.code for v in items)
    return f"{len(items)} invariant violation(s) {dict(counts)}:\n" + "\n".join(lines)


# -- gathering facts through the public APIs ----------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """Return an aware datetime from an ISO 8601 string (None stays None)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _items(body: Any, *names: str) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for name in (*names, "items", "data", "results"):
        if isinstance(body, dict) and isinstance(body.get(name), list):
            return list(body[name])
    raise AssertionError(f"cannot find the list in the answer: {str(body)[:300]}")


def _next_cursor(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for name in ("next_cursor", "next", "cursor"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def paged(client: httpx.Client, path: str, *names: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
    """Yield every row of a listing, following `next_cursor`/`next` links when the API pages."""
    query = dict(params or {})
    seen: set[str] = set()
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, f"GET {path} answered {response.status_code}: {response.text[:300]}"
        body = response.json()
        yield from _items(body, *names)
        cursor = _next_cursor(body)
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)
        if cursor.startswith(("/", "http")):
            path, query = cursor, {}
        else:
            query["cursor"] = cursor


def ledger_movements(client: httpx.Client) -> list[Movement]:
    """Return the account's ledger movements with their signed effect."""
    movements = []
    for row in paged(client, "/v1/ledger", "movements", "entries"):
        kind = str(row.get("kind") or row.get("reason") or "")
        if "delta" in row:
            delta = int(row["delta"])
        else:
            amount = int(row["amount"])
            delta = amount if kind in CREDITING_KINDS else -abs(amount)
        movements.append(
            Movement(
                kind=kind, delta=delta, cause=row.get("cause") or row.get("cause_event_id"), phone=row.get("phone")
            )
        )
    return movements


def account_balance(client: httpx.Client) -> int:
    """Return the account's credit balance (GET /v1/account)."""
    response = client.get("/v1/account")
    assert response.status_code == 200, response.text
    body = response.json()
    value = body.get("balance", body.get("credits"))
    if isinstance(value, dict):
        value = value.get("balance", value.get("available"))
    return int(value)


def account_optouts(client: httpx.Client, *, clock_offset: timedelta = timedelta(0)) -> list[Optout]:
    """Return the account's opt-outs; service times are moved back by `clock_offset` to real time."""
    optouts = []
    for row in paged(client, "/v1/optouts", "optouts"):
        enforced = parse_time(row.get("enforced_at"))
        optouts.append(
            Optout(
                phone=row["phone"],
                channel=str(row.get("channel")),
                acknowledged_at=enforced - clock_offset if enforced else None,
                raw_text=row.get("raw_text"),
                optout_id=row.get("id"),
                enforced_at=enforced - clock_offset if enforced else None,
            )
        )
    return optouts


def campaign_recipients(client: httpx.Client, campaign_id: str) -> list[Recipient]:
    """Return every recipient row of a campaign."""
    return [
        Recipient(
            campaign_id=campaign_id,
            phone=row["phone"],
            outcome=row.get("outcome"),
            reason=row.get("reason"),
            scheduled_for=parse_time(row.get("scheduled_for")),
            sent_at=parse_time(row.get("sent_at")),
        )
        for row in paged(client, f"/v1/campaigns/{campaign_id}/recipients", "recipients", params={"limit": 1000})
    ]


def simulator_messages(simulator_url: str, *, admin_token: str, page: int = 10_000) -> list[CarrierMessage]:
    """Return every message the carrier simulator received (GET /v1/messages, operator)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=simulator_url, headers=headers, timeout=60) as client:
        rows: list[dict[str, Any]] = []
        total = None
        while True:
            params: dict[str, Any] = {"limit": page}
            if rows:
                params["offset"] = len(rows)
            response = client.get("/v1/messages", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            batch = _items(body, "messages")
            total = int(body.get("count", len(batch))) if isinstance(body, dict) else len(batch)
            if rows and batch and batch[0].get("carrier_message_id") == rows[0].get("carrier_message_id"):
                raise AssertionError(
                    f"the simulator holds {total} messages but lists only {len(rows)} and has no paging"
                )
            rows.extend(batch)
            if len(rows) >= total or not batch:
                break
    return [
        CarrierMessage(
            to=row["to"],
            sender=row["sender"],
            text=row["text"],
            kind=row.get("kind"),
            received_at=parse_time(row["received_at"]) or datetime.now(UTC),
            message_id=row.get("message_id"),
        )
        for row in rows
    ]


def handset_messages(messages: Iterable[Any]) -> list[CarrierMessage]:
    """Return fakesmsc's received messages (halte_shared.kannel_gateway.HandsetMessage) as carrier messages."""
    return [
        CarrierMessage(
            to=m.receiver,
            sender=m.sender,
            text=m.text,
            kind=None,
            received_at=datetime.fromtimestamp(m.received_at, UTC),
        )
        for m in messages
    ]


def gather(
    client: httpx.Client,
    *,
    account_id: str,
    short_code: str,
    campaigns: dict[str, set[str]],
    carrier_messages: list[CarrierMessage],
    new_optouts: set[str],
    campaign_texts: dict[str, str] | None = None,
    clock_offset: timedelta = timedelta(0),
    acknowledged: dict[str, datetime] | None = None,
    marketing_markers: list[str] | None = None,
    stops_acknowledged: dict[str, datetime] | None = None,
    dispatcher_verdicts: dict[str, tuple[str, str]] | None = None,
    dead_letters: list[DeadLetter] | None = None,
) -> Facts:
    """Collect the facts of one account through its API key (`client` carries it).

    `acknowledged` gives, per number, the real instant the test saw its opt-out enforced;
    it takes precedence over the opt-out's `enforced_at` (service time, shifted back by
    `clock_offset`, the amount the test moved the services' clocks ahead of real time).
    `stops_acknowledged`, `dispatcher_verdicts` and `dead_letters` are facts the caller
    gathered elsewhere (the carrier's 2xx, the dispatcher's policy probe, the broker).
    """
    optouts = account_optouts(client, clock_offset=clock_offset)
    if acknowledged:
        optouts = [
            dataclasses.replace(o, acknowledged_at=acknowledged.get(o.phone, o.acknowledged_at)) for o in optouts
        ]
    recipients = [r for campaign_id in campaigns for r in campaign_recipients(client, campaign_id)]
    return Facts(
        account_id=account_id,
        short_code=short_code,
        balance=account_balance(client),
        movements=ledger_movements(client),
        optouts=optouts,
        recipients=recipients,
        audiences={k: set(v) for k, v in campaigns.items()},
        campaign_texts=dict(campaign_texts or {}),
        carrier_messages=carrier_messages,
        new_optouts=set(new_optouts),
        marketing_markers=list(marketing_markers or []),
        stops_acknowledged=dict(stops_acknowledged or {}),
        dispatcher_verdicts=None if dispatcher_verdicts is None else dict(dispatcher_verdicts),
        dead_letters=list(dead_letters or []),
    )
