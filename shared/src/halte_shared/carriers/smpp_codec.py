"""SMPP 3.4 protocol data units: the bytes on the wire, encoded and decoded (no I/O here).

From the SMPP v3.4 specification (issue 1.2): every PDU is a 16-octet header
(``command_length``, ``command_id``, ``command_status``, ``sequence_number``, big-endian
32-bit integers, the length counting the header) and a body of C-octet strings
(NUL-terminated, each with a maximum size), 1-octet integers, an octet string whose
length precedes it (``short_message``) and optional TLVs (16-bit tag, 16-bit length,
value). Only what a transceiver client needs is modelled: binds, submit_sm, deliver_sm,
enquire_link, unbind, generic_nack, and the standard delivery receipt text (Appendix B).

Text: data_coding 0 is the SMSC default alphabet, which we send as GSM 03.38 septets one
per octet (unpacked, the usual SMPP convention); data_coding 8 is UCS-2, sent as UTF-16BE
(a character outside the BMP takes a surrogate pair, as handsets expect).
"""

from __future__ import annotations

import asyncio
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
#: No PDU we exchange comes near this; a larger length means a broken or hostile peer.
MAX_PDU_SIZE = 64 * 1024
INTERFACE_VERSION = 0x34
RESPONSE_BIT = 0x80000000


class SmppError(Exception):
    """A PDU that cannot be encoded or decoded, or a peer that broke the protocol."""


class CommandId(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class Status(IntEnum):
    """command_status values (SMPP 3.4 section 5.1.3), those a client meets."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF


#: Statuses after which the same submit can succeed later: the SMSC is busy, not refusing.
TEMPORARY_STATUSES = frozenset(
    {Status.ESME_RTHROTTLED, Status.ESME_RMSGQFUL, Status.ESME_RSYSERR, Status.ESME_RX_T_APPN}
)
THROTTLING_STATUSES = frozenset({Status.ESME_RTHROTTLED, Status.ESME_RMSGQFUL})


def status_name(status: int) -> str:
    """Return the spec's name of a command_status (or its hex value)."""
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08X}"


class Tag(IntEnum):
    """Optional parameter tags (SMPP 3.4 section 5.3.2) used here."""

    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    RECEIPTED_MESSAGE_ID = 0x001E
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class DataCoding(IntEnum):
    SMSC_DEFAULT = 0x00
    IA5 = 0x01
    OCTET_UNSPECIFIED = 0x02
    LATIN1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    UCS2 = 0x08


#: esm_class bits 2-5 give the message type; 0x04 is an SMSC delivery receipt.
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
#: esm_class bit 6: the short message starts with a user data header.
ESM_UDHI = 0x40

# Maximum sizes of C-octet strings, NUL included (SMPP 3.4 section 4).
MAX_SYSTEM_ID = 16
MAX_PASSWORD = 9
MAX_SYSTEM_TYPE = 13
MAX_SERVICE_TYPE = 6
MAX_ADDRESS = 21
MAX_ADDRESS_RANGE = 41
MAX_TIME = 17
MAX_MESSAGE_ID = 65
MAX_SHORT_MESSAGE = 254


# -- PDU frame ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pdu:
    """One PDU: its header fields and raw body."""

    command_id: int
    sequence: int
    status: int = 0
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    @property
    def name(self) -> str:
        try:
            return CommandId(self.command_id).name.lower()
        except ValueError:
            return f"0x{self.command_id:08X}"


def encode_pdu(pdu: Pdu) -> bytes:
    """Return the wire bytes of a PDU."""
    if not 0 < pdu.sequence <= 0x7FFFFFFF:
        raise SmppError(f"sequence number {pdu.sequence} is outside 1..0x7FFFFFFF")
    return HEADER.pack(HEADER_SIZE + len(pdu.body), pdu.command_id, pdu.status, pdu.sequence) + pdu.body


def decode_pdu(frame: bytes) -> Pdu:
    """Return the PDU of one complete frame (header and body)."""
    if len(frame) < HEADER_SIZE:
        raise SmppError(f"a PDU needs at least {HEADER_SIZE} octets, got {len(frame)}")
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise SmppError(f"command_length says {length} octets but the frame has {len(frame)}")
    return Pdu(command_id=command_id, sequence=sequence, status=status, body=bytes(frame[HEADER_SIZE:]))


async def read_pdu(reader: asyncio.StreamReader, *, max_size: int = MAX_PDU_SIZE) -> Pdu:
    """Read one PDU from a stream (raises IncompleteReadError at end of stream)."""
    head = await reader.readexactly(4)
    (length,) = struct.unpack(">I", head)
    if not HEADER_SIZE <= length <= max_size:
        raise SmppError(f"peer announced a PDU of {length} octets (allowed {HEADER_SIZE}..{max_size})")
    rest = await reader.readexactly(length - 4)
    return decode_pdu(head + rest)


# -- body fields -------------------------------------------------------------------------


def c_string(value: str, max_size: int, field_name: str) -> bytes:
    """Encode a C-octet string (ASCII, NUL-terminated, at most max_size octets with the NUL)."""
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise SmppError(f"{field_name} must be ASCII, got {value!r}") from exc
    if b"\x00" in data or len(data) + 1 > max_size:
        raise SmppError(f"{field_name} {value!r} is longer than {max_size - 1} characters")
    return data + b"\x00"


class BodyReader:
    """Read the fields of a PDU body in order."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def c_string(self, max_size: int, field_name: str) -> str:
        end = self.body.find(b"\x00", self.pos)
        if end < 0:
            raise SmppError(f"{field_name} is not NUL-terminated")
        if end - self.pos + 1 > max_size:
            raise SmppError(f"{field_name} is longer than {max_size - 1} octets")
        value = self.body[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def int8(self, field_name: str) -> int:
        if self.pos >= len(self.body):
            raise SmppError(f"the body ends before {field_name}")
        value = self.body[self.pos]
        self.pos += 1
        return value

    def octets(self, size: int, field_name: str) -> bytes:
        if self.pos + size > len(self.body):
            raise SmppError(f"the body ends inside {field_name}")
        value = self.body[self.pos : self.pos + size]
        self.pos += size
        return value

    def at_end(self) -> bool:
        return self.pos >= len(self.body)

    def tlvs(self) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        while not self.at_end():
            if self.pos + 4 > len(self.body):
                raise SmppError("a TLV header is cut short")
            tag, size = struct.unpack_from(">HH", self.body, self.pos)
            self.pos += 4
            found.append((tag, self.octets(size, f"TLV 0x{tag:04X}")))
        return found


def encode_tlvs(tlvs: list[tuple[int, bytes]]) -> bytes:
    """Encode optional parameters."""
    out = bytearray()
    for tag, value in tlvs:
        if len(value) > 0xFFFF:
            raise SmppError(f"TLV 0x{tag:04X} value is longer than 65535 octets")
        out += struct.pack(">HH", tag, len(value)) + value
    return bytes(out)


def tlv_value(tlvs: list[tuple[int, bytes]], tag: int) -> bytes | None:
    """Return the first value of a TLV tag, or None."""
    return next((value for t, value in tlvs if t == tag), None)


@dataclass(frozen=True, slots=True)
class Bind:
    """The body of bind_transmitter / bind_receiver / bind_transceiver."""

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def encode(self) -> bytes:
        return (
            c_string(self.system_id, MAX_SYSTEM_ID, "system_id")
            + c_string(self.password, MAX_PASSWORD, "password")
            + c_string(self.system_type, MAX_SYSTEM_TYPE, "system_type")
            + bytes([self.interface_version, self.addr_ton, self.addr_npi])
            + c_string(self.address_range, MAX_ADDRESS_RANGE, "address_range")
        )

    @classmethod
    def decode(cls, body: bytes) -> Bind:
        r = BodyReader(body)
        return cls(
            system_id=r.c_string(MAX_SYSTEM_ID, "system_id"),
            password=r.c_string(MAX_PASSWORD, "password"),
            system_type=r.c_string(MAX_SYSTEM_TYPE, "system_type"),
            interface_version=r.int8("interface_version"),
            addr_ton=r.int8("addr_ton"),
            addr_npi=r.int8("addr_npi"),
            address_range=r.c_string(MAX_ADDRESS_RANGE, "address_range"),
        )


@dataclass(frozen=True, slots=True)
class BindResp:
    """The body of a bind response: the SMSC's system_id and optional parameters."""

    system_id: str
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        return c_string(self.system_id, MAX_SYSTEM_ID, "system_id") + encode_tlvs(self.tlvs)

    @classmethod
    def decode(cls, body: bytes) -> BindResp:
        if not body:  # an error response may carry no body at all
            return cls(system_id="")
        r = BodyReader(body)
        return cls(system_id=r.c_string(MAX_SYSTEM_ID, "system_id"), tlvs=r.tlvs())


@dataclass(frozen=True, slots=True)
class MessageIdResp:
    """The body of submit_sm_resp and deliver_sm_resp: a message id."""

    message_id: str

    def encode(self) -> bytes:
        return c_string(self.message_id, MAX_MESSAGE_ID, "message_id")

    @classmethod
    def decode(cls, body: bytes) -> MessageIdResp:
        if not body:  # SMPP 3.4: the body is not returned when command_status is not 0
            return cls(message_id="")
        return cls(message_id=BodyReader(body).c_string(MAX_MESSAGE_ID, "message_id"))


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """The body shared by submit_sm and deliver_sm (SMPP 3.4 sections 4.4.1 and 4.6.1)."""

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        if len(self.short_message) > MAX_SHORT_MESSAGE:
            raise SmppError(
                f"short_message holds at most {MAX_SHORT_MESSAGE} octets, got {len(self.short_message)}; "
                "use the message_payload TLV"
            )
        return (
            c_string(self.service_type, MAX_SERVICE_TYPE, "service_type")
            + bytes([self.source_addr_ton, self.source_addr_npi])
            + c_string(self.source_addr, MAX_ADDRESS, "source_addr")
            + bytes([self.dest_addr_ton, self.dest_addr_npi])
            + c_string(self.destination_addr, MAX_ADDRESS, "destination_addr")
            + bytes([self.esm_class, self.protocol_id, self.priority_flag])
            + c_string(self.schedule_delivery_time, MAX_TIME, "schedule_delivery_time")
            + c_string(self.validity_period, MAX_TIME, "validity_period")
            + bytes(
                [
                    self.registered_delivery,
                    self.replace_if_present_flag,
                    self.data_coding,
                    self.sm_default_msg_id,
                    len(self.short_message),
                ]
            )
            + self.short_message
            + encode_tlvs(self.tlvs)
        )

    @classmethod
    def decode(cls, body: bytes) -> ShortMessage:
        r = BodyReader(body)
        service_type = r.c_string(MAX_SERVICE_TYPE, "service_type")
        source_ton, source_npi = r.int8("source_addr_ton"), r.int8("source_addr_npi")
        source_addr = r.c_string(MAX_ADDRESS, "source_addr")
        dest_ton, dest_npi = r.int8("dest_addr_ton"), r.int8("dest_addr_npi")
        destination_addr = r.c_string(MAX_ADDRESS, "destination_addr")
        esm_class, protocol_id, priority = r.int8("esm_class"), r.int8("protocol_id"), r.int8("priority_flag")
        schedule = r.c_string(MAX_TIME, "schedule_delivery_time")
        validity = r.c_string(MAX_TIME, "validity_period")
        registered, replace = r.int8("registered_delivery"), r.int8("replace_if_present_flag")
        data_coding, default_id = r.int8("data_coding"), r.int8("sm_default_msg_id")
        sm_length = r.int8("sm_length")
        short_message = r.octets(sm_length, "short_message")
        return cls(
            service_type=service_type,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=destination_addr,
            esm_class=esm_class,
            protocol_id=protocol_id,
            priority_flag=priority,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered,
            replace_if_present_flag=replace,
            data_coding=data_coding,
            sm_default_msg_id=default_id,
            short_message=short_message,
            tlvs=r.tlvs(),
        )

    @property
    def is_delivery_receipt(self) -> bool:
        return self.esm_class & ESM_TYPE_MASK == ESM_DELIVERY_RECEIPT

    @property
    def payload(self) -> bytes:
        """Return the user data: message_payload when present, else short_message (UDH stripped)."""
        data = tlv_value(self.tlvs, Tag.MESSAGE_PAYLOAD)
        if data is None:
            data = self.short_message
        if self.esm_class & ESM_UDHI and data:
            data = data[1 + data[0] :]
        return data

    def text(self) -> str:
        """Return the decoded text of the message."""
        return decode_text(self.payload, self.data_coding)


# -- text --------------------------------------------------------------------------------

#: GSM 03.38 default alphabet, by septet value (0x1B is the escape to the extension table).
GSM7_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
GSM7_ESCAPE = 0x1B
_GSM7_CODE = {ch: code for code, ch in enumerate(GSM7_ALPHABET) if code != GSM7_ESCAPE}
_GSM7_EXTENSION_CHAR = {code: ch for ch, code in GSM7_EXTENSION.items()}


def gsm7_units(text: str) -> list[bytes]:
    """Return each character of a text as its GSM 03.38 septets (one per octet); raise ValueError if impossible."""
    units: list[bytes] = []
    for ch in text:
        if ch in _GSM7_CODE:
            units.append(bytes([_GSM7_CODE[ch]]))
        elif ch in GSM7_EXTENSION:
            units.append(bytes([GSM7_ESCAPE, GSM7_EXTENSION[ch]]))
        else:
            raise ValueError(f"{ch!r} is not in the GSM 7-bit alphabet")
    return units


def gsm7_encode(text: str) -> bytes:
    """Encode a text as unpacked GSM 03.38 septets."""
    return b"".join(gsm7_units(text))


def gsm7_decode(data: bytes) -> str:
    """Decode unpacked GSM 03.38 septets (an unknown escape reads as a space, as the standard says)."""
    out: list[str] = []
    escaped = False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            out.append(_GSM7_EXTENSION_CHAR.get(septet, " "))
            escaped = False
        elif septet == GSM7_ESCAPE:
            escaped = True
        else:
            out.append(GSM7_ALPHABET[septet])
    return "".join(out)


def ucs2_units(text: str) -> list[bytes]:
    """Return each character of a text as UTF-16BE code units (a surrogate pair stays together)."""
    return [ch.encode("utf-16-be") for ch in text]


def decode_text(data: bytes, data_coding: int) -> str:
    """Decode user data according to its data_coding."""
    coding = data_coding & 0xFF
    if coding == DataCoding.UCS2:
        return data.decode("utf-16-be", errors="replace")
    if coding == DataCoding.SMSC_DEFAULT:
        return gsm7_decode(data)
    if coding == DataCoding.IA5:
        return data.decode("ascii", errors="replace")
    return data.decode("latin-1")


def concatenation_udh(reference: int, total: int, index: int) -> bytes:
    """Return the 6-octet user data header of one part of a concatenated SMS (8-bit reference)."""
    return bytes([0x05, 0x00, 0x03, reference & 0xFF, total, index])


def split_units(units: list[bytes], capacity: int) -> list[bytes]:
    """Pack encoded characters into parts of at most `capacity` octets, never splitting a character."""
    parts: list[bytes] = []
    current = bytearray()
    for unit in units:
        if len(current) + len(unit) > capacity:
            parts.append(bytes(current))
            current = bytearray()
        current += unit
    if current or not parts:
        parts.append(bytes(current))
    return parts


# -- delivery receipts -------------------------------------------------------------------

_RECEIPT_KEYS = re.compile(r"\b(id|sub|dlvrd|submit date|done date|stat|err|text)\s*:", re.IGNORECASE)

#: Receipt ``stat`` values (SMPP 3.4 Appendix B) -> (Halte status, final?).
RECEIPT_STATES: dict[str, tuple[str, bool]] = {
    "DELIVRD": ("delivered", True),
    "EXPIRED": ("expired", True),
    "DELETED": ("failed", True),
    "UNDELIV": ("failed", True),
    "ACCEPTD": ("accepted", False),
    "UNKNOWN": ("unknown", True),
    "REJECTD": ("rejected", True),
    "ENROUTE": ("buffered", False),
}
#: message_state TLV values (SMPP 3.4 section 5.2.28) -> receipt stat.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


@dataclass(frozen=True, slots=True)
class Receipt:
    """The fields of a delivery receipt's text (``id:... sub:... dlvrd:... stat:... err:... text:...``)."""

    message_id: str
    stat: str
    err: str | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    sub: str | None = None
    dlvrd: str | None = None
    text: str | None = None

    @property
    def status(self) -> str:
        return RECEIPT_STATES.get(self.stat.upper(), ("unknown", True))[0]

    @property
    def final(self) -> bool:
        return RECEIPT_STATES.get(self.stat.upper(), ("unknown", True))[1]


def parse_receipt_date(value: str | None) -> datetime | None:
    """Parse a receipt date, YYMMDDhhmm or YYMMDDhhmmss (taken as UTC), or return None."""
    if not value:
        return None
    digits = value.strip()
    for fmt, size in (("%y%m%d%H%M%S", 12), ("%y%m%d%H%M", 10)):
        if len(digits) == size and digits.isdigit():
            try:
                return datetime.strptime(digits, fmt).replace(tzinfo=UTC)
            except ValueError:
                return None
    return None


def parse_receipt(text: str) -> Receipt:
    """Parse the standard delivery receipt text; raise SmppError when it has no id or stat."""
    matches = list(_RECEIPT_KEYS.finditer(text))
    fields: dict[str, str] = {}
    for n, match in enumerate(matches):
        key = match.group(1).lower()
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        # "text:" is last and free-form; every other value is one token.
        value = text[match.end() : end].strip() if key == "text" else text[match.end() : end].strip().split(" ")[0]
        fields.setdefault(key, value)
    if not fields.get("id") or not fields.get("stat"):
        raise SmppError(f"not a delivery receipt: {text[:120]!r}")
    return Receipt(
        message_id=fields["id"],
        stat=fields["stat"].upper(),
        err=fields.get("err"),
        submit_date=parse_receipt_date(fields.get("submit date")),
        done_date=parse_receipt_date(fields.get("done date")),
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        text=fields.get("text"),
    )


def receipt_of(sm: ShortMessage) -> Receipt:
    """Return the receipt a deliver_sm carries, preferring its TLVs to its text where both exist."""
    try:
        receipt = parse_receipt(sm.text())
    except SmppError:
        receipt = None
    tlv_id = tlv_value(sm.tlvs, Tag.RECEIPTED_MESSAGE_ID)
    tlv_state = tlv_value(sm.tlvs, Tag.MESSAGE_STATE)
    if tlv_id is None or tlv_state is None or not tlv_state:
        if receipt is None:
            raise SmppError("a delivery receipt without receipted_message_id/message_state nor a readable text")
        return receipt
    message_id = tlv_id.rstrip(b"\x00").decode("latin-1")
    stat = MESSAGE_STATES.get(tlv_state[0], "UNKNOWN")
    if receipt is None:
        return Receipt(message_id=message_id, stat=stat)
    return Receipt(
        message_id=message_id,
        stat=stat,
        err=receipt.err,
        submit_date=receipt.submit_date,
        done_date=receipt.done_date,
        sub=receipt.sub,
        dlvrd=receipt.dlvrd,
        text=receipt.text,
    )


def receipt_text(receipt: Receipt) -> str:
    """Render a receipt in the standard text form (what an SMSC puts in short_message)."""

    def date(value: datetime | None) -> str:
        return value.strftime("%y%m%d%H%M") if value else "0000000000"

    return (
        f"id:{receipt.message_id} sub:{receipt.sub or '001'} dlvrd:{receipt.dlvrd or '001'} "
        f"submit date:{date(receipt.submit_date)} done date:{date(receipt.done_date)} "
        f"stat:{receipt.stat} err:{receipt.err or '000'} text:{receipt.text or ''}"
    )
