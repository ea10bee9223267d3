"""Fuzzing every public entry point: hostile input gets a 4xx (or a harmless 2xx), never a 5xx."""

from __future__ import annotations

import json
import random
import string
from urllib.parse import quote

import pytest

from halte_inbound.testing import KANNEL_TOKEN, Inbound, mo_body, signed_headers

pytestmark = pytest.mark.integration

ROUNDS = 60
ALPHABET = string.printable + "éêà€😀\u0000\u200b\ufeff\ud800"


def junk_text(rng: random.Random, size: int = 40) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, size)))


def junk_header(rng: random.Random, size: int) -> bytes:
    """Return header bytes a hostile client may send: anything but control characters."""
    return bytes(rng.choice([*range(0x20, 0x7F), *range(0x80, 0x100)]) for _ in range(rng.randint(0, size)))


def q(text: str) -> str:
    """Percent-encode anything, lone surrogates included (as a hostile client would send their bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def junk_value(rng: random.Random, depth: int = 0):
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([0, -1, 2**70, 1.5e308, True])
    if kind == 2:
        return junk_text(rng)
    if kind == 3:
        return rng.choice(["2026-11-25T10:00:00+00:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "now"])
    if kind == 4:
        return "x" * rng.randint(150, 5000)
    if kind == 5:
        return [junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {junk_text(rng, 8): junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def hostile_mo(rng: random.Random) -> bytes:
    fields = {"message_id": "m", "from": "0612345678", "to": "36111", "text": "STOP", "received_at": None}
    choice = rng.randint(0, 4)
    if choice == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if choice == 1:
        return json.dumps(junk_value(rng)).encode()
    if choice == 2:
        body = {k: v for k, v in fields.items() if rng.random() > 0.2}
        body[rng.choice(list(fields))] = junk_value(rng)
        body["message_id"] = f"fuzz-{rng.getrandbits(64)}" if rng.random() > 0.5 else body.get("message_id")
        return json.dumps(body, ensure_ascii=rng.random() > 0.5).encode("utf-8", "surrogatepass")
    if choice == 3:
        return ("[" * rng.randint(1000, 5000)).encode()  # nesting deep enough to exhaust a recursive parser
    return mo_body(junk_text(rng), sender=junk_text(rng, 20) or "0", to=junk_text(rng, 10) or "1")


async def test_no_hostile_request_gets_a_5xx(inbound: Inbound):
    rng = random.Random(20261125)
    statuses: dict[int, int] = {}

    def seen(status: int, what: str) -> None:
        assert status < 500, f"{what} got {status}"
        statuses[status] = statuses.get(status, 0) + 1

    for round_ in range(ROUNDS):
        body = hostile_mo(rng)
        headers = signed_headers(body) if rng.random() > 0.2 else {"X-Halte-Signature": junk_header(rng, 64)}
        if rng.random() < 0.1:
            headers["X-Halte-Timestamp"] = junk_header(rng, 12)
        path = rng.choice(["/v1/carriers/sim/mo", "/v1/carriers/sim/dlr", f"/v1/carriers/{q(junk_text(rng, 8))}/mo"])
        response = await inbound.client.post(path, content=body, headers=headers)
        seen(response.status_code, f"round {round_}: POST {path} {body[:80]!r}")

        raw = "&".join(f"{q(junk_text(rng, 6))}={q(junk_text(rng, 30))}" for _ in range(rng.randint(0, 6)))
        base = f"from=0612345678&to=36111&id=fuzz-{rng.getrandbits(64)}&token={KANNEL_TOKEN}"
        query = f"{base}&{raw}" if rng.random() > 0.3 else raw
        for kind in ("mo", "dlr"):
            response = await inbound.client.get(f"/v1/kannel/kannel/{kind}?{query}")
            seen(response.status_code, f"round {round_}: GET kannel {kind} ?{query[:200]}")

        token = q(junk_text(rng, 120))
        response = await inbound.client.get(f"/u/{token}", headers={"Accept-Language": junk_header(rng, 40)})
        seen(response.status_code, f"round {round_}: GET /u/{token[:60]}")
        response = await inbound.client.post(f"/u/{token}", content=bytes(rng.getrandbits(8) for _ in range(200)))
        seen(response.status_code, f"round {round_}: POST /u/{token[:60]}")

        spam = json.dumps({"reports": junk_value(rng)}).encode()
        response = await inbound.client.post(
            "/v1/spam-reports", content=spam, headers={"Authorization": "Bearer test-admin-token"}
        )
        seen(response.status_code, f"round {round_}: POST /v1/spam-reports {spam[:80]!r}")

    assert statuses.get(200, 0) > 0 and statuses.get(401, 0) > 0 and statuses.get(422, 0) > 0, statuses
