"""What the feed says of each opt-out request (pending, then resolve) and how a waiting reader is woken."""

from __future__ import annotations

import asyncio
import time

import pytest

from .conftest import Service, eventually, fresh_phone, fresh_short_code
from .test_consumers import stop

pytestmark = pytest.mark.integration


async def changes_of(service: Service, *, after: int, request_id: str | None = None, phone: str | None = None):
    feed = (await service.http.get("/v1/feed", params={"after": after, "limit": 10_000})).json()
    return [
        c
        for c in feed["changes"]
        if (request_id is not None and c["request_id"] == request_id) or (phone is not None and c["phone"] == phone)
    ]


async def head(service: Service) -> int:
    return int((await service.http.get("/v1/feed", params={"limit": 1})).json()["latest_sequence"])


async def test_an_applied_stop_is_a_suppress_then_a_resolve_of_its_request(service: Service):
    code, phone = fresh_short_code(), fresh_phone()
    await service.learn_account(f"acc-{code}", code)
    start = await head(service)
    request = stop(phone, code)
    await service.publish(request, key=phone)
    changes = await eventually(
        lambda: changes_of(service, after=start, request_id=request.request_id, phone=phone),
        lambda found: len(found) == 2,
        what="the suppress and resolve rows",
    )
    suppress, resolve = changes
    assert (suppress["action"], suppress["account_id"], suppress["phone"]) == ("suppress", f"acc-{code}", phone)
    assert (resolve["action"], resolve["request_id"]) == ("resolve", request.request_id)
    assert resolve["sequence"] > suppress["sequence"], "a reader applies the suppression before the resolution"

    # A repeat of the same STOP (another request) changes no suppression but is resolved too.
    again = stop(phone, code, text="Stop SMS")
    await service.publish(again, key=phone)
    [resolved] = await eventually(
        lambda: changes_of(service, after=resolve["sequence"], request_id=again.request_id),
        lambda found: len(found) == 1,
        what="the repeat's resolve row",
    )
    assert resolved["action"] == "resolve"


async def test_a_stop_on_an_unknown_short_code_stays_pending_until_an_account_is_known(service: Service):
    code, phone = fresh_short_code(), fresh_phone()
    start = await head(service)
    request = stop(phone, code)
    await service.publish(request, key=phone)
    [pending] = await eventually(
        lambda: changes_of(service, after=start, request_id=request.request_id),
        lambda found: len(found) == 1,
        what="the pending row",
    )
    assert (pending["action"], pending["phone"], pending["short_code"]) == ("pending", phone, code)

    await service.learn_account(f"acc-{code}", code)
    later = await eventually(
        lambda: changes_of(service, after=pending["sequence"], request_id=request.request_id, phone=phone),
        lambda found: len(found) == 2,
        what="the late suppression and its resolve row",
    )
    assert [c["action"] for c in later] == ["suppress", "resolve"]


async def test_a_waiting_reader_is_answered_when_a_change_commits(service: Service):
    code, phone = fresh_short_code(), fresh_phone()
    await service.learn_account(f"acc-{code}", code)
    start = await head(service)
    started = time.monotonic()
    reader = asyncio.create_task(service.http.get("/v1/feed", params={"after": start, "wait": 10}))
    await asyncio.sleep(0.3)
    assert not reader.done(), "with nothing new, the reader waits"
    await service.publish(stop(phone, code), key=phone)
    page = (await asyncio.wait_for(reader, timeout=15)).json()
    assert page["changes"] and page["changes"][0]["phone"] == phone
    # Woken by the commit's notification, not by the end of its 10-second wait.
    assert time.monotonic() - started < 8


async def test_a_wait_longer_than_allowed_is_refused(service: Service):
    response = await service.http.get("/v1/feed", params={"wait": 11})
    assert response.status_code == 422 and response.json()["error"]["field"] == "wait"
