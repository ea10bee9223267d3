import pytest

from halte_shared.signing import (
    BadSignature,
    make_unsubscribe_token,
    read_unsubscribe_token,
    verify_webhook,
    webhook_signature,
)

SECRET = "s3cret-for-tests"
BODY = b'{"message_id":"m1"}'


def test_valid_signature_passes():
    sig = webhook_signature(SECRET, "1000", BODY)
    verify_webhook(secret=SECRET, timestamp="1000", signature=sig, body=BODY, now_unix=1100)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "reason"),
    [
        (None, "x", BODY, 1000, "missing"),
        ("1000", None, BODY, 1000, "missing"),
        ("abc", "x", BODY, 1000, "unix seconds"),
        ("1000", "deadbeef", BODY, 1000, "does not match"),
        ("1000", webhook_signature(SECRET, "1000", BODY), BODY + b" ", 1000, "does not match"),
        ("1000", webhook_signature(SECRET, "1000", BODY), BODY, 1301, "more than 300 s"),
        ("1000", webhook_signature(SECRET, "1000", BODY), BODY, 699, "more than 300 s"),
        ("1000", webhook_signature("other", "1000", BODY), BODY, 1000, "does not match"),
    ],
)
def test_bad_webhooks_are_refused_with_a_reason(timestamp, signature, body, now, reason):
    with pytest.raises(BadSignature, match=reason):
        verify_webhook(secret=SECRET, timestamp=timestamp, signature=signature, body=body, now_unix=now)


def test_unsubscribe_token_round_trip_and_tamper():
    token = make_unsubscribe_token(SECRET, account_id="acc-1", phone="+447400123456")
    assert read_unsubscribe_token(SECRET, token) == ("acc-1", "+447400123456")
    other = make_unsubscribe_token(SECRET, account_id="acc-2", phone="+447400123456")
    forged = other.split(".")[0] + "." + token.split(".")[1]
    for bad in (forged, token[:-2], "nodot", token + "x", ""):
        with pytest.raises(BadSignature):
            read_unsubscribe_token(SECRET, bad)
    with pytest.raises(BadSignature):
        read_unsubscribe_token("another-secret", token)


def test_non_ascii_signature_or_token_is_refused_not_crashing():
    with pytest.raises(BadSignature):
        verify_webhook(secret=SECRET, timestamp="1000", signature="é" * 64, body=BODY, now_unix=1000)
    token = make_unsubscribe_token(SECRET, account_id="a", phone="+33612345678")
    with pytest.raises(BadSignature):
        read_unsubscribe_token(SECRET, token.split(".")[0] + ".é")
