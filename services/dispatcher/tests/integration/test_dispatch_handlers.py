"""The dispatcher's handlers driven one step at a time, on real PostgreSQL, simulator and suppression.

No background loop runs here: each test calls the steps (decide, poll the feed, release,
submit) itself, so every interleaving it checks is exact, not a matter of timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from prometheus_client import REGISTRY

from halte_dispatcher.adapters.repository import InboxEntry
from halte_dispatcher.bootstrap import DispatcherRuntime
from halte_dispatcher.handlers import Incoming
from halte_dispatcher.pacing import ReleasePacer
from halte_dispatcher.testing import (
    ACCOUNT,
    SHORT_CODE,
    TUESDAY_10,
    Inbound,
    Suppression,
    account_changed,
    build,
    dispatcher_settings,
    outbox_events,
    phone,
    request,
    rows,
    states,
)
from halte_shared.carriers.testing import RunningSimulator
from halte_shared.clock import AdjustableClock
from halte_shared.db import libpq_url
from halte_shared.events import ConsentSnapshot
from halte_shared.infra import free_port
from halte_shared.testing import Isolation, migrate
from halte_suppression.domain.commands import MarketingSend

pytestmark = pytest.mark.integration
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def clock() -> AdjustableClock:
    clock = AdjustableClock()
    clock.set(TUESDAY_10)
    return clock


@pytest.fixture
async def runtime(
    isolation: Isolation,
    simulator: RunningSimulator,
    suppression: Suppression,
    inbound: Inbound,
    clock: AdjustableClock,
) -> AsyncIterator[DispatcherRuntime]:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    # One attempt per submission: a test of temporary failures must not wait for the router's backoff.
    # A poll proves the copy current for a minute: steps of a test on a loaded machine take seconds.
    settings = dispatcher_settings(
        isolation,
        sim=simulator,
        suppression_url=suppression.url,
        inbound_url=inbound.url,
        HALTE_CARRIER_MAX_ATTEMPTS=1,
        HALTE_SUPPRESSION_MAX_LAG_SECONDS=60,
    )
    runtime = build(settings, clock=clock)
    await runtime.dispatcher.record_account(
        account_changed(), inbox=InboxEntry("acct-event-1", "account.changed", 0, 0)
    )
    yield runtime
    await runtime.stop()


def incoming(items: list, *, prefix: str = "evt") -> list[Incoming]:
    return [
        Incoming(
            event_id=f"{prefix}-{r.request_id}", request=r, inbox=InboxEntry(f"{prefix}-{r.request_id}", "d", 0, n)
        )
        for n, r in enumerate(items)
    ]


async def test_a_campaign_is_decided_once_and_submitted_once(
    runtime: DispatcherRuntime, simulator: RunningSimulator
) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    batch = [request(phone(n)) for n in range(10)]
    assert await dispatcher.decide_requests(incoming(batch)) == 10
    # Redelivered under the same event ids, and republished under new ones: nothing new.
    assert await dispatcher.decide_requests(incoming(batch)) == 0
    assert await dispatcher.decide_requests(incoming(batch, prefix="again")) == 0
    assert set((await states(runtime)).values()) == {("sending", "send", "ok")}

    assert await dispatcher.submit_due() == 10
    assert await dispatcher.submit_due() == 0
    assert set((await states(runtime)).values()) == {("submitted", "send", "ok")}
    assert (await simulator.messages())["count"] == 10

    decided = await outbox_events(runtime, "dispatch.decided")
    assert [(d.decision, d.reason, d.final) for d in decided] == [("send", "ok", True)] * 10
    outbound = await outbox_events(runtime, "sms.outbound")
    assert len(outbound) == 10
    assert all(o.carrier == "sim" and o.carrier_message_id and o.purpose == "campaign" for o in outbound)
    assert {o.encoding for o in outbound} == {"GSM-7"}
    stored = {r.message_id: r.carrier_message_id for r in await rows(runtime, "SELECT * FROM dispatches")}
    assert {o.message_id: o.carrier_message_id for o in outbound} == stored


async def test_finished_dispatches_are_forgotten_after_the_retention(
    runtime: DispatcherRuntime, clock: AdjustableClock
) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    done, later = request(phone(1)), request(phone(2), send_at=TUESDAY_10 + timedelta(days=40))
    await dispatcher.decide_requests(incoming([done, later]))
    await dispatcher.submit_due()
    clock.shift(timedelta(days=29))
    assert await dispatcher.forget_finished() == 0
    clock.shift(timedelta(days=2))
    assert await dispatcher.forget_finished() == 1
    assert set(await states(runtime)) == {later.request_id}, "a message still held is kept"
    # The inbox still knows the event: a redelivery has no second effect.
    assert await dispatcher.decide_requests(incoming([done])) == 0


async def test_a_stop_between_decision_and_submission_wins(
    runtime: DispatcherRuntime, suppression: Suppression, simulator: RunningSimulator
) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    stopped, other = phone(1), phone(2)
    await dispatcher.decide_requests(incoming([request(stopped), request(other)]))
    await suppression.stop(account_id=ACCOUNT, number=stopped)
    await dispatcher.poll_feed_once()
    await dispatcher.submit_due()

    assert await states(runtime) == {
        f"camp-1:{stopped}": ("refused", "refuse", "suppressed"),
        f"camp-1:{other}": ("submitted", "send", "ok"),
    }
    assert (await simulator.messages(to=stopped))["count"] == 0
    decided = [(d.phone, d.decision, d.reason, d.final) for d in await outbox_events(runtime, "dispatch.decided")]
    # The send was published first; the correction follows it, final.
    assert [d for d in decided if d[0] == stopped] == [
        (stopped, "send", "ok", True),
        (stopped, "refuse", "suppressed", True),
    ]


async def test_saturday_evening_is_held_to_monday_and_a_stop_meanwhile_wins(
    runtime: DispatcherRuntime, suppression: Suppression, clock: AdjustableClock
) -> None:
    dispatcher = runtime.dispatcher
    clock.set(datetime(2026, 6, 13, 19, 59, tzinfo=PARIS))
    await dispatcher.poll_feed_once()
    numbers = [phone(n) for n in range(5)]
    await dispatcher.decide_requests(incoming([request(n) for n in numbers]))
    monday_8 = datetime(2026, 6, 15, 8, 0, tzinfo=PARIS)
    held = await rows(runtime, "SELECT state, reason, release_at FROM dispatches")
    assert {(r.state, r.reason, r.release_at) for r in held} == {("held", "outside_hours", monday_8)}
    hold_events = await outbox_events(runtime, "dispatch.decided")
    assert {(e.decision, e.final, e.scheduled_for) for e in hold_events} == {("hold", False, monday_8)}

    await suppression.stop(account_id=ACCOUNT, number=numbers[0])
    clock.set(monday_8 - timedelta(seconds=1))
    await dispatcher.poll_feed_once()
    assert await dispatcher.release_due() == 0, "nothing is due before 08:00"
    clock.set(monday_8 + timedelta(seconds=1))
    await dispatcher.poll_feed_once()
    assert await dispatcher.release_due() == 5
    final = await states(runtime)
    assert final[f"camp-1:{numbers[0]}"] == ("refused", "refuse", "suppressed")
    assert {final[f"camp-1:{n}"] for n in numbers[1:]} == {("sending", "send", "ok")}


async def test_monday_holiday_holds_until_tuesday(runtime: DispatcherRuntime, clock: AdjustableClock) -> None:
    # Whit Monday 2026 is 25 May: a Saturday-evening message waits for Tuesday 26 May, 08:00.
    clock.set(datetime(2026, 5, 23, 19, 59, tzinfo=PARIS))
    await runtime.dispatcher.poll_feed_once()
    await runtime.dispatcher.decide_requests(incoming([request(phone(1))]))
    [row] = await rows(runtime, "SELECT release_at FROM dispatches")
    assert row.release_at == datetime(2026, 5, 26, 8, 0, tzinfo=PARIS)


async def test_marketing_for_an_unknown_account_waits_for_it(runtime: DispatcherRuntime) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    late = request(phone(1), account_id="acct-late", campaign_id="camp-late")
    otp = request(phone(2), account_id="acct-late", campaign_id=None, kind="informative")
    await dispatcher.decide_requests(incoming([late, otp]))
    assert await states(runtime) == {
        late.request_id: ("pending_account", "hold", "account_unknown"),
        otp.request_id: ("sending", "send", "ok"),
    }
    assert await dispatcher.release_due() == 0
    await dispatcher.record_account(
        account_changed("acct-late"), inbox=InboxEntry("acct-late-event", "account.changed", 0, 1)
    )
    assert await dispatcher.release_due() == 1
    assert (await states(runtime))[late.request_id] == ("sending", "send", "ok")


async def test_a_send_past_the_window_deadline_is_held_again(
    runtime: DispatcherRuntime, clock: AdjustableClock, simulator: RunningSimulator
) -> None:
    dispatcher = runtime.dispatcher
    clock.set(datetime(2026, 6, 16, 19, 58, 30, tzinfo=PARIS))
    await dispatcher.poll_feed_once()
    await dispatcher.decide_requests(incoming([request(phone(1))]))
    [row] = await rows(runtime, "SELECT state, send_by FROM dispatches")
    assert row.state == "sending"
    assert row.send_by == datetime(2026, 6, 16, 19, 59, tzinfo=PARIS)
    # The carrier queue was long: the sender reaches the message after the last dispatch minute.
    clock.set(datetime(2026, 6, 16, 19, 59, 30, tzinfo=PARIS))
    await dispatcher.poll_feed_once()
    await dispatcher.submit_due()
    [row] = await rows(runtime, "SELECT state, reason, release_at FROM dispatches")
    assert (row.state, row.reason, row.release_at) == ("held", "outside_hours", datetime(2026, 6, 17, 8, tzinfo=PARIS))
    assert (await simulator.messages())["count"] == 0


async def test_stale_copy_holds_marketing_and_lets_informative_go(
    runtime: DispatcherRuntime, clock: AdjustableClock
) -> None:
    dispatcher = runtime.dispatcher
    # Never polled: nothing proves the copy current.
    marketing, otp = request(phone(1)), request(phone(2), campaign_id=None, kind="informative")
    await dispatcher.decide_requests(incoming([marketing, otp]))
    assert await states(runtime) == {
        marketing.request_id: ("held", "hold", "suppression_feed_stale"),
        otp.request_id: ("sending", "send", "ok"),
    }
    assert await dispatcher.release_due() == 0, "a stale hold waits for the feed"
    await dispatcher.poll_feed_once()
    assert await dispatcher.release_due() == 1
    assert (await states(runtime))[marketing.request_id] == ("sending", "send", "ok")


async def test_the_http_path_and_the_consumer_share_one_decision(runtime: DispatcherRuntime) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    unit = request(phone(7), campaign_id=None, kind="informative")
    first = await dispatcher.dispatch_one(unit)
    assert (first.decision, first.reason) == ("send", "ok")
    assert await dispatcher.decide_requests(incoming([unit])) == 0
    again = await dispatcher.dispatch_one(unit)
    assert again == first
    assert len(await outbox_events(runtime, "dispatch.decided")) == 1


async def test_now_is_utc_aware() -> None:
    assert TUESDAY_10.tzinfo is UTC


async def test_a_held_backlog_survives_a_restart_and_is_released_at_the_carriers_pace(
    runtime: DispatcherRuntime, clock: AdjustableClock
) -> None:
    clock.set(datetime(2026, 6, 13, 19, 59, tzinfo=PARIS))
    await runtime.dispatcher.poll_feed_once()
    await runtime.dispatcher.decide_requests(incoming([request(phone(n)) for n in range(25)]))
    assert {s for s, _, _ in (await states(runtime)).values()} == {"held"}

    # A new process reads the same rows; its pacer allows 10 releases a second.
    restarted = build(runtime.settings, clock=clock)  # type: ignore[arg-type]
    seconds = [0.0]
    restarted.dispatcher.pacer = ReleasePacer(10, clock=lambda: seconds[0])
    try:
        clock.set(datetime(2026, 6, 15, 8, 0, 1, tzinfo=PARIS))
        await restarted.dispatcher.poll_feed_once()
        assert await restarted.dispatcher.release_due() == 10
        assert await restarted.dispatcher.release_due() == 0, "the next ones wait for the carriers' pace"
        seconds[0] = 1.0
        assert await restarted.dispatcher.release_due() == 10
        seconds[0] = 2.0
        assert await restarted.dispatcher.release_due() == 5
        assert {s for s, _, _ in (await states(restarted)).values()} == {"sending"}
    finally:
        await restarted.stop()


async def test_carrier_refusals_and_temporary_failures(
    runtime: DispatcherRuntime, simulator: RunningSimulator, clock: AdjustableClock
) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    rejected, retried = request(phone(1)), request(phone(2))
    await simulator.control(fail_permanent=1)
    await dispatcher.decide_requests(incoming([rejected]))
    await dispatcher.submit_due()
    assert (await states(runtime))[rejected.request_id] == ("refused", "refuse", "carrier_rejected")
    corrections = [(e.decision, e.reason) for e in await outbox_events(runtime, "dispatch.decided")]
    assert corrections == [("send", "ok"), ("refuse", "carrier_rejected")]

    # More temporary failures than the router retries: the message waits and is tried again later.
    await simulator.control(fail_temporary=100)
    await dispatcher.decide_requests(incoming([retried]))
    await dispatcher.submit_due()
    [row] = await rows(
        runtime, "SELECT state, attempts, next_attempt_at, last_error FROM dispatches WHERE phone = :p", p=retried.phone
    )
    assert (row.state, row.attempts) == ("sending", 1)
    assert row.next_attempt_at > clock.now() and "503" in row.last_error
    assert await dispatcher.submit_due() == 0, "not before its next attempt"
    await simulator.control(reset=True)
    clock.shift(timedelta(seconds=3))
    await dispatcher.poll_feed_once()
    await dispatcher.submit_due()
    assert (await states(runtime))[retried.request_id] == ("submitted", "send", "ok")


async def test_a_stop_acknowledged_by_inbound_blocks_marketing_before_suppression_records_it(
    runtime: DispatcherRuntime, inbound: Inbound, suppression: Suppression, clock: AdjustableClock
) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    number = phone(5)
    aware_before = REGISTRY.get_sample_value("halte_stop_to_dispatcher_aware_seconds_count") or 0.0
    acknowledged = await inbound.reply(number, "Stop SMS")
    await dispatcher.poll_feed_once()
    assert REGISTRY.get_sample_value("halte_stop_to_dispatcher_aware_seconds_count") == aware_before + 1

    # Suppression has not heard of the STOP (its event is still on its way): the dispatcher refuses already.
    first, informative = request(number, campaign_id="camp-a"), request(number, campaign_id=None, kind="informative")
    await dispatcher.decide_requests(incoming([first, informative]))
    found = await states(runtime)
    assert found[first.request_id] == ("refused", "refuse", "suppressed")
    assert found[informative.request_id] == ("sending", "send", "ok"), "the confirmation must still reach the number"
    probe = await dispatcher.probe(
        phone=number, kind="marketing", at=clock.now(), postal_code=None, sender=SHORT_CODE, account_id=ACCOUNT
    )
    assert (probe.decision, probe.reason) == ("refuse", "suppressed")
    [pending] = await rows(
        runtime, "SELECT request_id, source, resolved_at FROM pending_optouts WHERE phone = :p", p=number
    )
    assert (pending.request_id, pending.source, pending.resolved_at) == (acknowledged["id"], "inbound", None)

    # Suppression records it as its consumer does: the request is resolved, the blocklist holds the number.
    await suppression.learn_account(ACCOUNT, SHORT_CODE)
    await suppression.record_stop(request_id=acknowledged["id"], number=number)
    await dispatcher.poll_feed_once()
    [pending] = await rows(runtime, "SELECT resolved_at FROM pending_optouts WHERE phone = :p", p=number)
    assert pending.resolved_at is not None
    assert await rows(
        runtime, "SELECT 1 FROM blocklist WHERE phone = :p AND account_id = :a AND suppressed", p=number, a=ACCOUNT
    )
    second = request(number, campaign_id="camp-b")
    await dispatcher.decide_requests(incoming([second]))
    assert (await states(runtime))[second.request_id] == ("refused", "refuse", "suppressed")


async def test_a_stop_on_a_shared_short_code_holds_until_suppression_attributes_it(
    runtime: DispatcherRuntime, inbound: Inbound, suppression: Suppression, clock: AdjustableClock
) -> None:
    dispatcher = runtime.dispatcher
    neighbour = "acct-voisin"
    await dispatcher.record_account(
        account_changed(neighbour, name="Voisin"), inbox=InboxEntry("voisin-event", "account.changed", 0, 1)
    )
    await dispatcher.poll_feed_once()
    number = phone(6)
    acknowledged = await inbound.reply(number)
    await dispatcher.poll_feed_once()
    ours = request(number, campaign_id="c-ours")
    theirs = request(number, campaign_id="c-theirs", account_id=neighbour, text="Voisin: -10% mardi. STOP au 36111")
    await dispatcher.decide_requests(incoming([ours, theirs]))
    assert {s for s in (await states(runtime)).values()} == {("held", "hold", "optout_pending")}

    # Suppression attributes the STOP to the account that sent the number marketing lately (ours).
    await suppression.learn_account(ACCOUNT, SHORT_CODE)
    await suppression.learn_account(neighbour, SHORT_CODE)
    await suppression.runtime.handlers.remember_marketing_sends(
        [MarketingSend(account_id=ACCOUNT, phone=number, short_code=SHORT_CODE, sent_at=datetime.now(UTC))]
    )
    await suppression.record_stop(request_id=acknowledged["id"], number=number)
    await dispatcher.poll_feed_once()
    clock.shift(timedelta(seconds=2))
    await dispatcher.poll_feed_once()
    assert await dispatcher.release_due() == 2
    found = await states(runtime)
    assert found[ours.request_id] == ("refused", "refuse", "suppressed")
    assert found[theirs.request_id] == ("sending", "send", "ok"), "the neighbour's customer said STOP to us, not them"


async def test_an_optout_suppression_cannot_attribute_yet_keeps_the_number_blocked(
    runtime: DispatcherRuntime, suppression: Suppression
) -> None:
    # Suppression has not learned the account on 36111 yet: the STOP stays pending in its feed.
    dispatcher = runtime.dispatcher
    number = phone(7)
    await suppression.record_stop(request_id="late-account-stop", number=number)
    await dispatcher.poll_feed_once()
    first = request(number, campaign_id="camp-a")
    await dispatcher.decide_requests(incoming([first]))
    assert (await states(runtime))[first.request_id] == ("refused", "refuse", "suppressed")

    await suppression.learn_account(ACCOUNT, SHORT_CODE)
    await dispatcher.poll_feed_once()
    [pending] = await rows(runtime, "SELECT source, resolved_at FROM pending_optouts WHERE phone = :p", p=number)
    assert pending.source == "suppression" and pending.resolved_at is not None
    assert await rows(runtime, "SELECT 1 FROM blocklist WHERE phone = :p AND suppressed", p=number)


async def test_with_inbound_unreachable_marketing_holds_and_informative_goes(
    isolation: Isolation, simulator: RunningSimulator, suppression: Suppression, clock: AdjustableClock
) -> None:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    settings = dispatcher_settings(
        isolation, sim=simulator, suppression_url=suppression.url, inbound_url=f"http://127.0.0.1:{free_port()}"
    )
    runtime = build(settings, clock=clock)
    try:
        await runtime.dispatcher.record_account(account_changed(), inbox=InboxEntry("acct-1", "account.changed", 0, 0))
        await runtime.dispatcher.poll_feed_once()
        marketing, otp = request(phone(1)), request(phone(2), campaign_id=None, kind="informative")
        await runtime.dispatcher.decide_requests(incoming([marketing, otp]))
        assert await states(runtime) == {
            marketing.request_id: ("held", "hold", "suppression_feed_stale"),
            otp.request_id: ("sending", "send", "ok"),
        }
        view = runtime.dispatcher.lane.describe(clock.now())
        assert view["journal"].startswith("stale: marketing is held") and "unreachable" in view["journal"]
        assert view["feed"].startswith("current")
    finally:
        await runtime.stop()


async def test_the_test_fault_makes_the_dispatcher_ignore_the_blocklist(
    runtime: DispatcherRuntime, suppression: Suppression, clock: AdjustableClock
) -> None:
    # Proves the end-to-end checker's fault switch works (HALTE_TEST_MODE only).
    await suppression.stop(account_id=ACCOUNT, number=phone(9))
    broken_settings = runtime.settings.model_copy(update={"test_mode": True, "test_break_suppression_check": True})
    broken = build(broken_settings, clock=clock)  # type: ignore[arg-type]
    try:
        await broken.dispatcher.poll_feed_once()
        await broken.dispatcher.decide_requests(incoming([request(phone(9))]))
        assert (await states(broken))[f"camp-1:{phone(9)}"] == ("sending", "send", "ok")
    finally:
        await broken.stop()


async def test_carrier_answers_are_recorded_when_the_batchs_transaction_is_lost(
    runtime: DispatcherRuntime, simulator: RunningSimulator
) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    batch = [request(phone(n), campaign_id="camp-lost") for n in range(5)]
    await dispatcher.decide_requests(incoming(batch))
    await simulator.control(latency_ms=1500)
    submitting = asyncio.create_task(dispatcher.submit_due())
    await asyncio.sleep(0.5)
    # The carrier holds the batch; meanwhile the database drops the connection that claimed it.
    admin = await asyncpg.connect(libpq_url(runtime.settings.database_url))
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            runtime.settings.service_name,
        )
    finally:
        await admin.close()
    assert killed >= 1
    assert await asyncio.wait_for(submitting, timeout=30) == 5
    await simulator.control(reset=True)
    assert set((await states(runtime)).values()) == {("submitted", "send", "ok")}, "handed over: recorded as sent"
    assert (await simulator.messages())["count"] == 5
    outbound = await outbox_events(runtime, "sms.outbound")
    assert sorted(o.phone for o in outbound) == sorted(r.phone for r in batch)
    assert await dispatcher.submit_due() == 0, "nothing is handed over twice"


async def test_the_non_commercial_basis_follows_the_accounts_flag_as_it_stands(runtime: DispatcherRuntime) -> None:
    dispatcher = runtime.dispatcher
    await dispatcher.poll_feed_once()
    charity = ConsentSnapshot(basis="non_commercial", collected_at=datetime(2025, 1, 1, tzinfo=UTC), source="don")
    # The request says the account is flagged; the dispatcher's view of the account says it is not.
    first = request(phone(1), campaign_id="camp-nc-1", consent=charity, account_non_commercial=True)
    assert await dispatcher.decide_requests(incoming([first])) == 1
    flagged = account_changed(non_commercial=True, changed_at=datetime(2026, 2, 1, tzinfo=UTC))
    await dispatcher.record_account(flagged, inbox=InboxEntry("acct-flagged", "account.changed", 0, 1))
    second = request(phone(2), campaign_id="camp-nc-2", consent=charity)
    assert await dispatcher.decide_requests(incoming([second])) == 1
    found = await states(runtime)
    assert found[first.request_id] == ("refused", "refuse", "non_commercial_not_allowed")
    assert found[second.request_id] == ("sending", "send", "ok")
