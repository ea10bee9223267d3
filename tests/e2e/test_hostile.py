"""Hostile input against the running platform: schema fuzzing, webhook abuse, tenancy, rate limits.

- schemathesis generates requests from every service's own OpenAPI (positive and negative
  data), sent with another tenant's API key and, where that is refused, the operator
  token: no answer may be a 5xx or break the service's own schema.
- Carrier webhooks get random bodies, huge bodies, invalid UTF-8, missing, wrong and stale
  signatures: each is refused with a 4xx, and nothing is recorded (a STOP with a bad
  signature unsubscribes nobody).
- A tenant sees nothing of another's contacts, campaigns or opt-outs.
- Sends and imports are rate-limited per account: 429 with Retry-After, the neighbour unaffected.
- A client acting in bad faith labels promotions "informative": after a STOP none of them is sent,
  while a genuine appointment reminder still is.

Bounded: HALTE_E2E_FUZZ_EXAMPLES (default 6) examples per operation and generation mode.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from harness import Api, Platform, RetryingCarrier, policy_verdict, wait_until

from halte_shared.signing import webhook_signature
from halte_shared.stack import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = int(os.environ.get("HALTE_E2E_FUZZ_EXAMPLES", "15"))
#: The platform's per-account send limit (harness.Platform sets it low so a test can reach it quickly).
SEND_BURST = 20
#: Test-mode plumbing (moving the clock would disturb the other tests) and the text-only metrics.
EXCLUDED_PATHS = ("/v1/test/clock", "/metrics")


@dataclass
class Tenant:
    account_id: str
    api: Api
    short_code: str
    phone: str
    campaign_id: str


def _new_tenant(platform: Platform, name: str, phone: str) -> Tenant:
    admin = platform.admin()
    for _ in range(20):
        short_code = f"36{secrets.randbelow(1000):03d}"
        response = admin.request(
            "POST",
            "/v1/accounts",
            json={"name": name, "short_code": short_code, "mode": "marketing", "contact_info": f"{name}.example"},
        )
        if response.status_code == 201:
            break
        assert response.status_code == 409, response.text
    body = response.json()
    admin.ok("POST", f"/v1/accounts/{body['id']}/credits", json={"amount": 1000, "reason": "hostile tests"})
    api = platform.api(body["api_key"])
    api.ok(
        "PUT",
        f"/v1/contacts/{phone}",
        json={
            "consent": {
                "basis": "opt_in",
                "collected_at": "2025-01-01T10:00:00+01:00",
                "source": "test",
                "wording": "Oui aux SMS",
            }
        },
        expect=(200, 201),
    )
    campaign_id = api.create_campaign(name="secret plans", text="Soldes privées", audience={"phones": [phone]})
    return Tenant(str(body["id"]), api, short_code, phone, campaign_id)


@pytest.fixture(scope="module")
def tenants(platform: Platform) -> tuple[Tenant, Tenant]:
    """Two accounts: A owns a contact and a campaign; B is the neighbour who tries to see them."""
    return (
        _new_tenant(platform, "tenant-a", "+33677000001"),
        _new_tenant(platform, "tenant-b", "+33677000002"),
    )


# -- schemathesis ---------------------------------------------------------------------------------


def fuzz_service(
    url: str, *, headers_for: Callable[[Any], list[dict[str, str]]], examples: int, stats: dict[str, int]
) -> list[str]:
    """Run schemathesis on every operation of a service; return the failures found (deduplicated), count in `stats`."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
    )

    checks = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance]
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in EXCLUDED_PATHS:
            continue
        stats["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def run(case: Any) -> None:
                for headers in headers_for(case):
                    stats["requests"] += 1
                    try:
                        response = case.call(headers=headers, timeout=15)
                    except Exception as exc:  # noqa: BLE001 - a dropped connection is a failure too
                        failures.setdefault(f"{case.method} {case.path}: {type(exc).__name__}", str(exc)[:300])
                        return
                    try:
                        case.validate_response(response, checks=checks)
                    except Exception as exc:  # noqa: BLE001 - schemathesis raises grouped failures
                        first = str(exc).strip().splitlines()[0:6]
                        key = f"{case.method} {case.path} -> {response.status_code}: {first[0] if first else exc!r}"
                        failures.setdefault(key, "\n".join(first) + f"\n{case.as_curl_command(headers=headers)}")
                    if response.status_code not in (401, 403):
                        return

            try:
                run()
            except Unsatisfiable:
                pass  # no invalid input exists for this operation (no parameters, or only free strings)
            except Exception as exc:  # noqa: BLE001 - a failure hypothesis re-raised: record it, fuzz on
                lines = [line.strip(" |") for line in str(exc).splitlines() if line.strip(" |")]
                detail = "\n    ".join(line[:300] for line in lines[:8])
                failures.setdefault(f"{operation.method} {operation.path} ({mode.name.lower()})", detail)
    return [f"{key}\n    {detail}" for key, detail in failures.items()]


@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    platform: Platform, tenants: tuple[Tenant, Tenant], service: str
) -> None:
    pytest.importorskip("schemathesis")
    neighbour = tenants[1]

    def headers_for(case: Any) -> list[dict[str, str]]:
        # Another tenant's key first; the operator token where that is refused.
        return [
            {"Authorization": f"Bearer {neighbour.api.token}"},
            {"Authorization": f"Bearer {platform.admin_token}"},
        ]

    started = time.monotonic()
    stats = {"operations": 0, "requests": 0}
    failures = fuzz_service(platform.url(service), headers_for=headers_for, examples=EXAMPLES, stats=stats)
    print(
        f"\nschemathesis {service}: {stats['operations']} operations, {stats['requests']} requests, "
        f"{len(failures)} problem(s), {time.monotonic() - started:.1f} s"
    )
    assert not failures, f"{len(failures)} problem(s) in {service}:\n" + "\n".join(failures[:40])
    platform.stack.wait_ready(service, timeout=30)  # type: ignore[union-attr]


# -- tenancy ----------------------------------------------------------------------------------------


def test_a_tenant_sees_nothing_of_another(tenants: tuple[Tenant, Tenant]) -> None:
    owner, neighbour = tenants
    for method, path in (
        ("GET", f"/v1/contacts/{owner.phone}"),
        ("DELETE", f"/v1/contacts/{owner.phone}"),
        ("GET", f"/v1/campaigns/{owner.campaign_id}"),
        ("GET", f"/v1/campaigns/{owner.campaign_id}/preview"),
        ("GET", f"/v1/campaigns/{owner.campaign_id}/recipients"),
        ("POST", f"/v1/campaigns/{owner.campaign_id}/launch"),
        ("POST", f"/v1/campaigns/{owner.campaign_id}/cancel"),
        ("GET", f"/v1/optouts/{owner.phone}"),
    ):
        response = neighbour.api.request(method, path)
        assert response.status_code in (403, 404), (method, path, response.status_code, response.text[:200])
    # Evidence about a number the neighbour never knew is empty, not the owner's.
    response = neighbour.api.request("GET", f"/v1/evidence/{owner.phone}")
    if response.status_code == 200:
        evidence = response.json()
        assert not evidence.get("contact") and not evidence.get("consent"), evidence
        assert not evidence.get("messages") and not evidence.get("optouts"), evidence
    else:
        assert response.status_code in (403, 404), response.text
    # Nothing changed for the owner.
    assert owner.api.request("GET", f"/v1/contacts/{owner.phone}").status_code == 200
    status = owner.api.ok("GET", f"/v1/campaigns/{owner.campaign_id}").get("status")
    assert status not in ("launched", "running", "cancelled", "canceled", "completed"), status
    listing = neighbour.api.ok("GET", "/v1/optouts")
    assert owner.phone not in json.dumps(listing)


# -- webhooks -----------------------------------------------------------------------------------


def _mo(phone: str, to: str, text: str = "STOP") -> dict[str, str]:
    return {
        "message_id": "fuzz-" + secrets.token_hex(6),
        "from": phone,
        "to": to,
        "text": text,
        "received_at": "2026-01-01T10:00:00+00:00",
    }


def _signed(platform: Platform, body: bytes, *, secret: str | None = None, skew: float = 0) -> dict[str, str]:
    timestamp = str(int(time.time() + skew))
    return {
        "Content-Type": "application/json",
        "X-Halte-Timestamp": timestamp,
        "X-Halte-Signature": webhook_signature(secret or platform.sim_secret, timestamp, body),
    }


def test_hostile_webhooks_are_refused_and_record_nothing(platform: Platform, tenants: tuple[Tenant, Tenant]) -> None:
    owner = tenants[0]
    inbound = platform.url("inbound")
    stop = json.dumps(_mo(owner.phone, owner.short_code)).encode()
    attempts: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("unsigned", "mo", stop, {"Content-Type": "application/json"}),
        ("wrong secret", "mo", stop, _signed(platform, stop, secret="not-the-secret")),
        ("signature of another body", "mo", stop, _signed(platform, stop + b" ")),
        ("stale timestamp", "mo", stop, _signed(platform, stop, skew=-600)),
        ("future timestamp", "mo", stop, _signed(platform, stop, skew=+600)),
        ("garbage signature", "mo", stop, {**_signed(platform, stop), "X-Halte-Signature": "zz" * 32}),
        ("invalid UTF-8, signed", "mo", b'{"text": "\xff\xfe STOP"}', _signed(platform, b'{"text": "\xff\xfe STOP"}')),
        ("not JSON, signed", "mo", b"STOP STOP", _signed(platform, b"STOP STOP")),
        ("huge body, signed", "mo", b"{" + b" " * (3 * 1024 * 1024) + b"}", {}),
        ("huge body, unsigned", "dlr", b"x" * (3 * 1024 * 1024), {"Content-Type": "application/json"}),
        ("unknown carrier", "mo", stop, _signed(platform, stop)),
    ]
    for label, kind, body, headers in attempts:
        if label == "huge body, signed":
            headers = _signed(platform, body)
        carrier = "nosuchcarrier" if label == "unknown carrier" else "sim"
        response = httpx.post(f"{inbound}/v1/carriers/{carrier}/{kind}", content=body, headers=headers, timeout=30)
        assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:200])
        assert response.headers.get("content-type", "").startswith("application/json"), label
        assert "error" in response.json(), (label, response.text[:200])

    kannel = f"{inbound}/v1/kannel/kannel/mo"
    for label, params in (
        ("no token", {"from": owner.phone, "to": owner.short_code, "text": "STOP", "id": "k1"}),
        ("wrong token", {"from": owner.phone, "to": owner.short_code, "text": "STOP", "id": "k2", "token": "nope"}),
    ):
        response = httpx.get(kannel, params=params, timeout=10)
        assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:200])

    # Nothing was recorded: the owner's contact is still there and has no opt-out.
    time.sleep(2)
    assert owner.api.request("GET", f"/v1/optouts/{owner.phone}").status_code == 404
    assert owner.api.request("GET", f"/v1/contacts/{owner.phone}").status_code == 200


def test_random_webhook_bodies_never_cause_a_server_error(platform: Platform) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    inbound = platform.url("inbound")
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
        lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
        max_leaves=20,
    )
    mo_like = st.fixed_dictionaries(
        {},
        optional={
            "message_id": st.text(max_size=140),
            "from": st.text(max_size=20),
            "to": st.text(max_size=10),
            "text": st.text(max_size=300),
            "received_at": st.text(max_size=40),
        },
    )
    seen: list[tuple[int, str]] = []

    @given(
        body=st.one_of(
            st.binary(max_size=4096),
            json_values.map(lambda v: json.dumps(v).encode()),
            mo_like.map(lambda v: json.dumps(v).encode()),
        ),
        kind=st.sampled_from(["mo", "dlr"]),
        signed=st.booleans(),
    )
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(body: bytes, kind: str, signed: bool) -> None:
        headers = _signed(platform, body) if signed else {"Content-Type": "application/json"}
        response = httpx.post(f"{inbound}/v1/carriers/sim/{kind}", content=body, headers=headers, timeout=15)
        seen.append((response.status_code, kind))
        assert response.status_code < 500, (response.status_code, body[:200], response.text[:200])
        if not signed:
            assert response.status_code in (400, 401, 403, 413, 415, 422), response.status_code

    run()
    assert len(seen) >= 60


# -- rate limits ------------------------------------------------------------------------------------


def _hammer(send: Callable[[int], httpx.Response], *, count: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(count)))


def test_sends_are_rate_limited_per_account_with_retry_after(
    platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    owner, neighbour = tenants
    with owner.api.client() as client:

        def send(index: int) -> httpx.Response:
            return client.post(
                "/v1/messages",
                json={"phone": f"+336780{index:05d}", "kind": "informative", "text": f"Code {index}"},
            )

        answers = _hammer(send, count=SEND_BURST * 3)
    limited = [r for r in answers if r.status_code == 429]
    assert limited, sorted({r.status_code for r in answers})
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited), limited[0].headers
    assert limited[0].json()["error"]["code"] in ("rate_limited", "too_many_requests")
    assert all(r.status_code < 500 for r in answers)
    # The neighbour is not affected by the owner's flood.
    response = neighbour.api.request(
        "POST", "/v1/messages", json={"phone": "+33678100000", "kind": "informative", "text": "Votre code: 1234"}
    )
    assert response.status_code in (200, 201, 202), response.text


def test_imports_are_rate_limited_per_account_with_retry_after(
    platform: Platform, tenants: tuple[Tenant, Tenant]
) -> None:
    owner, neighbour = tenants
    row = {"phone": "+33678200000", "consent": {"basis": "none"}}
    body = (json.dumps(row) + "\n").encode()
    headers = {"Content-Type": "application/x-ndjson"}
    answers = [owner.api.request("POST", "/v1/contacts/import", content=body, headers=headers) for _ in range(12)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    retry_after = int(limited[0].headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert all(r.status_code < 500 for r in answers)
    assert neighbour.api.request("POST", "/v1/contacts/import", content=body, headers=headers).status_code < 300
    wait_until(
        lambda: owner.api.request("POST", "/v1/contacts/import", content=body, headers=headers).status_code < 300,
        timeout=retry_after + 15,
        interval=1.0,
        what="the import rate limit to let the owner in again after Retry-After",
    )


PROMOTIONS = (
    "Soldes -50% ce week-end !",
    "Offre exclusive : 2 pizzas achetées = 1 offerte…",
    "Black Friday : jusqu'à -70%…",
)
REMINDER = "Rappel : votre rendez-vous chez le Dr Martin est demain à 9h30. Pour annuler, appelez le 01 23 45 67 89."


def test_promotions_labelled_informative_are_never_sent_after_a_stop(platform: Platform) -> None:
    admin = platform.admin()
    short_code = f"36{secrets.randbelow(1000):03d}"
    account_id, key = admin.create_account(
        name="Pizzeria Bella", short_code=short_code, contact_info="bella.example", credits=50
    )
    api = platform.api(key)
    phone = f"+33699{secrets.randbelow(10**6):06d}"
    carrier = RetryingCarrier(platform, deadline=60)
    try:
        reply = carrier.send(phone, short_code, "STOP").result(timeout=60)
    finally:
        carrier.close()
    assert reply.acknowledged_at is not None, reply.failure
    wait_until(
        lambda: (
            policy_verdict(platform, phone=phone, account_id=account_id, sender=short_code) == ("refuse", "suppressed")
        ),
        timeout=30,
    )
    for text in PROMOTIONS:
        body = api.ok("POST", "/v1/messages", json={"phone": phone, "kind": "informative", "text": text})
        assert (body["decision"], body["reason"]) == ("refuse", "promotional_content"), (text, body)
        assert body["cost"] == 0
    reminder = api.ok("POST", "/v1/messages", json={"phone": phone, "kind": "informative", "text": REMINDER})
    assert reminder["decision"] == "send", reminder
    # The refusals are the messages' recorded decisions, visible to the client.
    evidence = api.ok("GET", f"/v1/evidence/{phone}")
    assert "promotional_content" in json.dumps(evidence)
    # A campaign draft carrying a promotion under the informative label is refused before anything is stored.
    draft = api.request(
        "POST",
        "/v1/campaigns",
        json={"name": "Faux info", "kind": "informative", "text": PROMOTIONS[0], "audience": {"phones": [phone]}},
    )
    assert draft.status_code == 422 and draft.json()["error"]["code"] == "promotional_content", draft.text
