"""Campaign rules: life cycle, reservation, per-batch charges, request ids; rate limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_campaign_api.domain.campaigns import (
    allocate_batch,
    audience_summary,
    ensure_can_cancel,
    ensure_can_launch,
    outcome_of,
    reported_status,
    request_id_for,
    reservation_for,
)
from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.ratelimit import RateLimiter, TokenBucket


def test_life_cycle() -> None:
    ensure_can_launch("draft")
    for status in ("running", "dispatched", "cancelled"):
        with pytest.raises(DomainError) as err:
            ensure_can_launch(status)
        assert err.value.code == "invalid_status"
    ensure_can_cancel("draft")
    ensure_can_cancel("running")
    with pytest.raises(DomainError):
        ensure_can_cancel("dispatched")
    assert reported_status("dispatched", pending=0) == "completed"
    assert reported_status("dispatched", pending=3) == "dispatched"
    assert reported_status("running", pending=0) == "running"
    assert [outcome_of(d) for d in ("send", "hold", "refuse")] == ["sent", "held", "refused"]


def test_request_ids_are_deterministic_per_campaign_and_number() -> None:
    assert request_id_for("c1", "+33612345678") == request_id_for("c1", "+33612345678")
    assert request_id_for("c1", "+33612345678") != request_id_for("c2", "+33612345678")
    assert request_id_for("c1", "+33612345678") != request_id_for("c1", "+33612345679")


def test_reservation() -> None:
    assert reservation_for(recipients=1000, segments=2, credits_per_segment=1) == 2000
    assert reservation_for(recipients=0, segments=1, credits_per_segment=3) == 0
    with pytest.raises(ValueError):
        reservation_for(recipients=1, segments=0, credits_per_segment=1)


@pytest.mark.parametrize(
    ("costs", "left", "available", "charges", "extra"),
    [
        ([1, 1, 1], 5, 0, (1, 1, 1), 0),  # covered by the reservation
        ([2, 1, 1], 3, 10, (2, 1, 1), 1),  # one more credit reserved from the balance
        ([2, 2, 2], 3, 0, (2, 0, 0), 0),  # the rest is requested without credits (refused)
        ([2, 2, 2], 3, 2, (2, 2, 0), 1),  # what the balance covers, in order
        ([1, 3, 1], 2, 0, (1, 0, 1), 0),  # a later cheaper recipient still fits
    ],
)
def test_allocate_batch(costs, left, available, charges, extra) -> None:
    result = allocate_batch(costs, left=left, available=available)
    assert (result.charges, result.extra_reserved) == (charges, extra)


@given(
    costs=st.lists(st.integers(min_value=1, max_value=4), max_size=30),
    left=st.integers(min_value=0, max_value=40),
    available=st.integers(min_value=0, max_value=40),
)
def test_allocation_never_overdraws(costs: list[int], left: int, available: int) -> None:
    result = allocate_batch(costs, left=left, available=available)
    assert result.total <= left + available
    assert 0 <= result.extra_reserved <= available
    assert result.total <= left + result.extra_reserved
    assert all(c in (0, cost) for c, cost in zip(result.charges, costs, strict=True))
    if sum(costs) <= left:
        assert result.charges == tuple(costs) and result.extra_reserved == 0


def test_audience_summary() -> None:
    assert audience_summary([], []) == "the whole address book"
    assert (
        audience_summary(["vip", "paris"], ["+33612345678"]) == "contacts tagged vip or paris plus 1 named contact(s)"
    )


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.take(0.0) == 0 and bucket.take(0.0) == 0
    assert bucket.take(0.0) == pytest.approx(1.0)
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


def test_rate_limiter_per_account() -> None:
    limiter = RateLimiter(rate=0.5, burst=1)
    assert limiter.check("a", now=10.0) == 0
    assert limiter.check("a", now=10.1) == 2  # whole seconds for Retry-After, rounded up
    assert limiter.check("b", now=10.1) == 0
    assert limiter.check("a", now=12.1) == 0
