"""Routes, rate limits and retries of the carrier router (scripted adapters, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from prometheus_client import REGISTRY

from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierPermanentError,
    CarrierTemporaryError,
    OutboundSms,
    SubmitResult,
)
from halte_shared.carriers.routing import CarrierRouter, RetryPolicy, RouteTable, RoutingError, TokenBucket


def sms(to: str = "+33612345678", message_id: str = "m-1") -> OutboundSms:
    return OutboundSms(message_id=message_id, to=to, sender="36111", text="hello")


class ScriptedAdapter(CarrierAdapter):
    """Answers each submission with the next scripted outcome (an exception or "ok")."""

    def __init__(self, name: str, script: Iterable[object] = (), *, idempotent: bool = False) -> None:
        self.name = name
        self.honours_idempotency_key = idempotent
        self.script = list(script)
        self.calls: list[OutboundSms] = []

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        self.calls.append(sms)
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return SubmitResult.accepted_by(self.name, f"{self.name}-{len(self.calls)}")


class FakeTime:
    """A monotonic clock and a sleep that advances it, so waits are measured, not waited."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- routes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "carrier"),
    [
        ("+33612345678", "sim"),
        ("+33700000000", "smsc1"),  # +337 is longer than +33
        ("+447700900123", "kannel"),
        ("+12025550123", "sim"),  # default
        ("+262692123456", "reunion"),
    ],
)
def test_the_longest_matching_prefix_wins(phone: str, carrier: str) -> None:
    table = RouteTable.parse("+33=sim, +44=kannel,+337=smsc1,+262=reunion", default="sim")
    assert table.carrier_for(phone) == carrier


def test_an_empty_table_routes_everything_to_the_default() -> None:
    table = RouteTable.parse("", default="sim")
    assert table.carrier_for("+33612345678") == "sim" and table.carriers() == {"sim"}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("33=sim", "prefix"),
        ("+33", "must read"),
        ("+33=", "carrier name"),
        ("+33=Sim!", "carrier name"),
        ("+33=sim,+33=kannel", "routed twice"),
        ("+3a=sim", "prefix"),
    ],
)
def test_a_bad_route_table_is_refused_with_the_culprit_named(spec: str, problem: str) -> None:
    with pytest.raises(RoutingError, match=problem):
        RouteTable.parse(spec, default="sim")


def test_a_router_refuses_routes_to_carriers_it_does_not_have() -> None:
    with pytest.raises(RoutingError, match="kannel"):
        CarrierRouter({"sim": ScriptedAdapter("sim")}, RouteTable.parse("+44=kannel", default="sim"))


# -- token bucket --------------------------------------------------------------------------


def test_the_bucket_admits_a_burst_then_spaces_reservations_by_the_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, burst=3, clock=time.clock)
    waits = [bucket.reserve() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2])


def test_the_bucket_refills_with_time_up_to_its_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(2, burst=2, clock=time.clock)
    assert [bucket.reserve(), bucket.reserve()] == [0.0, 0.0]
    time.now += 0.5  # one token back
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.5)
    time.now += 60  # refills, but never beyond the burst
    assert [bucket.reserve(), bucket.reserve()] == [0.0, 0.0]
    assert bucket.reserve() > 0


async def test_the_router_holds_a_carrier_to_its_rate() -> None:
    time = FakeTime()
    adapter = ScriptedAdapter("sim")
    router = CarrierRouter(
        {"sim": adapter},
        RouteTable(default="sim"),
        limits={"sim": TokenBucket(5, burst=1, clock=time.clock, sleep=time.sleep)},
        sleep=time.sleep,
    )
    start = time.now
    for n in range(11):
        assert (await router.submit(sms(message_id=f"m-{n}"))).accepted
    # 11 messages at 5/s with a burst of 1: the last leaves 2 s after the first.
    assert time.now - start == pytest.approx(2.0)
    assert len(adapter.calls) == 11


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


# -- retries -------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_its_ceiling_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=1.0, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.delay(1, retry_after=3.0) == 3.0
    jittered = RetryPolicy(base_delay=1.0, jitter=0.2)
    assert all(0.8 <= jittered.delay(1) <= 1.2 for _ in range(100))


async def test_temporary_errors_are_retried_with_backoff_until_accepted() -> None:
    time = FakeTime()
    adapter = ScriptedAdapter(
        "sim", [CarrierTemporaryError("busy", throttled=True), CarrierTemporaryError("timeout", retry_after=2.0)]
    )
    router = CarrierRouter(
        {"sim": adapter}, RouteTable(default="sim"), retry=RetryPolicy(base_delay=0.1, jitter=0), sleep=time.sleep
    )
    result = await router.submit(sms())
    assert result.accepted and result.attempts == 3 and result.carrier_message_id == "sim-3"
    assert time.sleeps == pytest.approx([0.1, 2.0])


async def test_retries_are_bounded_and_the_result_says_retry_later() -> None:
    time = FakeTime()
    adapter = ScriptedAdapter("sim", [CarrierTemporaryError("down", code="http_503")] * 10)
    router = CarrierRouter({"sim": adapter}, RouteTable(default="sim"), retry=RetryPolicy(3), sleep=time.sleep)
    result = await router.submit(sms())
    assert not result.accepted and result.retryable and not result.outcome_unknown
    assert result.attempts == 3 and len(adapter.calls) == 3 and result.error_code == "http_503"


async def test_a_permanent_refusal_is_not_retried() -> None:
    adapter = ScriptedAdapter("sim", [CarrierPermanentError("bad number", code="ESME_RINVDSTADR")])
    router = CarrierRouter({"sim": adapter}, RouteTable(default="sim"))
    result = await router.submit(sms())
    assert not result.accepted and not result.retryable and result.attempts == 1
    assert result.error_code == "ESME_RINVDSTADR" and result.carrier_message_id is None


async def test_an_ambiguous_failure_is_not_resent_to_a_carrier_that_ignores_idempotency_keys() -> None:
    adapter = ScriptedAdapter("kannel", [CarrierTemporaryError("timeout", outcome_unknown=True)])
    router = CarrierRouter({"kannel": adapter}, RouteTable(default="kannel"))
    result = await router.submit(sms())
    assert not result.accepted and result.outcome_unknown and not result.retryable
    assert len(adapter.calls) == 1


async def test_an_ambiguous_failure_is_resent_to_a_carrier_that_honours_idempotency_keys() -> None:
    time = FakeTime()
    adapter = ScriptedAdapter("sim", [CarrierTemporaryError("timeout", outcome_unknown=True)], idempotent=True)
    router = CarrierRouter({"sim": adapter}, RouteTable(default="sim"), sleep=time.sleep)
    result = await router.submit(sms())
    assert result.accepted and result.attempts == 2
    assert adapter.calls[0].message_id == adapter.calls[1].message_id  # the same key: one SMS


async def test_an_adapter_bug_becomes_an_unknown_outcome_not_an_exception() -> None:
    adapter = ScriptedAdapter("kannel", [KeyError("oops")])
    router = CarrierRouter({"kannel": adapter}, RouteTable(default="kannel"))
    result = await router.submit(sms())
    assert not result.accepted and result.outcome_unknown and result.error_code == "unexpected"


async def test_the_router_sends_each_number_to_its_carrier_or_the_one_asked_for() -> None:
    sim, kannel = ScriptedAdapter("sim"), ScriptedAdapter("kannel")
    router = CarrierRouter({"sim": sim, "kannel": kannel}, RouteTable.parse("+44=kannel", default="sim"))
    assert (await router.submit(sms("+447700900123"))).carrier == "kannel"
    assert (await router.submit(sms("+33612345678"))).carrier == "sim"
    assert (await router.submit(sms("+33612345678"), carrier="kannel")).carrier == "kannel"
    assert router.carrier_for("+447700900123") == "kannel"
    with pytest.raises(RoutingError):
        await router.submit(sms(), carrier="nowhere")


async def test_outcomes_are_counted_by_carrier() -> None:
    def count(outcome: str) -> float:
        return (
            REGISTRY.get_sample_value("halte_carrier_submissions_total", {"carrier": "metered", "outcome": outcome})
            or 0
        )

    before = {o: count(o) for o in ("accepted", "rejected")}
    adapter = ScriptedAdapter("metered", ["ok", CarrierPermanentError("no")])
    router = CarrierRouter({"metered": adapter}, RouteTable(default="metered"))
    await router.submit(sms())
    await router.submit(sms())
    assert count("accepted") == before["accepted"] + 1
    assert count("rejected") == before["rejected"] + 1
    assert REGISTRY.get_sample_value("halte_carrier_submit_seconds_count", {"carrier": "metered"}) == 2
