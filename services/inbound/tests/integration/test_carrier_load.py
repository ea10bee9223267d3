"""Authenticated carrier traffic under load: never answered 429, and a DLR flood never delays a STOP."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest
from prometheus_client import REGISTRY

from halte_inbound.testing import Inbound, account, mo_body

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURST = 300
AT_ONCE = 50
FLOOD = 240
STOP_AFTER = 16


def dlr_body(index: int) -> bytes:
    return json.dumps(
        {"message_id": f"c-{index}", "our_message_id": f"msg-{index}", "status": "DELIVRD", "to": "0612345678"}
    ).encode()


async def test_a_burst_of_signed_replies_and_reports_is_all_acknowledged_never_429(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    gate = asyncio.Semaphore(AT_ONCE)

    async def send(index: int) -> httpx.Response:
        async with gate:
            if index % 2:
                return await inbound.post_dlr(dlr_body(index))
            return await inbound.post_mo(mo_body("STOP" if index % 4 == 0 else "CONTACT", message_id=f"m-{index}"))

    responses = await asyncio.gather(*(send(i) for i in range(BURST)))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: BURST}, statuses
    assert {r.json()["status"] for r in responses} == {"recorded"}
    assert await inbound.count("inbound_messages") == BURST // 2
    assert await inbound.count("delivery_reports") == BURST // 2


async def test_a_stop_sent_during_a_dlr_flood_is_acknowledged_before_most_of_the_flood(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    acknowledged: list[str] = []
    flood_started = asyncio.Event()

    async def report(index: int) -> int:
        response = await inbound.post_dlr(dlr_body(index))
        acknowledged.append("dlr")
        if len(acknowledged) >= STOP_AFTER:
            flood_started.set()
        return response.status_code

    flood = [asyncio.create_task(report(i)) for i in range(FLOOD)]
    await flood_started.wait()
    waiting = REGISTRY.get_sample_value("halte_inbound_dlr_waiting")
    reports_before_stop = len(acknowledged)
    stop = await inbound.post_mo(mo_body("STOP", message_id="stop-in-the-flood"))
    acknowledged.append("stop")
    statuses = await asyncio.gather(*flood)

    assert stop.status_code == 200 and stop.json()["status"] == "recorded", stop.text
    # Reports beyond the slots waited for their turn; none was refused.
    assert waiting is not None and waiting > 0
    assert set(statuses) == {200}
    assert REGISTRY.get_sample_value("halte_inbound_dlr_waiting") == 0
    # The STOP overtook the flood: most of the reports queued when it arrived were acknowledged after it.
    position = acknowledged.index("stop")
    overtaken = FLOOD - position
    assert position - reports_before_stop < (FLOOD - reports_before_stop) // 3, acknowledged
    assert overtaken > FLOOD // 2, acknowledged
    [row] = await inbound.rows("SELECT classification FROM inbound_messages")
    assert row.classification == "stop"
    assert await inbound.count("delivery_reports") == FLOOD
