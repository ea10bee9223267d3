"""Through a real Kannel gateway: the dispatcher's SMS reach fakesmsc, delivery reports come back via inbound.

Everything is real and runs on loopback: bearerbox, smsbox and fakesmsc (Debian's kannel and
kannel-extras, configured by halte_shared.kannel_gateway in the test's temporary directory on
free ports), the inbound service's app (its Kannel dlr-url endpoint; its Kafka consumer left
out, it only needs to publish), the suppression service's feed, PostgreSQL and the broker.
The dispatcher runs whole: requests go in on ``dispatch.requested``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from halte_dispatcher.testing import (
    ACCOUNT,
    MARKETING_TEXT,
    TUESDAY_10,
    Suppression,
    account_changed,
    build,
    dispatcher_settings,
    produce,
    read_events,
    request,
    states,
    wait_until,
)
from halte_inbound.bootstrap import bootstrap as bootstrap_inbound
from halte_inbound.entrypoints.http import create_app as create_inbound_app
from halte_inbound.testing import KANNEL_TOKEN, inbound_settings
from halte_shared.carriers.testing import RunningSimulator, serve_app
from halte_shared.clock import AdjustableClock
from halte_shared.kannel_gateway import KannelGateway, contract_mo_url, kannel_installed
from halte_shared.testing import Isolation, migrate

pytestmark = [pytest.mark.integration, pytest.mark.kannel]
#: "œ" is not in the GSM 7-bit alphabet: the message must travel as UCS-2.
UNICODE_TEXT = "Votre rendez-vous au cœur de Paris est confirmé ✓"
MARKETING_TO, INFORMATIVE_TO = "+33612345678", "+33698765432"


@pytest.fixture
async def inbound(isolation: Isolation) -> AsyncIterator[str]:
    """Serve the real inbound service (HTTP and outbox; no consumer) and return its URL."""
    await migrate(isolation, "halte_inbound", "inbound")
    settings = inbound_settings(isolation)
    app = create_inbound_app(settings, runtime_factory=lambda: bootstrap_inbound(settings, consume=False))
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def gateway(tmp_path: Path, inbound: str) -> AsyncIterator[KannelGateway]:
    if not kannel_installed():
        pytest.skip("Kannel is not installed: /usr/sbin/bearerbox, /usr/sbin/smsbox or fakesmsc is missing")
    kannel = KannelGateway(
        tmp_path / "kannel", mo_url=contract_mo_url(inbound_url=inbound, carrier="kannel", token=KANNEL_TOKEN)
    )
    await asyncio.to_thread(kannel.start)
    yield kannel
    await asyncio.to_thread(kannel.stop)


async def test_messages_reach_the_phone_through_kannel_and_reports_come_back_through_inbound(
    isolation: Isolation,
    simulator: RunningSimulator,
    suppression: Suppression,
    inbound: str,
    gateway: KannelGateway,
) -> None:
    await migrate(isolation, "halte_dispatcher", "dispatcher")
    carriers = {
        "kannel": {
            "kind": "kannel",
            "url": gateway.sendsms_url.removesuffix("/cgi-bin/sendsms"),
            "username": gateway.username,
            "password": gateway.password,
            "secret": KANNEL_TOKEN,
            "rate_per_second": 20,
        }
    }
    settings = dispatcher_settings(
        isolation,
        sim=simulator,
        suppression_url=suppression.url,
        inbound_url=inbound,
        HALTE_CARRIERS=json.dumps(carriers),
        HALTE_DEFAULT_CARRIER="kannel",
    )
    clock = AdjustableClock()
    clock.set(TUESDAY_10)
    marketing = request(MARKETING_TO)
    informative = request(INFORMATIVE_TO, campaign_id=None, kind="informative", text=UNICODE_TEXT)
    await produce(settings, [(account_changed(), ACCOUNT)])
    runtime = build(settings, clock=clock)
    await runtime.start()
    try:
        await produce(settings, [(marketing, marketing.phone), (informative, informative.phone)])

        async def submitted() -> bool:
            found = await states(runtime)
            return [found.get(r.request_id, ("",))[0] for r in (marketing, informative)] == ["submitted"] * 2

        await wait_until(submitted, timeout=30, what="both messages submitted to Kannel")
        received = await asyncio.to_thread(gateway.wait_for, count=2, timeout=20)
    finally:
        await runtime.stop()

    by_receiver = {m.receiver: m for m in received}
    assert set(by_receiver) == {MARKETING_TO, INFORMATIVE_TO}
    promo, notice = by_receiver[MARKETING_TO], by_receiver[INFORMATIVE_TO]
    assert (promo.sender, promo.text, promo.coding, promo.parts) == ("36111", MARKETING_TEXT, "text", 1)
    assert (notice.sender, notice.text, notice.coding, notice.parts) == ("DUPONT", UNICODE_TEXT, "ucs-2", 1)

    outbound = {p.phone: p for _, p in await read_events(settings, "sms.outbound", expect=2)}
    assert {p.carrier for p in outbound.values()} == {"kannel"}
    assert outbound[MARKETING_TO].encoding == "GSM-7" and outbound[INFORMATIVE_TO].encoding == "UCS-2"

    # Kannel fetches our dlr-url (inbound's Kannel endpoint), inbound publishes sms.delivery.
    deliveries = [p for _, p in await read_events(settings, "sms.delivery", expect=2, timeout=20)]
    correlated = {p.carrier_message_id for p in deliveries}
    assert {outbound[n].carrier_message_id for n in (MARKETING_TO, INFORMATIVE_TO)} <= correlated
    assert {p.carrier for p in deliveries} == {"kannel"}
    print("\ndelivery reports through inbound:", sorted((p.phone, p.status, p.raw_status) for p in deliveries))
