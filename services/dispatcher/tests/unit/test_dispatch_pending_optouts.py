"""How an opt-out not yet applied by suppression blocks marketing (domain/suppression.py), table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_dispatcher.domain.decision import Decision
from halte_dispatcher.domain.suppression import PendingOptout, blocks_by_pair, pending_block, suppression_check

NUMBER = "+33612345678"
OURS, THEIRS = "acct-ours", "acct-theirs"


def stop(code: str | None = "36111", *, account: str | None = None, sharers: int = 1) -> PendingOptout:
    return PendingOptout("req-1", NUMBER, code, account, sharers)


@pytest.mark.parametrize(
    ("pending", "codes", "sender", "expected"),
    [
        pytest.param([], ("36111",), "36111", None, id="nothing-pending"),
        pytest.param([stop()], ("36111",), "36111", "suppressed", id="dedicated-short-code"),
        pytest.param([stop(sharers=0)], ("36111",), "36111", "suppressed", id="owner-not-active-yet"),
        pytest.param([stop(sharers=2)], ("36111",), "36111", "pending", id="shared-short-code"),
        pytest.param([stop("36222")], ("36111",), "36111", None, id="another-short-code"),
        pytest.param([stop("36222", sharers=0)], ("36111",), "36222", "pending", id="sent-from-that-code-not-ours-now"),
        pytest.param([stop(None, account=OURS)], (), "36111", "suppressed", id="names-our-account"),
        pytest.param([stop(None, account=THEIRS)], ("36111",), "36111", None, id="names-another-account"),
        pytest.param([stop(sharers=3), stop(None, account=OURS)], ("36111",), "36111", "suppressed", id="certain-wins"),
        pytest.param([stop(None)], ("36111",), "36111", None, id="neither-code-nor-account"),
    ],
)
def test_pending_block(pending: list[PendingOptout], codes: tuple[str, ...], sender: str, expected: str | None) -> None:
    assert pending_block(account_id=OURS, account_short_codes=codes, sender=sender, pending=pending) == expected


def test_a_confirmed_suppression_beats_a_pending_one_and_blocks_only_its_account() -> None:
    blocks = blocks_by_pair(
        [(OURS, NUMBER, "36111"), (THEIRS, NUMBER, "36111"), (OURS, "+33600000000", "36111")],
        suppressed={(OURS, NUMBER)},
        pending={NUMBER: [stop(sharers=2)]},
        short_codes={OURS: ("36111",), THEIRS: ("36111",)},
    )
    assert blocks == {(OURS, NUMBER): "suppressed", (THEIRS, NUMBER): "pending"}


@pytest.mark.parametrize(
    ("kind", "suppressed", "pending", "current", "expected"),
    [
        ("marketing", True, True, False, Decision.refuse("suppressed")),
        ("marketing", False, True, True, Decision.hold("optout_pending")),
        ("marketing", False, True, False, Decision.hold("optout_pending")),
        ("marketing", False, False, False, Decision.hold("suppression_feed_stale")),
        ("marketing", False, False, True, None),
        ("informative", True, True, False, None),
    ],
)
def test_the_blocklist_rule_in_order(
    kind: str, suppressed: bool, pending: bool, current: bool, expected: Decision | None
) -> None:
    assert suppression_check(kind=kind, suppressed=suppressed, feed_current=current, optout_pending=pending) == expected


@given(
    sharers=st.integers(min_value=0, max_value=5),
    named=st.sampled_from([None, OURS, THEIRS]),
    code=st.sampled_from([None, "36111", "36222"]),
)
def test_a_pending_optout_never_lets_marketing_through_to_the_account_it_may_concern(
    sharers: int, named: str | None, code: str | None
) -> None:
    found = pending_block(
        account_id=OURS,
        account_short_codes=("36111",),
        sender="36111",
        pending=[stop(code, account=named, sharers=sharers)],
    )
    concerns_us = named == OURS or code == "36111"
    assert (found is not None) == concerns_us
