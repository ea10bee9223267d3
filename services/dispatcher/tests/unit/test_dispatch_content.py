"""SPEC.md rules 2 and 3: STOP mention, advertiser name, sender, unsubscribe link."""

from __future__ import annotations

import pytest

from halte_dispatcher.domain.content import (
    content_problem,
    has_stop_mention,
    has_unsubscribe_link,
    names_advertiser,
    sender_problem,
    text_problem,
)

GOOD_TEXT = "Maison Dupont: -20% sur tout le magasin samedi. STOP au 36111"
URL = "https://u.halte.example/u/tok3n"


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("Promo! STOP au 36111", True),
        ("Promo! stop au 36111", True),
        ("Promo! Stop au 36 111", True),
        ("Promo! STOP\u00a0au\u00a036111", True),  # non-breaking spaces
        ("Promo! STOP SMS au 36111", True),
        ("Promo! STOP au 36111.", True),
        ("STOP au 36111 pour ne plus recevoir", True),
        ("Promo! STOP 36111", False),  # not the mandated wording
        ("Promo! STOP au 36112", False),  # another code: the reply would not reach us
        ("Promo! STOP au 361110", False),
        ("Promo! NONSTOP au 36111", False),
        ("Promo! Répondez STOP", False),
        ("Promo!", False),
    ],
)
def test_stop_mention(text: str, present: bool) -> None:
    assert has_stop_mention(text, short_code="36111") is present


@pytest.mark.parametrize(
    ("text", "name", "named"),
    [
        ("Maison Dupont: soldes", "Maison Dupont", True),
        ("MAISON  DUPONT: soldes", "Maison Dupont", True),
        ("Chez maison dupont, soldes", "Maison Dupont", True),
        ("Soldes chez Dupont", "Maison Dupont", False),
        ("Soldes chez Biologic", "Bio", False),  # a whole word, not a fragment
        ("Café Émile: -10%", "café émile", True),
        ("Soldes", None, False),
        ("Soldes", "  ", False),
    ],
)
def test_advertiser_name(text: str, name: str | None, named: bool) -> None:
    assert names_advertiser(text, advertiser_name=name) is named


@pytest.mark.parametrize(
    ("sender", "short_codes", "expected"),
    [
        ("36111", (), None),
        ("36111", ("36111", "36222"), None),
        ("36 111", ("36111",), None),
        ("36222", ("36111",), "unknown_short_code"),
        ("38111", ("38111",), "transactional_short_code"),
        ("ACME", (), "alphanumeric_sender"),
        ("Acme36", (), "alphanumeric_sender"),
        ("0612345678", (), "mobile_number_sender"),
        ("+33 7 12 34 56 78", (), "mobile_number_sender"),
        ("+33612345678", (), "mobile_number_sender"),
        ("0140000000", (), "not_short_code_sender"),
        ("3611", (), "not_short_code_sender"),
        ("361111", (), "not_short_code_sender"),
        ("", (), "not_short_code_sender"),
    ],
)
def test_sender_for_french_marketing(sender: str, short_codes: tuple[str, ...], expected: str | None) -> None:
    assert sender_problem(sender, short_codes=short_codes) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"text": GOOD_TEXT, "sender": "36111", "french_destination": True}, None),
        ({"text": GOOD_TEXT, "sender": "ACME", "french_destination": True}, "alphanumeric_sender"),
        ({"text": GOOD_TEXT, "sender": "0712345678", "french_destination": True}, "mobile_number_sender"),
        ({"text": "Maison Dupont: -20%", "sender": "36111", "french_destination": True}, "missing_stop_mention"),
        (
            {"text": "Soldes -20%. STOP au 36111", "sender": "36111", "french_destination": True},
            "missing_advertiser_name",
        ),
        # Outside France: the link replaces the STOP reply, and the sender is free.
        ({"text": f"Maison Dupont sale. Unsubscribe {URL}", "sender": "ACME", "french_destination": False}, None),
        ({"text": GOOD_TEXT, "sender": "36111", "french_destination": False}, "missing_unsubscribe_link"),
        (
            {"text": f"Sale! Unsubscribe {URL}", "sender": "ACME", "french_destination": False},
            "missing_advertiser_name",
        ),
    ],
)
def test_content_problem(kwargs: dict, expected: str | None) -> None:
    result = content_problem(advertiser_name="Maison Dupont", short_codes=("36111",), unsubscribe_url=URL, **kwargs)
    assert result == expected


def test_text_without_known_sender_uses_the_account_short_codes() -> None:
    def check(short_codes: tuple[str, ...]) -> str | None:
        return text_problem(
            GOOD_TEXT, advertiser_name="Maison Dupont", french_destination=True, sender=None, short_codes=short_codes
        )

    assert check(("36111",)) is None
    assert check(("36222",)) == "missing_stop_mention"
    assert check(()) == "missing_stop_mention"


def test_unsubscribe_link_must_be_the_platform_one() -> None:
    assert has_unsubscribe_link(f"Bye: {URL}", unsubscribe_url=URL)
    assert not has_unsubscribe_link("Bye: https://elsewhere.example/u", unsubscribe_url=URL)
    assert not has_unsubscribe_link(f"Bye: {URL}", unsubscribe_url=None)
    assert not has_unsubscribe_link("Bye", unsubscribe_url=" ")
