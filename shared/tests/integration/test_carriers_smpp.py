"""The SMPP adapter against a loopback SMSC: a real TCP server speaking SMPP 3.4 PDUs.

The SMSC below is a protocol peer, not a mock: it reads and writes the bytes of the
wire protocol on a loopback socket, answers binds, submits, enquire_links and unbinds,
and pushes deliver_sm (receipts and replies) the way an operator's SMSC does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from halte_shared.carriers.base import (
    CarrierTemporaryError,
    DeliveryReport,
    MobileOriginated,
    OutboundSms,
)
from halte_shared.carriers.routing import CarrierRouter, RetryPolicy, RouteTable
from halte_shared.carriers.smpp import SmppAdapter
from halte_shared.carriers.smpp_codec import (
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    Bind,
    BindResp,
    CommandId,
    DataCoding,
    MessageIdResp,
    Pdu,
    Receipt,
    ShortMessage,
    Status,
    Tag,
    encode_pdu,
    read_pdu,
    receipt_text,
    tlv_value,
)
from halte_shared.carriers.testing import run_receiver
from halte_shared.carriers.webhooks import InboundForwarder

pytestmark = pytest.mark.integration

PHONE = "+33612345678"


@dataclass
class LoopbackSmsc:
    """A minimal SMSC on 127.0.0.1: enough SMPP 3.4 to exercise a transceiver client."""

    system_id: str = "halte"
    password: str = "secret"
    port: int = 0
    binds: int = 0
    refused_binds: int = 0
    submits: list[ShortMessage] = field(default_factory=list)
    throttle_next: int = 0
    queue_full_next: int = 0
    answer_enquire_link: bool = True
    enquire_links: int = 0
    unbinds: int = 0
    deliver_resps: list[Pdu] = field(default_factory=list)
    enquire_link_resps: int = 0
    outstanding: int = 0
    max_outstanding: int = 0
    hold: asyncio.Event | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _sequence: int = 1_000_000
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop_connections(self) -> None:
        """Cut every client connection, as a crashing SMSC or a broken network would."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    @property
    def connected(self) -> bool:
        return bool(self._writers)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                pdu = await read_pdu(reader)
                if not await self._handle(pdu, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()

    def _send(self, writer: asyncio.StreamWriter, pdu: Pdu) -> None:
        if not writer.is_closing():
            writer.write(encode_pdu(pdu))

    async def _handle(self, pdu: Pdu, writer: asyncio.StreamWriter) -> bool:
        if pdu.command_id == CommandId.BIND_TRANSCEIVER:
            bind = Bind.decode(pdu.body)
            ok = (bind.system_id, bind.password) == (self.system_id, self.password) and bind.interface_version == 0x34
            status = Status.ESME_ROK if ok else Status.ESME_RINVPASWD
            self.binds += ok
            self.refused_binds += not ok
            self._send(writer, Pdu(CommandId.BIND_TRANSCEIVER_RESP, pdu.sequence, status, BindResp("smsc").encode()))
        elif pdu.command_id == CommandId.SUBMIT_SM:
            task = asyncio.create_task(self._answer_submit(pdu, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif pdu.command_id == CommandId.ENQUIRE_LINK:
            self.enquire_links += 1
            if self.answer_enquire_link:
                self._send(writer, Pdu(CommandId.ENQUIRE_LINK_RESP, pdu.sequence))
        elif pdu.command_id == CommandId.UNBIND:
            self.unbinds += 1
            self._send(writer, Pdu(CommandId.UNBIND_RESP, pdu.sequence))
            await writer.drain()
            return False
        elif pdu.command_id == CommandId.DELIVER_SM_RESP:
            self.deliver_resps.append(pdu)
        elif pdu.command_id == CommandId.ENQUIRE_LINK_RESP:
            self.enquire_link_resps += 1
        else:
            self._send(writer, Pdu(CommandId.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))
        return True

    async def _answer_submit(self, pdu: Pdu, writer: asyncio.StreamWriter) -> None:
        sm = ShortMessage.decode(pdu.body)
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.outstanding -= 1
        if self.throttle_next > 0:
            self.throttle_next -= 1
            self._send(writer, Pdu(CommandId.SUBMIT_SM_RESP, pdu.sequence, Status.ESME_RTHROTTLED))
            return
        if self.queue_full_next > 0:
            self.queue_full_next -= 1
            self._send(writer, Pdu(CommandId.SUBMIT_SM_RESP, pdu.sequence, Status.ESME_RMSGQFUL))
            return
        if not sm.destination_addr.isdigit():
            self._send(writer, Pdu(CommandId.SUBMIT_SM_RESP, pdu.sequence, Status.ESME_RINVDSTADR))
            return
        self.submits.append(sm)
        message_id = f"{len(self.submits):08X}"
        self._send(writer, Pdu(CommandId.SUBMIT_SM_RESP, pdu.sequence, 0, MessageIdResp(message_id).encode()))

    def deliver(self, sm: ShortMessage) -> int:
        """Push a deliver_sm to the bound client; return its sequence number."""
        self._sequence += 1
        self._send(self._writers[-1], Pdu(CommandId.DELIVER_SM, self._sequence, 0, sm.encode()))
        return self._sequence

    def enquire(self) -> None:
        self._sequence += 1
        self._send(self._writers[-1], Pdu(CommandId.ENQUIRE_LINK, self._sequence))

    def unbind_client(self) -> None:
        self._sequence += 1
        self._send(self._writers[-1], Pdu(CommandId.UNBIND, self._sequence))

    def receipt(self, message_id: str, stat: str = "DELIVRD", *, with_tlvs: bool = False) -> ShortMessage:
        text = receipt_text(
            Receipt(
                message_id=message_id,
                stat=stat,
                err="000",
                submit_date=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
                done_date=datetime(2026, 11, 25, 10, 1, tzinfo=UTC),
                text="Votre code",
            )
        )
        tlvs = []
        if with_tlvs:
            tlvs = [(Tag.RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"), (Tag.MESSAGE_STATE, bytes([2]))]
        return ShortMessage(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=PHONE.lstrip("+"),
            destination_addr="36111",
            esm_class=ESM_DELIVERY_RECEIPT,
            short_message=text.encode("ascii"),
            tlvs=tlvs,
        )


@pytest.fixture
async def smsc() -> AsyncIterator[LoopbackSmsc]:
    server = LoopbackSmsc()
    await server.start()
    yield server
    await server.stop()


class Inbox:
    """Collects what the adapter hands to its callbacks."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.replies: list[MobileOriginated] = []
        self.fail = 0

    async def on_delivery(self, report: DeliveryReport) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("inbound is down")
        self.reports.append(report)

    async def on_mo(self, mo: MobileOriginated) -> None:
        self.replies.append(mo)


@contextlib.asynccontextmanager
async def adapter_for(smsc: LoopbackSmsc, inbox: Inbox | None = None, **options) -> AsyncIterator[SmppAdapter]:
    defaults = {
        "reconnect_min": 0.02,
        "reconnect_max": 0.2,
        "bind_timeout": 3.0,
        "response_timeout": 3.0,
        "throttle_pause": 0.02,
    }
    adapter = SmppAdapter(
        name="smsc1",
        host="127.0.0.1",
        port=smsc.port,
        system_id="halte",
        password="secret",
        on_delivery=inbox.on_delivery if inbox else None,
        on_mo=inbox.on_mo if inbox else None,
        **{**defaults, **options},
    )
    await adapter.start()
    try:
        assert await adapter.wait_bound(5.0), "the adapter did not bind to the loopback SMSC"
        yield adapter
    finally:
        await adapter.close()


def sms(n: int = 0, *, text: str = "Votre code: 1234", encoding: str = "GSM-7") -> OutboundSms:
    return OutboundSms(message_id=f"m-{n}", to=PHONE, sender="36111", text=text, encoding=encoding)  # type: ignore[arg-type]


async def until(condition, *, timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


async def test_submit_sends_a_submit_sm_with_the_right_fields(smsc: LoopbackSmsc) -> None:
    async with adapter_for(smsc) as adapter:
        gsm = await adapter.submit(sms(1, text="Prix: 10€ {promo}"))
        ucs2 = await adapter.submit(sms(2, text="arrêt 😀", encoding="UCS-2"))
    assert gsm.accepted and gsm.carrier_message_id == "00000001"
    assert ucs2.carrier_message_id == "00000002"
    first, second = smsc.submits
    assert (first.source_addr_ton, first.source_addr_npi, first.source_addr) == (3, 0, "36111")
    assert (first.dest_addr_ton, first.dest_addr_npi, first.destination_addr) == (1, 1, "33612345678")
    assert first.registered_delivery == 1
    assert first.data_coding == DataCoding.SMSC_DEFAULT and first.text() == "Prix: 10€ {promo}"
    assert second.data_coding == DataCoding.UCS2
    assert second.short_message == "arrêt 😀".encode("utf-16-be")
    assert smsc.unbinds == 1  # close() unbinds politely


async def test_the_window_bounds_submits_awaiting_an_answer(smsc: LoopbackSmsc) -> None:
    smsc.hold = asyncio.Event()
    async with adapter_for(smsc, window=10) as adapter:
        tasks = [asyncio.create_task(adapter.submit(sms(n))) for n in range(25)]
        await until(lambda: smsc.outstanding == 10, what="ten outstanding submits")
        await asyncio.sleep(0.2)
        assert smsc.outstanding == 10  # the eleventh waits for a slot
        smsc.hold.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert all(r.accepted for r in results)
    assert len({r.carrier_message_id for r in results}) == 25
    assert smsc.max_outstanding == 10 and adapter.max_in_flight == 10


async def test_throttling_is_a_temporary_error_that_the_router_retries(smsc: LoopbackSmsc) -> None:
    smsc.throttle_next = 1
    smsc.queue_full_next = 1
    async with adapter_for(smsc) as adapter:
        with pytest.raises(CarrierTemporaryError) as throttled:
            await adapter.submit(sms(1))
        assert throttled.value.throttled and throttled.value.code == "ESME_RTHROTTLED"
        assert not throttled.value.outcome_unknown
        with pytest.raises(CarrierTemporaryError) as queue_full:
            await adapter.submit(sms(1))
        assert queue_full.value.throttled and queue_full.value.code == "ESME_RMSGQFUL"
        router = CarrierRouter(
            {"smsc1": adapter}, RouteTable(default="smsc1"), retry=RetryPolicy(max_attempts=4, base_delay=0.01)
        )
        smsc.throttle_next = 2
        result = await router.submit(sms(2))
    assert result.accepted and result.attempts == 3
    assert len(smsc.submits) == 1  # refused submits were not recorded as sent


async def test_the_adapter_reconnects_after_the_smsc_drops_the_connection(smsc: LoopbackSmsc) -> None:
    async with adapter_for(smsc) as adapter:
        assert (await adapter.submit(sms(1))).accepted
        smsc.drop_connections()
        await until(lambda: smsc.binds == 2, what="a second bind")
        assert (await adapter.submit(sms(2))).accepted
    assert len(smsc.submits) == 2


async def test_a_submit_is_outcome_unknown_when_the_link_drops_in_flight(smsc: LoopbackSmsc) -> None:
    smsc.hold = asyncio.Event()
    async with adapter_for(smsc) as adapter:
        router = CarrierRouter({"smsc1": adapter}, RouteTable(default="smsc1"), retry=RetryPolicy(base_delay=0.01))
        pending = asyncio.create_task(router.submit(sms(1)))
        await until(lambda: smsc.outstanding == 1, what="the submit in flight")
        smsc.drop_connections()
        result = await asyncio.wait_for(pending, timeout=5)
        smsc.hold.set()
    # SMPP ignores our idempotency key: resending could put a second SMS on the phone.
    assert not result.accepted and result.outcome_unknown and not result.retryable and result.attempts == 1


async def test_a_submit_waits_for_the_bind_then_fails_temporarily(smsc: LoopbackSmsc) -> None:
    adapter = SmppAdapter(
        name="smsc1", host="127.0.0.1", port=smsc.port, system_id="halte", password="wrong", bind_timeout=0.3
    )
    await adapter.start()
    try:
        with pytest.raises(CarrierTemporaryError) as not_bound:
            await adapter.submit(sms(1))
    finally:
        await adapter.close()
    assert not_bound.value.code == "not_bound" and not not_bound.value.outcome_unknown
    assert smsc.refused_binds >= 1 and smsc.binds == 0


async def test_enquire_link_keeps_the_link_and_a_silent_smsc_is_dropped(smsc: LoopbackSmsc) -> None:
    async with adapter_for(smsc, enquire_link_interval=0.1, response_timeout=0.3) as adapter:
        await until(lambda: smsc.enquire_links >= 2, what="two enquire_links")
        smsc.enquire()
        await until(lambda: smsc.enquire_link_resps == 1, what="an answer to the SMSC's enquire_link")
        smsc.answer_enquire_link = False
        await until(lambda: smsc.binds == 2, what="a reconnection after a silent SMSC")
        smsc.answer_enquire_link = True
        assert (await adapter.submit(sms(1))).accepted


async def test_an_unbind_from_the_smsc_is_answered_and_the_link_rebinds(smsc: LoopbackSmsc) -> None:
    async with adapter_for(smsc) as adapter:
        smsc.unbind_client()
        await until(lambda: smsc.binds == 2, what="a new bind after the SMSC's unbind")
        assert (await adapter.submit(sms(1))).accepted


async def test_delivery_receipts_reach_the_callback_and_are_acknowledged(smsc: LoopbackSmsc) -> None:
    inbox = Inbox()
    async with adapter_for(smsc, inbox) as adapter:
        result = await adapter.submit(sms(7))
        smsc.deliver(smsc.receipt(result.carrier_message_id or "", "DELIVRD"))
        smsc.deliver(smsc.receipt("FFFF", "UNDELIV", with_tlvs=True))  # TLVs win: message_state 2 = DELIVERED
        await until(lambda: len(smsc.deliver_resps) == 2, what="two deliver_sm_resp")
    first, second = inbox.reports
    assert first.carrier_message_id == result.carrier_message_id
    assert first.our_message_id == "m-7" and first.to == PHONE
    assert first.status == "delivered" and first.final and first.raw_status == "DELIVRD"
    assert first.reported_at == datetime(2026, 11, 25, 10, 1, tzinfo=UTC)
    assert second.carrier_message_id == "FFFF" and second.status == "delivered" and second.our_message_id is None
    assert all(resp.status == Status.ESME_ROK for resp in smsc.deliver_resps)


async def test_a_receipt_the_callback_could_not_take_is_refused_for_redelivery(smsc: LoopbackSmsc) -> None:
    inbox = Inbox()
    inbox.fail = 1
    async with adapter_for(smsc, inbox):
        smsc.deliver(smsc.receipt("0A", "DELIVRD"))
        await until(lambda: len(smsc.deliver_resps) == 1, what="the refusal")
        smsc.deliver(smsc.receipt("0A", "DELIVRD"))  # the SMSC tries again
        await until(lambda: len(smsc.deliver_resps) == 2, what="the acknowledgement")
    assert [r.status for r in smsc.deliver_resps] == [Status.ESME_RX_T_APPN, Status.ESME_ROK]
    assert [r.carrier_message_id for r in inbox.reports] == ["0A"]


async def test_a_reply_from_a_phone_reaches_the_mo_callback(smsc: LoopbackSmsc) -> None:
    inbox = Inbox()
    async with adapter_for(smsc, inbox):
        smsc.deliver(
            ShortMessage(
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr="33612345678",
                destination_addr="36111",
                data_coding=DataCoding.UCS2,
                short_message="arrêt 😀".encode("utf-16-be"),
            )
        )
        await until(lambda: len(inbox.replies) == 1, what="the reply")
    [reply] = inbox.replies
    assert (reply.from_number, reply.to, reply.text) == (PHONE, "36111", "arrêt 😀")
    assert reply.message_id.startswith("smsc1-mo-")


async def test_long_messages_travel_in_message_payload_or_as_concatenated_parts(smsc: LoopbackSmsc) -> None:
    text = "Bonjour! " * 40  # 360 GSM characters: three parts of 153
    async with adapter_for(smsc) as adapter:
        whole = await adapter.submit(sms(1, text=text))
    async with adapter_for(smsc, long_messages="udh") as adapter:
        parts = await adapter.submit(sms(2, text=text))
    payload_submit, *udh_submits = smsc.submits
    assert payload_submit.short_message == b"" and payload_submit.text() == text
    assert tlv_value(payload_submit.tlvs, Tag.MESSAGE_PAYLOAD) is not None
    assert whole.carrier_part_ids == ()
    assert len(udh_submits) == 3 and all(s.esm_class & ESM_UDHI for s in udh_submits)
    headers = [s.short_message[:6] for s in udh_submits]
    assert [h[:3] for h in headers] == [b"\x05\x00\x03"] * 3 and {h[3] for h in headers} == {headers[0][3]}
    assert [(h[4], h[5]) for h in headers] == [(3, 1), (3, 2), (3, 3)]
    assert "".join(s.text() for s in udh_submits) == text
    assert parts.carrier_message_id == parts.carrier_part_ids[0] and len(parts.carrier_part_ids) == 3


async def test_receipts_forwarded_to_inbound_are_signed_contract_webhooks(smsc: LoopbackSmsc) -> None:
    async with run_receiver("smpp-secret") as (inbound, receiver):
        forwarder = InboundForwarder(inbound_url=inbound, carrier="smsc1", secret="smpp-secret")
        adapter = SmppAdapter(
            name="smsc1",
            host="127.0.0.1",
            port=smsc.port,
            system_id="halte",
            password="secret",
            on_delivery=forwarder.on_delivery,
            on_mo=forwarder.on_mo,
        )
        adapter.add_close_hook(forwarder.close)
        await adapter.start()
        try:
            result = await adapter.submit(sms(3))
            smsc.deliver(smsc.receipt(result.carrier_message_id or "", "ENROUTE"))  # intermediate: not forwarded
            smsc.deliver(smsc.receipt(result.carrier_message_id or "", "EXPIRED"))
            [report] = await receiver.wait_for("/v1/carriers/smsc1/dlr")
            await until(lambda: len(smsc.deliver_resps) == 2, what="both receipts acknowledged")
        finally:
            await adapter.close()
    assert report.signature_ok
    assert report.body["message_id"] == result.carrier_message_id
    assert report.body["our_message_id"] == "m-3" and report.body["status"] == "failed" and report.body["to"] == PHONE
