"""The running dispatcher end to end: Kafka in, Kafka out, the real simulator and suppression feed.

Every test starts the whole runtime (consumer, outbox relay, feed, release and sender loops) on
the real broker and PostgreSQL; events go in through the broker as campaign-api would publish
them, and the assertions read the real topics, tables and the simulator's record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from halte_dispatcher.bootstrap import DispatcherRuntime
from halte_dispatcher.config import Settings
from halte_dispatcher.testing import (
    ACCOUNT,
    TUESDAY_10,
    Inbound,
    Suppression,
    account_changed,
    build,
    dispatcher_settings,
    phone,
    produce,
    read_events,
    request,
    rows,
    states,
    wait_until,
)
from halte_shared.carriers.testing import RunningSimulator
from halte_shared.clock import AdjustableClock
from halte_shared.infra import free_port
from halte_shared.testing import Isolation, migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def clock() -> AdjustableClock:
    clock = AdjustableClock()
    clock.set(TUESDAY_10)  # the clock runs at real speed from a Tuesday morning
    return clock


async def started(settings: Settings, clock: AdjustableClock) -> DispatcherRuntime:
    runtime = build(settings, clock=clock)
    await runtime.start()
    return runtime


async def final_states(runtime: DispatcherRuntime, expected: int) -> dict[str, tuple[str, str, str]]:
    async def settled() -> bool:
        found = await states(runtime)
        return len(found) >= expected and all(state in ("submitted", "refused") for state, _, _ in found.values())

    await wait_until(settled, what=f"{expected} requests decided and submitted or refused")
    return await states(runtime)


@pytest.fixture
async def flow(
    isolation: Isolation,
    simulator: RunningSimulator,
    suppression: Suppression,
    inbound: Inbound,
    clock: AdjustableClock,
) -> AsyncIterator[tuple[Settings, DispatcherRuntime]]:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    settings = dispatcher_settings(isolation, sim=simulator, suppression_url=suppression.url, inbound_url=inbound.url)
    await produce(settings, [(account_changed(), ACCOUNT)])
    runtime = await started(settings, clock)
    yield settings, runtime
    await runtime.stop()


async def test_a_stop_mid_campaign_stops_every_later_marketing_send_to_that_number(
    flow: tuple[Settings, DispatcherRuntime], suppression: Suppression, simulator: RunningSimulator
) -> None:
    settings, runtime = flow
    stopped = phone(99)
    first_wave = [request(phone(n)) for n in range(20)]
    # Decided before the STOP: a message scheduled two seconds ahead, held until then.
    scheduled = request(stopped, campaign_id="camp-scheduled", send_at=TUESDAY_10 + timedelta(minutes=10))
    await produce(settings, [(r, r.phone) for r in [*first_wave, scheduled]])
    await final_states_partial(runtime, first_wave)
    assert (await states(runtime))[scheduled.request_id] == ("held", "hold", "scheduled")

    await suppression.stop(account_id=ACCOUNT, number=stopped)

    async def aware() -> bool:
        found = await rows(
            runtime, "SELECT 1 FROM blocklist WHERE phone = :p AND account_id = :a AND suppressed", p=stopped, a=ACCOUNT
        )
        return bool(found)

    await wait_until(aware, timeout=5, what="the dispatcher's copy knows the STOP")

    # Later in the same campaign, another campaign, and an informative message to the same number.
    later_same = request(stopped)
    other_campaign = request(stopped, campaign_id="camp-2")
    informative = request(stopped, campaign_id=None, kind="informative")
    second_wave = [request(phone(n)) for n in range(20, 30)]
    await produce(settings, [(r, r.phone) for r in [later_same, other_campaign, informative, *second_wave]])
    runtime.clock.shift(timedelta(minutes=11))  # type: ignore[attr-defined]
    found = await final_states(runtime, 34)

    assert found[later_same.request_id] == ("refused", "refuse", "suppressed")
    assert found[other_campaign.request_id] == ("refused", "refuse", "suppressed")
    assert found[scheduled.request_id] == ("refused", "refuse", "suppressed"), "a STOP while held wins"
    assert found[informative.request_id] == ("submitted", "send", "ok"), "informative still reaches the number"
    for r in [*first_wave, *second_wave]:
        assert found[r.request_id] == ("submitted", "send", "ok")
    to_stopped = (await simulator.messages(to=stopped))["messages"]
    assert [m["kind"] for m in to_stopped] == ["informative"]

    decided = await read_events(settings, "dispatch.decided", expect=35)
    finals = defaultdict(list)
    for _, payload in decided:
        if payload.final:
            finals[payload.request_id].append((payload.decision, payload.reason))
    assert finals[other_campaign.request_id] == [("refuse", "suppressed")]
    assert finals[scheduled.request_id] == [("refuse", "suppressed")]
    outbound = await read_events(settings, "sms.outbound", expect=31)
    assert len({p.message_id for _, p in outbound}) == 31
    assert stopped not in {p.phone for _, p in outbound if p.kind == "marketing"}


async def final_states_partial(runtime: DispatcherRuntime, wave: list) -> None:
    async def done() -> bool:
        found = await states(runtime)
        return all(found.get(r.request_id, ("",))[0] == "submitted" for r in wave)

    await wait_until(done, what="the first wave submitted")


async def test_with_the_feed_stopped_marketing_holds_and_informative_goes_on(
    isolation: Isolation,
    simulator: RunningSimulator,
    suppression_server,  # type: ignore[no-untyped-def]
    inbound: Inbound,
    clock: AdjustableClock,
) -> None:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    port = free_port()
    settings = dispatcher_settings(
        isolation,
        sim=simulator,
        suppression_url=f"http://127.0.0.1:{port}",
        inbound_url=inbound.url,
        HALTE_SUPPRESSION_MAX_LAG_SECONDS=0.5,
    )
    await produce(settings, [(account_changed(), ACCOUNT)])
    async with suppression_server(port=port):
        runtime = await started(settings, clock)
        try:
            await wait_until(lambda: _current(runtime), what="the copy proven current")
        except BaseException:
            await runtime.stop()
            raise
    try:
        # The suppression service is down now: once the copy is older than 0.5 s, fail closed.
        await wait_until(lambda: _stale(runtime), what="the copy stale")
        marketing = [request(phone(n)) for n in range(5)]
        informative = [request(phone(n), campaign_id=None, kind="informative") for n in range(5, 8)]
        await produce(settings, [(r, r.phone) for r in [*marketing, *informative]])

        async def decided() -> bool:
            found = await states(runtime)
            return all(found.get(r.request_id, ("",))[0] == "held" for r in marketing) and all(
                found.get(r.request_id, ("",))[0] == "submitted" for r in informative
            )

        await wait_until(decided, what="marketing held, informative submitted")
        found = await states(runtime)
        assert {found[r.request_id] for r in marketing} == {("held", "hold", "suppression_feed_stale")}
        assert (await simulator.messages())["count"] == 3

        async with suppression_server(port=port):
            final = await final_states(runtime, 8)
        assert {final[r.request_id] for r in marketing} == {("submitted", "send", "ok")}
        assert (await simulator.messages())["count"] == 8
    finally:
        await runtime.stop()


async def _current(runtime: DispatcherRuntime) -> bool:
    return runtime.dispatcher.lane.current(runtime.clock.now())


async def _stale(runtime: DispatcherRuntime) -> bool:
    return not await _current(runtime)
