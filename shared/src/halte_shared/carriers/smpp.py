"""The adapter for an SMPP 3.4 SMSC: one transceiver bind over asyncio streams.

How it behaves (and why):
- **One bind_transceiver**, so submits go out and receipts come back on the same link.
  The link is kept up by a background task: on loss (peer closed, unbind, no answer to
  enquire_link) it reconnects and binds again, with exponential backoff; a submit made
  while the link is down waits up to ``bind_timeout`` for it, then fails temporarily.
- **A window** of at most ``window`` submits awaiting their submit_sm_resp, matched by
  sequence number, so a slow SMSC slows us down instead of being flooded.
- **Throttling**: ESME_RTHROTTLED (0x58) and ESME_RMSGQFUL (0x14) are temporary errors; the
  adapter also pauses every submit for ``throttle_pause`` seconds (doubling while the SMSC
  keeps throttling), since the whole link, not one message, is over its rate.
- **enquire_link** every ``enquire_link_interval`` seconds of silence; an SMSC's own
  enquire_link is answered.
- **deliver_sm**: a delivery receipt (esm_class 0x04) is parsed (TLVs receipted_message_id
  and message_state first, else the standard ``id:... stat:...`` text) and handed to
  ``on_delivery``; any other deliver_sm is a reply from a phone, handed to ``on_mo``. The
  deliver_sm_resp is sent only after the callback returned: if it raised, the answer is
  ESME_RX_T_APPN and the SMSC delivers again later, so nothing is lost in between.
- **Long messages**: with ``long_messages="payload"`` (the default) a text longer than one
  segment travels whole in the message_payload TLV and the SMSC segments it: one submit,
  one id, one receipt. With ``"udh"`` it is split into parts with a concatenation user data
  header (esm_class UDHI, 153 GSM septets or 67 UCS-2 characters each), one submit_sm per
  part; the result's ``carrier_message_id`` is the first part's and ``carrier_part_ids``
  lists them all. A part failing after others were accepted is ``outcome_unknown``.
- SMPP has no idempotency key: a submit whose answer never came (timeout, link lost with
  the submit in flight) is ``outcome_unknown``.
- ``close()`` unbinds politely.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

import structlog

from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierPermanentError,
    CarrierTemporaryError,
    DeliveryReport,
    MobileOriginated,
    OutboundSms,
    SubmitResult,
)
from halte_shared.carriers.smpp_codec import (
    ESM_UDHI,
    TEMPORARY_STATUSES,
    THROTTLING_STATUSES,
    Bind,
    BindResp,
    CommandId,
    DataCoding,
    MessageIdResp,
    Pdu,
    ShortMessage,
    SmppError,
    Status,
    Tag,
    concatenation_udh,
    encode_pdu,
    gsm7_units,
    read_pdu,
    receipt_of,
    split_units,
    status_name,
    tlv_value,
    ucs2_units,
)

log = structlog.get_logger("halte.carriers.smpp")

DeliveryCallback = Callable[[DeliveryReport], Awaitable[None]]
MoCallback = Callable[[MobileOriginated], Awaitable[None]]

#: One segment's capacity in octets, alone and as part of a concatenated message.
SINGLE_CAPACITY = {DataCoding.SMSC_DEFAULT: 160, DataCoding.UCS2: 140}
PART_CAPACITY = {DataCoding.SMSC_DEFAULT: 153, DataCoding.UCS2: 134}


class _LinkLost(Exception):
    """The SMPP link went away while a request was waiting for its answer."""


class _Link:
    """One TCP connection to the SMSC, with its requests awaiting an answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[Pdu]] = {}
        self.last_received = time.monotonic()
        self.closed = False

    async def send(self, pdu: Pdu) -> None:
        self.writer.write(encode_pdu(pdu))
        await self.writer.drain()

    def fail_pending(self, error: Exception) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()

    async def close(self) -> None:
        self.closed = True
        self.fail_pending(_LinkLost("the SMPP link closed"))
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), timeout=1.0)


def source_address(sender: str) -> tuple[int, int, str]:
    """Return (TON, NPI, address) for a sender: international number, short code or alphanumeric id.

    SMPP 3.4 section 5.2.5/5.2.6: TON 1 + NPI 1 (E.164) for an international number given
    with "+"; TON 3 (network specific) for a numeric short code; TON 5 (alphanumeric) otherwise.
    """
    if sender.startswith("+") and sender[1:].isdigit():
        return 1, 1, sender[1:]
    if sender.isdigit():
        return (3, 0, sender) if len(sender) <= 8 else (1, 1, sender)
    return 5, 0, sender


class SmppAdapter(CarrierAdapter):
    """Submit SMS over an SMPP 3.4 transceiver bind, with keepalive, window and reconnection."""

    honours_idempotency_key = False

    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        window: int = 10,
        enquire_link_interval: float = 30.0,
        response_timeout: float = 10.0,
        bind_timeout: float = 10.0,
        reconnect_min: float = 0.2,
        reconnect_max: float = 10.0,
        throttle_pause: float = 1.0,
        long_messages: Literal["payload", "udh"] = "payload",
        source_ton: int | None = None,
        source_npi: int | None = None,
        registered_delivery: int = 1,
        service_type: str = "",
        on_delivery: DeliveryCallback | None = None,
        on_mo: MoCallback | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("the SMPP window must be at least 1")
        self.name = name
        self.host = host
        self.port = port
        self._bind_body = Bind(system_id=system_id, password=password, system_type=system_type)
        self._bind_body.encode()  # refuse over-long credentials now, not at the first connection
        self.window = window
        self.enquire_link_interval = enquire_link_interval
        self.response_timeout = response_timeout
        self.bind_timeout = bind_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.throttle_pause = throttle_pause
        self.long_messages = long_messages
        self.source_ton = source_ton
        self.source_npi = source_npi
        self.registered_delivery = registered_delivery
        self.service_type = service_type
        self.on_delivery = on_delivery
        self.on_mo = on_mo
        self._window = asyncio.Semaphore(window)
        self._link: _Link | None = None
        self._bound = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._sequence = 0
        self._closing = False
        self._throttled_until = 0.0
        self._throttle_streak = 0
        # Receipts name the SMSC's id; remembering recent ones lets a receipt name ours too.
        self._recent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._close_hooks: list[Callable[[], Awaitable[None]]] = []
        self.binds = 0
        self.in_flight = 0
        self.max_in_flight = 0

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start keeping the link up (returns at once; submits wait for the bind)."""
        if self._runner is None or self._runner.done():
            self._closing = False
            self._runner = asyncio.create_task(self._keep_link(), name=f"smpp:{self.name}")

    async def wait_bound(self, timeout: float | None = None) -> bool:
        """Wait until the link is bound; return False after `timeout` seconds."""
        try:
            await asyncio.wait_for(self._bound.wait(), timeout=timeout if timeout is not None else self.bind_timeout)
            return True
        except TimeoutError:
            return False

    async def ready(self) -> bool:
        return self._bound.is_set()

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def close(self) -> None:
        """Unbind, close the link and stop reconnecting."""
        self._closing = True
        link = self._link
        if link is not None and self._bound.is_set():
            with contextlib.suppress(Exception):
                await self._request(link, CommandId.UNBIND, b"", timeout=2.0)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None
        if link is not None:
            await link.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        self._bound.clear()
        for hook in self._close_hooks:
            await hook()
        log.info("SMPP link closed", carrier=self.name)

    def add_close_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when the adapter closes (e.g. the receipt forwarder's HTTP client)."""
        self._close_hooks.append(hook)

    # -- the link ------------------------------------------------------------------------
    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0x7FFFFFFF + 1
        return self._sequence

    async def _keep_link(self) -> None:
        delay = self.reconnect_min
        while not self._closing:
            link: _Link | None = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), timeout=self.bind_timeout
                )
                link = _Link(reader, writer)
                await self._bind(link)
                self._link = link
                self.binds += 1
                self._bound.set()
                delay = self.reconnect_min
                log.info("SMPP link bound", carrier=self.name, host=self.host, port=self.port, binds=self.binds)
                await self._serve(link)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, asyncio.IncompleteReadError, SmppError, _LinkLost) as exc:
                if not self._closing:
                    log.warning(
                        "SMPP link down; reconnecting",
                        carrier=self.name,
                        host=self.host,
                        port=self.port,
                        error=repr(exc),
                        retry_in_seconds=round(delay, 2),
                    )
            except Exception:
                # A bug must not leave the adapter unbound for good: log it and reconnect.
                log.exception("SMPP link failed unexpectedly; reconnecting", carrier=self.name)
            finally:
                self._bound.clear()
                self._link = None
                if link is not None:
                    await link.close()
            if self._closing:
                return
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.reconnect_max)

    async def _bind(self, link: _Link) -> None:
        sequence = self._next_sequence()
        await link.send(Pdu(CommandId.BIND_TRANSCEIVER, sequence, 0, self._bind_body.encode()))
        deadline = time.monotonic() + self.bind_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the SMSC did not answer bind_transceiver")
            pdu = await asyncio.wait_for(read_pdu(link.reader), timeout=remaining)
            if pdu.command_id == CommandId.ENQUIRE_LINK:
                await link.send(Pdu(CommandId.ENQUIRE_LINK_RESP, pdu.sequence))
                continue
            if pdu.command_id in (CommandId.BIND_TRANSCEIVER_RESP, CommandId.GENERIC_NACK) and pdu.sequence == sequence:
                if pdu.status != Status.ESME_ROK:
                    log.error(
                        "the SMSC refused our bind; check system_id and password",
                        carrier=self.name,
                        status=status_name(pdu.status),
                    )
                    raise SmppError(f"bind_transceiver refused: {status_name(pdu.status)}")
                BindResp.decode(pdu.body)
                return
            raise SmppError(f"unexpected {pdu.name} while binding")

    async def _serve(self, link: _Link) -> None:
        keepalive = asyncio.create_task(self._keepalive(link), name=f"smpp-keepalive:{self.name}")
        try:
            while True:
                pdu = await read_pdu(link.reader)
                link.last_received = time.monotonic()
                if await self._dispatch(link, pdu):
                    return
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keepalive

    async def _dispatch(self, link: _Link, pdu: Pdu) -> bool:
        """Handle one PDU from the SMSC; return True when the SMSC ended the session."""
        if pdu.is_response:
            future = link.pending.pop(pdu.sequence, None)
            if future is not None and not future.done():
                future.set_result(pdu)
            elif pdu.command_id != CommandId.GENERIC_NACK:
                log.warning("an answer to no request of ours", carrier=self.name, pdu=pdu.name, sequence=pdu.sequence)
            return False
        if pdu.command_id == CommandId.ENQUIRE_LINK:
            await link.send(Pdu(CommandId.ENQUIRE_LINK_RESP, pdu.sequence))
        elif pdu.command_id == CommandId.DELIVER_SM:
            task = asyncio.create_task(self._on_deliver_sm(link, pdu))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        elif pdu.command_id == CommandId.UNBIND:
            await link.send(Pdu(CommandId.UNBIND_RESP, pdu.sequence))
            log.warning("the SMSC unbound us; reconnecting", carrier=self.name)
            return True
        else:
            await link.send(Pdu(CommandId.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))
        return False

    async def _keepalive(self, link: _Link) -> None:
        while True:
            idle = time.monotonic() - link.last_received
            if idle < self.enquire_link_interval:
                await asyncio.sleep(self.enquire_link_interval - idle)
                continue
            try:
                await self._request(link, CommandId.ENQUIRE_LINK, b"", timeout=self.response_timeout)
            except (TimeoutError, _LinkLost, OSError) as exc:
                log.warning(
                    "the SMSC did not answer enquire_link; dropping the link", carrier=self.name, error=repr(exc)
                )
                link.writer.close()
                return

    async def _request(self, link: _Link, command_id: int, body: bytes, *, timeout: float) -> Pdu:
        sequence = self._next_sequence()
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        link.pending[sequence] = future
        try:
            await link.send(Pdu(command_id, sequence, 0, body))
            return await asyncio.wait_for(future, timeout=timeout)
        finally:
            link.pending.pop(sequence, None)

    # -- receipts and replies ------------------------------------------------------------
    async def _on_deliver_sm(self, link: _Link, pdu: Pdu) -> None:
        status = Status.ESME_ROK
        try:
            sm = ShortMessage.decode(pdu.body)
            if sm.is_delivery_receipt:
                await self._handle_receipt(sm)
            else:
                await self._handle_mo(sm)
        except SmppError as exc:
            log.error("an unreadable deliver_sm was refused", carrier=self.name, error=str(exc))
            status = Status.ESME_RX_P_APPN
        except Exception as exc:
            # Not acknowledged: the SMSC keeps it and delivers it again later.
            log.warning("a deliver_sm could not be handled; the SMSC will retry", carrier=self.name, error=repr(exc))
            status = Status.ESME_RX_T_APPN
        with contextlib.suppress(Exception):
            await link.send(Pdu(CommandId.DELIVER_SM_RESP, pdu.sequence, status, MessageIdResp("").encode()))

    async def _handle_receipt(self, sm: ShortMessage) -> None:
        receipt = receipt_of(sm)
        ours = self._recent.get(receipt.message_id)
        report = DeliveryReport(
            carrier=self.name,
            carrier_message_id=receipt.message_id,
            status=receipt.status,  # type: ignore[arg-type]
            final=receipt.final,
            raw_status=receipt.stat,
            error_code=receipt.err,
            to=ours[1] if ours else ("+" + sm.source_addr if sm.source_addr_ton == 1 else sm.source_addr),
            our_message_id=ours[0] if ours else None,
            reported_at=receipt.done_date,
        )
        log.info(
            "delivery receipt received",
            carrier=self.name,
            carrier_message_id=report.carrier_message_id,
            status=report.status,
            final=report.final,
        )
        if self.on_delivery is not None:
            await self.on_delivery(report)

    async def _handle_mo(self, sm: ShortMessage) -> None:
        sender = "+" + sm.source_addr if sm.source_addr_ton == 1 and sm.source_addr.isdigit() else sm.source_addr
        text = sm.text()
        received_at = datetime.now(UTC)
        reference = tlv_value(sm.tlvs, Tag.USER_MESSAGE_REFERENCE)
        # A deterministic id, so the SMSC's redelivery of an unacknowledged reply is one reply for inbound.
        seed = f"{self.name}|{sender}|{sm.destination_addr}|{text}|{reference!r}|{received_at:%Y%m%d%H%M}"
        mo = MobileOriginated(
            carrier=self.name,
            message_id=f"{self.name}-mo-{hashlib.sha256(seed.encode()).hexdigest()[:32]}",
            from_number=sender,
            to=sm.destination_addr,
            text=text,
            received_at=received_at,
        )
        log.info("reply from a phone received over SMPP", carrier=self.name, message_id=mo.message_id)
        if self.on_mo is not None:
            await self.on_mo(mo)

    # -- submitting ----------------------------------------------------------------------
    def encode_submits(self, sms: OutboundSms) -> list[ShortMessage]:
        """Return the submit_sm bodies of one SMS (one, or one per part in UDH mode)."""
        data_coding = DataCoding.UCS2 if sms.encoding == "UCS-2" else DataCoding.SMSC_DEFAULT
        if data_coding == DataCoding.SMSC_DEFAULT:
            try:
                units = gsm7_units(sms.text)
            except ValueError:
                log.warning("text is not GSM-7 as declared; sending it as UCS-2", message_id=sms.message_id)
                data_coding, units = DataCoding.UCS2, ucs2_units(sms.text)
        else:
            units = ucs2_units(sms.text)
        ton, npi, source = source_address(sms.sender)
        base = ShortMessage(
            service_type=self.service_type,
            source_addr_ton=self.source_ton if self.source_ton is not None else ton,
            source_addr_npi=self.source_npi if self.source_npi is not None else npi,
            source_addr=source,
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=sms.to.lstrip("+"),
            registered_delivery=self.registered_delivery,
            data_coding=data_coding,
        )
        data = b"".join(units)
        if len(data) <= SINGLE_CAPACITY[data_coding]:
            return [replace(base, short_message=data)]
        if self.long_messages == "payload":
            return [replace(base, tlvs=[(Tag.MESSAGE_PAYLOAD, data)])]
        parts = split_units(units, PART_CAPACITY[data_coding])
        if len(parts) > 255:
            raise CarrierPermanentError(f"the text needs {len(parts)} parts; at most 255", carrier=self.name)
        reference = random.randrange(256)
        return [
            replace(
                base,
                esm_class=ESM_UDHI,
                short_message=concatenation_udh(reference, len(parts), index) + part,
            )
            for index, part in enumerate(parts, start=1)
        ]

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        if self._closing:
            raise CarrierTemporaryError("the SMPP adapter is closing", carrier=self.name, code="closing")
        await self.start()
        bodies = self.encode_submits(sms)
        ids: list[str] = []
        for index, body in enumerate(bodies):
            try:
                ids.append(await self._submit_one(body))
            except CarrierTemporaryError as exc:
                if index == 0:
                    raise
                raise CarrierTemporaryError(
                    f"part {index + 1} of {len(bodies)} failed after earlier parts were accepted: {exc}",
                    carrier=self.name,
                    code=exc.code,
                    outcome_unknown=True,
                ) from exc
        for carrier_id in ids:
            self._remember(carrier_id, sms)
        return SubmitResult.accepted_by(self.name, ids[0], parts=tuple(ids) if len(ids) > 1 else ())

    def _remember(self, carrier_id: str, sms: OutboundSms) -> None:
        self._recent[carrier_id] = (sms.message_id, sms.to)
        while len(self._recent) > 50_000:
            self._recent.popitem(last=False)

    async def _wait_for_throttle(self) -> None:
        pause = self._throttled_until - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)

    async def _submit_one(self, body: ShortMessage) -> str:
        await self._wait_for_throttle()
        if not await self.wait_bound():
            raise CarrierTemporaryError(
                f"no SMPP link to {self.host}:{self.port} within {self.bind_timeout:.0f} s",
                carrier=self.name,
                code="not_bound",
            )
        encoded = body.encode()
        async with self._window:
            link = self._link
            if link is None or link.closed:
                raise CarrierTemporaryError("the SMPP link went down", carrier=self.name, code="not_bound")
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                response = await self._request(link, CommandId.SUBMIT_SM, encoded, timeout=self.response_timeout)
            except TimeoutError as exc:
                raise CarrierTemporaryError(
                    f"no submit_sm_resp within {self.response_timeout:.0f} s; the SMS may have been sent",
                    carrier=self.name,
                    code="timeout",
                    outcome_unknown=True,
                ) from exc
            except (_LinkLost, OSError) as exc:
                raise CarrierTemporaryError(
                    "the SMPP link was lost with the submit in flight; the SMS may have been sent",
                    carrier=self.name,
                    code="link_lost",
                    outcome_unknown=True,
                ) from exc
            finally:
                self.in_flight -= 1
        return self._outcome(response)

    def _outcome(self, response: Pdu) -> str:
        status = response.status
        if status == Status.ESME_ROK:
            self._throttle_streak = 0
            message_id = MessageIdResp.decode(response.body).message_id
            if not message_id:
                raise CarrierTemporaryError(
                    "the SMSC accepted the submit without an id", carrier=self.name, code="no_id", outcome_unknown=True
                )
            return message_id
        name = status_name(status)
        if status in THROTTLING_STATUSES:
            self._throttle_streak += 1
            pause = min(self.throttle_pause * 2 ** (self._throttle_streak - 1), 30.0)
            self._throttled_until = max(self._throttled_until, time.monotonic() + pause)
            log.warning(
                "the SMSC is throttling us; pausing submits", carrier=self.name, status=name, pause_seconds=pause
            )
            raise CarrierTemporaryError(
                f"the SMSC answered {name}", carrier=self.name, code=name, throttled=True, retry_after=pause
            )
        if status in TEMPORARY_STATUSES:
            raise CarrierTemporaryError(f"the SMSC answered {name}", carrier=self.name, code=name)
        raise CarrierPermanentError(f"the SMSC refused the message: {name}", carrier=self.name, code=name)
