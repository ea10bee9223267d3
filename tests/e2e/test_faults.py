"""Faults in the middle of a big campaign: each service SIGKILLed in turn, the broker stopped and restarted.

The carrier is the simulator (numbers +3367...), whose operator listing tells exactly what
reached "the phones". STOP replies arrive as signed carrier webhooks while the services die
and come back. After each scenario the invariant checker (invariants.py) gathers the facts
through the public APIs and every promise is checked; a violation fails with the list.

Size: HALTE_E2E_FAULT_RECIPIENTS (default 2000; 20000 is the issue's size) for the kill scenario,
a fifth of it for the broker restart, which runs last; every wait has a deadline.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import pytest
from harness import Api, Platform, wait_until
from invariants import FINAL_OUTCOMES, check_all, gather, report, simulator_messages
from scenario import PARIS, journey_saturday, next_sending_instant

from halte_shared.stack import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Measured on 2 cores with the five SIGKILLs: 2,000 recipients in 113 s, 5,000 in 243 s (the carrier
# hand-over runs at ~20/s under the kills), so 20,000 (the size) needs ~15-20 min. `make test`
# runs 2,000 to stay in the e2e budget; HALTE_E2E_FAULT_RECIPIENTS=20000 runs the full size.
RECIPIENTS = int(os.environ.get("HALTE_E2E_FAULT_RECIPIENTS", "2000"))
STOPS = max(10, min(100, RECIPIENTS // 200))
IMPORT_CHUNK = 25_000  # one request per account: imports are rate-limited (a few a minute)
TEXT = "Maison Faute : -30 % sur tout le magasin jusqu'à samedi."


def fault_number(series: int, index: int) -> str:
    """Return a valid French mobile in the simulator's range (+3367...), distinct per series and index."""
    return f"+3367{series:02d}{index:05d}"


@dataclass
class Campaign:
    """One account and its campaign, with the STOP replies sent during it."""

    api: Api
    account_id: str
    short_code: str
    campaign_id: str
    audience: list[str]
    stops_acknowledged: dict[str, float] = field(default_factory=dict)
    repeated: set[str] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def clock(platform: Platform) -> Iterator[None]:
    """Run the fault scenarios inside the sending window (moving the clock only when real time is not)."""
    instant = next_sending_instant(datetime.now(UTC), latest=clock_time(18, 0))
    if instant is not None:
        platform.set_clock(instant)
    yield
    platform.reset_clock()


def _import(api: Api, numbers: list[str]) -> None:
    collected = "2025-01-15T10:00:00+01:00"
    for start in range(0, len(numbers), IMPORT_CHUNK):
        rows = [
            {
                "phone": phone,
                "tags": ["faults"],
                "consent": {"basis": "opt_in", "collected_at": collected, "source": "caisse", "wording": "Oui aux SMS"},
            }
            for phone in numbers[start : start + IMPORT_CHUNK]
        ]
        job = api.import_contacts(rows, timeout=240)
        assert job["rows_imported"] == len(rows) and not job["rows_rejected"], {
            k: job[k] for k in ("rows_total", "rows_imported", "rows_rejected", "errors")
        }


def prepare(platform: Platform, *, series: int, size: int, short_code: str) -> Campaign:
    """Create an account, import `size` opted-in contacts and draft the campaign."""
    admin = platform.admin()
    account_id, key = admin.create_account(
        name=f"Maison Faute {series}", short_code=short_code, contact_info="faute.example", credits=size * 3 + 1000
    )
    api = platform.api(key)
    numbers = [fault_number(series, i) for i in range(size)]
    started = time.monotonic()
    _import(api, numbers)
    imported = time.monotonic() - started
    campaign_id = api.create_campaign(name=f"Faute {series}", text=TEXT, audience={"tags": ["faults"]})
    campaign = Campaign(api, account_id, short_code, campaign_id, numbers)
    campaign.timings["import_seconds"] = imported
    return campaign


def final_count(campaign: Campaign) -> int:
    """Return how many recipients have a final outcome (GET /v1/campaigns/{id} counts)."""
    body = campaign.api.ok("GET", f"/v1/campaigns/{campaign.campaign_id}")
    counts = body.get("counts") or body.get("outcomes") or {}
    return sum(int(v) for k, v in counts.items() if k in FINAL_OUTCOMES)


class StopSender(threading.Thread):
    """Phones replying STOP during the campaign, as signed carrier webhooks, retried while inbound is down."""

    def __init__(self, platform: Platform, campaign: Campaign, phones: list[str], *, interval: float) -> None:
        super().__init__(daemon=True, name="stop-sender")
        self.platform, self.campaign, self.phones, self.interval = platform, campaign, phones, interval
        self.failures: list[str] = []

    def _send(self, phone: str, text: str) -> bool:
        deadline = time.monotonic() + 60
        message_id = f"stop-{phone[1:]}-{len(text)}"
        while time.monotonic() < deadline:
            try:
                response = self.platform.post_carrier_mo(
                    sender=phone, to=self.campaign.short_code, text=text, message_id=message_id
                )
                if response.status_code < 300:
                    return True
                if response.status_code < 500:
                    self.failures.append(f"{phone}: {response.status_code} {response.text[:200]}")
                    return False
            except Exception:  # noqa: BLE001 - inbound is being killed: a carrier retries
                pass
            time.sleep(0.3)
        self.failures.append(f"{phone}: inbound never took the STOP in 60 s")
        return False

    def run(self) -> None:
        for index, phone in enumerate(self.phones):
            if self._send(phone, "STOP"):
                self.campaign.stops_acknowledged[phone] = time.time()
            if index % 10 == 0 and self._send(phone, "Stop SMS !"):  # a second STOP: no second anything
                self.campaign.repeated.add(phone)
            time.sleep(self.interval)


def settle(platform: Platform, campaign: Campaign, *, timeout: float) -> None:
    """Wait until every recipient is final (a send handed to the carrier), every STOP enforced and confirmed."""
    deadline = time.monotonic() + timeout
    wait_until(
        lambda: final_count(campaign) >= len(campaign.audience),
        timeout=timeout,
        interval=1.0,
        what=f"all {len(campaign.audience)} recipients of {campaign.campaign_id} to reach a final outcome",
    )

    def handed_over() -> bool:
        rows = campaign.api.recipients(campaign.campaign_id)
        return not [r for r in rows if r.get("outcome") == "sent" and not r.get("sent_at")]

    try:
        wait_until(
            handed_over,
            timeout=max(10.0, deadline - time.monotonic()),
            interval=2.0,
            what="every send decision to reach the carrier",
        )
    except AssertionError:
        pass  # the invariant check names the recipients still in flight

    def enforced() -> bool:
        body = campaign.api.ok("GET", "/v1/optouts", params={"limit": 1000})
        rows = body if isinstance(body, list) else body.get("optouts") or body.get("items") or []
        return len([r for r in rows if r.get("enforced_at")]) >= len(campaign.stops_acknowledged)

    wait_until(enforced, timeout=60, interval=1.0, what="every STOP to be enforced")
    time.sleep(3)  # confirmations and debits that are still in flight


#: The dispatcher proves its blocklist copy current within this bound or holds marketing (fail
#: closed); an opt-out recorded by suppression reaches every carrier hand-over within it.
AWARENESS_BOUND = timedelta(seconds=float(os.environ.get("HALTE_SUPPRESSION_MAX_LAG_SECONDS", "2")))


def check(platform: Platform, campaign: Campaign, *, grace: timedelta = AWARENESS_BOUND) -> None:
    """Gather the facts of the campaign through the public APIs and fail on any violation."""
    with campaign.api.client(timeout=120) as client:
        facts = gather(
            client,
            account_id=campaign.account_id,
            short_code=campaign.short_code,
            campaigns={campaign.campaign_id: set(campaign.audience)},
            carrier_messages=simulator_messages(platform.simulator_url, admin_token=platform.admin_token),
            new_optouts=set(campaign.stops_acknowledged),
            clock_offset=platform.clock_offset,
        )
    violations = check_all(facts, grace=grace)
    assert violations == [], (
        report(violations) + "\n" + "\n".join(f"--- {name} ---\n{platform.log_tail(name, 15)}" for name in SERVICES)
    )


def test_sigkill_each_service_during_a_big_campaign_with_stop_replies(platform: Platform, clock: None) -> None:
    campaign = prepare(platform, series=1, size=RECIPIENTS, short_code="36201")
    stoppers = campaign.audience[:: max(1, len(campaign.audience) // STOPS)][:STOPS]
    started = time.monotonic()
    campaign.api.ok("POST", f"/v1/campaigns/{campaign.campaign_id}/launch")
    sender = StopSender(platform, campaign, stoppers, interval=0.2)
    sender.start()
    step = max(1, len(campaign.audience) // (len(SERVICES) + 2))
    for number, name in enumerate(SERVICES, start=1):
        target = min(step * number, len(campaign.audience) - 1)
        try:
            wait_until(lambda t=target: final_count(campaign) >= t, timeout=30, interval=0.5, what="progress")
        except AssertionError:
            pass  # slow progress is no reason to spare a service: kill it anyway
        platform.restart_service(name, kill=True)
    sender.join(timeout=120)
    settle(platform, campaign, timeout=240)
    elapsed = time.monotonic() - started
    print(
        f"\n{len(campaign.audience)} recipients: import {campaign.timings['import_seconds']:.1f} s, "
        f"campaign with 5 SIGKILLs {elapsed:.1f} s ({len(campaign.audience) / elapsed:.0f} recipients/s), "
        f"{len(campaign.stops_acknowledged)} STOPs"
    )
    assert not sender.failures, sender.failures[:5]
    check(platform, campaign)


def test_sigterm_each_service_under_load_exits_cleanly_within_its_grace_period(platform: Platform, clock: None) -> None:
    """What Kubernetes does at every rollout: SIGTERM, finish in-flight work, exit 0 in time, lose nothing."""
    grace = float(os.environ.get("HALTE_SHUTDOWN_GRACE_SECONDS", "20"))
    campaign = prepare(platform, series=4, size=max(200, RECIPIENTS // 4), short_code="36204")
    stoppers = campaign.audience[:: max(1, len(campaign.audience) // 10)][:10]
    campaign.api.ok("POST", f"/v1/campaigns/{campaign.campaign_id}/launch")
    sender = StopSender(platform, campaign, stoppers, interval=0.3)
    sender.start()
    exits: dict[str, tuple[int | None, float]] = {}
    for name in SERVICES:
        exits[name] = platform.restart_service(name, kill=False, stop_timeout=grace + 10)
    sender.join(timeout=120)
    settle(platform, campaign, timeout=240)
    print("\nSIGTERM under load: " + ", ".join(f"{n} exit {c} in {t:.1f} s" for n, (c, t) in exits.items()))
    slow_or_unclean = {n: (c, round(t, 1)) for n, (c, t) in exits.items() if c != 0 or t > grace}
    assert slow_or_unclean == {}, f"services that did not exit cleanly within {grace:.0f} s: {slow_or_unclean}"
    assert not sender.failures, sender.failures[:5]
    check(platform, campaign)


def test_the_checker_catches_a_dispatcher_that_skips_the_suppression_check(platform: Platform, clock: None) -> None:
    """Break the platform on purpose (test mode only) and prove the invariant check fails loudly.

    A campaign launched on Saturday at 20:30 is held to Monday; five recipients say STOP
    meanwhile; the dispatcher is restarted with HALTE_TEST_BREAK_SUPPRESSION_CHECK=1 and the
    clock moved to Monday 08:00, so the held messages are released without the check.
    """
    assert platform.stack is not None
    flag = "HALTE_TEST_BREAK_SUPPRESSION_CHECK"
    saturday = journey_saturday(datetime.now(PARIS).date())
    restore = platform.clock_offset
    platform.set_clock(datetime.combine(saturday, clock_time(20, 30), PARIS))
    campaign = prepare(platform, series=3, size=20, short_code="36203")
    stopped = campaign.audience[:5]
    try:
        campaign.api.ok("POST", f"/v1/campaigns/{campaign.campaign_id}/launch")
        wait_until(
            lambda: len([r for r in campaign.api.recipients(campaign.campaign_id) if r.get("outcome") == "held"]) == 20,
            timeout=30,
            what="the Saturday-evening campaign to be held",
        )
        for phone in stopped:
            assert platform.post_carrier_mo(sender=phone, to=campaign.short_code, text="STOP").status_code < 300
            campaign.stops_acknowledged[phone] = time.time()

        def enforced() -> bool:
            return all(
                (campaign.api.request("GET", f"/v1/optouts/{p}").json() or {}).get("enforced_at") for p in stopped
            )

        wait_until(enforced, timeout=30, what="the STOPs to be enforced")
        platform.stack.extra_env[flag] = "1"
        platform.restart_service("dispatcher", kill=False)
        platform.set_clock(datetime.combine(saturday + timedelta(days=2), clock_time(8, 0, 5), PARIS))
        try:
            wait_until(
                lambda: final_count(campaign) >= 20, timeout=30, what="the held messages to be released on Monday"
            )
        except AssertionError:
            pass
        with campaign.api.client() as client:
            facts = gather(
                client,
                account_id=campaign.account_id,
                short_code=campaign.short_code,
                campaigns={campaign.campaign_id: set(campaign.audience)},
                carrier_messages=simulator_messages(platform.simulator_url, admin_token=platform.admin_token),
                new_optouts=set(stopped),
                clock_offset=platform.clock_offset,
            )
    finally:
        platform.stack.extra_env.pop(flag, None)
        platform.restart_service("dispatcher", kill=False)
        if restore:
            platform.set_clock(datetime.now(UTC) + restore)
        else:
            platform.reset_clock()
    violations = check_all(facts, require_final=False)
    caught = {v.phone for v in violations if v.code == "marketing_after_optout"}
    if not caught:
        pytest.skip(
            f"the dispatcher does not honour {flag}=1, so nothing was broken; "
            "the checker's detection is proven on crafted facts in test_invariants.py"
        )
    assert caught == set(stopped), report(violations)


def test_broker_restart_during_a_campaign(platform: Platform, clock: None) -> None:
    assert platform.stack is not None
    if platform.stack.broker is None:
        pytest.skip("the broker is not the embedded one: it cannot be restarted from here")
    size = max(200, RECIPIENTS // 5)
    campaign = prepare(platform, series=2, size=size, short_code="36202")
    stoppers = campaign.audience[:: max(1, size // 20)][:20]
    campaign.api.ok("POST", f"/v1/campaigns/{campaign.campaign_id}/launch")
    sender = StopSender(platform, campaign, stoppers, interval=0.1)
    sender.start()
    try:
        wait_until(lambda: final_count(campaign) >= size // 4, timeout=60, interval=0.3, what="a quarter done")
    except AssertionError:
        pass
    platform.stack.restart_broker(down_seconds=5)
    platform.wait_all_ready(timeout=90)
    sender.join(timeout=120)
    settle(platform, campaign, timeout=120)
    assert not sender.failures, sender.failures[:5]
    check(platform, campaign)
