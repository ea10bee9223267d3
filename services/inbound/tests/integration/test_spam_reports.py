"""33700 spam reports: an operator batch becomes opt-outs with channel spam_report, once per report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from halte_inbound.testing import Inbound
from halte_shared.events import OptoutRequested

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer test-admin-token"}


async def test_a_batch_of_reports_is_published_as_spam_report_optouts_and_a_resent_batch_changes_nothing(
    inbound: Inbound,
):
    batch = {
        "reports": [
            {"phone": "06 12 34 56 78", "short_code": "36 111", "reported_at": "2026-11-20T08:00:00+01:00"},
            {"phone": "+33798765432", "sender": "MaBoutique", "reported_at": "2026-11-21T08:00:00+01:00"},
            {"phone": "0611111111", "short_code": "38123"},
        ]
    }
    response = await inbound.client.post("/v1/spam-reports", json=batch, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["published"], body["duplicates"]) == (3, 0)
    assert [r["phone"] for r in body["results"]] == ["+33612345678", "+33798765432", "+33611111111"]

    # Different numbers land on different partitions: put them back in the batch's order.
    order = [r["request_id"] for r in body["results"]]
    optouts = sorted(
        (p for _, p in await inbound.read("optout.requested", expect=3)), key=lambda p: order.index(p.request_id)
    )
    assert all(isinstance(p, OptoutRequested) for p in optouts)
    assert [(p.channel, p.phone, p.short_code, p.account_id) for p in optouts] == [
        ("spam_report", "+33612345678", "36111", None),
        ("spam_report", "+33798765432", "MaBoutique", None),
        ("spam_report", "+33611111111", "38123", None),
    ]
    assert optouts[0].received_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)

    again = (await inbound.client.post("/v1/spam-reports", json=batch, headers=ADMIN)).json()
    # Dated reports are recognised; an undated one cannot be told apart from a new report.
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate", "published"]
    assert await inbound.count("spam_reports") == 4


@pytest.mark.parametrize(
    ("batch", "status", "field"),
    [
        pytest.param({"reports": [{"phone": "0612345678", "short_code": "36111"}]}, 401, None, id="no-token"),
        pytest.param({"reports": []}, 422, "reports", id="empty"),
        pytest.param({"reports": [{"phone": "0612345678"}]}, 422, "reports.0", id="no-target"),
        pytest.param(
            {"reports": [{"phone": "0612345678", "short_code": "36111", "sender": "X"}]},
            422,
            "reports.0",
            id="two-targets",
        ),
        pytest.param(
            {"reports": [{"phone": "0612345678", "short_code": "36111"}, {"phone": "12", "short_code": "1"}]},
            422,
            "reports.1.phone",
            id="one-bad-number-refuses-the-batch",
        ),
        pytest.param(
            {"reports": [{"phone": "0612345678", "short_code": "36111", "why": "spam"}]},
            422,
            "reports.0.why",
            id="unknown-field",
        ),
    ],
)
async def test_a_bad_batch_is_refused_whole_and_records_nothing(inbound: Inbound, batch, status, field):
    headers = {} if status == 401 else ADMIN
    response = await inbound.client.post("/v1/spam-reports", json=batch, headers=headers)
    assert response.status_code == status, response.text
    if field:
        assert response.json()["error"]["field"] == field
    assert await inbound.count("spam_reports") == 0
    assert await inbound.outbox() == []
