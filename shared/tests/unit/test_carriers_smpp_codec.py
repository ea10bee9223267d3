"""SMPP 3.4 PDUs: known bytes from the specification's layouts, round trips, text and receipts."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_shared.carriers.base import OutboundSms
from halte_shared.carriers.smpp import SmppAdapter, source_address
from halte_shared.carriers.smpp_codec import (
    ESM_DELIVERY_RECEIPT,
    ESM_UDHI,
    GSM7_ALPHABET,
    GSM7_EXTENSION,
    Bind,
    BindResp,
    CommandId,
    DataCoding,
    MessageIdResp,
    Pdu,
    Receipt,
    ShortMessage,
    SmppError,
    Status,
    Tag,
    concatenation_udh,
    decode_pdu,
    encode_pdu,
    gsm7_decode,
    gsm7_encode,
    parse_receipt,
    read_pdu,
    receipt_of,
    receipt_text,
    split_units,
    status_name,
    ucs2_units,
)


def test_bind_transceiver_encodes_to_the_spec_layout() -> None:
    body = Bind(system_id="halte", password="secret").encode()
    pdu = encode_pdu(Pdu(CommandId.BIND_TRANSCEIVER, 1, 0, body))
    assert pdu == bytes.fromhex("00000022000000090000000000000001") + b"halte\x00secret\x00\x00\x34\x00\x00\x00"
    assert Bind.decode(decode_pdu(pdu).body) == Bind(system_id="halte", password="secret")


def test_enquire_link_is_a_bare_header() -> None:
    assert encode_pdu(Pdu(CommandId.ENQUIRE_LINK, 7)) == bytes.fromhex("00000010000000150000000000000007")


def test_submit_sm_encodes_every_mandatory_field_in_order() -> None:
    sm = ShortMessage(
        source_addr_ton=3,
        source_addr_npi=0,
        source_addr="36111",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        registered_delivery=1,
        data_coding=DataCoding.UCS2,
        short_message="é".encode("utf-16-be"),
        tlvs=[(Tag.USER_MESSAGE_REFERENCE, b"\x00\x2a")],
    )
    expected = (
        b"\x00"  # service_type
        + b"\x03\x00"
        + b"36111\x00"
        + b"\x01\x01"
        + b"33612345678\x00"
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + b"\x01\x00\x08\x00"  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
        + b"\x02\x00\xe9"  # sm_length, short_message
        + b"\x02\x04\x00\x02\x00\x2a"  # TLV user_message_reference = 42
    )
    assert sm.encode() == expected
    assert ShortMessage.decode(expected) == sm


def test_responses_decode_with_or_without_a_body() -> None:
    assert MessageIdResp.decode(b"abc123\x00").message_id == "abc123"
    assert MessageIdResp.decode(b"").message_id == ""  # an error response carries no body
    resp = BindResp("smsc", tlvs=[(Tag.SC_INTERFACE_VERSION, b"\x34")])
    assert BindResp.decode(resp.encode()) == resp
    assert BindResp.decode(b"").system_id == ""


@given(
    command=st.sampled_from(list(CommandId)),
    sequence=st.integers(1, 0x7FFFFFFF),
    status=st.integers(0, 0xFFFFFFFF),
    body=st.binary(max_size=300),
)
def test_any_pdu_round_trips(command: CommandId, sequence: int, status: int, body: bytes) -> None:
    pdu = Pdu(command, sequence, status, body)
    assert decode_pdu(encode_pdu(pdu)) == pdu


@given(
    source=st.text(alphabet="0123456789", max_size=20),
    destination=st.text(alphabet="0123456789", min_size=1, max_size=20),
    esm_class=st.integers(0, 255),
    data_coding=st.integers(0, 255),
    message=st.binary(max_size=254),
    payload=st.none() | st.binary(max_size=2000),
)
def test_any_short_message_round_trips(
    source: str, destination: str, esm_class: int, data_coding: int, message: bytes, payload: bytes | None
) -> None:
    tlvs = [(Tag.MESSAGE_PAYLOAD, payload)] if payload is not None else []
    sm = ShortMessage(
        source_addr=source,
        destination_addr=destination,
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=message,
        tlvs=tlvs,
    )
    assert ShortMessage.decode(sm.encode()) == sm


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\x00\x03\x00361", "NUL"),  # source_addr cut short
        (b"\x00" + b"\x00\x00" + b"x" * 30 + b"\x00", "longer"),
        (Bind("a", "b").encode()[:-1], "NUL"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, problem: str) -> None:
    with pytest.raises(SmppError, match=problem):
        (ShortMessage if body[:1] == b"\x00" else Bind).decode(body)


def test_field_limits_are_enforced_when_encoding() -> None:
    with pytest.raises(SmppError, match="password"):
        Bind(system_id="halte", password="much-too-long").encode()
    with pytest.raises(SmppError, match="message_payload"):
        ShortMessage(source_addr="1", destination_addr="2", short_message=b"x" * 255).encode()
    with pytest.raises(SmppError, match="ASCII"):
        Bind(system_id="hélte", password="x").encode()
    with pytest.raises(SmppError, match="sequence"):
        encode_pdu(Pdu(CommandId.ENQUIRE_LINK, 0))


def test_a_frame_whose_length_lies_is_refused() -> None:
    frame = encode_pdu(Pdu(CommandId.ENQUIRE_LINK, 1))
    with pytest.raises(SmppError, match="command_length"):
        decode_pdu(frame + b"\x00")


async def test_read_pdu_reads_frames_from_a_stream_and_refuses_absurd_lengths() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_pdu(Pdu(CommandId.ENQUIRE_LINK, 1)) + encode_pdu(Pdu(CommandId.UNBIND, 2)))
    assert (await read_pdu(reader)).command_id == CommandId.ENQUIRE_LINK
    assert (await read_pdu(reader)).sequence == 2
    reader.feed_data(struct.pack(">I", 10_000_000))
    with pytest.raises(SmppError, match="announced"):
        await read_pdu(reader)


def test_status_names_come_from_the_spec() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED" and status_name(0x14) == "ESME_RMSGQFUL"
    assert status_name(0x12345) == "0x00012345"
    assert Status.ESME_RINVDSTADR == 0x0B


# -- text ----------------------------------------------------------------------------------


def test_the_gsm7_alphabet_has_128_septets_and_the_extension_is_escaped() -> None:
    assert len(GSM7_ALPHABET) == 128
    assert gsm7_encode("@£$") == b"\x00\x01\x02"
    assert gsm7_encode("€[") == b"\x1b\x65\x1b\x3c"
    assert gsm7_encode("Prix: 10€") == b"Prix: 10\x1b\x65"
    with pytest.raises(ValueError):
        gsm7_encode("😀")


@given(st.text(alphabet=st.sampled_from(sorted(set(GSM7_ALPHABET) - {"\x1b"} | set(GSM7_EXTENSION)))))
def test_gsm7_round_trips(text: str) -> None:
    assert gsm7_decode(gsm7_encode(text)) == text


@given(st.text(min_size=1, max_size=400), st.integers(4, 160))
def test_splitting_never_cuts_a_character(text: str, capacity: int) -> None:
    units = ucs2_units(text)
    parts = split_units(units, capacity)
    assert all(len(part) <= capacity for part in parts)
    assert "".join(part.decode("utf-16-be") for part in parts) == text


def test_a_concatenation_header_names_reference_total_and_index() -> None:
    assert concatenation_udh(0x1A2, 3, 2) == b"\x05\x00\x03\xa2\x03\x02"


def test_the_user_data_header_is_stripped_from_the_text() -> None:
    sm = ShortMessage(
        source_addr="1", destination_addr="2", esm_class=ESM_UDHI, short_message=concatenation_udh(1, 2, 1) + b"Hi"
    )
    assert sm.text() == "Hi"


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("36111", (3, 0, "36111")),
        ("+33612345678", (1, 1, "33612345678")),
        ("33612345678", (1, 1, "33612345678")),
        ("Boutique", (5, 0, "Boutique")),
    ],
)
def test_the_sender_address_type_follows_its_form(sender: str, expected: tuple[int, int, str]) -> None:
    assert source_address(sender) == expected


def test_submits_choose_coding_and_long_message_strategy() -> None:
    def adapter(mode: str) -> SmppAdapter:
        return SmppAdapter(name="s", host="h", port=1, system_id="x", password="y", long_messages=mode)  # type: ignore[arg-type]

    def sms(text: str, encoding: str = "GSM-7") -> OutboundSms:
        return OutboundSms(message_id="m", to="+33612345678", sender="36111", text=text, encoding=encoding)  # type: ignore[arg-type]

    [short] = adapter("payload").encode_submits(sms("a" * 160))
    assert short.short_message == b"a" * 160 and not short.tlvs
    [ucs2] = adapter("payload").encode_submits(sms("é" * 70, "UCS-2"))
    assert ucs2.data_coding == DataCoding.UCS2 and len(ucs2.short_message) == 140
    [long] = adapter("payload").encode_submits(sms("a" * 161))
    assert long.short_message == b"" and long.tlvs == [(Tag.MESSAGE_PAYLOAD, b"a" * 161)]
    parts = adapter("udh").encode_submits(sms("😀" * 40, "UCS-2"))  # 80 code units: two parts of at most 67
    assert [len(p.short_message) - 6 for p in parts] == [132, 28]
    assert "".join(p.text() for p in parts) == "😀" * 40
    [mislabelled] = adapter("payload").encode_submits(sms("😀"))  # declared GSM-7: sent as UCS-2 rather than mangled
    assert mislabelled.data_coding == DataCoding.UCS2


# -- delivery receipts ---------------------------------------------------------------------

STANDARD = "id:0123456789 sub:001 dlvrd:001 submit date:2611251000 done date:2611251001 stat:DELIVRD err:000 text:Votre"


def test_the_standard_receipt_text_is_parsed() -> None:
    receipt = parse_receipt(STANDARD)
    assert receipt.message_id == "0123456789" and receipt.stat == "DELIVRD" and receipt.err == "000"
    assert receipt.submit_date == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert receipt.done_date == datetime(2026, 11, 25, 10, 1, tzinfo=UTC)
    assert receipt.text == "Votre" and receipt.status == "delivered" and receipt.final


@pytest.mark.parametrize(
    ("text", "stat", "status", "final"),
    [
        ("id:A1 stat:UNDELIV err:001", "UNDELIV", "failed", True),
        ("ID:a1 SUB:001 DLVRD:000 STAT:expired ERR:000 TEXT:", "EXPIRED", "expired", True),
        ("id:x stat:ENROUTE", "ENROUTE", "buffered", False),
        ("id:x stat:ACCEPTD", "ACCEPTD", "accepted", False),
        ("id:x stat:REJECTD err:0B", "REJECTD", "rejected", True),
        ("id:x stat:DELETED", "DELETED", "failed", True),
        ("id:x stat:WEIRD", "WEIRD", "unknown", True),
        ("id:x done date:261125100130 stat:DELIVRD text:a: b: c", "DELIVRD", "delivered", True),
    ],
)
def test_receipt_states_map_to_halte_statuses(text: str, stat: str, status: str, final: bool) -> None:
    receipt = parse_receipt(text)
    assert (receipt.stat, receipt.status, receipt.final) == (stat, status, final)


def test_free_text_after_text_colon_is_kept_whole() -> None:
    receipt = parse_receipt("id:x done date:261125100130 stat:DELIVRD text:a: b: c")
    assert receipt.text == "a: b: c"
    assert receipt.done_date == datetime(2026, 11, 25, 10, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["STOP", "hello id: stat:", "stat:DELIVRD", ""])
def test_a_text_that_is_not_a_receipt_is_refused(text: str) -> None:
    with pytest.raises(SmppError):
        parse_receipt(text)


def test_receipt_tlvs_take_precedence_over_the_text() -> None:
    sm = ShortMessage(
        source_addr="33612345678",
        destination_addr="36111",
        esm_class=ESM_DELIVERY_RECEIPT,
        short_message=STANDARD.replace("DELIVRD", "UNDELIV").encode(),
        tlvs=[(Tag.RECEIPTED_MESSAGE_ID, b"75BCD15\x00"), (Tag.MESSAGE_STATE, b"\x02")],
    )
    receipt = receipt_of(sm)
    assert sm.is_delivery_receipt
    assert (receipt.message_id, receipt.stat, receipt.err) == ("75BCD15", "DELIVRD", "000")
    tlv_only = ShortMessage(
        source_addr="1",
        destination_addr="2",
        esm_class=ESM_DELIVERY_RECEIPT,
        tlvs=[(Tag.RECEIPTED_MESSAGE_ID, b"9\x00"), (Tag.MESSAGE_STATE, b"\x05")],
    )
    assert receipt_of(tlv_only).status == "failed"


def test_a_rendered_receipt_parses_back() -> None:
    original = Receipt(message_id="ABC", stat="DELIVRD", err="000", done_date=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    parsed = parse_receipt(receipt_text(original))
    assert (parsed.message_id, parsed.stat, parsed.done_date) == ("ABC", "DELIVRD", original.done_date)
