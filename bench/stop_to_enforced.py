"""Benchmark: milliseconds from a STOP's receipt by the carrier to the dispatcher refusing marketing to its number.

Halte's first promise: once a carrier got inbound's 200 for a STOP reply, marketing to that
number stops at once. *Enforced* means the dispatcher's own policy refuses it: the opt-out view
its decisions and its last check before every carrier call read
(services/dispatcher/src/halte_dispatcher/optout_lane.py, docs/stop-enforcement.md) holds the
STOP.

The whole platform runs as processes, as ``make run`` starts it (tests/e2e/harness.py
``Platform``: PostgreSQL, the broker, the five services in test mode, the carrier simulator, on
free ports in a temporary directory). One marketing account with a dedicated short code;
``--recipients`` (100,000) opted-in contacts imported through ``POST /v1/contacts/import``. If
real time is not well inside the strict sending window in Paris, every service's clock is
shifted by the same offset (``PUT /v1/test/clock`` with ``offset_seconds``) to the next opening
at 10:00, so the campaign really sends.

Each STOP is a signed MO webhook (``POST /v1/carriers/sim/mo``) from a distinct number, sent at
real instant *t0*; its ``received_at`` is *t0* on the services' clock (real time itself unless
the clock was shifted). Its latency is ``applied_at − received_at``, where ``applied_at`` is the
instant the dispatcher's view started blocking the number, as the dispatcher itself records it
(``GET /v1/optouts/{request_id}`` on the dispatcher, operator token; the request id is inbound's
acknowledgement id). Both instants come from clocks of this machine with the same offset. The
bench reads that record every ``--poll-ms`` (20 ms) until it appears (the reading's pace does not
enter the figure), then confirms with one ``POST /v1/policy/evaluate`` (operator token;
``kind: marketing``, the account and its short code as sender) that the code path of real sends
answers ``{"decision": "refuse", "reason": "suppressed"}``: a STOP the view holds but the policy
does not refuse fails the run. Reading the record rather than polling the policy keeps the
observer light: policy probes at a few milliseconds' pace load the very dispatcher under test.

Phases, on one platform:

1. **idle**: ``--idle`` (100) STOPs one after another, each waiting for its enforcement;
2. **burst**: ``--burst`` (200) STOPs from ``--burst-senders`` (20) concurrent senders, each
   sending its next STOP as soon as the previous one is acknowledged: time to acknowledge all
   and time until the last is enforced, both from the first send;
3. **campaign**: a campaign to the imported contacts is launched; once the dispatcher is
   deciding it, STOPs from numbers outside its audience (same account) arrive at
   ``--campaign-rate`` (5) per second for ``--campaign-seconds`` (60); the campaign's progress
   over that window is reported (campaign-api counts, the dispatcher's decisions and carrier
   submissions, what the simulator answered), then it is cancelled (a campaign already
   streamed whole to the dispatcher cannot be: its backlog ends with the platform).

Beside the figures, per phase, from the services' /metrics and the processes' CPU times: the
dispatcher's own histograms ``halte_stop_to_dispatcher_aware_seconds`` (received_at to its
opt-out lane blocking the number) and ``halte_optout_acknowledged_to_dispatcher_aware_seconds``
(count, sum, mean; "not exposed" when a dispatcher lacks them), inbound's time to answer an MO,
the confirming probe's time in the dispatcher's handler against its round trip, and the cores
each process used; during the campaign, the dispatcher's decisions and carrier submissions every few seconds.

Integrity: every STOP must get a 2xx from inbound (no retry), be held by the dispatcher's view
within ``--deadline`` seconds and then be refused by its policy, and no number may be refused
``suppressed`` before its STOP; any failure is printed and the bench exits 1 without a RESULT
line.

Ends with ``RESULT stop_to_enforced value=<worst phase's p99, ms> unit=ms reference=200
ratio=<200/value>`` (the reference is the 200 ms goal; a ratio above 1 meets it). Usage:
``.venv/bin/python bench/stop_to_enforced.py`` (the sizes above), ``--quick`` for a smoke run
(2,000 recipients, 20 + 40 + 20 STOPs). The whole run is bounded by ``--time-limit`` (840 s,
under bench/report.py's timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from harness import Api, Platform, wait_until  # noqa: E402
from scenario import next_sending_instant  # noqa: E402

from halte_shared.carriers.webhooks import signed_request  # noqa: E402
from halte_shared.stack import SERVICES  # noqa: E402

REFERENCE_MS = 200.0
SHORT_CODE = "36180"
PARIS = ZoneInfo("Europe/Paris")
TEXT = "Maison Halte : -20 % sur tout le magasin ce samedi."
CONSENT = {"basis": "opt_in", "collected_at": "2025-01-15T10:00:00+01:00", "source": "caisse", "wording": "Oui"}
AWARE_METRIC = "halte_stop_to_dispatcher_aware_seconds"
ACK_AWARE_METRIC = "halte_optout_acknowledged_to_dispatcher_aware_seconds"
SIM_METRIC = "halte_carrier_sim_submissions_total"
#: The phases' STOP numbers live in 07 5x (the audience is in 06 1x), one million per series.
SERIES = {"warm-up": 0, "idle": 1, "burst": 2, "campaign": 3}


class BenchTimeout(Exception):
    """The run went past --time-limit."""


def audience_number(index: int) -> str:
    """Return the campaign audience's `index`-th number (valid French mobiles, 06 10 00 00 00 up)."""
    return f"+336{10_000_000 + index:08d}"


def stop_number(phase: str, index: int) -> str:
    """Return a STOP sender outside the audience, distinct per phase and index."""
    return f"+3375{SERIES[phase]}{index:06d}"


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank `q` percentile (0 < q <= 100) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Stop:
    """One STOP reply and what became of it (instants in seconds on the bench's clock)."""

    phase: str
    phone: str
    sent: float = 0.0
    acknowledged: float | None = None
    status: int | None = None
    request_id: str | None = None
    received_at: datetime | None = None  # on the services' clock
    applied_at: datetime | None = None  # on the services' clock, as the dispatcher recorded it
    seen: float | None = None  # when the bench read the dispatcher's record
    polls: int = 0
    last_verdict: str = ""
    failure: str | None = None

    @property
    def latency_ms(self) -> float:
        assert self.applied_at is not None and self.received_at is not None
        return (self.applied_at - self.received_at).total_seconds() * 1000


@dataclass
class Histogram:
    """A Prometheus histogram's count, sum and count at or below 200 ms."""

    count: float = 0.0
    total: float = 0.0
    within: float = 0.0

    def minus(self, other: Histogram) -> Histogram:
        return Histogram(self.count - other.count, self.total - other.total, self.within - other.within)

    def describe(self) -> str:
        if not self.count:
            return "count 0"
        return (
            f"count {self.count:.0f}, sum {self.total:.3f} s, mean {self.total / self.count * 1000:.1f} ms, "
            f"<= 200 ms {self.within / self.count:.0%}"
        )


@dataclass
class Metrics:
    """One reading of a service's /metrics page (empty when it could not be read)."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Metrics:
        found = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return found

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.samples)

    def total(self, name: str, **labels: str) -> float:
        """Return the sum of the samples named `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (key, have), v in self.samples.items() if key == name and wanted <= have)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for (key, have), value in self.samples.items():
            if key == name:
                which = dict(have).get(label, "?")
                found[which] = found.get(which, 0.0) + value
        return found

    def histogram(self, name: str, **labels: str) -> Histogram:
        return Histogram(
            self.total(f"{name}_count", **labels),
            self.total(f"{name}_sum", **labels),
            self.total(f"{name}_bucket", le="0.2", **labels),
        )


class CpuMeter:
    """CPU seconds spent by each process of the platform, and by this bench, read at any moment."""

    def __init__(self, platform: Platform, workdir: Path) -> None:
        self.platform = platform
        self.postgres_dir = str(workdir / "postgres")
        stack = platform.stack
        self.broker_address = f"127.0.0.1:{stack.broker.port}" if stack and stack.broker else None

    def _groups(self) -> dict[str, list[psutil.Process]]:
        groups: dict[str, list[psutil.Process]] = {"bench": [psutil.Process()]}
        assert self.platform.stack is not None
        for name, service in self.platform.stack.services.items():
            if service.process is not None and service.process.poll() is None:
                with contextlib.suppress(psutil.Error):
                    process = psutil.Process(service.process.pid)
                    groups[name] = [process, *process.children(recursive=True)]
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info["cmdline"] or [])
            if self.postgres_dir in line and "postgres" not in groups:
                with contextlib.suppress(psutil.Error):
                    groups["postgres"] = [process, *process.children(recursive=True)]
            elif self.broker_address and self.broker_address in line and "broker" in line:
                groups["broker"] = [process]
        return groups

    def read(self) -> dict[str, float]:
        """Return CPU seconds per group (a group's exited children included where its leader reaped them)."""
        spent: dict[str, float] = {}
        for name, processes in self._groups().items():
            total = 0.0
            for index, process in enumerate(processes):
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    total += times.user + times.system
                    if index == 0 and name == "postgres":
                        # Backends that ended (a pool recycling) were reaped by the postmaster.
                        total += times.children_user + times.children_system
            spent[name] = total
        return spent


class Bench:
    """The STOP sender and the policy poller, on keep-alive connections to inbound and the dispatcher."""

    def __init__(self, platform: Platform, *, account_id: str, args: argparse.Namespace) -> None:
        self.platform = platform
        self.account_id = account_id
        self.poll_interval = args.poll_ms / 1000
        self.deadline = args.deadline
        self.slots = asyncio.Semaphore(args.poll_concurrency)
        self.failures: list[str] = []
        self.probes, self.probe_seconds = 0, 0.0
        # Wall time derived from a monotonic reading, so a wall-clock step cannot bend a latency.
        self._wall0, self._mono0 = time.time(), time.perf_counter()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.inbound = httpx.AsyncClient(base_url=platform.url("inbound"), timeout=30, limits=limits)
        self.dispatcher = httpx.AsyncClient(
            base_url=platform.url("dispatcher"),
            timeout=10,
            limits=limits,
            headers={"Authorization": f"Bearer {platform.admin_token}"},
        )
        self.simulator = httpx.AsyncClient(base_url=platform.simulator_url, timeout=10)

    async def close(self) -> None:
        await self.inbound.aclose()
        await self.dispatcher.aclose()
        await self.simulator.aclose()

    def now(self) -> float:
        return self._wall0 + (time.perf_counter() - self._mono0)

    def service_instant(self, at: float) -> datetime:
        """Return the bench instant `at` on the services' clock."""
        return datetime.fromtimestamp(at, UTC) + self.platform.clock_offset

    async def verdict(self, phone: str) -> tuple[str, str]:
        """Ask the dispatcher's policy about a marketing SMS to `phone` now; return (decision, reason)."""
        response = await self.dispatcher.post(
            "/v1/policy/evaluate",
            json={
                "phone": phone,
                "kind": "marketing",
                "at": self.service_instant(self.now()).isoformat(),
                "account_id": self.account_id,
                "sender": SHORT_CODE,
            },
        )
        if response.status_code != 200:
            raise RuntimeError(f"policy/evaluate -> {response.status_code}: {response.text[:200]}")
        body = response.json()
        return str(body["decision"]), str(body["reason"])

    async def check_not_suppressed(self, phones: Iterable[str]) -> None:
        """Fail the numbers the policy already refuses as suppressed (a STOP must be what suppresses them)."""

        async def one(phone: str) -> None:
            async with self.slots:
                try:
                    decision, reason = await self.verdict(phone)
                except (httpx.HTTPError, RuntimeError) as exc:
                    self.failures.append(f"{phone}: policy probe failed before its STOP: {exc!r}")
                    return
            if (decision, reason) == ("refuse", "suppressed"):
                self.failures.append(f"{phone}: refused as suppressed before its STOP was sent")

        await asyncio.gather(*(one(p) for p in phones))

    async def deliver(self, stop: Stop) -> None:
        """POST the signed STOP webhook as the carrier (stop.sent stamped by the caller); record the answer."""
        stop.received_at = self.service_instant(stop.sent)
        payload = {
            "message_id": f"bench-{stop.phase}-{secrets.token_hex(6)}",
            "from": stop.phone,
            "to": SHORT_CODE,
            "text": "STOP",
            "received_at": stop.received_at.isoformat(),
        }
        body, headers = signed_request(self.platform.sim_secret, payload)
        try:
            response = await self.inbound.post("/v1/carriers/sim/mo", content=body, headers=headers)
        except httpx.HTTPError as exc:
            stop.failure = f"inbound gave no answer: {exc!r}"
            return
        stop.acknowledged, stop.status = self.now(), response.status_code
        if not 200 <= response.status_code < 300:
            stop.failure = f"inbound answered {response.status_code}: {response.text[:200]}"
            return
        stop.request_id = str(response.json()["id"])

    async def watch(self, stop: Stop, *, deadline: float | None = None) -> None:
        """Read the dispatcher's record of the STOP until its view holds it, then confirm with its policy."""
        deadline = deadline or self.deadline
        give_up = stop.sent + deadline
        while stop.request_id is None:
            if stop.failure:
                return
            if self.now() >= give_up:
                stop.failure = f"not acknowledged within {deadline:g} s"
                return
            await asyncio.sleep(0.002)
        while True:
            try:
                response = await self.dispatcher.get(f"/v1/optouts/{stop.request_id}")
            except httpx.HTTPError as exc:
                response, error = None, repr(exc)
            stop.polls += 1
            if response is not None and response.status_code == 200 and response.json().get("applied_at"):
                stop.applied_at = datetime.fromisoformat(response.json()["applied_at"])
                stop.seen = self.now()
                break
            if response is not None and response.status_code not in (200, 404):
                error = f"{response.status_code} {response.text[:200]}"
            elif response is not None:
                error = "not known yet"
            if self.now() >= give_up:
                stop.failure = f"not held by the dispatcher's view within {deadline:g} s (last: {error})"
                return
            await asyncio.sleep(self.poll_interval)
        async with self.slots:
            started = self.now()
            try:
                decision, reason = await self.verdict(stop.phone)
            except (httpx.HTTPError, RuntimeError) as exc:
                decision, reason = "error", repr(exc)[:200]
            self.probes += 1
            self.probe_seconds += self.now() - started
        stop.last_verdict = f"{decision}/{reason}"
        if (decision, reason) != ("refuse", "suppressed"):
            stop.failure = f"the dispatcher's view holds the STOP but its policy answers {stop.last_verdict}"

    async def stop_and_watch(self, stop: Stop, *, deadline: float | None = None) -> Stop:
        """Send one STOP and watch it until enforced."""
        stop.sent = self.now()
        await asyncio.gather(self.deliver(stop), self.watch(stop, deadline=deadline))
        return stop

    async def idle(self, phones: list[str]) -> list[Stop]:
        """Send STOPs one after another, each once the previous one is enforced."""
        return [await self.stop_and_watch(Stop("idle", phone)) for phone in phones]

    async def burst(self, phones: list[str], *, senders: int) -> list[Stop]:
        """Send STOPs from `senders` concurrent senders, each sending its next once the last is acknowledged."""
        queue: asyncio.Queue[Stop] = asyncio.Queue()
        stops = [Stop("burst", phone) for phone in phones]
        for stop in stops:
            queue.put_nowait(stop)
        watchers: list[asyncio.Task[None]] = []

        async def sender() -> None:
            while not queue.empty():
                stop = queue.get_nowait()
                stop.sent = self.now()
                watchers.append(asyncio.create_task(self.watch(stop)))
                await self.deliver(stop)

        await asyncio.gather(*(sender() for _ in range(senders)))
        await asyncio.gather(*watchers)
        return stops

    async def steady(self, phones: list[str], *, rate: float) -> list[Stop]:
        """Send STOPs at `rate` per second on a fixed schedule (not waiting for answers)."""
        started = time.perf_counter()
        tasks = []
        for index, phone in enumerate(phones):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(self.stop_and_watch(Stop("campaign", phone))))
        return list(await asyncio.gather(*tasks))

    async def scrape(self, service: str) -> Metrics:
        """Read a service's /metrics (an unreadable page reads as empty)."""
        client = {"inbound": self.inbound, "carrier-sim": self.simulator}.get(service, self.dispatcher)
        try:
            response = await client.get("/metrics")
            return Metrics.parse(response.text) if response.status_code == 200 else Metrics()
        except (httpx.HTTPError, ValueError):
            return Metrics()


# -- the platform --------------------------------------------------------------------------


def shift_clocks(platform: Platform, offset: timedelta) -> None:
    """Shift every service's clock by the same `offset` (test mode), so they agree to the microsecond."""
    for name in SERVICES:
        response = httpx.put(
            f"{platform.url(name)}/v1/test/clock",
            json={"offset_seconds": offset.total_seconds()},
            headers={"Authorization": f"Bearer {platform.admin_token}"},
            timeout=10,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{name} refused the clock: {response.status_code} {response.text[:200]}")
    platform.clock_offset = offset


def import_audience(api: Api, count: int, *, timeout: float) -> tuple[float, dict[str, Any]]:
    """Import `count` opted-in contacts tagged for the campaign in one request; return seconds and the job."""
    rows = (
        json.dumps({"phone": audience_number(i), "tags": ["bench"], "consent": CONSENT}, separators=(",", ":"))
        for i in range(count)
    )
    body = ("\n".join(rows) + "\n").encode()
    started = time.monotonic()
    job = api.import_body(body, content_type="application/x-ndjson", timeout=timeout)
    return time.monotonic() - started, job


def campaign_view(api: Api, campaign_id: str) -> dict[str, Any]:
    return dict(api.ok("GET", f"/v1/campaigns/{campaign_id}"))


def decided(view: dict[str, Any]) -> int:
    """Return how many recipients campaign-api knows a decision for."""
    counts = view.get("counts") or {}
    return sum(int(v) for k, v in counts.items() if k != "pending")


# -- the report ------------------------------------------------------------------------------


def phase_line(name: str, stops: list[Stop]) -> tuple[str, float]:
    latencies = [s.latency_ms for s in stops]
    acks = [((s.acknowledged or s.sent) - s.sent) * 1000 for s in stops]
    p99 = percentile(latencies, 99)
    line = (
        f"{name:<9} {len(stops):>6} {percentile(latencies, 50):>8.1f} {p99:>8.1f} {max(latencies):>8.1f}"
        f" {percentile(acks, 50):>8.1f} {percentile(acks, 99):>8.1f}"
    )
    return line, p99


def print_table(phases: dict[str, list[Stop]]) -> float:
    """Print one row per phase; return the worst p99 (ms)."""
    print()
    print(
        "latency from received_at to the dispatcher's view holding the STOP (ms): p50, p99, max; each confirmed by "
        "the dispatcher's policy answering refuse/suppressed;\nack: inbound's 2xx round trip (ms)"
    )
    print(f"{'phase':<9} {'count':>6} {'p50':>8} {'p99':>8} {'max':>8} {'ack p50':>8} {'ack p99':>8}")
    worst = 0.0
    for name, stops in phases.items():
        line, p99 = phase_line(name, stops)
        print(line)
        worst = max(worst, p99)
    return worst


def log_tails(platform: Platform) -> str:
    return "\n".join(f"--- {name} ---\n{platform.log_tail(name, 12)}" for name in (*SERVICES, "carrier-sim"))


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> int:
    platform = Platform(workdir, carrier="sim", short_codes=[SHORT_CODE])
    started = time.monotonic()
    print("Starting PostgreSQL, the broker, the carrier simulator and the five services (test mode)...", flush=True)
    try:
        platform.start()
    except Exception as exc:
        print(f"ERROR: the platform did not start: {exc}\n{log_tails(platform)}", flush=True)
        raise
    try:
        print(f"  up in {time.monotonic() - started:.0f} s", flush=True)
        return asyncio.run(measure(platform, args, workdir))
    finally:
        signal.alarm(0)  # the clean-up must run to its end, or the services outlive the bench
        print("Stopping the platform...", flush=True)
        platform.stop()


async def measure(platform: Platform, args: argparse.Namespace, workdir: Path) -> int:
    instant = next_sending_instant(datetime.now(UTC), latest=clock_time(19, 0))
    if instant is not None:
        shift_clocks(platform, instant - datetime.now(UTC))
        print(
            f"Real time is outside the sending window: every service's clock shifted by "
            f"{platform.clock_offset.total_seconds() / 3600:+.2f} h to {instant.isoformat()}",
            flush=True,
        )
    print(f"machine: {psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run", flush=True)
    admin = platform.admin()
    account_id, key = admin.create_account(
        name="Maison Halte", short_code=SHORT_CODE, contact_info="bench.example", credits=args.recipients * 3 + 10_000
    )
    api = platform.api(key)
    print(f"Importing {args.recipients:,} opted-in contacts...", flush=True)
    try:
        import_seconds, job = import_audience(api, args.recipients, timeout=args.import_timeout)
    except AssertionError as exc:
        print(f"ERROR: the import did not complete: {exc}", flush=True)
        return 1
    if job.get("rows_imported") != args.recipients:
        print(f"ERROR: the import kept {job.get('rows_imported')} of {args.recipients} rows: {job}", flush=True)
        return 1
    print(f"  {args.recipients:,} contacts imported in {import_seconds:.1f} s", flush=True)

    bench = Bench(platform, account_id=account_id, args=args)
    try:
        return await phases(bench, api, args, import_seconds=import_seconds, cpu=CpuMeter(platform, workdir))
    finally:
        await bench.close()


@dataclass
class Reading:
    """What the bench reads around a phase: three processes' metrics, CPU per process, its own probes."""

    at: float
    dispatcher: Metrics
    inbound: Metrics
    simulator: Metrics
    cpu: dict[str, float]
    probes: int
    probe_seconds: float


async def read(bench: Bench, cpu: CpuMeter) -> Reading:
    return Reading(
        time.monotonic(),
        await bench.scrape("dispatcher"),
        await bench.scrape("inbound"),
        await bench.scrape("carrier-sim"),
        cpu.read(),
        bench.probes,
        bench.probe_seconds,
    )


def where_time_goes(name: str, before: Reading, after: Reading) -> list[str]:
    """Return lines on the phase's server-side times, the dispatcher's own histograms and CPU use."""
    wall = after.at - before.at
    lines = [f"{name} ({wall:.1f} s):"]
    for label, metric in (
        ("received_at -> dispatcher's lane blocked the number", AWARE_METRIC),
        ("inbound recorded it, before its ack -> lane blocked it", ACK_AWARE_METRIC),
    ):
        if not after.dispatcher.has(f"{metric}_count"):
            lines.append(f"  {metric}: not exposed by this dispatcher")
            continue
        delta = after.dispatcher.histogram(metric).minus(before.dispatcher.histogram(metric))
        lines.append(f"  {metric}: {delta.describe()}  [{label}]")
    webhook = after.inbound.histogram("halte_webhook_seconds", kind="mo").minus(
        before.inbound.histogram("halte_webhook_seconds", kind="mo")
    )
    probe = after.dispatcher.histogram("halte_http_request_seconds", route="/v1/policy/evaluate").minus(
        before.dispatcher.histogram("halte_http_request_seconds", route="/v1/policy/evaluate")
    )
    probes = after.probes - before.probes
    round_trip = (after.probe_seconds - before.probe_seconds) / probes * 1000 if probes else 0.0
    server = probe.total / probe.count * 1000 if probe.count else 0.0
    mo = webhook.total / webhook.count * 1000 if webhook.count else 0.0
    lines.append(
        f"  inbound answers an MO in {mo:.1f} ms on average (its own timer, {webhook.count:.0f} webhooks); "
        f"the policy probe takes {server:.1f} ms in the dispatcher's handler, {round_trip:.1f} ms round trip "
        f"({probes} probes, {probes / wall:.0f}/s)"
    )
    spent = {k: after.cpu.get(k, 0.0) - before.cpu.get(k, 0.0) for k in after.cpu}
    busiest = sorted(spent.items(), key=lambda kv: -kv[1])
    lines.append(
        f"  CPU: {sum(spent.values()) / wall:.2f} cores busy of {psutil.cpu_count()}: "
        + ", ".join(f"{k} {v / wall:.2f}" for k, v in busiest if v >= 0.005 * wall)
    )
    return lines


async def monitor(bench: Bench, *, every: float) -> None:
    """Print the dispatcher's progress every `every` seconds (decisions, submissions, holds, its view's age)."""
    last, last_sim = await bench.scrape("dispatcher"), await bench.scrape("carrier-sim")
    last_at = time.monotonic()
    while True:
        await asyncio.sleep(every)
        now, sim = await bench.scrape("dispatcher"), await bench.scrape("carrier-sim")
        at = time.monotonic()
        wall = at - last_at
        decisions = now.total("halte_dispatch_decisions_total") - last.total("halte_dispatch_decisions_total")
        accepted = now.total("halte_dispatcher_submissions_total", outcome="accepted") - last.total(
            "halte_dispatcher_submissions_total", outcome="accepted"
        )
        received = sim.total(SIM_METRIC) - last_sim.total(SIM_METRIC)
        ages = now.by_label("halte_dispatcher_optout_source_age_seconds", "source")
        print(
            f"    dispatcher: {decisions / wall:,.0f} decisions/s, {accepted / wall:,.0f} carrier submissions/s "
            f"recorded ({received / wall:,.0f}/s answered by the simulator), "
            f"held backlog {now.total('halte_dispatcher_held_backlog'):,.0f}, opt-out sources read to their end "
            + ", ".join(f"{k} {v:.1f} s ago" for k, v in sorted(ages.items())),
            flush=True,
        )
        last, last_sim, last_at = now, sim, at


async def phases(bench: Bench, api: Api, args: argparse.Namespace, *, import_seconds: float, cpu: CpuMeter) -> int:
    # The dispatcher learns the account from account.changed; until then the sender is not its own.
    async def account_known() -> bool:
        decision, _ = await bench.verdict(stop_number("warm-up", 1))
        return decision in ("send", "hold")

    deadline = time.monotonic() + 60
    while not await account_known():
        if time.monotonic() > deadline:
            print("ERROR: the dispatcher did not learn the account within 60 s", flush=True)
            return 1
        await asyncio.sleep(0.2)
    # The first STOP also waits for inbound to learn the account's short code: not measured.
    warm = await bench.stop_and_watch(Stop("warm-up", stop_number("warm-up", 0)), deadline=max(60.0, args.deadline))
    if warm.failure:
        print(f"ERROR: the warm-up STOP failed: {warm.failure}", flush=True)
        return 1
    print(f"Warm-up STOP enforced in {warm.latency_ms:.0f} ms", flush=True)

    results: dict[str, list[Stop]] = {}
    readings: dict[str, tuple[Reading, Reading]] = {}

    async def measured(name: str, phones: list[str], work: Any) -> list[Stop]:
        await bench.check_not_suppressed(phones)
        before = await read(bench, cpu)
        stops: list[Stop] = await work
        # The lane observes its histogram just after committing, so a poll can see the block first.
        await asyncio.sleep(0.5)
        readings[name] = (before, await read(bench, cpu))
        results[name] = stops
        failed = [s for s in stops if s.failure]
        bench.failures += [f"{s.phase} {s.phone}: {s.failure}" for s in failed]
        ok = [s for s in stops if not s.failure]
        if ok:
            latencies = [s.latency_ms for s in ok]
            print(
                f"  {name}: {len(ok)} enforced, p50 {percentile(latencies, 50):.1f} ms, "
                f"p99 {percentile(latencies, 99):.1f} ms; {len(failed)} failed",
                flush=True,
            )
        return stops

    print(f"Phase idle: {args.idle} STOPs one after another...", flush=True)
    idle_phones = [stop_number("idle", i) for i in range(args.idle)]
    await measured("idle", idle_phones, bench.idle(idle_phones))

    print(f"Phase burst: {args.burst} STOPs from {args.burst_senders} concurrent senders...", flush=True)
    burst_phones = [stop_number("burst", i) for i in range(args.burst)]
    burst = await measured("burst", burst_phones, bench.burst(burst_phones, senders=args.burst_senders))
    first_send = min(s.sent for s in burst)
    all_acknowledged = max((s.acknowledged or math.inf) for s in burst) - first_send
    offset = bench.platform.clock_offset.total_seconds()
    last_enforced = max((s.applied_at.timestamp() - offset if s.applied_at else math.inf) for s in burst) - first_send

    print("Phase campaign: launching the campaign...", flush=True)
    campaign_id = api.create_campaign(name="Bench campaign", text=TEXT, audience={"tags": ["bench"]})
    api.ok("POST", f"/v1/campaigns/{campaign_id}/launch")
    launched = time.monotonic()
    floor = min(500, max(1, args.recipients // 10))
    try:
        wait_until(
            lambda: decided(campaign_view(api, campaign_id)) >= floor,
            timeout=args.launch_timeout,
            interval=0.5,
            what=f"{floor} recipients of the campaign to be decided",
        )
    except AssertionError as exc:
        print(f"ERROR: {exc}", flush=True)
        return 1
    view_before = campaign_view(api, campaign_id)
    print(
        f"  dispatching ({decided(view_before):,} decided {time.monotonic() - launched:.0f} s after the launch); "
        f"STOPs at {args.campaign_rate:g}/s for {args.campaign_seconds:g} s...",
        flush=True,
    )
    count = round(args.campaign_rate * args.campaign_seconds)
    campaign_phones = [stop_number("campaign", i) for i in range(count)]
    watching = asyncio.create_task(monitor(bench, every=min(10.0, max(2.0, args.campaign_seconds / 4))))
    try:
        await measured("campaign", campaign_phones, bench.steady(campaign_phones, rate=args.campaign_rate))
    finally:
        watching.cancel()
        view_after = campaign_view(api, campaign_id)
        cancel = api.request("POST", f"/v1/campaigns/{campaign_id}/cancel")

    print()
    print(f"import: {args.recipients:,} contacts in {import_seconds:.1f} s")
    before, after = readings["campaign"]
    window = after.at - before.at
    counts_before, counts_after = view_before.get("counts") or {}, view_after.get("counts") or {}
    print(
        f"campaign: {view_after.get('recipients')} recipients; during the {window:.0f} s of STOPs campaign-api "
        f"recorded {decided(view_after) - decided(view_before):,} more decisions ("
        + ", ".join(f"{k} {int(counts_after.get(k, 0)) - int(counts_before.get(k, 0)):+,}" for k in counts_after)
        + f"); status then {view_after.get('status')}, {view_after.get('streamed')} streamed to the dispatcher; "
        f"reasons so far: {view_after.get('reasons')}"
    )
    decisions = after.dispatcher.total("halte_dispatch_decisions_total") - before.dispatcher.total(
        "halte_dispatch_decisions_total"
    )
    submitted = {
        k: v - before.dispatcher.by_label("halte_dispatcher_submissions_total", "outcome").get(k, 0.0)
        for k, v in after.dispatcher.by_label("halte_dispatcher_submissions_total", "outcome").items()
    }
    received = {
        k: v - before.simulator.by_label(SIM_METRIC, "outcome").get(k, 0.0)
        for k, v in after.simulator.by_label(SIM_METRIC, "outcome").items()
    }
    print(
        f"dispatcher during that window: {decisions:,.0f} decisions ({decisions / window:,.0f}/s), carrier "
        "submissions recorded "
        + (", ".join(f"{k} {v:,.0f}" for k, v in submitted.items()) or "none")
        + "; the simulator answered "
        + (", ".join(f"{k} {v:,.0f}" for k, v in received.items()) or "none")
    )
    # A campaign already streamed whole to the dispatcher cannot be cancelled: its backlog ends with the platform.
    print(f"cancel: {cancel.status_code} {cancel.text[:160]}")
    if decided(view_after) >= int(view_after.get("recipients") or 0):
        print("WARNING: the campaign was fully decided before the STOPs ended: the load did not last the window")

    if bench.failures:
        print(f"\nFAILED: {len(bench.failures)} problem(s):")
        for failure in bench.failures[:50]:
            print(f"  {failure}")
        print(log_tails(bench.platform))
        return 1

    print("\nwhere the time goes, per phase:")
    for name, (before, after) in readings.items():
        print("\n".join(where_time_goes(name, before, after)))
    load = os.getloadavg()
    print(f"\nload average (1, 5, 15 min) at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    worst = print_table(results)
    print(
        f"\nburst: all {len(burst)} acknowledged {all_acknowledged * 1000:.0f} ms after the first send; "
        f"the last enforced {last_enforced * 1000:.0f} ms after the first send"
    )
    print(
        f"observer: the dispatcher's record read every {args.poll_ms:g} ms per outstanding STOP, then one policy "
        f"probe each (at most {args.poll_concurrency} in flight)"
    )
    ratio = REFERENCE_MS / worst if worst > 0 else math.inf
    worst_phase = max(results, key=lambda n: percentile([s.latency_ms for s in results[n]], 99))
    print(f"worst p99: {worst:.1f} ms ({worst_phase}); goal {REFERENCE_MS:.0f} ms")
    print(f"RESULT stop_to_enforced value={worst:.1f} unit=ms reference={REFERENCE_MS:.0f} ratio={ratio:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=100_000, help="contacts imported and campaigned to")
    parser.add_argument("--idle", type=int, default=100, help="STOPs of the idle phase")
    parser.add_argument("--burst", type=int, default=200, help="STOPs of the burst phase")
    parser.add_argument("--burst-senders", type=int, default=20, help="concurrent senders of the burst")
    parser.add_argument("--campaign-rate", type=float, default=5.0, help="STOPs per second during the campaign")
    parser.add_argument("--campaign-seconds", type=float, default=60.0, help="how long STOPs arrive during it")
    parser.add_argument(
        "--poll-ms", type=float, default=20.0, help="how often the dispatcher's record of an outstanding STOP is read"
    )
    parser.add_argument("--poll-concurrency", type=int, default=16, help="confirming policy probes in flight at most")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds a STOP may take to be enforced")
    parser.add_argument("--import-timeout", type=float, default=300.0, help="seconds the import may take")
    parser.add_argument("--launch-timeout", type=float, default=180.0, help="seconds until the campaign dispatches")
    parser.add_argument("--time-limit", type=float, default=840.0, help="seconds the whole run may take")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 recipients, 20 + 40 + 20 STOPs (sizes given beside it win)",
    )
    if parser.parse_known_args(argv)[0].quick:
        # Defaults only: a size given beside --quick still wins.
        parser.set_defaults(recipients=2_000, idle=20, burst=40, campaign_seconds=4.0)
    args = parser.parse_args(argv)
    if (
        min(args.idle, args.burst, args.burst_senders, args.recipients) < 1
        or args.campaign_rate * args.campaign_seconds < 1
    ):
        parser.error("every phase needs at least one STOP and the campaign one recipient")

    def too_long(*_: object) -> None:
        raise BenchTimeout(f"the run went past --time-limit {args.time_limit:.0f} s")

    # SIGTERM (a time limit, Ctrl-C's sibling) and our own limit must still stop what this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(math.ceil(args.time_limit))
    workdir = Path(tempfile.mkdtemp(prefix="halte-bench-stop-"))
    try:
        return run(args, workdir)
    except BenchTimeout as exc:
        print(f"ERROR: {exc}", flush=True)
        return 1
    finally:
        signal.alarm(0)
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
