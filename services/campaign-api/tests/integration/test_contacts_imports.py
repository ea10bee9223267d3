"""Contacts, consent records, erasure and bulk imports, through the real app."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

import pytest

from halte_shared.events import OptoutRecorded

from .conftest import CONSENT, eventually

pytestmark = pytest.mark.integration


async def wait_import(service, headers, response):
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == body["location"] == f"/v1/contacts/imports/{body['id']}"
    return await eventually(
        lambda: service.http.get(body["location"], headers=headers),
        lambda r: r.json()["status"] in ("completed", "failed"),
        what="import finished",
    )


def optout(account_id: str, phone: str, *, sequence: int = 1) -> OptoutRecorded:
    now = datetime.now(UTC)
    return OptoutRecorded(
        optout_id=f"opt-{account_id[:8]}-{phone}",
        account_id=account_id,
        phone=phone,
        channel="sms",
        short_code="36111",
        raw_text="Stop",
        received_at=now,
        recorded_at=now,
        confirmation_due=True,
        source_event_id="evt-1",
        sequence=sequence,
    )


async def test_contact_upsert_validation_listing_and_erasure(service):
    http = service.http
    account_id, headers = await service.account()
    refusals = [
        ("12", {"consent": CONSENT}, "invalid_number", "phone"),
        ("01 23 45 67 89", {"consent": CONSENT}, "not_mobile", "phone"),
        ("0612345678", {"consent": {**CONSENT, "basis": "maybe"}}, "invalid_basis", "consent.basis"),
        (
            "0612345678",
            {"consent": {**CONSENT, "source": "terms_of_use", "wording": "ok"}},
            "terms_acceptance_not_consent",
            "consent.source",
        ),
        (
            "0612345678",
            {"consent": {**CONSENT, "source": "Acceptation des CGU", "wording": "J'accepte les CGU"}},
            "terms_acceptance_not_consent",
            "consent.wording",
        ),
        (
            "0612345678",
            {
                "consent": {
                    "basis": "customer",
                    "collected_at": CONSENT["collected_at"],
                    "source": "caisse",
                    "last_purchase_at": CONSENT["collected_at"],
                }
            },
            "missing_field",
            "consent.purchase_categories",
        ),
        (
            "0612345678",
            {"consent": {"basis": "non_commercial", "collected_at": CONSENT["collected_at"], "source": "don"}},
            "non_commercial_not_allowed",
            "consent.basis",
        ),
        (
            "0612345678",
            {"consent": {"basis": "customer", "collected_at": CONSENT["collected_at"], "source": "account_creation"}},
            "purchase_required",
            "consent.last_purchase_at",
        ),
        (
            "0612345678",
            {"consent": {**CONSENT, "collected_at": "2025-06-01T10:00:00"}},
            "naive_datetime",
            "consent.collected_at",
        ),
        ("0612345678", {"consent": CONSENT, "tags": ["bad tag!"]}, "invalid_tag", "tags"),
        ("0612345678", {"consent": CONSENT, "first_name": "Léa\nSTOP"}, "invalid_character", "first_name"),
    ]
    for phone, body, code, field in refusals:
        response = await http.put(f"/v1/contacts/{phone}", headers=headers, json=body)
        assert response.status_code == 422, (phone, body, response.text)
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert await service.scalar("SELECT count(*) FROM contacts WHERE account_id = :a", a=account_id) == 0

    created = await http.put(
        "/v1/contacts/06 12 34 56 78",
        headers=headers,
        json={"first_name": " Léa ", "tags": ["vip", "paris"], "postal_code": "67000", "consent": CONSENT},
    )
    assert created.status_code == 201
    assert created.json()["phone"] == "+33612345678"
    assert created.json()["first_name"] == "Léa"
    assert created.json()["marketing_allowed"] is True
    replaced = await http.put(
        "/v1/contacts/+33612345678", headers=headers, json={"tags": ["vip"], "consent": {"basis": "none"}}
    )
    assert replaced.status_code == 200
    assert (replaced.json()["first_name"], replaced.json()["marketing_refusal"]) == (None, "no_consent")
    assert replaced.json()["marketing_refusal_missing"]
    for n in range(5):
        await service.contact(headers, f"+3361234560{n}", tags=["paris"] if n % 2 else ["lyon"])

    page = (await http.get("/v1/contacts?limit=2", headers=headers)).json()
    assert [c["phone"] for c in page["items"]] == ["+33612345600", "+33612345601"]
    rest = (await http.get(f"/v1/contacts?limit=10&cursor={page['next_cursor']}", headers=headers)).json()
    assert len(rest["items"]) == 4 and rest["next_cursor"] is None
    paris = (await http.get("/v1/contacts?tag=paris", headers=headers)).json()["items"]
    assert [c["phone"] for c in paris] == ["+33612345601", "+33612345603"]
    none = (await http.get("/v1/contacts?consent_basis=none", headers=headers)).json()["items"]
    assert [c["phone"] for c in none] == ["+33612345678"]
    assert (await http.get("/v1/contacts?consent_basis=x", headers=headers)).status_code == 422
    assert (await http.get("/v1/contacts?cursor=%%%", headers=headers)).status_code == 422

    # Erasure: the contact's data goes, the erasure itself is recorded.
    assert (await http.delete("/v1/contacts/0612345678", headers=headers)).status_code == 204
    assert (await http.get("/v1/contacts/+33612345678", headers=headers)).status_code == 404
    assert (await http.delete("/v1/contacts/0612345678", headers=headers)).status_code == 404
    evidence = (await http.get("/v1/evidence/0612345678", headers=headers)).json()
    assert evidence["contact"] is None
    assert [(e["reason"], e["contact_existed"]) for e in evidence["erasures"]] == [("api", True)]
    assert (
        await service.scalar(
            "SELECT count(*) FROM contacts WHERE account_id = :a AND phone = '+33612345678'", a=account_id
        )
        == 0
    )


async def test_csv_import_reports_each_refused_row_and_merges_the_rest(service):
    http = service.http
    account_id, headers = await service.account()
    # Known suppressed: one through this service's own copy of the list, one only at the suppression service.
    await service.publish(optout(account_id, "+33611111111"), key="+33611111111")
    await eventually(
        lambda: service.scalar("SELECT count(*) FROM suppression_state WHERE account_id = :a", a=account_id),
        lambda n: n == 1,
        what="opt-out consumed",
    )
    service.suppression.suppressed[account_id] = {"+33622222222"}
    await service.contact(headers, "+33633333333", first_name="Old", tags=["old"])
    rows = [
        "phone,first_name,last_name,postal_code,tags,consent_basis,consent_collected_at,consent_source,"
        "consent_wording,consent_last_purchase_at,consent_profession,consent_purchase_categories",
        "06 12 34 56 78,Léa,Martin,75001,vip|paris,opt_in,2025-06-01T10:00:00+02:00,form,Oui aux SMS,,,",
        "not a phone,X,,,,none,,,,,,",  # line 3
        "01 23 45 67 89,Fixe,,,,none,,,,,,",  # line 4: a landline
        "0611111111,Sup,,,,none,,,,,,",  # line 5: suppressed (local copy)
        "0622222222,Sup,,,,none,,,,,,",  # line 6: suppressed (suppression service)
        # line 7 replaces Old; what the customer bought shares one cell.
        "0633333333,New,,,vip,customer,2025-01-01T00:00:00Z,checkout,,2025-05-01T00:00:00Z,,Chaussures|sacs",
        "0644444444,Dup,,,,none,,,,,,",  # line 8: superseded by line 10
        "0655555555,,,,,opt_in,2025-06-01T10:00:00+02:00,terms_of_use,ok,,,",  # line 9: terms are not consent
        "+33644444444,Last,,,,none,,,,,,",
        "",
        '0666666666,"Dupont, Jean",,,,b2b,2025-06-01T10:00:00+02:00,salon,,,"DSI",',
        "0677777777,,,,,customer,2025-01-01T00:00:00Z,checkout,,2025-05-01T00:00:00Z,,",  # line 13: bought what?
        "0688888888,,,,,non_commercial,2025-01-01T00:00:00Z,don,,,,",  # line 14: the account is not flagged
    ]
    response = await http.post(
        "/v1/contacts/import", headers={**headers, "Content-Type": "text/csv"}, content="\n".join(rows).encode()
    )
    job = (await wait_import(service, headers, response)).json()
    assert job["status"] == "completed", job
    assert (job["rows_total"], job["rows_imported"], job["rows_rejected"]) == (12, 4, 8)
    assert job["suppression_check"] == "complete"
    errors = list(csv.DictReader(io.StringIO((await http.get(job["errors_url"], headers=headers)).text)))
    assert [(int(e["row"]), e["code"]) for e in errors] == [
        (3, "invalid_number"),
        (4, "not_mobile"),
        (5, "suppressed"),
        (6, "suppressed"),
        (8, "duplicate_phone"),
        (9, "terms_acceptance_not_consent"),
        (13, "missing_field"),
        (14, "non_commercial_not_allowed"),
    ]
    assert errors[5]["field"] == "consent.source"
    assert (errors[6]["field"], errors[7]["field"]) == ("consent.purchase_categories", "consent.basis")
    imported = (await http.get("/v1/contacts", headers=headers)).json()["items"]
    by_phone = {c["phone"]: c for c in imported}
    assert sorted(by_phone) == ["+33612345678", "+33633333333", "+33644444444", "+33666666666"]
    assert by_phone["+33612345678"]["tags"] == ["vip", "paris"]
    assert by_phone["+33633333333"]["first_name"] == "New" and by_phone["+33633333333"]["tags"] == ["vip"]
    assert by_phone["+33633333333"]["consent"]["purchase_categories"] == ["Chaussures", "sacs"]
    assert by_phone["+33644444444"]["first_name"] == "Last"
    assert by_phone["+33666666666"]["consent"]["profession"] == "DSI"
    assert by_phone["+33666666666"]["first_name"] == "Dupont, Jean"
    # The staging table is gone.
    assert await service.scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'import_stage_%'") == 0


async def test_ndjson_import_falls_back_to_the_local_list_when_suppression_is_down(service):
    http = service.http
    account_id, headers = await service.account()
    await service.publish(optout(account_id, "+33611111111"), key="+33611111111")
    await eventually(
        lambda: service.scalar("SELECT count(*) FROM suppression_state WHERE account_id = :a", a=account_id),
        lambda n: n == 1,
        what="opt-out consumed",
    )
    service.suppression.available = False
    lines = [
        {"phone": "0611111111", "consent": {"basis": "none"}},
        {"phone": "0612345678", "first_name": "Léa", "tags": ["vip"], "consent": CONSENT},
        {"phone": "0612345679", "consent": CONSENT, "status": "active"},
        "not json",
        {"phone": "0612345670"},
    ]
    body = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    response = await http.post(
        "/v1/contacts/import", headers={**headers, "Content-Type": "application/x-ndjson"}, content=body.encode()
    )
    job = (await wait_import(service, headers, response)).json()
    assert job["status"] == "completed"
    assert job["suppression_check"] == "local_only"
    assert [(e["row"], e["code"], e["field"]) for e in job["errors"]] == [
        (1, "suppressed", "phone"),
        (3, "unknown_field", "status"),
        (4, "invalid_json", None),
        (5, "missing_field", "consent"),
    ]
    assert job["rows_imported"] == 1
    # A contact upsert of the suppressed number is refused too.
    again = await http.put("/v1/contacts/0611111111", headers=headers, json={"consent": CONSENT})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "suppressed")


async def test_import_refuses_bad_files_before_storing_anything(service):
    http = service.http
    account_id, headers = await service.account()
    cases = [
        ("text/plain", b"phone\n0612345678\n", 415, "unsupported_media_type"),
        ("text/csv", b"phone,consent_wordng,consent_basis\n", 422, "unknown_column"),
        ("text/csv", b"first_name\nLea\n", 422, "missing_column"),
        ("text/csv", b"", 422, "empty_file"),
        ("application/x-ndjson", b"", 422, "empty_file"),
    ]
    for content_type, content, status, code in cases:
        response = await http.post(
            "/v1/contacts/import", headers={**headers, "Content-Type": content_type}, content=content
        )
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), content
    assert await service.scalar("SELECT count(*) FROM import_jobs WHERE account_id = :a", a=account_id) == 0
    # French spreadsheets separate with semicolons.
    response = await http.post(
        "/v1/contacts/import",
        headers={**headers, "Content-Type": "text/csv; charset=utf-8"},
        content="phone;first_name;consent_basis\n06 12 34 56 78;Zoé;none\n".encode(),
    )
    job = (await wait_import(service, headers, response)).json()
    assert (job["status"], job["rows_imported"]) == ("completed", 1)


async def test_import_of_twenty_thousand_rows_goes_through_the_set_based_path(service):
    http = service.http
    account_id, headers = await service.account()
    out = io.StringIO()
    out.write("phone,first_name,tags,consent_basis,consent_collected_at,consent_source,consent_wording\n")
    for n in range(20_000):
        phone = f"06{n:08d}" if n % 1000 else "0123456789"  # one landline every thousand rows
        out.write(f"{phone},Client {n},bulk,opt_in,2025-06-01T10:00:00+02:00,form,Oui\n")
    started = time.perf_counter()
    response = await http.post(
        "/v1/contacts/import", headers={**headers, "Content-Type": "text/csv"}, content=out.getvalue().encode()
    )
    job = (await wait_import(service, headers, response)).json()
    elapsed = time.perf_counter() - started
    assert (job["rows_total"], job["rows_imported"], job["rows_rejected"]) == (20_000, 19_980, 20), job
    assert elapsed < 15, f"20,000 rows took {elapsed:.1f} s"
    assert await service.scalar("SELECT count(*) FROM contacts WHERE account_id = :a", a=account_id) == 19_980
    assert service.suppression.checks == 2  # 10,000 numbers a call
