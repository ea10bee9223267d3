"""The composed policy: every rule, in its documented order, on one message."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from halte_dispatcher.domain.consent import ConsentRecord
from halte_dispatcher.domain.decision import Decision
from halte_dispatcher.domain.policy import PolicyInput, evaluate
from halte_shared.events import ConsentSnapshot, DispatchRequested

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
URL = "https://u.halte.example/u/tok3n"


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


TUESDAY_10 = paris(2026, 6, 16, 10)

BASE = PolicyInput(
    phone="06 12 34 56 78",
    kind="marketing",
    account_id="acct-1",
    account_mode="marketing",
    sender="36111",
    text="Maison Dupont: -20% samedi. STOP au 36111",
    advertiser_name="Maison Dupont",
    short_codes=("36111",),
    unsubscribe_url=URL,
    consent=ConsentRecord(basis="opt_in", collected_at=datetime(2025, 1, 1, tzinfo=UTC), source="form"),
    postal_code="75011",
    credits_reserved=True,
    suppressed=False,
    suppression_current=True,
)
CUSTOMER = ConsentRecord(
    basis="customer",
    collected_at=datetime(2025, 1, 1, tzinfo=UTC),
    source="caisse",
    last_purchase_at=datetime(2026, 5, 1, tzinfo=UTC),
    purchase_categories=("pain", "viennoiseries"),
)
INFORMATIVE = replace(BASE, kind="informative", sender="DUPONT", text="Votre commande est prête.", consent=None)
LONDON = replace(BASE, phone="+447400123456", sender="DUPONT", text=f"Maison Dupont sale! Unsubscribe: {URL}")


def send() -> Decision:
    return Decision.send()


def refuse(reason: str) -> Decision:
    return Decision.refuse(reason)


def hold(reason: str, until: datetime | None = None) -> Decision:
    return Decision.hold(reason, until)


CASES = [
    ("lawful marketing in the window", BASE, TUESDAY_10, send()),
    # 1. The number.
    ("unparseable number", replace(BASE, phone="0612"), TUESDAY_10, refuse("invalid_number")),
    ("landline", replace(BASE, phone="01 40 00 00 00"), TUESDAY_10, refuse("not_mobile")),
    (
        "invalid number beats everything",
        replace(BASE, phone="x", suppressed=True, consent=None),
        TUESDAY_10,
        refuse("invalid_number"),
    ),
    # 2. Account mode.
    (
        "marketing from a notification account",
        replace(BASE, account_mode="notification"),
        TUESDAY_10,
        refuse("marketing_not_allowed"),
    ),
    ("informative from a notification account", replace(INFORMATIVE, account_mode="notification"), TUESDAY_10, send()),
    # 3. Suppression, fail closed.
    ("suppressed number", replace(BASE, suppressed=True), TUESDAY_10, refuse("suppressed")),
    (
        "suppressed beats missing consent",
        replace(BASE, suppressed=True, consent=None),
        TUESDAY_10,
        refuse("suppressed"),
    ),
    (
        "stale blocklist holds marketing",
        replace(BASE, suppression_current=False),
        TUESDAY_10,
        hold("suppression_feed_stale"),
    ),
    ("stale blocklist lets informative go", replace(INFORMATIVE, suppression_current=False), TUESDAY_10, send()),
    ("suppressed number still gets informative", replace(INFORMATIVE, suppressed=True), TUESDAY_10, send()),
    # 4. Consent.
    ("no consent record", replace(BASE, consent=None), TUESDAY_10, refuse("no_consent")),
    ("basis none", replace(BASE, consent=ConsentRecord(basis="none")), TUESDAY_10, refuse("no_consent")),
    (
        "customer from 2022",
        replace(BASE, consent=replace(CUSTOMER, last_purchase_at=datetime(2022, 5, 1, tzinfo=UTC)), category="pain"),
        TUESDAY_10,
        refuse("customer_consent_expired"),
    ),
    ("customer, what was bought", replace(BASE, consent=CUSTOMER, category="Pain"), TUESDAY_10, send()),
    (
        "customer, something else",
        replace(BASE, consent=CUSTOMER, category="électroménager"),
        TUESDAY_10,
        refuse("customer_category_not_bought"),
    ),
    ("customer, no category", replace(BASE, consent=CUSTOMER), TUESDAY_10, refuse("customer_category_not_bought")),
    (
        "event snapshot accepted",
        replace(
            BASE,
            consent=ConsentSnapshot(basis="b2b", collected_at=datetime(2025, 1, 1, tzinfo=UTC), profession="médecin"),
            professions=("Médecin", "pharmacien"),
        ),
        TUESDAY_10,
        send(),
    ),
    (
        "b2b, another profession",
        replace(BASE, consent=replace(CUSTOMER, basis="b2b", profession="médecin"), professions=("avocat",)),
        TUESDAY_10,
        refuse("b2b_profession_not_concerned"),
    ),
    (
        "non-commercial, account not flagged",
        replace(BASE, consent=replace(CUSTOMER, basis="non_commercial")),
        TUESDAY_10,
        refuse("non_commercial_not_allowed"),
    ),
    (
        "non-commercial, flagged account",
        replace(BASE, consent=replace(CUSTOMER, basis="non_commercial"), account_non_commercial=True),
        TUESDAY_10,
        send(),
    ),
    ("informative needs no consent", INFORMATIVE, TUESDAY_10, send()),
    ("consent beats content", replace(BASE, consent=None, sender="ACME"), TUESDAY_10, refuse("no_consent")),
    # 5. Content and sender.
    ("alphanumeric sender", replace(BASE, sender="DUPONT"), TUESDAY_10, refuse("alphanumeric_sender")),
    ("mobile sender", replace(BASE, sender="0612345678"), TUESDAY_10, refuse("mobile_number_sender")),
    (
        "another account's short code",
        replace(BASE, sender="36222", text="Maison Dupont STOP au 36222"),
        TUESDAY_10,
        refuse("unknown_short_code"),
    ),
    ("no STOP mention", replace(BASE, text="Maison Dupont: -20% samedi."), TUESDAY_10, refuse("missing_stop_mention")),
    ("no advertiser", replace(BASE, text="-20% samedi. STOP au 36111"), TUESDAY_10, refuse("missing_advertiser_name")),
    ("abroad: link and any sender", LONDON, paris(2026, 6, 16, 11), send()),
    (
        "abroad without link",
        replace(LONDON, text="Maison Dupont sale!"),
        TUESDAY_10,
        refuse("missing_unsubscribe_link"),
    ),
    (
        "overseas is France: STOP needed",
        replace(BASE, phone="+262692123456", text="Maison Dupont -20%"),
        TUESDAY_10,
        refuse("missing_stop_mention"),
    ),
    # 6. Credits.
    ("no credits reserved", replace(BASE, credits_reserved=False), TUESDAY_10, refuse("insufficient_credits")),
    (
        "informative needs credits too",
        replace(INFORMATIVE, credits_reserved=False),
        TUESDAY_10,
        refuse("insufficient_credits"),
    ),
    ("counted credits short", replace(BASE, credits_reserved=2, cost=3), TUESDAY_10, refuse("insufficient_credits")),
    ("counted credits enough", replace(BASE, credits_reserved=3, cost=3), TUESDAY_10, send()),
    (
        "refusals before holds",
        replace(BASE, credits_reserved=False),
        paris(2026, 6, 14, 10),
        refuse("insufficient_credits"),
    ),
    # 7. Hours.
    ("Sunday", BASE, paris(2026, 6, 14, 10), hold("sunday", paris(2026, 6, 15, 8))),
    ("14 July", BASE, paris(2026, 7, 14, 10), hold("public_holiday", paris(2026, 7, 15, 8))),
    ("Saturday 19:59", BASE, paris(2026, 6, 13, 19, 59), hold("outside_hours", paris(2026, 6, 15, 8))),
    ("before opening", BASE, paris(2026, 6, 16, 7, 59), hold("outside_hours", paris(2026, 6, 16, 8))),
    ("21:00 under strict", BASE, paris(2026, 6, 16, 21), hold("outside_hours", paris(2026, 6, 17, 8))),
    ("21:00 under af2m-2024", replace(BASE, hours_profile="af2m-2024"), paris(2026, 6, 16, 21), send()),
    (
        "21:30 under af2m-2026",
        replace(BASE, hours_profile="af2m-2026"),
        paris(2026, 6, 16, 21, 30),
        hold("outside_hours", paris(2026, 6, 17, 8)),
    ),
    (
        "unknown profile falls back to strict",
        replace(BASE, hours_profile="lenient"),
        paris(2026, 6, 16, 21),
        hold("outside_hours", paris(2026, 6, 17, 8)),
    ),
    (
        "account opens at 09:30",
        replace(BASE, window_start="09:30"),
        paris(2026, 6, 16, 9),
        hold("outside_hours", paris(2026, 6, 16, 9, 30)),
    ),
    (
        "account closes at 18:00",
        replace(BASE, window_end=time(18)),
        paris(2026, 6, 16, 18),
        hold("outside_hours", paris(2026, 6, 17, 8)),
    ),
    (
        "account cannot widen",
        replace(BASE, window_end="23:00"),
        paris(2026, 6, 16, 21),
        hold("outside_hours", paris(2026, 6, 17, 8)),
    ),
    (
        "account window leaves no time",
        replace(BASE, window_start="19:00", window_end="18:00"),
        TUESDAY_10,
        refuse("invalid_hours_window"),
    ),
    ("garbage account window", replace(BASE, window_start="soon"), TUESDAY_10, refuse("invalid_hours_window")),
    (
        "Réunion is two hours ahead",
        replace(BASE, phone="+262692123456", postal_code=None),
        paris(2026, 6, 16, 18, 30),
        hold("outside_hours", datetime(2026, 6, 17, 8, tzinfo=REUNION)),
    ),
    (
        "Good Friday in Strasbourg",
        replace(BASE, postal_code="67000"),
        paris(2026, 4, 3, 10),
        hold("public_holiday", paris(2026, 4, 4, 8)),
    ),
    ("Good Friday in Paris", BASE, paris(2026, 4, 3, 10), send()),
    ("informative on Sunday night", INFORMATIVE, paris(2026, 6, 14, 23), send()),
    # send_at.
    (
        "send_at later today",
        replace(BASE, send_at=paris(2026, 6, 16, 15)),
        TUESDAY_10,
        hold("scheduled", paris(2026, 6, 16, 15)),
    ),
    (
        "send_at on a Sunday",
        replace(BASE, send_at=paris(2026, 6, 14, 15)),
        paris(2026, 6, 12, 10),
        hold("sunday", paris(2026, 6, 15, 8)),
    ),
    ("send_at reached", replace(BASE, send_at=paris(2026, 6, 16, 15)), paris(2026, 6, 16, 15), send()),
    ("send_at in the past", replace(BASE, send_at=paris(2026, 6, 1, 9)), TUESDAY_10, send()),
    (
        "informative send_at",
        replace(INFORMATIVE, send_at=paris(2026, 6, 21, 23)),
        TUESDAY_10,
        hold("scheduled", paris(2026, 6, 21, 23)),
    ),
]


@pytest.mark.parametrize(("request_", "now", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_policy(request_: PolicyInput, now: datetime, expected: Decision) -> None:
    decision = evaluate(request_, now=now)
    assert (decision.decision, decision.reason) == (expected.decision, expected.reason)
    if expected.next_window_start is None:
        assert decision.next_window_start is None
    else:
        assert decision.next_window_start is not None
        assert decision.next_window_start.astimezone(UTC) == expected.next_window_start.astimezone(UTC)


def test_release_time_is_in_the_recipient_zone() -> None:
    decision = evaluate(replace(BASE, phone="+262692123456", postal_code=None), now=paris(2026, 6, 16, 18, 30))
    assert decision.as_dict()["next_window_start"] == "2026-06-17T08:00:00+04:00"


def test_a_reunion_number_living_in_paris_waits_for_both_calendars() -> None:
    # Réunion opens at 04:00 UTC, Paris at 06:00 UTC: the later, said in the home (postal) zone.
    decision = evaluate(replace(BASE, phone="+262692123456"), now=paris(2026, 6, 16, 18, 30))
    assert decision.as_dict()["next_window_start"] == "2026-06-17T08:00:00+02:00"


PROBE_CASES = [
    ("weekday", {}, TUESDAY_10, send()),
    ("Sunday", {}, paris(2026, 6, 14, 10), hold("sunday", paris(2026, 6, 15, 8))),
    ("informative on Sunday", {"kind": "informative"}, paris(2026, 6, 14, 10), send()),
    ("alphanumeric sender", {"sender": "ACME"}, TUESDAY_10, refuse("alphanumeric_sender")),
    ("mobile sender", {"sender": "+33612345678"}, TUESDAY_10, refuse("mobile_number_sender")),
    ("short code sender", {"sender": "36111"}, TUESDAY_10, send()),
    ("abroad, any sender", {"phone": "+447400123456", "sender": "ACME"}, TUESDAY_10, send()),
    ("Alsace", {"postal_code": "68100"}, paris(2026, 12, 26, 10), hold("public_holiday", paris(2026, 12, 28, 8))),
    ("invalid number", {"phone": "12"}, TUESDAY_10, refuse("invalid_number")),
    ("known suppression", {"suppressed": True, "suppression_current": True}, TUESDAY_10, refuse("suppressed")),
    ("stale view", {"suppressed": False}, TUESDAY_10, hold("suppression_feed_stale")),
    ("current view", {"suppressed": False, "suppression_current": True}, TUESDAY_10, send()),
    ("notification account", {"account_mode": "notification"}, TUESDAY_10, refuse("marketing_not_allowed")),
]


@pytest.mark.parametrize(
    ("overrides", "now", "expected"), [case[1:] for case in PROBE_CASES], ids=[c[0] for c in PROBE_CASES]
)
def test_evaluate_endpoint_input(overrides: dict, now: datetime, expected: Decision) -> None:
    fields = {"phone": "0612345678", "kind": "marketing", **overrides}
    decision = evaluate(PolicyInput.probe(**fields), now=now)
    assert (decision.decision, decision.reason) == (expected.decision, expected.reason)
    if expected.next_window_start is not None:
        assert decision.next_window_start is not None
        assert decision.next_window_start.astimezone(UTC) == expected.next_window_start.astimezone(UTC)


def test_from_dispatch_requested_event() -> None:
    payload = DispatchRequested(
        request_id="r-1",
        account_id="acct-1",
        phone="+33612345678",
        kind="marketing",
        sender="36111",
        text="Maison Dupont: -20%. STOP au 36111",
        segments=1,
        postal_code="57000",
        consent=ConsentSnapshot(
            basis="customer",
            collected_at=datetime(2026, 1, 5, tzinfo=UTC),
            last_purchase_at=datetime(2026, 1, 5, tzinfo=UTC),
            purchase_categories=["Chaussures"],
        ),
        category="chaussures",
        requested_at=datetime(2026, 4, 2, 8, tzinfo=UTC),
    )
    request_ = PolicyInput.from_dispatch(
        payload, advertiser_name="Maison Dupont", short_codes=("36111",), suppressed=False, suppression_current=True
    )
    assert evaluate(request_, now=paris(2026, 4, 2, 10)) == Decision.send()
    # Metz: Good Friday is a holiday there.
    assert evaluate(request_, now=paris(2026, 4, 3, 10)) == Decision.hold("public_holiday", paris(2026, 4, 4, 8))


def test_defaults_fail_closed() -> None:
    bare = PolicyInput(phone="0612345678", kind="marketing")
    assert evaluate(bare, now=TUESDAY_10) == Decision.hold("suppression_feed_stale")
    assert evaluate(replace(bare, suppression_current=True), now=TUESDAY_10) == Decision.refuse("no_consent")
    informative = PolicyInput(phone="0612345678", kind="informative")
    assert evaluate(informative, now=TUESDAY_10) == Decision.refuse("insufficient_credits")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: evaluate(BASE, now=datetime(2026, 6, 16, 10)), "timezone-aware"),
        (lambda: replace(BASE, kind="promo"), "kind"),  # type: ignore[arg-type]
        (lambda: replace(BASE, account_mode="bulk"), "account_mode"),  # type: ignore[arg-type]
        (lambda: replace(BASE, send_at=datetime(2026, 6, 16, 10)), "timezone-aware"),
        (lambda: replace(BASE, checks=frozenset({"vibes"})), "unknown checks"),
    ],
)
def test_programming_errors_raise(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
