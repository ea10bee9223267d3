"""The HTTP clients (suppression feed, account keys), the release pacer and message ids, without I/O.

The HTTP clients run against httpx.MockTransport: these are unit tests of how they read
answers; the integration tests run them against the real suppression service.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from halte_dispatcher.adapters.account_keys import AccountKeyCheckUnavailable, AccountKeyVerifier
from halte_dispatcher.adapters.carriers import configured_rate
from halte_dispatcher.adapters.suppression_feed import FeedUnavailable, HttpSuppressionFeed
from halte_dispatcher.handlers import message_id_for
from halte_dispatcher.pacing import ReleasePacer
from halte_shared.carriers.base import OutboundSms
from halte_shared.carriers.routing import TokenBucket

PAGE = {
    "changes": [
        {"sequence": 7, "account_id": "a", "phone": "+33612345678", "action": "suppress", "at": "2026-06-16T08:00:00Z"},
        {"sequence": 8, "account_id": "a", "phone": "+33612345678", "action": "lift", "at": "2026-06-16T08:01:00Z"},
    ],
    "latest_sequence": 9,
    "as_of": "2026-06-16T08:02:00+00:00",
}


def feed_answering(status: int, body: object, seen: list[httpx.Request] | None = None) -> HttpSuppressionFeed:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content)

    return HttpSuppressionFeed(base_url="http://suppression.test", token="tok", transport=httpx.MockTransport(handler))


async def test_a_feed_page_is_read_with_the_operator_token() -> None:
    seen: list[httpx.Request] = []
    page = await feed_answering(200, PAGE, seen).fetch(after=6, limit=100)
    assert [(c.sequence, c.action) for c in page.changes] == [(7, "suppress"), (8, "lift")]
    assert page.latest_sequence == 9
    assert page.changes[0].at == datetime(2026, 6, 16, 8, tzinfo=UTC)
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert dict(seen[0].url.params) == {"after": "6", "limit": "100"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"error": "down"}),
        (401, {"error": "who"}),
        (200, b"not json"),
        (200, {"changes": [{"sequence": "x"}], "latest_sequence": 1}),
        (200, {"changes": [], "latest_sequence": 1, "as_of": "2026-06-16T08:00:00"}),  # naive time
    ],
)
async def test_an_unreadable_feed_is_unavailable(status: int, body: object) -> None:
    with pytest.raises(FeedUnavailable):
        await feed_answering(status, body).fetch(after=0, limit=10)


async def test_an_unreachable_feed_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    feed = HttpSuppressionFeed(base_url="http://suppression.test", token="t", transport=httpx.MockTransport(refuse))
    with pytest.raises(FeedUnavailable, match="unreachable"):
        await feed.fetch(after=0, limit=10)


def verifier(answers: dict[str, httpx.Response], calls: list[str]) -> AccountKeyVerifier:
    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        calls.append(key)
        return answers[key]

    return AccountKeyVerifier(campaign_api_url="http://campaign.test", transport=httpx.MockTransport(handler))


async def test_account_keys_are_resolved_once_and_cached() -> None:
    calls: list[str] = []
    keys = verifier({"good": httpx.Response(200, json={"id": "acct-1"}), "bad": httpx.Response(401, json={})}, calls)
    assert await keys.account_of("good") == "acct-1"
    assert await keys.account_of("good") == "acct-1"
    assert await keys.account_of("bad") is None
    assert await keys.account_of("bad") is None
    assert calls == ["good", "bad"]


@pytest.mark.parametrize(
    "answer", [httpx.Response(500, json={}), httpx.Response(200, json={"name": "no id"}), httpx.Response(200, text="x")]
)
async def test_an_account_check_that_cannot_conclude_is_unavailable(answer: httpx.Response) -> None:
    with pytest.raises(AccountKeyCheckUnavailable):
        await verifier({"key": answer}, []).account_of("key")


def test_the_pacer_releases_at_its_rate_with_one_second_of_burst() -> None:
    now = [0.0]
    pacer = ReleasePacer(10, clock=lambda: now[0])
    assert pacer.available() == 10
    pacer.spend(10)
    assert pacer.available() == 0
    now[0] = 0.5
    assert pacer.available() == 5
    now[0] = 100.0
    assert pacer.available() == 10, "an idle pacer does not hoard more than its burst"
    with pytest.raises(ValueError):
        ReleasePacer(0)


def test_the_release_rate_is_the_sum_of_the_carriers_limits() -> None:
    class Router:
        adapters = {"sim": object(), "kannel": object()}
        limits = {"sim": TokenBucket(200), "kannel": TokenBucket(50)}

    assert configured_rate(Router()) == 250.0
    Router.limits = {"sim": TokenBucket(200)}
    assert configured_rate(Router()) is None, "one carrier without a limit makes the total unbounded"
    assert configured_rate(object()) is None


def test_message_ids_are_stable_and_carrier_safe() -> None:
    first = message_id_for("camp-1:+33612345678")
    assert first == message_id_for("camp-1:+33612345678")
    assert first != message_id_for("camp-1:+33612345679")
    OutboundSms(message_id=first, to="+33612345678", sender="36111", text="x")  # accepted by the carrier port


def test_the_suppression_fault_is_refused_outside_test_mode() -> None:
    from pydantic import ValidationError

    from halte_dispatcher.config import Settings

    base = {"DATABASE_URL": "postgresql://x/y", "KAFKA_BOOTSTRAP_SERVERS": "x:1", "HALTE_ENV": "test"}
    with pytest.raises(ValidationError, match="needs HALTE_TEST_MODE"):
        Settings(**base, HALTE_TEST_BREAK_SUPPRESSION_CHECK=True)  # type: ignore[arg-type]
    assert Settings(**base, HALTE_TEST_MODE=True, HALTE_TEST_BREAK_SUPPRESSION_CHECK=True).test_break_suppression_check  # type: ignore[arg-type]
