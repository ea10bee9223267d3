"""Hostile input never gets a 5xx: every bad value is a 4xx that names the field (SPEC non-negotiables)."""

from __future__ import annotations

import itertools
import json

import pytest

from .conftest import ADMIN, CONSENT, eventually

pytestmark = pytest.mark.integration

NASTY = [
    None,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "é" * 5000,
    "{first_name}" * 50,
    "0" * 200,
    -1,
    2**63,
    1.5,
    True,
    [],
    ["\x00"],
    {},
    {"\ud800": 1},
    "2026-13-45T99:99:99+99:00",
    "../../etc/passwd",
    "'; DROP TABLE contacts; --",
]

PATH_NASTY = ["%00", "%ED%A0%80", "x" * 300, "..%2F..", "%2B33612345678%00", "-1", "null"]


def bodies(base: dict) -> list[dict]:
    """Yield the base body with each field replaced by each nasty value, plus extra and nested junk."""
    out = []
    for key, value in itertools.product(list(base), NASTY):
        out.append({**base, key: value})
    out.append({**base, "\ud800": 1})
    out.append({**base, "account_id": "\x00"})
    return out


async def test_no_hostile_input_gets_a_server_error(service):
    http = service.http
    account_id, headers = await service.account(credits=50)
    await service.contact(headers, "+33612345678", first_name="Léa", tags=["vip"])
    campaign = (
        await http.post("/v1/campaigns", headers=headers, json={"name": "c", "kind": "marketing", "text": "Promo"})
    ).json()["id"]
    calls: list[tuple[str, str, dict, object]] = []
    for body in bodies({"name": "Shop", "short_code": "36111", "mode": "marketing", "contact_info": "x"}):
        calls.append(("POST", "/v1/accounts", ADMIN, body))
    for body in bodies({"window_start": "09:00", "name": "Shop", "short_codes": ["36111"]}):
        calls.append(("PATCH", f"/v1/accounts/{account_id}", ADMIN, body))
    for body in bodies({"amount": 5, "reason": "r", "reference": "x"}):
        calls.append(("POST", f"/v1/accounts/{account_id}/credits", ADMIN, body))
    for body in bodies({"label": "l"}):
        calls.append(("POST", f"/v1/accounts/{account_id}/api-keys", ADMIN, body))
    for body in bodies({"first_name": "A", "tags": ["vip"], "postal_code": "75001", "consent": dict(CONSENT)}):
        calls.append(("PUT", "/v1/contacts/0612345670", headers, body))
    for body in bodies(dict(CONSENT)):
        calls.append(("PUT", "/v1/contacts/0612345671", headers, {"consent": body}))
    for body in bodies(
        {
            "name": "n",
            "kind": "marketing",
            "text": "t",
            "audience": {"tags": ["vip"]},
            "send_at": "2030-01-01T10:00:00+01:00",
            "short_code": "36111",
            "defaults": {},
        }
    ):
        calls.append(("POST", "/v1/campaigns", headers, body))
    for body in bodies({"phone": "0612345678", "text": "t", "kind": "informative", "send_at": None}):
        calls.append(("POST", "/v1/messages", headers, body))
    for body in bodies({"phone": "0612345678", "channel": "api"}):
        calls.append(("POST", "/v1/optouts", headers, body))
    for segment in PATH_NASTY:
        for path in (
            f"/v1/contacts/{segment}",
            f"/v1/campaigns/{segment}",
            f"/v1/campaigns/{segment}/preview",
            f"/v1/campaigns/{segment}/recipients",
            f"/v1/contacts/imports/{segment}",
            f"/v1/contacts/imports/{segment}/errors.csv",
            f"/v1/optouts/{segment}",
            f"/v1/evidence/{segment}",
        ):
            calls.append(("GET", path, headers, None))
        calls.append(("DELETE", f"/v1/contacts/{segment}", headers, None))
        calls.append(("POST", f"/v1/campaigns/{segment}/launch", headers, None))
        for path in (f"/v1/accounts/{segment}", f"/v1/accounts/{segment}/api-keys"):
            calls.append(("GET", path, ADMIN, None))
        calls.append(("DELETE", f"/v1/accounts/{account_id}/api-keys/{segment}", ADMIN, None))
        calls.append(("PATCH", f"/v1/accounts/{segment}", ADMIN, {"name": "x"}))
    for query in (
        "limit=-1",
        "limit=99999999999999999999",
        "limit=x",
        "cursor=%00",
        "cursor=AAAA",
        "cursor=MA",
        "tag=%00",
        "tag=" + "x" * 500,
        "consent_basis=%00",
        "outcome=%00",
        "phone=%00",
    ):
        for path in (
            "/v1/contacts",
            "/v1/optouts",
            "/v1/ledger",
            f"/v1/campaigns/{campaign}/recipients",
            f"/v1/campaigns/{campaign}/preview",
        ):
            calls.append(("GET", f"{path}?{query}", headers, None))
    for content_type, raw in [
        ("text/csv", b"phone,consent_basis\n\x00,none\n"),
        ("text/csv", "phone,consent_basis\n0612345678,\ud800\n".encode("utf-8", "surrogatepass")),
        ("text/csv", b"\xff\xfe\x00"),
        ("application/x-ndjson", b'{"phone": "0612345678", "first_name": "\\ud800", "consent": {"basis": "none"}}\n'),
        ("application/x-ndjson", b'{"phone": "0612345678", "consent": {"basis": "opt_in", "wording": "a\\u0000b"}}'),
        ("application/x-ndjson", b'{"\\ud800": 1}\n[1, 2]\n"x"\n'),
        ("application/json", b"{}"),
        ("", b"x"),
    ]:
        calls.append(("POST", "/v1/contacts/import", {**headers, "Content-Type": content_type}, raw))

    failures = []
    for method, path, hdrs, body in calls:
        if isinstance(body, bytes):
            response = await http.request(method, path, headers=hdrs, content=body)
        elif body is None:
            response = await http.request(method, path, headers=hdrs)
        else:
            raw = json.dumps(body, ensure_ascii=True).encode()
            response = await http.request(
                method, path, headers={**hdrs, "Content-Type": "application/json"}, content=raw
            )
        if response.status_code >= 500:
            failures.append((method, path, str(body)[:80], response.status_code, response.text[:200]))
        elif response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "field"}, (method, path)
    assert failures == [], f"{len(failures)} of {len(calls)} requests got a 5xx: {failures[:5]}"
    # Every accepted import ends with a per-row report, none with a crash of the job.
    jobs = await eventually(
        lambda: service.sql("SELECT status, error_code FROM import_jobs WHERE account_id = :a", a=account_id),
        lambda rows: rows and all(r.status in ("completed", "failed") for r in rows),
        what="imports finished",
    )
    assert [r for r in jobs if r.error_code == "import_failed"] == []
    assert (await http.get("/v1/account", headers=headers)).status_code == 200
