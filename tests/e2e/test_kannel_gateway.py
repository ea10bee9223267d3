"""halte_shared.kannel_gateway: a real bearerbox + smsbox + fakesmsc, checked against a tiny HTTP receiver."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from halte_shared.kannel_gateway import KannelGateway, assemble, kannel_installed, mo_line, parse_fakesmsc_line

pytestmark = [pytest.mark.e2e, pytest.mark.kannel]


class _Receiver(http.server.BaseHTTPRequestHandler):
    hits: list[dict[str, str]] = []

    def do_GET(self) -> None:
        query = urllib.parse.urlsplit(self.path).query
        self.hits.append({k: v[0] for k, v in urllib.parse.parse_qs(query).items()})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KannelGateway, list[dict[str, str]]]]:
    if not kannel_installed():
        pytest.skip("Kannel is not installed (scripts/system-deps.sh installs it)")
    hits: list[dict[str, str]] = []
    handler = type("Receiver", (_Receiver,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/mo?from=%p&to=%P&text=%a&id=%I&token=t0k"
    gateway = KannelGateway(Path(tmp_path_factory.mktemp("kannel")), mo_url=url)
    with gateway:
        yield gateway, hits
    server.shutdown()


def _send(gateway: KannelGateway, text: str, *, ucs2: bool = False) -> httpx.Response:
    params = {
        "username": gateway.username,
        "password": gateway.password,
        "from": "36111",
        "to": "+33612345678",
        "text": text.encode("utf-16-be") if ucs2 else text,
        "charset": "UTF-16BE" if ucs2 else "UTF-8",
        "coding": "2" if ucs2 else "0",
    }
    query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in params.items())
    return httpx.get(f"{gateway.sendsms_url}?{query}", timeout=10)


def test_a_reply_reaches_the_get_url_with_its_text(gateway: tuple[KannelGateway, list[dict[str, str]]]) -> None:
    kannel, hits = gateway
    kannel.send_mo(sender="0612345678", to="36111", text="Stop SMS")
    kannel.send_mo(sender="0612345678", to="36111", text="arrêt 😀")
    deadline = time.monotonic() + 10
    while len(hits) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(h["from"], h["to"], h["text"], h["token"]) for h in hits[:2]] == [
        ("0612345678", "36111", "Stop SMS", "t0k"),
        ("0612345678", "36111", "arrêt 😀", "t0k"),
    ]


def test_long_and_unicode_messages_reach_the_phone_whole(gateway: tuple[KannelGateway, list[dict[str, str]]]) -> None:
    kannel, _ = gateway
    long_text = "Boulangerie Halte : " + "galettes " * 25 + "STOP au 36111"
    unicode_text = "Désinscription enregistrée 😀 " * 4
    assert _send(kannel, long_text).status_code == 202
    assert _send(kannel, unicode_text, ucs2=True).status_code == 202
    assert _send(kannel, "Court: é €").status_code == 202
    got = kannel.wait_for(count=3, receiver="+33612345678", timeout=15)
    assert [(m.text, m.parts) for m in got] == [(long_text, 2), (unicode_text, 2), ("Court: é €", 1)]
    assert got[1].coding == "ucs-2" and all(m.sender == "36111" for m in got)


def test_wrong_credentials_are_refused(gateway: tuple[KannelGateway, list[dict[str, str]]]) -> None:
    kannel, _ = gateway
    response = httpx.get(kannel.sendsms_url, params={"username": "halte", "password": "nope", "to": "1", "text": "x"})
    assert response.status_code in (401, 403)


def test_fakesmsc_lines_are_parsed_and_parts_joined() -> None:
    first = parse_fakesmsc_line("Got message 1: <36111 +33600000000 udh %05%00%03%07%02%01 data %00A%D8%3D>")
    second = parse_fakesmsc_line("Got message 2: <36111 +33600000000 udh %05%00%03%07%02%02 data %DE%00%00B>")
    assert first is not None and second is not None
    (message,) = assemble([first, second])
    assert (message.text, message.parts, message.coding) == ("A😀B", 2, "ucs-2")
    assert parse_fakesmsc_line("fakesmsc: sent message 3") is None


def test_a_reply_line_is_text_when_ascii_and_ucs2_otherwise() -> None:
    assert mo_line(sender="0612", to="36111", text="STOP") == "0612 36111 text STOP"
    assert mo_line(sender="0612", to="36111", text="é") == "0612 36111 ucs2 %00%E9"
    with pytest.raises(ValueError, match="line break"):
        mo_line(sender="0612", to="36111", text="a\nb")
