"""An acknowledged STOP is enforced whatever fails in between: five faults, each as STOPs arrive and a hold falls due.

The promise: once a carrier got inbound's 2xx for a STOP reply, no marketing SMS reaches that
number later than the awareness bound (HALTE_SUPPRESSION_MAX_LAG_SECONDS, 2 s by default),
the STOP shows in the client's opt-outs and exactly one confirmation SMS bills it. Each test
injects one fault on its own account, on a platform of this module (the simulator carrier):

1. PostgreSQL drops every connection of the platform's database every ~100 ms for 8 s;
2. PostgreSQL is restarted (down ~6 s, same data directory and socket, as a failover);
3. the broker is frozen (SIGSTOP) for 8 s, then resumed (SIGCONT);
4. the suppression service is SIGKILLed and started again;
5. the dispatcher is SIGKILLed right after inbound acknowledged a STOP, and started again.

During each fault STOPs keep arriving as signed carrier webhooks (retried on 5xx and
connection errors, a 4xx is a failure; harness.RetryingCarrier) and a marketing campaign
scheduled a few seconds ahead (``send_at``: the dispatcher holds it ``scheduled``) falls due,
some of its recipients being among those who say STOP. Once the platform has settled (every
wait bounded), the facts are gathered through public interfaces only and checked
(invariants.py): for every acknowledged STOP the dispatcher's policy probe refuses marketing
(``suppressed``), the account's opt-outs show it enforced, one confirmation SMS and one debit
bill it, no marketing reached it after the acknowledgement plus the bound, and no opt-out
event sits on a dead-letter topic or among a service's parked events. The campaign's own
promises (every recipient final, no duplicate, no phantom) are checked with them.

Size: HALTE_E2E_STOP_FAULT_RECIPIENTS (default 200) recipients and HALTE_E2E_STOP_FAULT_STOPS
(default 30) STOPs per scenario. Each scenario prints what the carrier saw and how long
enforcement took; the module prints a summary of all five at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import httpx
import pytest
from harness import (
    Api,
    Platform,
    RetryingCarrier,
    dead_letters,
    parked_events,
    policy_verdict,
    publish_raw,
    simulator_listing,
    wait_until,
)
from invariants import (
    FINAL_OUTCOMES,
    DeadLetter,
    Violation,
    check_all,
    gather,
    report,
    simulator_messages,
)
from scenario import next_sending_instant

from halte_shared.infra import FaultUnavailable
from halte_shared.stack import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECIPIENTS = int(os.environ.get("HALTE_E2E_STOP_FAULT_RECIPIENTS", "200"))
STOPS = min(RECIPIENTS, int(os.environ.get("HALTE_E2E_STOP_FAULT_STOPS", "30")))
#: The dispatcher proves its blocklist current within this bound or holds marketing (fail closed).
BOUND = timedelta(seconds=float(os.environ.get("HALTE_SUPPRESSION_MAX_LAG_SECONDS", "2")))
TEXT = "Maison Halte : -25 % sur les manteaux jusqu'à dimanche."
#: How far ahead of the launch the campaign is scheduled: long enough for every recipient to be held first.
HOLD_LEAD = timedelta(seconds=15)
#: The fault starts this long before the hold falls due, so the release runs during the fault.
FAULT_BEFORE_DUE = 3.0
#: STOPs start this long before the fault and are spread over STOP_SPREAD seconds.
STOPS_BEFORE_FAULT = 1.0
STOP_SPREAD = 10.0
#: Every REPEAT_EVERY-th stopper says STOP a second time: no second confirmation, no second debit.
REPEAT_EVERY = 10
#: The violations that break an acknowledged STOP's promises, in the order the failure lists them.
STOP_CODES = {
    code: rank
    for rank, code in enumerate(
        (
            "marketing_after_stop",
            "marketing_after_optout",
            "stop_not_enforced",
            "stop_not_visible",
            "optout_dead_lettered",
            "confirmation_count",
            "stop_debit_count",
            "debit_count",
        )
    )
}


def number(series: int, index: int) -> str:
    """Return a valid French mobile in the simulator's range (+3367...), distinct per series and index."""
    return f"+3367{series:02d}{index:05d}"


# -- the platform of this module -------------------------------------------------------------------


@dataclass
class Record:
    """What one scenario saw, for the test output."""

    fault: str
    stops_sent: int = 0
    stops_acknowledged: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    carrier_failures: int = 0
    enforcement_seconds: list[float] = field(default_factory=list)  # ack -> the dispatcher refuses
    never_enforced: int = 0
    visible_seconds: list[float] = field(default_factory=list)  # ack -> enforced_at in the opt-outs
    fault_seconds: float = 0.0
    run_seconds: float = 0.0
    violations: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        def spread(values: list[float]) -> str:
            if not values:
                return "n/a"
            return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"

        enforced = spread(self.enforcement_seconds)
        if self.never_enforced:
            enforced += f", {self.never_enforced} never refused while watched"
        return (
            f"{self.fault}: {self.stops_acknowledged}/{self.stops_sent} STOPs acknowledged, "
            f"carrier saw {self.server_errors} 5xx and {self.connection_errors} connection errors, "
            f"{self.carrier_failures} failed; enforcement by the dispatcher {enforced}; "
            f"visible in the opt-outs {spread(self.visible_seconds)}; fault {self.fault_seconds:.1f} s, "
            f"scenario {self.run_seconds:.1f} s; violations {dict(self.violations) or 'none'}"
            + "".join(f"\n    note: {note}" for note in self.notes)
        )


RECORDS: list[Record] = []


@pytest.fixture(scope="module")
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    """A platform for this module alone: the faults restart its PostgreSQL and freeze its broker."""
    # Not under pytest's basetemp: another pytest session on the machine may clean that up
    # (or change its modes) while PostgreSQL, running as another user, still writes in it.
    workdir = Path(tempfile.mkdtemp(prefix="halte-stop-faults-"))
    workdir.chmod(0o755)
    started = Platform(workdir, carrier="sim", carrier_database="own")
    try:
        started.start()
    except Exception as exc:
        logs = "\n".join(f"--- {name} ---\n{started.log_tail(name, 25)}" for name in (*SERVICES, "carrier-sim"))
        raise RuntimeError(f"the e2e platform did not start: {exc}\n{logs}") from exc
    failed_before = request.session.testsfailed
    instant = next_sending_instant(datetime.now(UTC), latest=clock_time(19, 0))
    if instant is not None:
        started.set_clock(instant)
    try:
        yield started
    finally:
        started.stop()
        clean = request.session.testsfailed == failed_before
        if clean:
            shutil.rmtree(workdir, ignore_errors=True)
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None and RECORDS:
            with capture.global_and_fixture_disabled():
                reporter.write_line("")
                reporter.write_line(f"STOP under faults ({RECIPIENTS} recipients, {STOPS} STOPs, bound {BOUND}):")
                for record in RECORDS:
                    reporter.write_line("  " + record.line())
                if not clean:
                    reporter.write_line(f"  logs: {workdir / 'logs'}")


# -- one scenario --------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One account, its scheduled campaign, the STOPs its recipients send and what the test watched."""

    platform: Platform
    record: Record
    api: Api
    account_id: str
    short_code: str
    campaign_id: str
    audience: list[str]
    stoppers: list[str]
    send_at: datetime  # the services' clock
    carrier: RetryingCarrier
    dead_letters_before: list[DeadLetter]
    parked_before: list[DeadLetter]
    fault_started: float = 0.0  # time.time()
    fault_ended: float = 0.0
    enforced_after: dict[str, float] = field(default_factory=dict)  # phone -> seconds from ack to refusal

    def acknowledged(self) -> dict[str, datetime]:
        """Return, per number, the first instant inbound acknowledged a STOP from it."""
        acked: dict[str, datetime] = {}
        for reply in self.carrier.replies:
            if reply.acknowledged_at is not None:
                previous = acked.get(reply.phone)
                acked[reply.phone] = min(previous, reply.acknowledged_at) if previous else reply.acknowledged_at
        return acked


def prepare(platform: Platform, *, fault: str, series: int, short_code: str) -> Scenario:
    """Create an account with opted-in contacts and launch a campaign the dispatcher holds until `send_at`."""
    record = Record(fault)
    admin = platform.admin()
    account_id, key = admin.create_account(
        name=f"Maison Halte {series}", short_code=short_code, contact_info="halte.example", credits=RECIPIENTS * 4 + 500
    )
    api = platform.api(key)
    audience = [number(series, i) for i in range(RECIPIENTS)]
    collected = "2025-01-15T10:00:00+01:00"
    rows = [
        {
            "phone": phone,
            "tags": ["stop-faults"],
            "consent": {"basis": "opt_in", "collected_at": collected, "source": "caisse", "wording": "Oui aux SMS"},
        }
        for phone in audience
    ]
    for attempt in range(1, 4):
        try:
            job = api.import_contacts(rows)
            break
        except AssertionError as exc:
            # A client does what a failed import says ("Send it again"); the note keeps the trace.
            if "Send it again" not in str(exc) or attempt == 3:
                raise
            said = re.search(r"'message': '([^']*)'", str(exc))
            record.notes.append(f"the contact import failed and was sent again: {said[1] if said else str(exc)[:300]}")
    assert job["rows_imported"] == RECIPIENTS and not job["rows_rejected"], job
    send_at = platform.service_now() + HOLD_LEAD
    body = api.ok(
        "POST",
        "/v1/campaigns",
        json={
            "name": f"STOP under {fault}",
            "kind": "marketing",
            "text": TEXT,
            "audience": {"tags": ["stop-faults"]},
            "send_at": send_at.isoformat(),
        },
    )
    campaign_id = str(body["id"])
    api.ok("POST", f"/v1/campaigns/{campaign_id}/launch")

    def all_held() -> bool:
        counts = api.ok("GET", f"/v1/campaigns/{campaign_id}").get("counts") or {}
        return int(counts.get("held", 0)) >= RECIPIENTS

    try:
        wait_until(all_held, timeout=max(5.0, HOLD_LEAD.total_seconds() - FAULT_BEFORE_DUE - 1), interval=0.5)
    except AssertionError:
        counts = api.ok("GET", f"/v1/campaigns/{campaign_id}").get("counts")
        record.notes.append(f"not every recipient was held before the fault (counts {counts}): the hold is partial")
    step = max(1, RECIPIENTS // STOPS)
    return Scenario(
        platform=platform,
        record=record,
        api=api,
        account_id=account_id,
        short_code=short_code,
        campaign_id=campaign_id,
        audience=audience,
        stoppers=audience[::step][:STOPS],
        send_at=send_at,
        carrier=RetryingCarrier(platform, deadline=90),
        dead_letters_before=dead_letters(platform),
        parked_before=parked_events(platform),
    )


class StopStream(threading.Thread):
    """Hand the stoppers' STOPs to the carrier at a steady pace, then a second STOP from a few of them."""

    def __init__(self, scenario: Scenario, phones: list[str]) -> None:
        super().__init__(daemon=True, name="stop-stream")
        self.scenario, self.phones = scenario, phones

    def run(self) -> None:
        interval = STOP_SPREAD / max(1, len(self.phones))
        for phone in self.phones:
            self.scenario.carrier.send(phone, self.scenario.short_code, "STOP")
            time.sleep(interval)
        for phone in self.phones[::REPEAT_EVERY]:
            self.scenario.carrier.send(phone, self.scenario.short_code, "Stop SMS !")


class EnforcementWatcher(threading.Thread):
    """Probe the dispatcher for every acknowledged STOP until it refuses marketing; note how long that took."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(daemon=True, name="enforcement-watcher")
        self.scenario = scenario
        self.stopping = threading.Event()

    def run(self) -> None:
        sc = self.scenario
        while not self.stopping.is_set():
            for phone, acked in sc.acknowledged().items():
                if phone in sc.enforced_after or self.stopping.is_set():
                    continue
                try:
                    verdict = policy_verdict(sc.platform, phone=phone, account_id=sc.account_id, sender=sc.short_code)
                except (httpx.HTTPError, AssertionError):
                    continue  # the dispatcher is down or failing: the fault at work
                if verdict == ("refuse", "suppressed"):
                    sc.enforced_after[phone] = (datetime.now(UTC) - acked).total_seconds()
            self.stopping.wait(0.25)


def settle(sc: Scenario, *, timeout: float = 60) -> None:
    """Wait (bounded) until the campaign is final and every acknowledged STOP is refused, visible and confirmed."""
    deadline = time.monotonic() + timeout

    def campaign_final() -> bool:
        counts = sc.api.ok("GET", f"/v1/campaigns/{sc.campaign_id}").get("counts") or {}
        return sum(int(v) for k, v in counts.items() if k in FINAL_OUTCOMES) >= RECIPIENTS

    def stops_done() -> bool:
        acked = sc.acknowledged()
        if set(acked) - set(sc.enforced_after):
            return False
        body = sc.api.ok("GET", "/v1/optouts", params={"limit": 1000})
        visible = {row["phone"] for row in body.get("items", []) if row.get("enforced_at")}
        if set(acked) - visible:
            return False
        listing = simulator_listing(sc.platform, sender=sc.short_code, limit=10_000)
        informative = Counter(m["to"] for m in listing.get("messages", []) if m.get("kind") == "informative")
        if any(informative[phone] < 1 for phone in acked):
            return False
        ledger = sc.api.ok("GET", "/v1/ledger", params={"limit": 1000})
        debits = [m for m in ledger.get("movements", []) if m.get("kind") == "optout_confirmation"]
        return len(debits) >= len(acked)

    for probe, what in ((campaign_final, "every recipient to reach a final outcome"), (stops_done, "every STOP")):
        try:
            wait_until(probe, timeout=max(5.0, deadline - time.monotonic()), interval=1.0, what=what)
        except AssertionError as exc:
            sc.record.notes.append(f"did not settle: {exc}")
    # A second confirmation or debit still in flight must have the time to show.
    time.sleep(2)


def check(sc: Scenario) -> None:
    """Gather the facts through the public interfaces, record the scenario, fail on any broken promise."""
    platform, record = sc.platform, sc.record
    acked = sc.acknowledged()
    verdicts: dict[str, tuple[str, str]] = {}
    for phone in acked:
        try:
            verdicts[phone] = policy_verdict(platform, phone=phone, account_id=sc.account_id, sender=sc.short_code)
        except (httpx.HTTPError, AssertionError) as exc:
            verdicts[phone] = ("no answer", repr(exc)[:120])
    letters = list((Counter(dead_letters(platform)) - Counter(sc.dead_letters_before)).elements())
    parked = list((Counter(parked_events(platform)) - Counter(sc.parked_before)).elements())
    with sc.api.client(timeout=120) as client:
        facts = gather(
            client,
            account_id=sc.account_id,
            short_code=sc.short_code,
            campaigns={sc.campaign_id: set(sc.audience)},
            carrier_messages=simulator_messages(platform.simulator_url, admin_token=platform.admin_token),
            new_optouts=set(acked),
            clock_offset=platform.clock_offset,
            stops_acknowledged=acked,
            dispatcher_verdicts=verdicts,
            dead_letters=letters + parked,
        )
    # The STOP's own promises first: a campaign's unfinished recipients must not hide them.
    violations: list[Violation] = sorted(
        check_all(facts, grace=BOUND), key=lambda v: (v.code not in STOP_CODES, STOP_CODES.get(v.code, 0))
    )

    replies = sc.carrier.replies
    record.stops_sent = len({r.phone for r in replies})
    record.stops_acknowledged = len(acked)
    record.server_errors = sum(r.server_errors for r in replies)
    record.connection_errors = sum(r.connection_errors for r in replies)
    failures = [f"{r.phone} {r.text!r}: {r.failure}" for r in replies if r.failure]
    record.carrier_failures = len(failures)
    record.enforcement_seconds = [sc.enforced_after[p] for p in acked if p in sc.enforced_after]
    record.never_enforced = len(set(acked) - set(sc.enforced_after))
    enforced_at = {o.phone: o.enforced_at for o in facts.optouts if o.enforced_at is not None}
    record.visible_seconds = [(enforced_at[p] - t).total_seconds() for p, t in acked.items() if p in enforced_at]
    record.violations = Counter(v.code for v in violations)
    marketing = sorted(
        m.received_at.timestamp() for m in facts.carrier_messages if m.sender == sc.short_code and m.kind == "marketing"
    )
    if marketing:
        record.notes.append(
            f"the held campaign reached the carrier from {marketing[0] - sc.fault_started:+.1f} s to "
            f"{marketing[-1] - sc.fault_started:+.1f} s after the fault began (fault lasted "
            f"{sc.fault_ended - sc.fault_started:.1f} s, {len(marketing)} marketing SMS)"
        )
    others = [str(letter) for letter in letters + parked if not letter.is_optout]
    if others:
        record.notes.append(f"{len(others)} other dead-lettered or parked message(s): " + "; ".join(others[:10]))
    RECORDS.append(record)
    print("\n" + record.line())

    problems = []
    if failures:
        problems.append(f"{len(failures)} STOP(s) the carrier could not deliver:\n  " + "\n  ".join(failures[:20]))
    if violations:
        problems.append(report(violations, limit=60))
    if problems:
        logs = "\n".join(f"--- {name} ---\n{platform.log_tail(name, 12)}" for name in SERVICES)
        pytest.fail(f"{record.fault}: " + "\n".join(problems) + "\n" + record.line() + "\n" + logs, pytrace=False)


def run(
    platform: Platform,
    *,
    fault: str,
    series: int,
    short_code: str,
    inject: Callable[[Scenario], None],
    stream_first: bool = True,
) -> None:
    """Run one scenario: prepare, start STOPs, inject the fault as the hold falls due, settle, check."""
    started = time.monotonic()
    sc = prepare(platform, fault=fault, series=series, short_code=short_code)
    fault_at = sc.send_at - platform.clock_offset - timedelta(seconds=FAULT_BEFORE_DUE)
    stream = StopStream(sc, sc.stoppers if stream_first else sc.stoppers[1:])
    watcher = EnforcementWatcher(sc)
    watcher.start()
    try:
        time.sleep(max(0.0, (fault_at - datetime.now(UTC)).total_seconds() - STOPS_BEFORE_FAULT))
        stream.start()
        time.sleep(STOPS_BEFORE_FAULT)
        sc.fault_started = time.time()
        try:
            inject(sc)
        finally:
            sc.fault_ended = time.time()
            sc.record.fault_seconds = sc.fault_ended - sc.fault_started
        exited = platform.revive_exited()
        if exited:
            sc.record.notes.append(f"exited during the fault and started again (as make run would): {exited}")
        platform.wait_all_ready(timeout=90)
        stream.join(timeout=STOP_SPREAD + 30)
        sc.carrier.wait(timeout=120)
        settle(sc)
    finally:
        watcher.stopping.set()
        watcher.join(timeout=10)
        sc.carrier.close()
    sc.record.run_seconds = time.monotonic() - started
    check(sc)


# -- the five faults -------------------------------------------------------------------------------


def acknowledge_first_stop(sc: Scenario) -> None:
    """Send the first stopper's STOP (kept out of the stream) and return as soon as inbound acknowledged it."""
    reply = sc.carrier.send(sc.stoppers[0], sc.short_code, "STOP").result(timeout=60)
    assert reply.acknowledged_at is not None, f"inbound never acknowledged the STOP to strike on: {reply.failure}"
    sc.record.notes.append(f"the fault struck right after inbound acknowledged {reply.phone}'s STOP")


def test_an_acknowledged_stop_holds_while_postgresql_drops_every_connection(platform: Platform) -> None:
    def inject(sc: Scenario) -> None:
        try:
            terminated = platform.terminate_database_connections(for_seconds=8, interval=0.1)
        except FaultUnavailable as exc:
            pytest.skip(str(exc))
        sc.record.notes.append(f"{terminated} connections terminated")

    run(platform, fault="PostgreSQL drops connections", series=31, short_code="36301", inject=inject)


def test_an_acknowledged_stop_holds_across_a_postgresql_restart(platform: Platform) -> None:
    if os.environ.get("DATABASE_URL"):
        pytest.skip("PostgreSQL is an external server (DATABASE_URL): the test cannot restart it")

    def inject(sc: Scenario) -> None:
        # Stopped right after an acknowledgement: that STOP's events are then in flight between
        # inbound, the broker and suppression while the database is gone.
        acknowledge_first_stop(sc)
        try:
            platform.restart_database(down_seconds=6)
        except FaultUnavailable as exc:
            pytest.skip(str(exc))

    run(platform, fault="PostgreSQL restart", series=32, short_code="36302", inject=inject, stream_first=False)


def test_an_acknowledged_stop_holds_while_the_broker_is_frozen(platform: Platform) -> None:
    assert platform.stack is not None
    if platform.stack.broker is None:
        pytest.skip("the broker is not the embedded one: it cannot be frozen from here")

    def inject(sc: Scenario) -> None:
        platform.freeze_broker(for_seconds=8)

    run(platform, fault="broker frozen", series=33, short_code="36303", inject=inject)


def test_an_acknowledged_stop_holds_when_suppression_is_killed(platform: Platform) -> None:
    def inject(sc: Scenario) -> None:
        platform.restart_service("suppression", kill=True)

    run(platform, fault="suppression SIGKILL", series=34, short_code="36304", inject=inject)


def test_an_acknowledged_stop_holds_when_the_dispatcher_is_killed_with_it_in_flight(platform: Platform) -> None:
    def inject(sc: Scenario) -> None:
        acknowledge_first_stop(sc)
        assert platform.stack is not None
        platform.stack.kill_service("dispatcher")
        platform.restart_service("dispatcher", kill=True)

    run(
        platform,
        fault="dispatcher SIGKILL with a STOP in flight",
        series=35,
        short_code="36305",
        inject=inject,
        stream_first=False,
    )


def test_a_stop_this_build_cannot_read_blocks_its_number_until_an_operator_discards_it(platform: Platform) -> None:
    """A poison opt-out is parked, never dropped: the dispatcher refuses marketing to its number meanwhile."""
    admin = platform.admin()
    code = "36306"
    account_id, _ = admin.create_account(
        name="Maison Halte 36", short_code=code, contact_info="halte.example", credits=10
    )
    phone = number(36, 1)

    def verdict() -> tuple[str, str]:
        return policy_verdict(platform, phone=phone, account_id=account_id, sender=code)

    # Until its blocklist is proved current (just after the platform started) the dispatcher holds.
    wait_until(lambda: verdict()[0] == "send", timeout=30)
    # A newer inbound's STOP, in a version this build cannot read.
    publish_raw(
        platform,
        "optout.requested",
        key=phone,
        envelope={
            "id": str(uuid.uuid4()),
            "type": "optout.requested",
            "version": 99,
            "occurred_at": datetime.now(UTC).isoformat(),
            "producer": "inbound",
            "payload": {"request_id": f"e2e:{uuid.uuid4()}", "channel": "sms", "phone": phone, "short_code": code},
        },
    )
    wait_until(lambda: verdict() == ("refuse", "suppressed"), timeout=30)
    operator = {"Authorization": f"Bearer {platform.admin_token}"}
    listing = httpx.get(f"{platform.url('suppression')}/v1/operator/parked", headers=operator, timeout=10)
    assert listing.status_code == 200, listing.text
    [parked] = [p for p in listing.json()["items"] if p["key"] == phone]
    assert (parked["consumer_group"], parked["error_class"]) == ("suppression-optouts", "message"), parked
    response = httpx.post(
        f"{platform.url('suppression')}/v1/operator/parked/{parked['id']}/discard",
        json={"note": "version 99 read by hand: the sender asked for no STOP"},
        headers=operator,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    wait_until(lambda: verdict()[0] == "send", timeout=30)
    assert not [p for p in parked_events(platform) if p.phone == phone], "a discarded event is no longer listed"
