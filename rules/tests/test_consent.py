"""The consent rule (docs/compliance-rules.md, "Consent"): bases, facts each needs, refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_rules.consent import (
    REFUSAL_REASONS,
    ConsentRecord,
    ConsentRefusal,
    customer_consent_expires_at,
    is_account_creation_only,
    is_marketing_opt_in,
    is_terms_only,
    marketing_consent_refusal,
    normalise_label,
    normalise_text,
    record_consent_refusal,
)

NOW = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)
COLLECTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OPT_IN = ConsentRecord(
    basis="opt_in", collected_at=COLLECTED, source="web form", wording="J'accepte de recevoir des offres par SMS"
)
CUSTOMER = ConsentRecord(
    basis="customer",
    collected_at=COLLECTED,
    source="checkout",
    last_purchase_at=NOW - timedelta(days=30),
    purchase_categories=("chaussures",),
)
B2B = ConsentRecord(basis="b2b", collected_at=COLLECTED, source="salon", profession="plombier")
NON_COMMERCIAL = ConsentRecord(basis="non_commercial", collected_at=COLLECTED, source="don")


# -- terms-only and opt-in wordings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "wording", "terms_only"),
    [
        # Acceptance of terms, conditions or a policy, however written: not consent.
        ("Acceptation des CGU", "J'accepte les CGU", True),
        ("web form", "J'accepte les CGU", True),
        ("web form", "J’accepte les C.G.U.", True),
        ("Inscription", "J'ai lu et j'accepte les conditions générales d'utilisation", True),
        ("checkout", "J'accepte les Conditions Générales de Vente", True),
        ("checkout", "J'accepte les conditions", True),
        ("terms_of_use", "ok", True),
        ("TERMS-OF-SERVICE", "Validé", True),
        ("site", "I agree to the Terms and Conditions", True),
        ("site", "I accept the terms of use", True),
        ("T&Cs", "Yes", True),
        ("site", "J'ai lu la politique de confidentialité", True),
        ("site", "I have read the privacy policy", True),
        ("CGV", "Je ne souhaite pas recevoir d'offres par SMS", True),
        ("site", "I agree to the terms and I don't want to receive offers", True),
        # Bundled: the opt-in is a consequence of accepting the terms.
        ("site", "En acceptant les CGU, j'accepte de recevoir des offres par SMS", True),
        ("site", "By accepting the terms, I agree to receive marketing texts", True),
        # A genuine opt-in, even when the terms are mentioned too.
        ("web form", "J'accepte de recevoir des offres par SMS", False),
        ("CGU", "J'accepte de recevoir des offres par SMS (voir CGU)", False),
        ("site", "J'accepte les CGU et de recevoir des offres par SMS", False),
        ("site", "I agree to receive marketing texts. Terms of use apply.", False),
        ("checkout", "Recevoir nos offres par SMS", False),
        ("form", "Oui aux SMS promo", False),
        # No terms anywhere: not a terms-only record (the wording is judged elsewhere).
        ("newsletter", "Oui", False),
        ("salon", None, False),
    ],
)
def test_terms_only(source: str, wording: str | None, terms_only: bool) -> None:
    assert is_terms_only(source=source, wording=wording) is terms_only


@pytest.mark.parametrize(
    ("wording", "opt_in"),
    [
        ("J'accepte de recevoir des offres par SMS", True),
        ("J’accepte de recevoir les offres de la Boulangerie Halte par SMS.", True),
        ("Je souhaite être informé des nouveautés par SMS", True),
        ("I agree to receive marketing texts", True),
        ("Yes, send me deals by text", True),
        ("Recevoir nos bons plans par SMS", True),
        ("J'accepte les CGU", False),
        ("Je ne souhaite pas recevoir d'offres", False),
        ("Je souhaite ne pas recevoir d'offres", False),
        ("J'accepte de recevoir ma facture", False),
        ("I do not want to receive marketing texts", False),
        ("", False),
        (None, False),
    ],
)
def test_marketing_opt_in(wording: str | None, opt_in: bool) -> None:
    assert is_marketing_opt_in(wording) is opt_in


@pytest.mark.parametrize(
    ("source", "wording", "account_only"),
    [
        ("account_creation", None, True),
        ("Création de compte", None, True),
        ("CREATION DU COMPTE", "Bienvenue", True),
        ("Sign-up", None, True),
        ("web", "Account created on the shop", True),
        ("checkout", None, False),
        ("caisse magasin", "Ticket 123", False),
    ],
)
def test_account_creation_only(source: str, wording: str | None, account_only: bool) -> None:
    assert is_account_creation_only(source=source, wording=wording) is account_only


# -- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Chaussures", "chaussures "),
        ("CHAUSSURES", "chaussures"),
        ("Électroménager", "electromenager"),
        ("prêt-à-porter", "Pret a porter"),
        ("  plombier\t", "Plombier"),
        ("Chauffagiste/Plombier", "chauffagiste plombier"),
    ],
)
def test_labels_compare_normalised(left: str, right: str) -> None:
    assert normalise_label(left) == normalise_label(right)


def test_labels_that_differ_stay_different() -> None:
    assert normalise_label("chaussures") != normalise_label("chaussettes")


@given(st.text())
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert once == once.strip() and "  " not in once


# French labels (outside them, some letters, such as the dotless i, have no case twin).
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789àâäçéèêëîïôöùûüÿœæ -'’.,/"))
def test_normalisation_ignores_case_and_outer_spaces(text: str) -> None:
    assert normalise_label(text.upper() + "  ") == normalise_label(" " + text.lower())


# -- the customer period -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purchase", "expires"),
    [
        (datetime(2023, 6, 16, 10, 0, tzinfo=UTC), datetime(2026, 6, 16, 10, 0, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, 0, tzinfo=UTC), datetime(2027, 2, 28, 12, 0, tzinfo=UTC)),
        (datetime(2023, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_customer_consent_lasts_three_years(purchase: datetime, expires: datetime) -> None:
    assert customer_consent_expires_at(purchase) == expires
    record = replace(CUSTOMER, last_purchase_at=purchase, collected_at=purchase)
    before = expires - timedelta(microseconds=1)
    facts = {"category": "chaussures", "professions": (), "account_non_commercial": False}
    assert marketing_consent_refusal(record, at=before, **facts) is None
    refusal = marketing_consent_refusal(record, at=expires, **facts)
    assert refusal is not None and refusal.reason == "customer_consent_expired"


# -- the decision --------------------------------------------------------------------------------


def refusal(
    record: object,
    *,
    category: str | None = None,
    professions: tuple[str, ...] = (),
    flagged: bool = False,
    at: datetime = NOW,
) -> str | None:
    found = marketing_consent_refusal(
        record, at=at, category=category, professions=professions, account_non_commercial=flagged
    )
    return None if found is None else found.reason


CASES = [
    # (name, record, category, professions, account flagged, reason)
    ("no record", None, None, (), False, "no_consent"),
    ("basis none", ConsentRecord(basis="none"), None, (), False, "no_consent"),
    ("unknown basis", ConsentRecord(basis="terms_of_use"), None, (), False, "no_consent"),
    ("opt-in", OPT_IN, None, (), False, None),
    ("opt-in collected now", replace(OPT_IN, collected_at=NOW), None, (), False, None),
    ("opt-in without a date", replace(OPT_IN, collected_at=None), None, (), False, "opt_in_not_collected"),
    (
        "opt-in collected after the message",
        replace(OPT_IN, collected_at=NOW + timedelta(seconds=1)),
        None,
        (),
        False,
        "opt_in_not_collected",
    ),
    (
        "terms only",
        replace(OPT_IN, source="Acceptation des CGU", wording="J'accepte les CGU"),
        None,
        (),
        False,
        "opt_in_terms_only",
    ),
    (
        "opt-in mentioning the terms",
        replace(OPT_IN, source="CGU", wording="J'accepte de recevoir des offres par SMS (voir CGU)"),
        None,
        (),
        False,
        None,
    ),
    ("customer, same category", CUSTOMER, "chaussures", (), False, None),
    ("customer, category written otherwise", CUSTOMER, " CHAUSSURES", (), False, None),
    ("customer, another category", CUSTOMER, "électroménager", (), False, "customer_category_not_bought"),
    ("customer, no category", CUSTOMER, None, (), False, "customer_category_not_bought"),
    ("customer, blank category", CUSTOMER, "  ", (), False, "customer_category_not_bought"),
    (
        "customer, nothing recorded as bought",
        replace(CUSTOMER, purchase_categories=()),
        "chaussures",
        (),
        False,
        "customer_category_not_bought",
    ),
    (
        "customer, account only",
        replace(CUSTOMER, last_purchase_at=None),
        "chaussures",
        (),
        False,
        "customer_no_purchase",
    ),
    (
        "customer, purchase after the message",
        replace(CUSTOMER, last_purchase_at=NOW + timedelta(days=1)),
        "chaussures",
        (),
        False,
        "customer_no_purchase",
    ),
    (
        "customer, five years ago",
        replace(CUSTOMER, last_purchase_at=NOW - timedelta(days=5 * 365)),
        "chaussures",
        (),
        False,
        "customer_consent_expired",
    ),
    (
        "customer collected after the message",
        replace(CUSTOMER, collected_at=NOW + timedelta(hours=1)),
        "chaussures",
        (),
        False,
        "consent_not_collected",
    ),
    ("b2b, profession concerned", B2B, None, ("plombier", "chauffagiste"), False, None),
    ("b2b, profession written otherwise", B2B, None, ("PLOMBIER ",), False, None),
    ("b2b, another profession", B2B, None, ("avocat",), False, "b2b_profession_not_concerned"),
    ("b2b, no profession declared", B2B, None, (), False, "b2b_profession_not_concerned"),
    ("b2b, profession unknown", replace(B2B, profession=None), None, ("plombier",), False, "b2b_profession_missing"),
    ("b2b, blank profession", replace(B2B, profession="  "), None, ("plombier",), False, "b2b_profession_missing"),
    ("non-commercial, unflagged account", NON_COMMERCIAL, None, (), False, "non_commercial_not_allowed"),
    ("non-commercial, flagged account", NON_COMMERCIAL, None, (), True, None),
    ("opt-in on a flagged account", OPT_IN, None, (), True, None),
]


@pytest.mark.parametrize(
    ("record", "category", "professions", "flagged", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_marketing_consent_refusal(
    record: ConsentRecord | None, category: str | None, professions: tuple[str, ...], flagged: bool, reason: str | None
) -> None:
    assert refusal(record, category=category, professions=professions, flagged=flagged) == reason


def test_every_refusal_names_its_basis_and_what_is_missing() -> None:
    seen = set()
    for _name, record, category, professions, flagged, reason in CASES:
        found = marketing_consent_refusal(
            record, at=NOW, category=category, professions=professions, account_non_commercial=flagged
        )
        if reason is None:
            assert found is None
            continue
        assert isinstance(found, ConsentRefusal)
        assert found.reason in REFUSAL_REASONS
        assert found.basis == (record.basis if record is not None else "none")
        assert found.missing and found.as_dict() == {"reason": reason, "basis": found.basis, "missing": found.missing}
        seen.add(found.reason)
    assert seen == REFUSAL_REASONS


def test_records_are_read_from_mappings_and_snapshots() -> None:
    mapping = {
        "basis": "customer",
        "collected_at": COLLECTED,
        "source": "checkout",
        "wording": None,
        "last_purchase_at": NOW - timedelta(days=1),
        "profession": None,
        "purchase_categories": ["Chaussures"],
    }
    assert ConsentRecord.of(mapping) == replace(
        CUSTOMER, last_purchase_at=NOW - timedelta(days=1), purchase_categories=("Chaussures",)
    )
    assert refusal(mapping, category="chaussures") is None
    assert ConsentRecord.of({}) == ConsentRecord(basis="none")
    assert ConsentRecord.of(None) is None


def test_record_refusal_leaves_out_what_depends_on_the_message() -> None:
    def standing(record: object, flagged: bool = False) -> str | None:
        found = record_consent_refusal(record, at=NOW, account_non_commercial=flagged)
        return None if found is None else found.reason

    assert standing(CUSTOMER) is None
    assert standing(B2B) is None
    assert standing(replace(CUSTOMER, purchase_categories=())) == "customer_category_not_bought"
    assert standing(replace(B2B, profession=None)) == "b2b_profession_missing"
    assert standing(NON_COMMERCIAL) == "non_commercial_not_allowed"
    assert standing(NON_COMMERCIAL, flagged=True) is None
    assert standing(None) == "no_consent"


def test_naive_instants_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        ConsentRecord(basis="opt_in", collected_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        refusal(NON_COMMERCIAL, at=datetime(2026, 1, 1))
