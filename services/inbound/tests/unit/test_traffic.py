"""Replies first (adapters/traffic.py): reports wait behind replies, within a bound, in a few slots."""

from __future__ import annotations

import asyncio

from halte_inbound.adapters.traffic import RepliesFirst


async def test_a_report_waits_while_a_reply_is_in_hand() -> None:
    gate = RepliesFirst(report_concurrency=4, max_wait=5)
    order: list[str] = []

    async def report() -> None:
        async with gate.report():
            order.append("report")

    async with gate.reply():
        waiting = asyncio.create_task(report())
        await asyncio.sleep(0.05)
        assert not waiting.done(), "no report is handled while a reply is"
        order.append("reply")
    await asyncio.wait_for(waiting, timeout=1)
    assert order == ["reply", "report"]


async def test_a_stream_of_replies_delays_a_report_only_up_to_the_bound() -> None:
    gate = RepliesFirst(report_concurrency=1, max_wait=0.1)
    async with gate.reply(), gate.report():  # let in after the bound, the reply still in hand
        pass


async def test_reports_share_a_few_slots_and_replies_never_wait() -> None:
    gate = RepliesFirst(report_concurrency=2, max_wait=1)
    inside = 0
    most = 0
    release = asyncio.Event()

    async def report() -> None:
        nonlocal inside, most
        async with gate.report():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    reports = [asyncio.create_task(report()) for _ in range(5)]
    await asyncio.sleep(0.05)
    async with gate.reply():  # all report slots are taken: a reply is not held up by them
        pass
    release.set()
    await asyncio.gather(*reports)
    assert most == 2
