"""The opt-out journal on real PostgreSQL: every acknowledged opt-out, numbered in commit order, pushed on commit."""

from __future__ import annotations

import asyncio
import time

import pytest

from halte_inbound.handlers import SpamReport, confirm_web_optout, receive_spam_reports
from halte_inbound.testing import Inbound, account, mo_body

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer test-admin-token"}


async def journal(inbound: Inbound, **params: float) -> dict:
    response = await inbound.client.get("/v1/internal/optout-journal", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_acknowledged_stop_is_journaled_once_and_other_replies_are_not(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    start = (await journal(inbound))["latest_sequence"]
    stop = await inbound.post_mo(mo_body("STOP", sender="0612345678", message_id="j-1"))
    assert stop.status_code == 200, stop.text
    # A carrier's retry of the same STOP, a CONTACT and a plain reply add nothing to the journal.
    assert (await inbound.post_mo(mo_body("STOP", sender="0612345678", message_id="j-1"))).json()["status"] == (
        "duplicate"
    )
    assert (await inbound.post_mo(mo_body("CONTACT", sender="0612345679", message_id="j-2"))).status_code == 200
    assert (await inbound.post_mo(mo_body("merci", sender="0612345679", message_id="j-3"))).status_code == 200

    page = await journal(inbound, after=start)
    [entry] = page["entries"]
    assert entry["sequence"] == start + 1 == page["latest_sequence"]
    assert (entry["request_id"], entry["channel"], entry["phone"], entry["short_code"], entry["account_id"]) == (
        stop.json()["id"],
        "sms",
        "+33612345678",
        "36111",
        None,
    )
    assert entry["received_at"] and entry["acknowledged_at"]


async def test_web_optouts_and_spam_reports_are_journaled_with_what_they_name(inbound: Inbound):
    start = (await journal(inbound))["latest_sequence"]
    web_id = await confirm_web_optout(inbound.runtime, account_id="acc-9", phone="+33612340000", language="fr")
    [report] = await receive_spam_reports(
        inbound.runtime, [SpamReport(phone="+33612340001", target="36111", target_kind="short_code")]
    )
    entries = (await journal(inbound, after=start))["entries"]
    assert [(e["request_id"], e["channel"], e["phone"], e["short_code"], e["account_id"]) for e in entries] == [
        (web_id, "web", "+33612340000", None, "acc-9"),
        (report.request_id, "spam_report", "+33612340001", "36111", None),
    ]


async def test_a_waiting_reader_is_answered_when_a_stop_commits(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    start = (await journal(inbound))["latest_sequence"]
    started = time.monotonic()
    reader = asyncio.create_task(journal(inbound, after=start, wait=10))
    await asyncio.sleep(0.3)
    assert not reader.done(), "with nothing new, the reader waits"
    assert (await inbound.post_mo(mo_body("STOP", sender="0612345670", message_id="j-w"))).status_code == 200
    page = await asyncio.wait_for(reader, timeout=10)
    assert [e["phone"] for e in page["entries"]] == ["+33612345670"]
    # Woken by the commit's notification, not by the end of its 10-second wait.
    assert time.monotonic() - started < 8


async def test_an_empty_wait_ends_with_an_empty_page_at_the_head(inbound: Inbound):
    head = (await journal(inbound))["latest_sequence"]
    page = await journal(inbound, after=head, wait=0.2)
    assert page["entries"] == [] and page["latest_sequence"] == head


async def test_readers_racing_writers_see_every_stop_once_with_no_gap(inbound: Inbound):
    await inbound.accounts(account("acc-1", short_codes=["36111"]))
    start = (await journal(inbound))["latest_sequence"]
    done = asyncio.Event()

    async def reader() -> list[dict]:
        # Polls while 40 STOPs commit concurrently: what it reads when done must be all of them.
        seen: list[dict] = []
        after = start
        while True:
            finished = done.is_set()
            page = await journal(inbound, after=after, limit=7)
            seen.extend(page["entries"])
            after = page["entries"][-1]["sequence"] if page["entries"] else after
            if finished and after == page["latest_sequence"]:
                return seen

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    answers = await asyncio.gather(
        *(inbound.post_mo(mo_body("STOP", sender=f"06123450{i:02d}", message_id=f"c-{i}")) for i in range(40))
    )
    done.set()
    assert all(a.status_code == 200 for a in answers)
    acknowledged = {a.json()["id"] for a in answers}
    for seen in await asyncio.gather(*readers):
        assert [e["sequence"] for e in seen] == list(range(start + 1, start + 41)), "consecutive, once each"
        assert {e["request_id"] for e in seen} == acknowledged


async def test_the_journal_is_for_the_operator_only(inbound: Inbound):
    response = await inbound.client.get("/v1/internal/optout-journal")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
