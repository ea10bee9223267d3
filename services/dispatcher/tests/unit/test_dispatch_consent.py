"""The consent rule as the dispatcher applies it (an adapter over halte_rules.consent).

The rule's own table lives in rules/tests/test_consent.py; here: the adapter passes what the
message concerns and the account's flag, and answers the kernel's reason codes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from halte_dispatcher.domain.consent import ConsentRecord, consent_problem, customer_consent_expires_at
from halte_dispatcher.domain.decision import REFUSE_REASONS
from halte_rules.consent import REFUSAL_REASONS
from halte_shared.events import ConsentSnapshot

NOW = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)
COLLECTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CUSTOMER = ConsentRecord(
    basis="customer", collected_at=COLLECTED, last_purchase_at=NOW - timedelta(days=30), purchase_categories=("vélos",)
)
B2B = ConsentRecord(basis="b2b", collected_at=COLLECTED, profession="pharmacien")


@pytest.mark.parametrize(
    ("consent", "facts", "expected"),
    [
        (None, {}, "no_consent"),
        (ConsentRecord(basis="none"), {}, "no_consent"),
        (ConsentRecord(basis="opt_in", collected_at=COLLECTED, source="web form", wording="J'accepte..."), {}, None),
        (ConsentRecord(basis="opt_in"), {}, "opt_in_not_collected"),
        (ConsentRecord(basis="opt_in", collected_at=COLLECTED, wording="J'accepte les CGU"), {}, "opt_in_terms_only"),
        (CUSTOMER, {"category": "Vélos"}, None),
        (CUSTOMER, {"category": "trottinettes"}, "customer_category_not_bought"),
        (CUSTOMER, {}, "customer_category_not_bought"),
        (ConsentRecord(basis="customer", collected_at=COLLECTED), {"category": "vélos"}, "customer_no_purchase"),
        (B2B, {"professions": ["Pharmacien"]}, None),
        (B2B, {"professions": ["avocat"]}, "b2b_profession_not_concerned"),
        (ConsentRecord(basis="b2b", collected_at=COLLECTED), {"professions": ["avocat"]}, "b2b_profession_missing"),
        (ConsentRecord(basis="non_commercial", collected_at=COLLECTED), {}, "non_commercial_not_allowed"),
        (ConsentRecord(basis="non_commercial", collected_at=COLLECTED), {"account_non_commercial": True}, None),
    ],
)
def test_consent_problem(consent: ConsentRecord | None, facts: dict[str, object], expected: str | None) -> None:
    assert consent_problem(consent, now=NOW, **facts) == expected  # type: ignore[arg-type]


def test_every_consent_refusal_is_a_refusal_of_the_dispatcher() -> None:
    assert REFUSAL_REASONS <= REFUSE_REASONS


def test_customer_exception_lasts_three_calendar_years() -> None:
    purchase = datetime(2024, 2, 29, 12, tzinfo=UTC)
    expires = customer_consent_expires_at(purchase)
    assert expires == datetime(2027, 2, 28, 12, tzinfo=UTC)
    record = ConsentRecord(
        basis="customer", collected_at=purchase, last_purchase_at=purchase, purchase_categories=("vélos",)
    )
    assert consent_problem(record, now=expires - timedelta(microseconds=1), category="vélos") is None
    assert consent_problem(record, now=expires, category="vélos") == "customer_consent_expired"


def test_record_reads_the_event_snapshot_and_mappings() -> None:
    snapshot = ConsentSnapshot(
        basis="customer", collected_at=COLLECTED, source="caisse", last_purchase_at=COLLECTED, purchase_categories=["a"]
    )
    assert ConsentRecord.of(snapshot) == ConsentRecord(
        basis="customer",
        collected_at=COLLECTED,
        source="caisse",
        last_purchase_at=COLLECTED,
        purchase_categories=("a",),
    )
    assert ConsentRecord.of({"basis": "b2b", "profession": "kiné"}) == ConsentRecord(basis="b2b", profession="kiné")
    assert ConsentRecord.of({}) == ConsentRecord(basis="none")
    assert ConsentRecord.of(None) is None


def test_older_snapshots_without_the_new_facts_still_decode() -> None:
    snapshot = ConsentSnapshot.model_validate({"basis": "customer", "last_purchase_at": "2026-01-01T00:00:00Z"})
    assert snapshot.purchase_categories == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ConsentRecord(basis="opt_in", collected_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        consent_problem(ConsentRecord(basis="non_commercial"), now=datetime(2026, 1, 1))
