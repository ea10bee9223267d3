"""Sender, STOP mention, advertiser and unsubscribe link as the dispatcher applies them (recognisers: rules/tests)."""

from __future__ import annotations

import pytest

from halte_dispatcher.domain.content import (
    content_problem,
    has_unsubscribe_link,
    sender_problem,
    text_problem,
)

GOOD_TEXT = "Maison Dupont: -20% sur tout le magasin samedi. STOP au 36111"
URL = "https://u.halte.example/u/tok3n"


@pytest.mark.parametrize(
    ("sender", "short_codes", "expected"),
    [
        ("36111", (), None),
        ("36111", ("36111", "36222"), None),
        ("36 111", ("36111",), None),
        ("36222", ("36111",), "unknown_short_code"),
        ("38111", ("38111",), "transactional_short_code"),
        ("37111", ("37111",), "not_marketing_short_code"),  # only 36xxx is assigned to marketing
        ("61234", (), "not_marketing_short_code"),
        ("36\u00a0111", ("36111",), None),  # written with a non-breaking space
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
    assert check(("36222",)) == "stop_mention_wrong_number"  # the reply would not reach the account
    assert check(()) == "missing_stop_mention"


def test_unsubscribe_link_must_be_the_platform_one() -> None:
    assert has_unsubscribe_link(f"Bye: {URL}", unsubscribe_url=URL)
    assert not has_unsubscribe_link("Bye: https://elsewhere.example/u", unsubscribe_url=URL)
    assert not has_unsubscribe_link(f"Bye: {URL}", unsubscribe_url=None)
    assert not has_unsubscribe_link("Bye", unsubscribe_url=" ")
