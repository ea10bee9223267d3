"""Kannel's sendsms request, byte for byte, and how its answers map to results."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

import httpx
import pytest

from halte_shared.carriers.base import CarrierPermanentError, CarrierTemporaryError, OutboundSms
from halte_shared.carriers.kannel import KannelAdapter, kannel_dlr_url, sendsms_params, sendsms_query

INBOUND = "http://inbound.local:8002"


def adapter(transport: httpx.AsyncBaseTransport | None = None, *, token: str = "kannel-token") -> KannelAdapter:
    return KannelAdapter(
        name="kannel",
        url="http://kannel.local:13013/",
        username="halte",
        password="p&ss word",
        inbound_url=INBOUND,
        dlr_token=token,
        transport=transport,
    )


def sms(text: str = "Votre code: 1234", encoding: str = "GSM-7", message_id: str = "msg-42") -> OutboundSms:
    return OutboundSms(message_id=message_id, to="+33612345678", sender="36111", text=text, encoding=encoding)  # type: ignore[arg-type]


def cgi_variables(url: str) -> dict[str, bytes]:
    """Decode a query string the way Kannel's CGI parser does: split on '&' and '=', then URL-decode."""
    query = urlsplit(url).query
    pairs = (part.split("=", 1) for part in query.split("&"))
    return {name: unquote_to_bytes(value) for name, value in pairs}


def kannel_expand(pattern: str, values: dict[str, str]) -> str:
    """Expand a dlr-url as Kannel's url translation does: %X escapes replaced, '%%' -> '%', others kept."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "%":
            return "%"
        return values.get(code, match.group(0))

    return re.sub(r"%(.)", one, pattern)


def test_a_ucs2_text_is_sent_as_percent_encoded_utf16be_with_coding_2() -> None:
    url = adapter().request_url(sms("arrêt 😀", encoding="UCS-2"))
    assert "text=%00a%00r%00r%00%EA%00t%00%20%D8%3D%DE%00&" in url  # 😀 is the surrogate pair D83D DE00
    variables = cgi_variables(url)
    assert variables["text"].decode("utf-16-be") == "arrêt 😀"
    assert variables["coding"] == b"2" and variables["charset"] == b"UTF-16BE"


def test_a_gsm7_text_is_sent_as_utf8_with_coding_0() -> None:
    variables = cgi_variables(adapter().request_url(sms("Prix: 10€ & 5% {promo}+")))
    assert variables["text"].decode("utf-8") == "Prix: 10€ & 5% {promo}+"
    assert variables["coding"] == b"0" and variables["charset"] == b"UTF-8"


def test_credentials_sender_and_number_are_encoded_so_kannel_reads_them_back() -> None:
    url = adapter().request_url(sms())
    assert url.startswith("http://kannel.local:13013/cgi-bin/sendsms?username=halte&password=p%26ss%20word&")
    assert "&to=%2B33612345678&" in url  # a bare '+' would read as a space: two receivers
    variables = cgi_variables(url)
    assert variables["from"] == b"36111" and variables["to"] == b"+33612345678"
    assert variables["dlr-mask"] == b"31"


def test_the_dlr_url_points_at_inbound_with_kannel_escapes() -> None:
    variables = cgi_variables(adapter().request_url(sms()))
    assert variables["dlr-url"].decode() == (
        f"{INBOUND}/v1/kannel/kannel/dlr?token=kannel-token&id=msg-42&status=%d&answer=%A&to=%p&ts=%T"
    )


def test_the_dlr_url_kannel_expands_names_our_message_and_token_exactly() -> None:
    token = "t0k/en%A+&=é"  # characters Kannel or a URL would otherwise misread
    dlr_url = cgi_variables(adapter(token=token).request_url(sms(message_id="optout:acc-1.7_x")))["dlr-url"].decode()
    fetched = kannel_expand(dlr_url, {"d": "1", "A": "ACK%2F", "p": "%2B33612345678", "T": "1764000000"})
    parts = urlsplit(fetched)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{INBOUND}/v1/kannel/kannel/dlr"
    query = parse_qs(parts.query)
    assert query == {
        "token": [token],
        "id": ["optout:acc-1.7_x"],
        "status": ["1"],
        "answer": ["ACK/"],
        "to": ["+33612345678"],
        "ts": ["1764000000"],
    }


def test_kannel_dlr_url_escapes_percent_signs_of_the_base_url() -> None:
    url = kannel_dlr_url(inbound_url="http://h/x%20y/", carrier="k", token="t", message_id="m")
    assert url.startswith("http://h/x%%20y/v1/kannel/k/dlr?")


def test_an_sms_may_carry_its_own_dlr_url_and_a_routing_smsc() -> None:
    params = dict(sendsms_params(sms(), username="u", password="p", dlr_url="http://x/dlr?s=%d", smsc="orange"))
    assert params["dlr-url"] == "http://x/dlr?s=%d" and params["smsc"] == "orange"
    without = dict(sendsms_params(sms(), username="u", password="p", dlr_url=None))
    assert "dlr-url" not in without and "dlr-mask" not in without
    assert sendsms_query([("a", "x y"), ("b", b"\x00\xff")]) == "a=x%20y&b=%00%FF"


def test_an_inbound_url_without_a_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="dlr token"):
        KannelAdapter(name="k", url="http://k", username="u", password="p", inbound_url=INBOUND, dlr_token=None)


def answering(status: int, body: str = "", *, error: Exception | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if error is not None:
            raise error
        return httpx.Response(status, text=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("body", ["0: Accepted for delivery", "3: Queued for later delivery"])
async def test_kannel_accepting_gives_our_id_as_the_carrier_id(body: str) -> None:
    kannel = adapter(answering(202, body))
    result = await kannel.submit(sms())
    await kannel.close()
    assert result.accepted and result.carrier == "kannel" and result.carrier_message_id == "msg-42"
    assert not kannel.honours_idempotency_key


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "unknown"),
    [
        (503, "Temporal failure, try again later.", None, "http_503", False),
        (502, "Bad gateway", None, "http_502", True),
        (403, "Authorization failed for sendsms", None, "authorization_failed", False),
        (0, "", httpx.ConnectError("refused"), "unreachable", False),
        (0, "", httpx.ReadTimeout("slow"), "timeout", True),
    ],
)
async def test_kannel_failures_that_can_pass_later_are_temporary(
    status: int, body: str, error: Exception | None, code: str, unknown: bool
) -> None:
    kannel = adapter(answering(status, body, error=error))
    with pytest.raises(CarrierTemporaryError) as raised:
        await kannel.submit(sms())
    await kannel.close()
    assert raised.value.code == code and raised.value.outcome_unknown is unknown


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, "Missing receiver number"), (403, "Number(s) has/have been denied by white- and/or black-lists.")],
)
async def test_kannel_refusing_the_message_is_permanent(status: int, body: str) -> None:
    kannel = adapter(answering(status, body))
    with pytest.raises(CarrierPermanentError) as raised:
        await kannel.submit(sms())
    await kannel.close()
    assert raised.value.code == f"http_{status}" and body[:20] in str(raised.value)
