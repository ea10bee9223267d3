"""A real Kannel SMS gateway on loopback, with fakesmsc playing the phone network.

The end-to-end tests and ``make demo``-style experiments use it to put Halte behind the
gateway it will meet in production: ``bearerbox`` (the core), ``smsbox`` (the HTTP side:
``/cgi-bin/sendsms`` for our adapter, ``sms-service`` ``get-url`` towards inbound) and
``/usr/lib/kannel/test/fakesmsc`` (the SMSC: what it prints is what phones received; what
we type into it is what phones send). Everything runs as child processes in a work
directory of ours, on free loopback ports, so it never collides with another gateway.

fakesmsc runs in its interactive mode: one line on its standard input is one reply from a
phone ("<from> <to> text <words>" or "... ucs2 <url-encoded UTF-16BE>"), and each message
the gateway hands it is printed as "Got message N: <from to type data>". It reads stdin
with ``select`` then ``fgets``, so two lines written at once would leave the second in its
stdio buffer: :meth:`KannelGateway.send_mo` writes one line and waits for fakesmsc to say
it sent it before the next. UCS-2 replies reach inbound as UTF-8 because smsbox is set
with ``mo-recode = true`` (Kannel user guide, smsbox group): it recodes UCS-2 to UTF-8 and
says so with ``coding=0`` and ``charset=UTF-8``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from halte_shared.infra import free_port, wait_for_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"

#: fakesmsc reads a line into a 256-byte buffer (test/fakesmsc.c, IN_BUFSIZE).
_FAKESMSC_LINE_LIMIT = 255
_GOT = re.compile(r"Got message (\d+): <(.*)>\s*$")
_SENT = re.compile(r"fakesmsc: sent message (\d+)")


def kannel_installed() -> bool:
    """Tell whether the Debian kannel and kannel-extras packages are installed."""
    return all(os.access(path, os.X_OK) for path in (BEARERBOX, SMSBOX, FAKESMSC))


def contract_mo_url(*, inbound_url: str, carrier: str, token: str) -> str:
    """Return the contract's sms-service get-url towards inbound, with Kannel's escapes."""
    quoted = urllib.parse.quote(token, safe="")
    return f"{inbound_url.rstrip('/')}/v1/kannel/{carrier}/mo?from=%p&to=%P&text=%a&ts=%t&id=%I&token={quoted}"


@dataclass(frozen=True, slots=True)
class HandsetMessage:
    """One SMS the fake SMSC received from the gateway (reassembled when concatenated)."""

    sender: str
    receiver: str
    text: str
    coding: str  # "text" (7-bit), "data" (8-bit), "ucs-2"
    parts: int
    received_at: float


@dataclass
class _Fragment:
    sender: str
    receiver: str
    kind: str
    udh: bytes
    data: bytes
    received_at: float


def _decode_body(kind: str, data: bytes) -> str:
    if kind == "ucs-2":
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _concat_info(udh: bytes) -> tuple[int, int, int] | None:
    """Return (reference, total, sequence) of a concatenation header (3GPP TS 23.040 9.2.3.24.1), if any."""
    if not udh:
        return None
    body = udh[1 : 1 + udh[0]] if udh[0] + 1 <= len(udh) else udh[1:]
    index = 0
    while index + 2 <= len(body):
        iei, length = body[index], body[index + 1]
        value = body[index + 2 : index + 2 + length]
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        index += 2 + length
    return None


def parse_fakesmsc_line(line: str, *, received_at: float = 0.0) -> _Fragment | None:
    """Parse one "Got message N: <from to type data>" line of fakesmsc's output."""
    match = _GOT.search(line)
    if not match:
        return None
    sender, _, rest = match.group(2).partition(" ")
    receiver, _, rest = rest.partition(" ")
    kind, _, payload = rest.partition(" ")
    if kind == "text":
        return _Fragment(sender, receiver, "text", b"", payload.encode(), received_at)
    if kind == "udh":
        # Kannel 1.4.5 prints "udh <udh> <type> <data>" (older ones "udh <udh> <data>").
        udh_text, _, rest = payload.partition(" ")
        inner, _, data_text = rest.partition(" ")
        if inner not in ("data", "text", "ucs-2", "ucs2"):
            inner, data_text = "data", rest
        udh = _unquote(udh_text)
        data = payload_bytes(inner, data_text)
        return _Fragment(sender, receiver, _coding_of(inner, data), udh, data, received_at)
    data = payload_bytes(kind, payload)
    return _Fragment(sender, receiver, _coding_of(kind, data), b"", data, received_at)


def _unquote(text: str) -> bytes:
    return urllib.parse.unquote_to_bytes(text.replace("+", " "))


def payload_bytes(kind: str, text: str) -> bytes:
    """Return the bytes of a fakesmsc message body: literal for "text", URL-encoded otherwise."""
    return text.encode() if kind == "text" else _unquote(text)


def _coding_of(kind: str, data: bytes) -> str:
    if kind.startswith("ucs"):
        return "ucs-2"
    # fakesmsc does not print the coding of 8-bit or concatenated parts; UCS-2 shows as
    # UTF-16BE, where Latin text has NUL high bytes that no 7-bit text carries.
    if kind == "data" and len(data) % 2 == 0 and b"\x00" in data[0::2]:
        return "ucs-2"
    return "text"


def assemble(fragments: list[_Fragment]) -> list[HandsetMessage]:
    """Join the parts of concatenated messages, as a handset does; keep arrival order."""
    messages: list[HandsetMessage] = []
    groups: dict[tuple[str, str, int, int], dict[int, _Fragment]] = {}
    group_slot: dict[tuple[str, str, int, int], int] = {}
    slots: list[HandsetMessage | None] = []
    for fragment in fragments:
        info = _concat_info(fragment.udh)
        if info is None:
            slots.append(
                HandsetMessage(
                    sender=fragment.sender,
                    receiver=fragment.receiver,
                    text=_decode_body(fragment.kind, fragment.data),
                    coding=fragment.kind,
                    parts=1,
                    received_at=fragment.received_at,
                )
            )
            continue
        reference, total, sequence = info
        key = (fragment.sender, fragment.receiver, reference, total)
        if key not in groups or sequence in groups[key]:
            # A reused reference after a complete message starts a new one.
            groups[key] = {}
            group_slot[key] = len(slots)
            slots.append(None)
        groups[key][sequence] = fragment
        if len(groups[key]) == total:
            parts = [groups[key][n] for n in sorted(groups[key])]
            slots[group_slot[key]] = HandsetMessage(
                sender=fragment.sender,
                receiver=fragment.receiver,
                # Parts are cut by bytes: a character may straddle two of them.
                text=_decode_body(parts[0].kind, b"".join(p.data for p in parts)),
                coding=parts[0].kind,
                parts=total,
                received_at=parts[-1].received_at,
            )
            del groups[key]
    messages.extend(m for m in slots if m is not None)
    return messages


def mo_line(*, sender: str, to: str, text: str) -> str:
    """Return the fakesmsc line of a reply from a phone: plain text if ASCII, else UCS-2."""
    if "\n" in text or "\r" in text:
        raise ValueError("a fakesmsc message is one line: the text cannot hold a line break")
    if all(32 <= ord(ch) < 127 for ch in text):
        line = f"{sender} {to} text {text}"
    else:
        line = f"{sender} {to} ucs2 {urllib.parse.quote_from_bytes(text.encode('utf-16-be'), safe='')}"
    if len(line.encode()) + 1 > _FAKESMSC_LINE_LIMIT:
        raise ValueError(f"fakesmsc reads at most {_FAKESMSC_LINE_LIMIT} bytes a line; this reply is too long")
    return line


@dataclass
class KannelGateway:
    """bearerbox + smsbox + fakesmsc, configured in `workdir`, on free loopback ports."""

    workdir: Path
    mo_url: str
    username: str = "halte"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    smsc_id: str = "fakesmsc"
    log_level: int = 1

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._fragments: list[_Fragment] = []
        self._sent = 0
        self._lock = threading.Condition()
        self._reader: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.workdir / "kannel.conf"

    @property
    def sendsms_url(self) -> str:
        """Return the URL our Kannel adapter submits to."""
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def config_text(self) -> str:
        """Return the kannel.conf of this gateway."""
        logs = self.workdir
        return f"""# Written by halte_shared.kannel_gateway: a loopback gateway for tests and demos.
group = core
admin-port = {self.admin_port}
admin-password = "{self.admin_password}"
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.smsbox_port}
box-allow-ip = "127.0.0.1"
log-file = "{logs / "bearerbox.log"}"
log-level = {self.log_level}
access-log = "{logs / "access.log"}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = {self.smsc_id}
port = {self.smsc_port}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{logs / "smsbox.log"}"
log-level = {self.log_level}
# UCS-2 replies reach inbound recoded to UTF-8 (coding=0, charset=UTF-8).
mo-recode = true

group = sendsms-user
username = "{self.username}"
password = "{self.password}"
user-allow-ip = "127.0.0.1"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
# The reply is handled by Halte (a confirmation SMS goes through sendsms): never answer inline.
max-messages = 0
omit-empty = true
get-url = "{self.mo_url}"
"""

    # -- processes -------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], *, pipe: bool = False) -> subprocess.Popen[bytes]:
        if pipe:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        else:
            with open(self.workdir / f"{name}.out", "ab") as output:
                process = subprocess.Popen(
                    argv, stdout=output, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
                )
        self._processes[name] = process
        return process

    def start(self, *, timeout: float = 30.0) -> KannelGateway:
        """Write the configuration, start the three processes, wait until fakesmsc is connected."""
        if not kannel_installed():
            raise RuntimeError("Kannel is not installed: apt-get install kannel kannel-extras")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        try:
            self._spawn("bearerbox", [BEARERBOX, str(self.config_path)])
            wait_for_port("127.0.0.1", self.admin_port, timeout=timeout)
            wait_for_port("127.0.0.1", self.smsc_port, timeout=timeout)
            self._spawn("smsbox", [SMSBOX, str(self.config_path)])
            wait_for_port("127.0.0.1", self.sendsms_port, timeout=timeout)
            fake = self._spawn(
                "fakesmsc", [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-m", "-1", "-i", "0"], pipe=True
            )
            self._reader = threading.Thread(target=self._read_fakesmsc, args=(fake,), daemon=True)
            self._reader.start()
            self._wait_online(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_online(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"Kannel's {name} exited with code {process.returncode}; see {self.workdir}")
            try:
                status = httpx.get(
                    f"{self.admin_url}/status.txt", params={"password": self.admin_password}, timeout=2
                ).text
                last = status
                smsc_online = re.search(rf"{re.escape(self.smsc_id)}\[[^\]]*\]\s*FAKE:\d+\s*\(online", status)
                box_connected = re.search(r"smsbox:\S*,\s*IP 127\.0\.0\.1", status) or "Box connections:" in status
                if smsc_online and box_connected and self._smsbox_connected(status):
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"the Kannel gateway did not come online in {timeout:.0f} s: {last[-600:]}")

    @staticmethod
    def _smsbox_connected(status: str) -> bool:
        # "Box connections:" is followed by one line per connected box.
        _, _, boxes = status.partition("Box connections:")
        return "smsbox" in boxes

    def _read_fakesmsc(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with open(self.workdir / "fakesmsc.out", "ab") as log:
            for raw in iter(process.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", errors="replace")
                fragment = parse_fakesmsc_line(line, received_at=time.time())
                with self._lock:
                    if fragment is not None:
                        self._fragments.append(fragment)
                    elif sent := _SENT.search(line):
                        self._sent = int(sent.group(1))
                    self._lock.notify_all()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop fakesmsc, smsbox and bearerbox (SIGKILL what does not stop in time)."""
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            process = self._processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGINT if name == "fakesmsc" else signal.SIGTERM)
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            process = self._processes.pop(name, None)
            if process is None:
                continue
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None

    def __enter__(self) -> KannelGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the phone network -------------------------------------------------------------
    def send_mo(self, *, sender: str, to: str, text: str, timeout: float = 10.0) -> None:
        """Make a phone `sender` send `text` to the short code `to`; return once the SMSC sent it."""
        process = self._processes.get("fakesmsc")
        if process is None or process.stdin is None or process.poll() is not None:
            raise RuntimeError("fakesmsc is not running")
        line = mo_line(sender=sender, to=to, text=text)
        with self._lock:
            expected = self._sent + 1
            process.stdin.write(line.encode() + b"\n")
            process.stdin.flush()
            if not self._lock.wait_for(lambda: self._sent >= expected, timeout=timeout):
                raise TimeoutError(f"fakesmsc did not send the reply {line!r} within {timeout:.0f} s")

    def messages(self) -> list[HandsetMessage]:
        """Return every SMS the phones received so far, concatenated parts joined."""
        with self._lock:
            fragments = list(self._fragments)
        return assemble(fragments)

    def messages_to(self, receiver: str) -> list[HandsetMessage]:
        """Return the SMS received by one number (as the gateway wrote it, e.g. E.164)."""
        return [m for m in self.messages() if m.receiver == receiver]

    def wait_for(self, *, count: int, receiver: str | None = None, timeout: float = 20.0) -> list[HandsetMessage]:
        """Wait until at least `count` SMS arrived (to `receiver`, if given); return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages_to(receiver) if receiver else self.messages()
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            with self._lock:
                self._lock.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))

    def clean(self) -> None:
        """Remove the work directory (call after stop)."""
        shutil.rmtree(self.workdir, ignore_errors=True)
