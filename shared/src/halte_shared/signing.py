"""Signatures that cross service boundaries: carrier webhooks and unsubscribe-link tokens.

Webhooks (CONTRACT.md): ``X-Halte-Signature`` is the hex HMAC-SHA256 of
``"{timestamp}.{raw body}"`` with the carrier's secret, ``X-Halte-Timestamp`` the unix
seconds; a request older (or newer) than the window is refused so a captured request
cannot be replayed later. Tokens of unsubscribe links name an account and a number and
are signed, so nobody can unsubscribe (or read) someone else's number by editing a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

WEBHOOK_WINDOW_SECONDS = 300


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of "{timestamp}.{body}"."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class BadSignature(ValueError):
    """A webhook or token whose signature does not verify; the message says why."""


def verify_webhook(
    *,
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now_unix: float,
    window_seconds: int = WEBHOOK_WINDOW_SECONDS,
) -> None:
    """Raise BadSignature unless the request is signed with `secret` and fresh."""
    if not timestamp or not signature:
        raise BadSignature("missing X-Halte-Timestamp or X-Halte-Signature header")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise BadSignature("X-Halte-Timestamp is not unix seconds") from exc
    if abs(now_unix - sent_at) > window_seconds:
        raise BadSignature(f"timestamp is more than {window_seconds} s away from now")
    expected = webhook_signature(secret, timestamp, body)
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a hostile header may carry them.
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise BadSignature("signature does not match")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_unsubscribe_token(secret: str, *, account_id: str, phone: str) -> str:
    """Return a URL-safe token naming an account and a number, signed with `secret`."""
    claims = _b64(json.dumps({"a": account_id, "p": phone}, separators=(",", ":")).encode())
    mac = _b64(hmac.new(secret.encode(), claims.encode(), hashlib.sha256).digest()[:18])
    return f"{claims}.{mac}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str]:
    """Return (account_id, phone) of a token, or raise BadSignature."""
    claims, _, mac = token.partition(".")
    if not claims or not mac:
        raise BadSignature("the link is incomplete")
    expected = _b64(hmac.new(secret.encode(), claims.encode(), hashlib.sha256).digest()[:18])
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise BadSignature("the link has been altered")
    try:
        data = json.loads(_unb64(claims))
        return str(data["a"]), str(data["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadSignature("the link is malformed") from exc
