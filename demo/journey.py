"""`make demo`: the Halte journey, narrated, against the stack `make run` started.

A bakery opens an account, imports contacts with mixed consent, previews and launches a
marketing campaign; a customer replies "Stop SMS", another "CONTACT". Every step is a
call to the public API, and the terminal shows what was sent, held and refused, and why.

The clock is the real one (`make run` is not in test mode): what happens to the campaign
depends on when you run this. So the demo also asks the dispatcher, through its public
``POST /v1/policy/evaluate``, what it would decide on a Saturday at 19:58, and shows both.

Needs `make run` in another terminal (ports 8001-8005, the carrier simulator on 8010).
Overrides: HALTE_CAMPAIGN_API_URL, HALTE_DISPATCHER_URL, HALTE_INBOUND_URL, HALTE_CARRIER_SIM_URL,
ADMIN_TOKEN, CARRIER_SIM_SECRET (defaults: make run's development values).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

# The journey's cast is shared with the end-to-end tests (tests/e2e/scenario.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
import scenario as sc  # noqa: E402

console = Console(highlight=False)

URLS = {
    "campaign-api": os.environ.get("HALTE_CAMPAIGN_API_URL", "http://127.0.0.1:8001"),
    "inbound": os.environ.get("HALTE_INBOUND_URL", "http://127.0.0.1:8002"),
    "suppression": os.environ.get("HALTE_SUPPRESSION_URL", "http://127.0.0.1:8003"),
    "dispatcher": os.environ.get("HALTE_DISPATCHER_URL", "http://127.0.0.1:8004"),
    "notifier": os.environ.get("HALTE_NOTIFIER_URL", "http://127.0.0.1:8005"),
    "carrier-sim": os.environ.get("HALTE_CARRIER_SIM_URL", "http://127.0.0.1:8010"),
}
ADMIN_TOKEN = os.environ.get("ADMIN_TOKEN", "dev-admin-token")
OUTCOME_STYLE = {"sent": "green", "delivered": "green", "held": "yellow", "hold": "yellow", "refused": "red"}
REASONS = {
    "ok": "inside the recipient's window, consent valid",
    "no_consent": "no marketing consent on record",
    "customer_consent_expired": "last purchase more than 3 years ago (CNIL)",
    "customer_category_not_bought": "the campaign is not about what this customer bought",
    "b2b_profession_not_concerned": "the campaign does not concern this professional's trade",
    "opt_in_terms_only": "accepting terms of use is not consent",
    "non_commercial_not_allowed": "only accounts the operator flags non-commercial may use that basis",
    "suppressed": "the number said STOP to this account",
    "outside_hours": "outside 08:00-20:00 in the recipient's time zone",
    "sunday": "no marketing on Sundays",
    "public_holiday": "public holiday where the recipient lives",
    "suppression_feed_stale": "blocklist copy not proven current: held (fail closed)",
    "scheduled": "scheduled for later",
}


class DemoError(Exception):
    """A step failed; the message says what the platform answered."""


def call(
    method: str, service: str, path: str, *, token: str, expect: tuple[int, ...] = (200, 201, 202), **kwargs: Any
) -> Any:
    """Call a public endpoint; raise DemoError with the answer when it is not what a client expects."""
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    try:
        response = httpx.request(method, URLS[service] + path, headers=headers, timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        raise DemoError(f"{service} did not answer {method} {path}: {exc!r}") from exc
    if response.status_code not in expect:
        raise DemoError(f"{method} {path} answered {response.status_code}: {response.text[:400]}")
    return response.json() if response.content else None


def rows_of(body: Any, *names: str) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for name in (*names, "items", "rows", "results"):
        if isinstance(body, dict) and isinstance(body.get(name), list):
            return list(body[name])
    return []


def local(value: Any, zone: str = "Europe/Paris") -> str:
    """Return an ISO instant as the recipient reads it."""
    if not value:
        return ""
    instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def zone_of(phone: str) -> str:
    from halte_shared.phone import describe

    return describe(phone).time_zone


def step(title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}")


def check_stack() -> None:
    missing = []
    for name, url in URLS.items():
        try:
            if httpx.get(f"{url}/readyz", timeout=3).status_code != 200:
                missing.append(f"{name} ({url}) is not ready")
        except httpx.HTTPError:
            missing.append(f"{name} ({url}) does not answer")
    if missing:
        console.print(
            Panel(
                "\n".join(missing) + "\n\nStart the platform first: [bold]make run[/] in another terminal.",
                title="Halte is not running",
                style="red",
            )
        )
        raise SystemExit(1)


def create_account() -> tuple[str, str, str]:
    for _ in range(30):
        short_code = f"36{secrets.randbelow(1000):03d}"
        response = httpx.post(
            URLS["campaign-api"] + "/v1/accounts",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={
                "name": sc.ADVERTISER,
                "short_code": short_code,
                "mode": "marketing",
                "contact_info": sc.CONTACT_INFO,
            },
            timeout=30,
        )
        if response.status_code == 201:
            body = response.json()
            return str(body["id"]), str(body["api_key"]), short_code
        if response.status_code != 409:
            raise DemoError(f"creating the account answered {response.status_code}: {response.text[:300]}")
    raise DemoError("no free 36xxx short code found")


def wait_for(probe: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    with console.status(f"waiting for {what}..."):
        while time.monotonic() < deadline:
            try:
                result = probe()
            except DemoError:
                result = None
            if result:
                return result
            time.sleep(0.5)
    raise DemoError(f"{what} did not happen within {timeout:.0f} s")


def sim_messages(phone: str) -> list[dict[str, Any]]:
    return rows_of(call("GET", "carrier-sim", "/v1/messages", token=ADMIN_TOKEN, params={"to": phone}), "messages")


def reply(phone: str, short_code: str, text: str) -> None:
    call(
        "POST", "carrier-sim", "/v1/inject/mo", token=ADMIN_TOKEN, json={"from": phone, "to": short_code, "text": text}
    )


def run() -> None:
    console.print(
        Panel.fit(
            "[bold]Halte[/]: SMS campaigns that obey France's STOP SMS law by construction.\n"
            "This demo plays a bakery, its customers and a phone network against your running stack.",
            style="cyan",
        )
    )
    check_stack()
    now = datetime.now(UTC)
    console.print(f"It is {local(now.isoformat())} in Paris. The platform runs on real time (no test clock).")

    step("1. The operator opens an account for the bakery")
    account_id, key, short_code = create_account()
    call(
        "POST",
        "campaign-api",
        f"/v1/accounts/{account_id}/credits",
        token=ADMIN_TOKEN,
        json={"amount": 100, "reason": "demo top-up"},
    )
    account = call("GET", "campaign-api", "/v1/account", token=key)
    console.print(
        f"Account [bold]{sc.ADVERTISER}[/] ({account_id}), short code [bold]{short_code}[/], "
        f"credits {account.get('credits', account.get('balance'))}. Its API key is shown once, then stored hashed."
    )

    step("2. The client imports contacts with mixed consent")
    call("POST", "campaign-api", "/v1/optouts", token=key, json={"phone": sc.SUPPRESSED.written, "channel": "api"})
    console.print(f"(First, the client records that {sc.SUPPRESSED.phone} said STOP last year, by phone.)")
    wait_for(
        lambda: call("GET", "campaign-api", f"/v1/optouts/{sc.SUPPRESSED.phone}", token=key, expect=(200, 404)).get(
            "enforced_at"
        ),
        timeout=30,
        what="that opt-out to be recorded",
    )
    launch = sc.launch_instant(sc.journey_saturday(datetime.now(sc.PARIS).date()))
    body = "\n".join(json.dumps(row, ensure_ascii=False) for row in sc.import_rows(launch)) + "\n"
    job = call(
        "POST",
        "campaign-api",
        "/v1/contacts/import",
        token=key,
        content=body.encode(),
        headers={"Content-Type": "application/x-ndjson"},
        expect=(200, 201, 202),
    )
    location = job.get("location") or f"/v1/contacts/imports/{job['id']}"

    def imported() -> dict[str, Any] | None:
        view = call("GET", "campaign-api", location, token=key)
        return view if view.get("status") in ("completed", "failed") else None

    report = wait_for(imported, timeout=60, what="the import job")
    if report.get("status") != "completed":
        raise DemoError(f"the import job failed: {report.get('error')}")
    console.print(f"Import job: {report.get('rows_imported')} imported, {report.get('rows_rejected')} refused.")
    errors = {str(e.get("row")): e for e in rows_of(report, "errors")}
    table = Table("line", "number as written", "who", "import")
    for line, person in enumerate(sc.CAST, start=1):
        error = errors.get(str(line))
        verdict = f"[red]refused: {error.get('code')}[/]" if error else "[green]imported[/]"
        table.add_row(str(line), person.written, person.note, verdict)
    console.print(table)

    step("3. A marketing campaign: preview")
    campaign = call(
        "POST",
        "campaign-api",
        "/v1/campaigns",
        token=key,
        json={
            "name": "Galettes",
            "kind": "marketing",
            "text": sc.CAMPAIGN_TEXT,
            "audience": {"tags": ["galettes"]},
            "category": sc.CAMPAIGN_CATEGORY,
            "professions": list(sc.CAMPAIGN_PROFESSIONS),
        },
    )
    campaign_id = str(campaign["id"])
    preview = call("GET", "campaign-api", f"/v1/campaigns/{campaign_id}/preview", token=key)
    final_text = preview.get("text") or preview.get("final_text") or ""
    console.print(
        Panel(
            final_text,
            title="the SMS as phones will read it",
            subtitle=(
                f"{preview.get('encoding')} · {preview.get('segments')} segment(s) · cost {preview.get('cost')} credits"
            ),
        )
    )
    console.print("Halte added the advertiser's name and [bold]STOP au " + short_code + "[/] (SPEC rule 2).")

    step("4. What the dispatcher would decide on a Saturday at 19:58 (Paris)")
    table = Table("who", "number", "their local time", "decision", "why")
    for person in sc.CAST:
        if not person.phone:
            continue
        answer = call(
            "POST",
            "dispatcher",
            "/v1/policy/evaluate",
            token=key,
            json={
                "phone": person.phone,
                "kind": "marketing",
                "at": launch.isoformat(),
                "sender": short_code,
                **({"postal_code": "97400"} if person is sc.REUNION_OPT_IN else {}),
            },
        )
        decision = answer.get("decision", "?")
        why = REASONS.get(answer.get("reason", ""), answer.get("reason", ""))
        if answer.get("next_window_start"):
            why += f" → next window {local(answer['next_window_start'], zone_of(person.phone))}"
        table.add_row(
            person.key,
            person.phone,
            local(launch.isoformat(), zone_of(person.phone)),
            f"[{OUTCOME_STYLE.get(decision, 'white')}]{decision}[/]",
            why,
        )
    console.print(table)
    console.print("(Hours and place only: consent and the blocklist are checked per contact at send time, below.)")

    step(f"5. Launching now ({local(datetime.now(UTC).isoformat())} in Paris)")
    call("POST", "campaign-api", f"/v1/campaigns/{campaign_id}/launch", token=key)

    def decided() -> list[dict[str, Any]] | None:
        rows = rows_of(call("GET", "campaign-api", f"/v1/campaigns/{campaign_id}/recipients", token=key), "recipients")
        return rows if rows and all(r.get("outcome") not in (None, "pending", "requested") for r in rows) else None

    rows = wait_for(decided, timeout=60, what="every recipient to be decided")
    table = Table("number", "outcome", "why", "scheduled for (their time)", "sent at")
    for row in rows:
        outcome = str(row.get("outcome"))
        table.add_row(
            row["phone"],
            f"[{OUTCOME_STYLE.get(outcome, 'white')}]{outcome}[/]",
            REASONS.get(str(row.get("reason")), str(row.get("reason") or "")),
            local(row.get("scheduled_for"), zone_of(row["phone"])),
            local(row.get("sent_at")),
        )
    console.print(table)
    held = [r for r in rows if r.get("outcome") in ("held", "hold")]
    if held:
        console.print(
            f"{len(held)} message(s) are held, not dropped: they leave at the next opening of the "
            "recipient's window, unless the number says STOP first."
        )

    step(f'6. {sc.OPT_IN.phone} replies "Stop SMS"')
    before = len(sim_messages(sc.OPT_IN.phone))
    reply(sc.OPT_IN.phone, short_code, "Stop SMS")
    optout = wait_for(
        lambda: (lambda b: b if b and b.get("enforced_at") else None)(
            call("GET", "campaign-api", f"/v1/optouts/{sc.OPT_IN.phone}", token=key, expect=(200, 404))
        ),
        timeout=30,
        what="the opt-out to be enforced",
    )
    console.print(
        f"Opt-out received {local(optout.get('received_at'))}, enforced {local(optout.get('enforced_at'))}, "
        f"channel {optout.get('channel')}, raw text {optout.get('raw_text')!r}."
    )
    gone = (
        httpx.get(
            URLS["campaign-api"] + f"/v1/contacts/{sc.OPT_IN.phone}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).status_code
        == 404
    )
    console.print(
        "The contact "
        + ("[green]is gone from the address book[/]" if gone else "[red]is still there[/]")
        + "; the number stays only on the suppression list."
    )
    confirmation = wait_for(lambda: sim_messages(sc.OPT_IN.phone)[before:], timeout=30, what="the confirmation SMS")
    console.print(Panel(confirmation[-1]["text"], title=f"confirmation SMS to {sc.OPT_IN.phone}", style="green"))

    step(f'7. {sc.RECENT.phone} replies "CONTACT"')
    before = len(sim_messages(sc.RECENT.phone))
    reply(sc.RECENT.phone, short_code, "CONTACT")
    answer = wait_for(lambda: sim_messages(sc.RECENT.phone)[before:], timeout=30, what="the CONTACT reply")
    console.print(Panel(answer[-1]["text"], title=f"reply to {sc.RECENT.phone}", style="green"))

    step("8. The ledger: every credit movement with its cause")
    time.sleep(1.5)
    ledger = call("GET", "campaign-api", "/v1/ledger", token=key)
    table = Table("kind", "amount", "cause")
    for movement in rows_of(ledger, "movements", "entries"):
        table.add_row(
            str(movement.get("kind") or movement.get("reason")),
            str(movement.get("amount")),
            str(movement.get("cause") or movement.get("cause_event_id") or ""),
        )
    console.print(table)
    account = call("GET", "campaign-api", "/v1/account", token=key)
    console.print(
        f"Balance: {account.get('credits', account.get('balance'))} credits. "
        "The STOP confirmation cost exactly one credit; a repeated STOP would cost nothing."
    )

    step(f"9. The evidence for {sc.OPT_IN.phone}, as an auditor sees it")
    evidence = call("GET", "campaign-api", f"/v1/evidence/{sc.OPT_IN.phone}", token=key)
    messages = rows_of(evidence, "messages")
    # The contact itself is erased by the STOP; each message keeps the consent it was sent under.
    consent = evidence.get("consent") or next((m["consent"] for m in messages if m.get("consent")), {})
    console.print(
        f"Consent: {consent.get('basis')} collected {local(consent.get('collected_at'))} "
        f"via {consent.get('source')!r}, wording {consent.get('wording')!r}."
    )
    for message in messages:
        for decision in message.get("decisions") or [message.get("decision") or {}]:
            console.print(
                f"  message {message.get('request_id', '')[:8]}: {decision.get('outcome')} ({decision.get('reason')}) "
                f"decided {local(decision.get('decided_at'))}"
                + (f", scheduled for {local(decision['scheduled_for'])}" if decision.get("scheduled_for") else "")
            )
    for item in rows_of(evidence, "optouts"):
        console.print(
            f"  opt-out: {item.get('channel')} {item.get('raw_text')!r} enforced {local(item.get('enforced_at'))}"
        )

    console.print()
    console.print(
        Panel.fit(
            "That was Halte: consent checked, STOP mention added, hours kept in each recipient's time zone, "
            "a STOP honoured at once, confirmed once and billed once, with the evidence to prove it.\n"
            f"API docs: {URLS['campaign-api']}/docs",
            style="cyan",
        )
    )


def main() -> int:
    try:
        run()
    except DemoError as exc:
        console.print(Panel(str(exc), title="the demo stopped here", style="red"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
