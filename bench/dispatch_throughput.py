"""Benchmark: recipients per second through the dispatcher, from dispatch.requested to the carrier.

What it measures: 200,000 marketing recipients of one campaign, published on
``dispatch.requested`` (as campaign-api does), through the real dispatcher runtime (consumer
with its batch handler, the full policy for every recipient, set-based decision rows, outbox
relay publishing ``dispatch.decided`` and ``sms.outbound``, the sender loop with its last
check) until every recipient is decided, accepted by the carrier simulator and every event
published. The suppression feed is a quiet one (no opt-out arrives during the run) that proves
the copy current at every poll, so marketing is decided rather than held.

The carrier is the carrier simulator's record (halte_shared.carriers.simulator: its table
``sim_messages``, one row per message, idempotent on our message id, a reused id with other
content refused), reached through the real carrier router (routes, rate limit, retries). The
simulator's own submit path commits each message in its own transaction: ~6 PostgreSQL round
trips, about 2 ms of CPU per message on this 2-core VM, 5 ms through its HTTP route, so 200,000
messages take it 7 to 17 minutes, and that is what the default measures: ``--carrier inproc``
(the default) calls the simulator's own ``submit`` for each message (in this process, without
HTTP), so every recipient really reaches the simulator. ``--carrier batch`` writes the messages
that arrive together into that same table in one statement (the simulator's INSERT ... ON
CONFLICT, made set-based: what a batch submit endpoint of the simulator would do), to see what
the dispatcher could reach with such an endpoint;
``--carrier http`` runs the simulator as its own process and submits over HTTP with the
production adapter (use a smaller ``--recipients``), and ``--carrier none`` accepts at once
without recording anything (the dispatcher's cost alone).

The reference, in the same run on the same broker: a bare aiokafka producer and consumer
moving the same number of messages of the same bytes (the encoded requests) through a
12-partition topic, from the first send to the last message consumed: what the broker and
client library alone cost for that many messages.

Ends with ``RESULT dispatch_throughput value=<recipients/s> unit=recipients/s
reference=<messages/s> ratio=<value/reference>``. Starts an embedded PostgreSQL and broker in
a temporary directory unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set (then it works in
throw-away schemas and topic prefixes). ``--recipients`` changes the count (default 200,000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from halte_dispatcher.adapters.optout_journal import JournalPage
from halte_dispatcher.adapters.suppression_feed import FeedPage
from halte_dispatcher.bootstrap import bootstrap
from halte_dispatcher.config import Settings
from halte_shared.bus import ensure_topics
from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierPermanentError,
    CarrierTemporaryError,
    OutboundSms,
    SubmitResult,
)
from halte_shared.carriers.registry import build_router
from halte_shared.carriers.simulator import CarrierSimulator, SimulatorSettings, Submission
from halte_shared.clock import AdjustableClock
from halte_shared.events import ConsentSnapshot, DispatchRequested, encode, envelope_for
from halte_shared.infra import EmbeddedBroker, EmbeddedPostgres, ensure_database, free_port, wait_for_port
from halte_shared.migrations import upgrade_to_head
from halte_shared.observability import configure_logging
from halte_shared.topics import Topic

ADMIN_TOKEN = "bench-admin-token-0123456789"
SIM_SECRET = "bench-sim-secret-0123456789"
ACCOUNT = "bench-account"
TEXT = "Maison Dupont : -20% sur tout le magasin ce samedi seulement. STOP au 36111"
#: A Tuesday, 10:00 in Paris: inside every marketing window.
TUESDAY_10 = datetime(2026, 6, 16, 8, 0, tzinfo=UTC)
TIME_LIMIT_SECONDS = 900.0


class QuietFeed:
    """A suppression feed with no change to report: the copy is proven current at every poll."""

    async def fetch(self, *, after: int, limit: int, wait: float = 0.0) -> FeedPage:
        # A long poll that nothing answers ends after its wait: at most a few a second, as in production.
        await asyncio.sleep(wait)
        return FeedPage(changes=[], latest_sequence=after, as_of=datetime.now(UTC))

    async def close(self) -> None:
        return None


class QuietJournal:
    """Inbound's opt-out journal with no STOP to report: the view is proven current at every read."""

    async def fetch(self, *, after: int, limit: int, wait: float = 0.0) -> JournalPage:
        await asyncio.sleep(wait)
        return JournalPage(entries=[], latest_sequence=after)

    async def close(self) -> None:
        return None


class InProcessSimulator(CarrierAdapter):
    """The simulator's own submit logic and table, called directly instead of over its HTTP route."""

    name = "sim"
    honours_idempotency_key = True

    def __init__(self, simulator: CarrierSimulator) -> None:
        self.simulator = simulator

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        accepted = await self.simulator.submit(
            Submission(
                message_id=sms.message_id,
                to=sms.to,
                sender=sms.sender,
                text=sms.text,
                encoding=sms.encoding,
                kind=sms.kind,
            )
        )
        return SubmitResult.accepted_by(self.name, accepted.carrier_message_id, duplicate=accepted.duplicate)


_BATCH_INSERT = text(
    """
    INSERT INTO sim_messages (carrier_message_id, message_id, to_number, sender, body, encoding, kind,
                              received_at, last_submitted_at, dlr_status, dlr_state)
    SELECT 'sim-' || md5(u.message_id || clock_timestamp()::text), u.message_id, u.to_number, u.sender, u.body,
           u.encoding, u.kind, now(), now(), 'delivered', 'no_receiver'
    FROM unnest(CAST(:ids AS text[]), CAST(:tos AS text[]), CAST(:senders AS text[]), CAST(:bodies AS text[]),
                CAST(:encodings AS text[]), CAST(:kinds AS text[]))
         AS u(message_id, to_number, sender, body, encoding, kind)
    ON CONFLICT (message_id) DO UPDATE SET
        submissions = sim_messages.submissions + 1, last_submitted_at = excluded.last_submitted_at
    WHERE sim_messages.to_number = excluded.to_number AND sim_messages.body = excluded.body
    RETURNING message_id, carrier_message_id, (xmax = 0) AS inserted
    """
)


class BatchedSimulatorRecord(CarrierAdapter):
    """The simulator's record, written for all the messages that arrive together in one statement.

    Same table and semantics as the simulator's submit: one row per message id; a resubmission
    counts a submission and answers the first carrier id (``duplicate``); an id reused for
    another number or text is refused. Delivery reports are not scheduled (nobody listens here).
    """

    name = "sim"
    honours_idempotency_key = True

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 1000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: list[tuple[OutboundSms, asyncio.Future[SubmitResult]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        future: asyncio.Future[SubmitResult] = asyncio.get_running_loop().create_future()
        self._pending.append((sms, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the submissions of this moment join the batch
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                await self._write(batch)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(CarrierTemporaryError(f"simulator record failed: {exc!r}", carrier="sim"))

    async def _write(self, batch: list[tuple[OutboundSms, asyncio.Future[SubmitResult]]]) -> None:
        unique = {sms.message_id: sms for sms, _ in batch}  # one row per id per statement
        messages = list(unique.values())
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    _BATCH_INSERT,
                    {
                        "ids": [m.message_id for m in messages],
                        "tos": [m.to for m in messages],
                        "senders": [m.sender for m in messages],
                        "bodies": [m.text for m in messages],
                        "encodings": [m.encoding for m in messages],
                        "kinds": [m.kind for m in messages],
                    },
                )
            ).all()
        answers = {row.message_id: (row.carrier_message_id, not row.inserted) for row in rows}
        seen: set[str] = set()
        for sms, future in batch:
            answer = answers.get(sms.message_id)
            if answer is None:
                future.set_exception(
                    CarrierPermanentError(f"message_id {sms.message_id} was reused for another message", carrier="sim")
                )
            else:
                duplicate = answer[1] or sms.message_id in seen
                future.set_result(SubmitResult.accepted_by(self.name, answer[0], duplicate=duplicate))
            seen.add(sms.message_id)


class AcceptingCarrier(CarrierAdapter):
    """A carrier that accepts every message at once and keeps nothing (``--carrier none``)."""

    name = "sim"
    honours_idempotency_key = True

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        return SubmitResult.accepted_by(self.name, f"none-{sms.message_id}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def requests(count: int) -> list[bytes]:
    """Return the encoded dispatch.requested envelopes of one campaign to `count` numbers."""
    consent = ConsentSnapshot(basis="opt_in", collected_at=datetime(2025, 1, 1, tzinfo=UTC), source="form")
    now = datetime.now(UTC)
    encoded = []
    for n in range(count):
        # Valid French mobile ranges: 06 1x and 07 5x give 20 million distinct numbers.
        phone = f"+336{10_000_000 + n:08d}" if n < 10_000_000 else f"+3375{n:07d}"
        payload = DispatchRequested(
            request_id=f"bench-campaign:{phone}",
            account_id=ACCOUNT,
            campaign_id="bench-campaign",
            phone=phone,
            kind="marketing",
            sender="36111",
            text=TEXT,
            segments=1,
            consent=consent,
            requested_at=now,
        )
        encoded.append(encode(envelope_for(payload, producer="bench", occurred_at=now)))
    return encoded


def key_of(value: bytes) -> bytes:
    # The phone is the key of per-number topics; it sits at a fixed place in the request id.
    start = value.index(b"bench-campaign:+") + len(b"bench-campaign:")
    return value[start : value.index(b'"', start)]


async def produce(bootstrap_servers: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = []
        for value in values:
            pending.append(await producer.send(topic, key=key_of(value), value=value))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def reference(bootstrap_servers: str, prefix: str, values: list[bytes]) -> float:
    """Move the same messages through a bare producer and consumer; return messages per second."""
    topic = f"{prefix}bench.raw"
    await ensure_topics(
        bootstrap_servers, prefix=prefix, specs=[Topic("bench.raw", 12, "E.164 number", 3_600_000, "bench")]
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=f"{prefix}bench-raw",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    await consumer.start()  # joined before the clock starts, as the dispatcher is
    try:
        started = time.perf_counter()
        sending = asyncio.create_task(produce(bootstrap_servers, topic, values))
        received = 0
        while received < len(values):
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            received += sum(len(records) for records in batch.values())
            if batch:
                await consumer.commit()
        await sending
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return len(values) / elapsed


def start_simulator(*, database_url: str, schema: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HALTE_CARRIER_SIM_SCHEMA": schema,
        "CARRIER_SIM_SECRET": SIM_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "HALTE_ENV": "development",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("HALTE_INBOUND_URL", None)  # no delivery reports: nobody listens in this run
    with open(workdir / "simulator.log", "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "halte_shared.carriers.simulator"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_port("127.0.0.1", port, timeout=60)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/readyz", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the carrier simulator did not become ready")
        time.sleep(0.2)
    return process, url


async def run_dispatcher(
    settings: Settings, values: list[bytes], *, simulator: SimulatorSettings | None, carrier: str
) -> tuple[float, dict[str, int]]:
    """Run the dispatcher on the requests; return recipients per second and final counts."""
    clock = AdjustableClock()
    clock.set(TUESDAY_10)
    in_process: CarrierSimulator | None = None
    adapters: dict[str, CarrierAdapter] = {}
    if carrier == "none":
        adapters["sim"] = AcceptingCarrier()
    elif carrier == "batch":
        assert simulator is not None
        in_process = CarrierSimulator(simulator)
        await in_process.start()  # creates the simulator's tables, as the real service does
        adapters["sim"] = BatchedSimulatorRecord(in_process.engine)
    elif simulator is not None:
        in_process = CarrierSimulator(simulator)
        await in_process.start()
        adapters["sim"] = InProcessSimulator(in_process)
    router = build_router(settings, adapters=adapters)
    runtime = bootstrap(
        settings, clock=clock, carriers=router, suppression_feed=QuietFeed(), optout_journal=QuietJournal()
    )
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO accounts (account_id, name, mode, short_codes, contact_info, hours_profile, active, "
                "changed_at) VALUES (:id, 'Maison Dupont', 'marketing', ARRAY['36111'], 'x', 'strict', true, now())"
            ),
            {"id": ACCOUNT},
        )
    await runtime.start()
    total = len(values)

    async def counts() -> dict[str, int]:
        async with runtime.sessions() as session:
            rows = (await session.execute(text("SELECT state, count(*) AS n FROM dispatches GROUP BY state"))).all()
            backlog = (
                await session.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
            ).scalar_one()
        found = {row.state: int(row.n) for row in rows}
        found["outbox_backlog"] = int(backlog)
        return found

    try:
        started = time.perf_counter()
        sending = asyncio.create_task(
            produce(settings.kafka_bootstrap_servers, settings.topic("dispatch.requested"), values)
        )
        last_report = started
        while True:
            await asyncio.sleep(0.5)
            now = time.perf_counter()
            found = await counts()
            decided = sum(v for k, v in found.items() if k != "outbox_backlog")
            if found.get("submitted", 0) + found.get("refused", 0) >= total and found["outbox_backlog"] == 0:
                break
            if now - last_report >= 10:
                last_report = now
                log(
                    f"  {now - started:5.0f} s: {decided} decided, {found.get('submitted', 0)} submitted, "
                    f"{found['outbox_backlog']} events waiting in the outbox"
                )
            if now - started > TIME_LIMIT_SECONDS:
                raise TimeoutError(f"not done after {TIME_LIMIT_SECONDS:.0f} s: {found}")
        elapsed = time.perf_counter() - started
        await sending
    finally:
        await runtime.stop()
        if in_process is not None:
            await in_process.stop()
    return total / elapsed, await _final_counts(settings)


async def _final_counts(settings: Settings) -> dict[str, int]:
    from halte_shared.db import make_engine

    engine = make_engine(settings.database_url, schema=settings.schema_name)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT state, count(*) AS n FROM dispatches GROUP BY state"))).all()
            events = (await conn.execute(text("SELECT topic, count(*) AS n FROM outbox GROUP BY topic"))).all()
    finally:
        await engine.dispose()
    return {**{row.state: int(row.n) for row in rows}, **{f"events:{row.topic}": int(row.n) for row in events}}


async def simulator_counts(database_url: str, schema: str) -> tuple[int, int, int]:
    from halte_shared.db import make_engine

    engine = make_engine(database_url, schema=schema)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*) AS messages, count(DISTINCT to_number) AS phones, "
                        "COALESCE(sum(submissions), 0) AS submissions FROM sim_messages"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    return int(row.messages), int(row.phones), int(row.submissions)


def main() -> int:
    # SIGTERM (a time limit, Ctrl-C's sibling) must still stop the embedded servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument(
        "--carrier",
        choices=["batch", "inproc", "http", "none"],
        default="inproc",
        help="how messages reach the simulator (see the module docstring); default: its own submit, per message",
    )
    args = parser.parse_args()
    configure_logging(service="bench", level="WARNING")
    token = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="halte-bench-")))
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(workdir / "postgres")
            database_url = ensure_database(postgres.start(), "halte_bench")
            stack.callback(postgres.stop)
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            broker = EmbeddedBroker(log_path=workdir / "broker.log")
            servers = broker.start()
            stack.callback(broker.stop)
        prefix = f"bench{token}."
        dispatcher_schema, sim_schema = f"bench{token}_dispatcher", f"bench{token}_sim"
        asyncio.run(ensure_topics(servers, prefix=prefix))
        upgrade_to_head(package="halte_dispatcher", database_url=database_url, schema=dispatcher_schema)
        sim_url = "http://127.0.0.1:1"
        sim_settings: SimulatorSettings | None = None
        if args.carrier == "http":
            simulator, sim_url = start_simulator(database_url=database_url, schema=sim_schema, workdir=workdir)
            stack.callback(simulator.wait, 30)
            stack.callback(simulator.terminate)
        else:
            sim_settings = SimulatorSettings(  # type: ignore[call-arg]
                HALTE_ENV="development",
                DATABASE_URL=database_url,
                HALTE_CARRIER_SIM_SCHEMA=sim_schema,
                CARRIER_SIM_SECRET=SIM_SECRET,
                ADMIN_TOKEN=ADMIN_TOKEN,
            )

        log(f"encoding {args.recipients} dispatch.requested events...")
        values = requests(args.recipients)
        size = sum(len(v) for v in values) / len(values)
        log(f"reference: a bare aiokafka producer and consumer moving {len(values)} messages of {size:.0f} bytes...")
        reference_rate = asyncio.run(reference(servers, prefix, values))
        log(f"  {reference_rate:,.0f} messages/s")

        settings = Settings(  # type: ignore[call-arg]
            DATABASE_URL=database_url,
            HALTE_DB_SCHEMA=dispatcher_schema,
            KAFKA_BOOTSTRAP_SERVERS=servers,
            HALTE_TOPIC_PREFIX=prefix,
            HALTE_ENV="development",
            ADMIN_TOKEN=ADMIN_TOKEN,
            CARRIER_SIM_SECRET=SIM_SECRET,
            HALTE_CARRIER_SIM_URL=sim_url,
            HALTE_CARRIERS='{"sim": {"kind": "sim"}}',
            # Batched: every message of a claimed batch in flight at once, so they reach the carrier together.
            HALTE_DISPATCH_SENDER_CONCURRENCY=1000 if args.carrier == "batch" else 64,
            HALTE_DB_POOL_SIZE=10,
        )
        log(f"dispatcher: {len(values)} recipients from dispatch.requested to decided and accepted by the simulator...")
        cpu_started = time.process_time()
        value, counts = asyncio.run(run_dispatcher(settings, values, simulator=sim_settings, carrier=args.carrier))
        cpu_per_recipient = (time.process_time() - cpu_started) / len(values) * 1e6
        messages, phones, submissions = (
            (0, 0, 0) if args.carrier == "none" else asyncio.run(simulator_counts(database_url, sim_schema))
        )

    ratio = value / reference_rate
    print(f"messages of {size:.0f} bytes; recipients: {args.recipients}")
    print(f"dispatcher final states and events: {counts}")
    print(f"simulator ({args.carrier}): {messages} messages to {phones} numbers in {submissions} submissions")
    inside = "dispatcher, producer" + (", simulator" if args.carrier in ("inproc", "batch") else "")
    print(f"CPU of this process per recipient: {cpu_per_recipient:.0f} µs ({inside})")
    print(f"reference (bare aiokafka produce + consume): {reference_rate:,.0f} messages/s")
    print(f"dispatcher (requested -> decided -> submitted):  {value:,.0f} recipients/s")
    print(f"ratio: {ratio:.3f}")
    if args.carrier != "none" and (messages != args.recipients or phones != args.recipients):
        print("ERROR: the simulator did not receive exactly one message per recipient", file=sys.stderr)
        return 1
    print(
        f"RESULT dispatch_throughput value={value:.1f} unit=recipients/s "
        f"reference={reference_rate:.1f} ratio={ratio:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
