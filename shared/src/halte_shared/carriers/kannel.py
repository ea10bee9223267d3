"""The adapter for a Kannel SMS gateway: its HTTP ``/cgi-bin/sendsms`` interface.

Parameters as Kannel's user guide defines them (SMS Push, "send-sms CGI variables"):
``username``, ``password``, ``from``, ``to``, ``text``, ``coding`` (0 = GSM 7-bit, 2 = UCS-2),
``charset`` (the charset of ``text`` as we send it: UTF-8 for coding 0, UTF-16BE for
coding 2), ``dlr-mask`` (31 = delivered, not delivered, queued on SMSC, delivered to SMSC,
not delivered to SMSC) and ``dlr-url``, the URL Kannel fetches for each report, in which it
replaces ``%d`` (report type), ``%A`` (SMSC answer), ``%p`` (the phone) and ``%T`` (unix time).

Every value is percent-encoded byte by byte (``+`` included: Kannel reads a bare ``+`` in
``to`` as a space, the separator of several receivers). Our own values inside the
dlr-url are percent-encoded first, then each ``%`` doubled, because Kannel reads ``%X``
in a dlr-url as an escape code and turns ``%%`` back into ``%``.

Kannel answers 202 ``0: Accepted for delivery`` or ``3: Queued for later delivery``, 503
for a temporary failure, and 4xx when the request can never succeed. It assigns no id we
can see: its reports come back through our dlr-url, which names our message id, so our
id is the ``carrier_message_id``. Kannel ignores idempotency keys, so a timeout after the
request left is ``outcome_unknown`` (resending could send the SMS twice).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import structlog

from halte_shared.carriers.base import (
    CarrierAdapter,
    CarrierPermanentError,
    CarrierTemporaryError,
    OutboundSms,
    SubmitResult,
)

log = structlog.get_logger("halte.carriers.kannel")

#: 1 delivered to phone + 2 not delivered to phone + 4 queued on SMSC + 8 delivered to SMSC + 16 not delivered to SMSC.
DLR_MASK_ALL = 31
CODING_GSM7 = 0
CODING_UCS2 = 2


def _encode(value: str | bytes) -> str:
    return quote(value, safe="")


def _kannel_literal(value: str) -> str:
    """Percent-encode a value for a URL Kannel will expand, keeping Kannel from reading it as escapes."""
    return _encode(value).replace("%", "%%")


def kannel_dlr_url(*, inbound_url: str, carrier: str, token: str, message_id: str) -> str:
    """Return the dlr-url Kannel fetches for each report of one message (before CGI encoding)."""
    base = inbound_url.rstrip("/").replace("%", "%%")
    return (
        f"{base}/v1/kannel/{_kannel_literal(carrier)}/dlr"
        f"?token={_kannel_literal(token)}&id={_kannel_literal(message_id)}"
        "&status=%d&answer=%A&to=%p&ts=%T"
    )


def sendsms_params(
    sms: OutboundSms,
    *,
    username: str,
    password: str,
    dlr_url: str | None,
    smsc: str | None = None,
    dlr_mask: int = DLR_MASK_ALL,
) -> list[tuple[str, str | bytes]]:
    """Return the sendsms CGI variables of one SMS, the text already in the charset declared."""
    if sms.encoding == "UCS-2":
        text: bytes = sms.text.encode("utf-16-be")
        coding, charset = CODING_UCS2, "UTF-16BE"
    else:
        text, coding, charset = sms.text.encode("utf-8"), CODING_GSM7, "UTF-8"
    params: list[tuple[str, str | bytes]] = [
        ("username", username),
        ("password", password),
        ("from", sms.sender),
        ("to", sms.to),
        ("text", text),
        ("coding", str(coding)),
        ("charset", charset),
    ]
    if dlr_url:
        params += [("dlr-mask", str(dlr_mask)), ("dlr-url", dlr_url)]
    if smsc:
        params.append(("smsc", smsc))
    return params


def sendsms_query(params: list[tuple[str, str | bytes]]) -> str:
    """Return the query string of sendsms CGI variables, every byte that needs it percent-encoded."""
    return "&".join(f"{name}={_encode(value)}" for name, value in params)


class KannelAdapter(CarrierAdapter):
    """Submit SMS to a Kannel smsbox's ``/cgi-bin/sendsms``, with delivery reports to inbound."""

    honours_idempotency_key = False

    def __init__(
        self,
        *,
        name: str,
        url: str,
        username: str,
        password: str,
        inbound_url: str | None,
        dlr_token: str | None,
        smsc: str | None = None,
        dlr_mask: int = DLR_MASK_ALL,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        self._inbound_url = inbound_url
        self._dlr_token = dlr_token
        self._smsc = smsc
        self._dlr_mask = dlr_mask
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        if inbound_url and not dlr_token:
            raise ValueError(f"carrier {name}: a dlr token is needed to sign Kannel's dlr-url towards inbound")

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def dlr_url_for(self, sms: OutboundSms) -> str | None:
        """Return the dlr-url of one SMS (the SMS's own, or inbound's Kannel DLR endpoint)."""
        if sms.dlr_url:
            return sms.dlr_url
        if not self._inbound_url or not self._dlr_token:
            return None
        return kannel_dlr_url(
            inbound_url=self._inbound_url, carrier=self.name, token=self._dlr_token, message_id=sms.message_id
        )

    def request_url(self, sms: OutboundSms) -> str:
        """Return the full sendsms URL of one SMS."""
        params = sendsms_params(
            sms,
            username=self._username,
            password=self._password,
            dlr_url=self.dlr_url_for(sms),
            smsc=self._smsc,
            dlr_mask=self._dlr_mask,
        )
        return f"{self.url}/cgi-bin/sendsms?{sendsms_query(params)}"

    async def submit(self, sms: OutboundSms) -> SubmitResult:
        await self.start()
        assert self._client is not None
        try:
            response = await self._client.get(self.request_url(sms))
        except httpx.TimeoutException as exc:
            raise CarrierTemporaryError(
                f"Kannel did not answer in {self._timeout:.0f} s; the SMS may have been sent",
                carrier=self.name,
                code="timeout",
                outcome_unknown=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise CarrierTemporaryError(
                f"Kannel is unreachable at {self.url}: {exc!r}", carrier=self.name, code="unreachable"
            ) from exc
        answer = response.text.strip()[:300]
        if 200 <= response.status_code < 300:
            # "0: Accepted for delivery" or "3: Queued for later delivery": both are Kannel's to deliver now.
            return SubmitResult.accepted_by(self.name, sms.message_id)
        if response.status_code == 503:
            raise CarrierTemporaryError(f"Kannel: temporary failure: {answer}", carrier=self.name, code="http_503")
        if response.status_code >= 500:
            raise CarrierTemporaryError(
                f"Kannel failed ({response.status_code}): {answer}",
                carrier=self.name,
                code=f"http_{response.status_code}",
                outcome_unknown=True,
            )
        if "authorization failed" in answer.lower():
            # Our credentials, not this message, are wrong: keep the message for when they are fixed.
            log.error("Kannel refused our sendsms credentials", carrier=self.name, status=response.status_code)
            raise CarrierTemporaryError(f"Kannel: {answer}", carrier=self.name, code="authorization_failed")
        raise CarrierPermanentError(
            f"Kannel refused the message ({response.status_code}): {answer}",
            carrier=self.name,
            code=f"http_{response.status_code}",
        )
