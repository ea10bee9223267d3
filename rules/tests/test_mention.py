"""The STOP mention and the advertiser's name: one table, read alike by campaign-api and the dispatcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halte_rules.mention import (
    VALUE_MARK,
    fold,
    has_stop_mention,
    names_advertiser,
    stop_mention,
    stop_mention_problem,
    stop_numbers_named,
    wrong_stop_number,
)

MARK = VALUE_MARK


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Promo! STOP au 36111", None),
        ("Promo! stop au 36111", None),
        ("Promo! Stop au 36 111", None),
        ("Promo! STOP au 36.111", None),
        ("Promo! STOP au 36\u00a0111", None),  # non-breaking space inside the code
        ("Promo! STOP au 36\u202f111", None),  # narrow non-breaking space, French typography
        ("Promo! STOP\u00a0au\u00a036111", None),
        ("Promo! STOP SMS au 36111", None),
        ("Promo! STOP 36111", None),  # without "au": as clear, and recognised everywhere
        ("Promo! Stop: 36111", None),
        ("Promo! STOP : 36111", None),
        ("Promo! STOP SMS 36111", None),
        ("Promo! STOP au 36111.", None),
        ("STOP au 36111 pour ne plus recevoir", None),
        ("Promo! STOP au 36112", "stop_mention_wrong_number"),  # the reply would not reach us
        ("Promo! Répondez STOP au 36999 ou STOP au 36111", "stop_mention_wrong_number"),
        ("Promo! STOP au numéro 36222", "stop_mention_wrong_number"),
        ("Promo! STOP au 361110", "stop_mention_wrong_number"),  # runs on into another number
        ("Promo! NONSTOP au 36111", "missing_stop_mention"),
        ("Promo! Répondez STOP", "missing_stop_mention"),
        ("36111", "missing_stop_mention"),
        ("Promo!", "missing_stop_mention"),
        (f"Promo! STOP au {MARK} 36111", "missing_stop_mention"),  # a value would stand inside it
        (f"Promo! STOP au 36111{MARK}", "stop_mention_wrong_number"),  # a value could continue the number
        (f"Promo! STOP au 36111 {MARK}", None),
        ("Promo! STOP au 36111 2 fois", None),  # the code, then another word
        ("Promo! STOP au 36 1112", "stop_mention_wrong_number"),
        (f"{MARK}STOP au 36111", "missing_stop_mention"),
    ],
)
def test_stop_mention(text: str, problem: str | None) -> None:
    assert stop_mention_problem(text, "36111") == problem
    if problem != "stop_mention_wrong_number":
        assert has_stop_mention(text, "36111") is (problem is None)


@pytest.mark.parametrize("code", ["36111", "36 111", " 36111 ", "36.111"])
def test_the_mention_added_is_the_one_recognised(code: str) -> None:
    mention = stop_mention(code)
    assert mention == "STOP au 36111"
    assert stop_mention_problem(f"Dupont : -20 % {mention}", code) is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("STOP au 36111", ("36111",)),
        ("stop to 36 222 or STOP au 36111", ("36222", "36111")),
        ("STOP au numéro 36333", ("36333",)),
        ("Répondez STOP", ()),
        ("STOP au 123", ()),  # too short to be a code
        ("STOP au 361112", ("361112",)),
        (f"STOP au 36111{MARK}", (f"36111{MARK}",)),
    ],
)
def test_numbers_a_stop_instruction_points_to(text: str, named: tuple[str, ...]) -> None:
    assert stop_numbers_named(text) == named


@pytest.mark.parametrize(
    ("text", "name", "named"),
    [
        ("Maison Dupont: soldes", "Maison Dupont", True),
        ("MAISON  DUPONT: soldes", "Maison Dupont", True),
        ("Chez maison\u00a0dupont, soldes", "Maison Dupont", True),
        ("Soldes chez Dupont", "Maison Dupont", False),
        ("Soldes chez Biologic", "Bio", False),  # a whole word, not a fragment
        ("Café Émile: -10%", "café émile", True),
        ("Cafe Dupont: -10%", "Café Dupont", True),  # accents do not count
        ("CAFÉ DUPONT: -10%", "Cafe Dupont", True),
        ("L’Atelier : nouveautés", "L'Atelier", True),  # typographic apostrophe
        ("chez  Dupont   & Fils", "Dupont & Fils", True),
        (f"Dupont {MARK} & Fils", "Dupont & Fils", False),
        (f"{MARK}Dupont promo", "Dupont", False),
        ("Soldes", None, False),
        ("Soldes", "  ", False),
    ],
)
def test_advertiser_name(text: str, name: str | None, named: bool) -> None:
    assert names_advertiser(text, name) is named


def test_recognisers_stay_fast_on_hostile_text() -> None:
    hostile = "stop" + " au" * 5000 + " " * 5000 + "x" + " stop " * 2000 + "3" * 5000
    assert stop_mention_problem(hostile, "36111") == "stop_mention_wrong_number"  # " stop 3333..."
    assert not names_advertiser(hostile, "au au au au y")


@given(st.text(max_size=200), st.sampled_from(["36111", "36222", "36999"]))
def test_adding_the_mention_always_satisfies_the_rule_unless_another_number_is_named(text: str, code: str) -> None:
    completed = f"{text.rstrip()} {stop_mention(code)}"
    problem = stop_mention_problem(completed, code)
    if problem is not None:
        assert problem == "stop_mention_wrong_number"
        assert wrong_stop_number(completed, code) is not None


@given(st.text(max_size=60).filter(lambda s: s.strip()))
def test_a_name_written_at_the_head_of_a_text_is_always_named(name: str) -> None:
    if any(ch in name for ch in (MARK, "\x00")) or not fold(name).split():
        return
    assert names_advertiser(f"{name} : soldes", name)
