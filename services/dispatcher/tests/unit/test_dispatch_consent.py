"""SPEC.md rule 1: which consent records allow a marketing SMS, and until when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from halte_dispatcher.domain.consent import ConsentRecord, consent_problem, customer_consent_expires_at
from halte_shared.events import ConsentSnapshot

NOW = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)
COLLECTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        (None, "no_consent"),
        (ConsentRecord(basis="none"), "no_consent"),
        (ConsentRecord(basis="terms_of_use"), "no_consent"),
        (ConsentRecord(basis="opt_in", collected_at=COLLECTED, source="web form", wording="J'accepte..."), None),
        (ConsentRecord(basis="opt_in"), "no_consent"),
        (ConsentRecord(basis="opt_in", collected_at=NOW + timedelta(seconds=1)), "no_consent"),
        (ConsentRecord(basis="opt_in", collected_at=NOW), None),
        (ConsentRecord(basis="customer", last_purchase_at=NOW - timedelta(days=30)), None),
        (ConsentRecord(basis="customer", collected_at=COLLECTED), "no_consent"),  # an account, no purchase
        (ConsentRecord(basis="customer", last_purchase_at=datetime(2023, 6, 16, 10, 0, 1, tzinfo=UTC)), None),
        (ConsentRecord(basis="customer", last_purchase_at=datetime(2023, 6, 16, 10, 0, tzinfo=UTC)), "consent_expired"),
        (ConsentRecord(basis="customer", last_purchase_at=datetime(2020, 1, 1, tzinfo=UTC)), "consent_expired"),
        (ConsentRecord(basis="customer", last_purchase_at=NOW + timedelta(days=1)), "no_consent"),
        (ConsentRecord(basis="b2b", profession="pharmacien"), None),
        (ConsentRecord(basis="b2b"), "no_consent"),
        (ConsentRecord(basis="b2b", profession="   "), "no_consent"),
        (ConsentRecord(basis="non_commercial"), None),
    ],
)
def test_consent_validity(consent: ConsentRecord | None, expected: str | None) -> None:
    assert consent_problem(consent, now=NOW) == expected


@pytest.mark.parametrize(
    ("purchase", "expires"),
    [
        (datetime(2026, 6, 16, 10, tzinfo=UTC), datetime(2029, 6, 16, 10, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), datetime(2027, 2, 28, 12, tzinfo=UTC)),
    ],
)
def test_customer_exception_lasts_three_calendar_years(purchase: datetime, expires: datetime) -> None:
    assert customer_consent_expires_at(purchase) == expires
    record = ConsentRecord(basis="customer", last_purchase_at=purchase)
    assert consent_problem(record, now=expires - timedelta(microseconds=1)) is None
    assert consent_problem(record, now=expires) == "consent_expired"


def test_record_reads_the_event_snapshot_and_mappings() -> None:
    snapshot = ConsentSnapshot(basis="opt_in", collected_at=COLLECTED, source="web", wording="Oui")
    assert ConsentRecord.of(snapshot) == ConsentRecord(
        basis="opt_in", collected_at=COLLECTED, source="web", wording="Oui"
    )
    assert ConsentRecord.of({"basis": "b2b", "profession": "kiné"}) == ConsentRecord(basis="b2b", profession="kiné")
    assert ConsentRecord.of({}) == ConsentRecord(basis="none")
    assert ConsentRecord.of(None) is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ConsentRecord(basis="opt_in", collected_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        consent_problem(ConsentRecord(basis="non_commercial"), now=datetime(2026, 1, 1))
