"""Informative templates: declaring, review states and matching (domain/templates.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.templates import (
    MAX_PLACEHOLDERS,
    VALUE_MAX,
    check_note,
    check_template_mode,
    check_template_name,
    check_template_text,
    compile_template,
    first_match,
    flatten,
    matches,
    review,
    screen_template,
    usable_states,
)

RDV = "Bonjour {first_name}, votre rendez-vous du {date} à {heure} est confirmé."


# --- Matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "text", "expected"),
    [
        # Placeholders take 1 to 60 characters.
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        (RDV, "Bonjour Jean-Pierre Martin, votre rendez-vous du lundi 12 mars à 10 h 30 est confirmé.", True),
        (RDV, "Bonjour , votre rendez-vous du 12/03 à 10h30 est confirmé.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du  à 10h30 est confirmé.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h30 est confirmé. -50% sur tout !", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h30.", False),
        # A value may hold what looks like the template's own words.
        (RDV, "Bonjour Marie, Paul, votre rendez-vous du 12/03 à 10h30 à Metz est confirmé.", True),
        # Literal words are compared case-sensitively.
        (RDV, "bonjour Marie, votre rendez-vous du 12/03 à 10h30 est confirmé.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h30 est CONFIRMÉ.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h30 est confirme.", False),
        # Whitespace runs compare collapsed, ends trimmed; a line break between words is a space.
        (RDV, "  Bonjour   Marie,\tvotre rendez-vous du 12/03 à 10h30 est confirmé.\n", True),
        (RDV, "Bonjour Marie,\nvotre rendez-vous\r\ndu 12/03 à 10h30 est confirmé.", True),
        (RDV, "Bonjour Marie,\u00a0votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        (RDV, "Bonjour Marie,votre rendez-vous du 12/03 à 10h30 est confirmé.", False),
        ("Votre code :\n\n{code}\nvalable 10 minutes", "Votre code : 483920 valable 10 minutes", True),
        # ...but no line break inside a value (whatever its kind).
        (RDV, "Bonjour Marie\nDupont, votre rendez-vous du 12/03 à 10h30 est confirmé.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03\r\nPROMO à 10h30 est confirmé.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h\u2028Soldes est confirmé.", False),
        (RDV, "Bonjour Marie, votre rendez-vous du 12/03 à 10h\x85Soldes est confirmé.", False),
        (RDV, "Bonjour\nMarie, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),  # the template's space
        ("Bonjour{first_name}, c'est confirmé", "Bonjour\nMarie, c'est confirmé", False),  # the value's start
        # Values are measured collapsed: 60 characters at most.
        (RDV, f"Bonjour {'x' * VALUE_MAX}, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        (RDV, f"Bonjour {'x' * (VALUE_MAX + 1)}, votre rendez-vous du 12/03 à 10h30 est confirmé.", False),
        (RDV, f"Bonjour {'a    ' * 15}, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        # A campaign text keeps its personalisation placeholders where the template has one.
        (RDV, "Bonjour {first_name}, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        (RDV, "Bonjour {first_name} {last_name}, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        (RDV, "Bonjour { FIRST_NAME }, votre rendez-vous du 12/03 à 10h30 est confirmé.", True),
        (
            "Bonjour Marie, votre colis {numero} est arrivé en point relais",
            "Bonjour {first_name}, votre colis 123 est arrivé en point relais",
            False,
        ),
        # No placeholder: the text equals the template.
        ("Votre commande est prête.", "Votre commande est prête.", True),
        ("Votre commande est prête.", " Votre  commande est prête. ", True),
        ("Votre commande est prête.", "Votre commande est prête !", False),
        # A placeholder at either end.
        ("{code} est votre code de connexion", "483920 est votre code de connexion", True),
        ("{code} est votre code de connexion", " est votre code de connexion", False),
        ("Votre code de connexion : {code}", "Votre code de connexion : 483920", True),
        ("Votre code de connexion : {code}", "Votre code de connexion :", False),
        # Regex metacharacters in a template are literal.
        ("Total (TTC) : {montant} [payé] ^$ .* a+b? x|y \\d", "Total (TTC) : 12,50 € [payé] ^$ .* a+b? x|y \\d", True),
        ("Total (TTC) : {montant} [payé] ^$ .* a+b? x|y \\d", "Total (TTC) : 12,50 € [payé] ^$ xx aab x \\d", False),
        ("Réf. {ref} : dossier ouvert.", "Réf. 42 : dossier ouvert.", True),
        ("Réf. {ref} : dossier ouvert.", "RéfX 42 : dossier ouvert.", False),
        # Braces that are not placeholders are literal too.
        ("Colis {} n° {numero} : {-50%} livré", "Colis {} n° 7 : {-50%} livré", True),
        ("Colis {} n° {numero} : {-50%} livré", "Colis X n° 7 : {-50%} livré", False),
        # The same name twice takes two values.
        ("Du {date} au {date}, agence fermée", "Du 1er au 3 mai, agence fermée", True),
    ],
)
def test_matching(template: str, text: str, expected: bool) -> None:
    assert matches(template, text) is expected


def test_compiled_forms_are_literal_pieces_and_cached() -> None:
    compiled = compile_template("  Bonjour  {a},\n votre RDV  {b} . ")
    assert compiled.pieces == ("Bonjour ", ", votre RDV ", " .")
    assert compiled.placeholders == 2
    assert (compiled.min_length, compiled.max_length) == (22 + 2, 22 + 2 * VALUE_MAX)
    assert compile_template("  Bonjour  {a},\n votre RDV  {b} . ") is compiled


def test_flatten_marks_the_spaces_that_were_line_breaks() -> None:
    flat = flatten(" Bonjour\t Marie,\r\n\nvotre  RDV\u2029ok ")
    assert flat.text == "Bonjour Marie, votre RDV ok"
    assert flat.breaks == (14, 24)


def test_first_match_returns_the_first_matching_key() -> None:
    templates = [
        ("a", "Votre colis {n} est parti."),
        ("b", RDV),
        ("c", "Bonjour {x}, votre rendez-vous du {d} à {h} {s}."),
    ]
    text = "Bonjour Léa, votre rendez-vous du 3/4 à 9h est confirmé."
    assert first_match(templates, text) == "b"
    assert first_match(templates[2:], text) == "c"
    assert first_match(templates[:1], text) is None
    assert first_match([], text) is None


def _reference(template: str, text: str) -> bool:
    """The rule as one backtracking regex (fine on small inputs): the matcher must agree with it."""
    stripped = text.strip()
    words = re.split(r"\s+", stripped)
    runs = re.findall(r"\s+", stripped)
    flat = words[0] + "".join(
        ("\n" if re.search(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]", run) else " ") + word
        for run, word in zip(runs, words[1:], strict=True)
    )
    pieces = compile_template(template).pieces
    literal = [re.escape(piece).replace("\\ ", " ").replace(" ", "[ \n]") for piece in pieces]
    pattern = f"[^\n]{{1,{VALUE_MAX}}}?".join(literal)
    return re.fullmatch(pattern, flat) is not None


_ALPHABET = st.sampled_from(["a", "b", " ", "\n", ".", "ab", "  ", " \n "])
_small_text = st.lists(_ALPHABET, max_size=14).map("".join)
_small_template = st.lists(st.sampled_from(["a", "b", " ", ".", "{x}", "\n", "ab"]), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(_small_template, _small_text)
def test_matching_agrees_with_the_plain_regex(template: str, text: str) -> None:
    assert matches(template, text) is _reference(template, text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["Bonjour ", "{p}", ", ", "RDV", " à ", "\n", "{q}"]), max_size=10), _small_text)
def test_matching_agrees_with_the_plain_regex_on_wordier_templates(parts: list[str], text: str) -> None:
    template = "".join(parts)
    filled = template.replace("{p}", text.replace("\n", " ").strip() or "x").replace("{q}", "y")
    assert matches(template, filled) is _reference(template, filled)
    assert matches(template, text) is _reference(template, text)


@pytest.mark.parametrize(
    ("template", "text"),
    [
        # Each placeholder followed by a separator the hostile text repeats everywhere: a backtracking
        # regex would try the values' lengths in combination (60 ** 10 ways).
        (" ".join(f"a {{x{i}}}" for i in range(MAX_PLACEHOLDERS)) + " end", "a " * 400 + "fin"),
        (" ".join(f"a {{x{i}}}" for i in range(MAX_PLACEHOLDERS)) + " end", "a " * 300 + "end"),
        (", ".join(f"{{x{i}}}" for i in range(MAX_PLACEHOLDERS)) + " !", ", " * 400),
        ("-".join(f"{{x{i}}}" for i in range(MAX_PLACEHOLDERS)) + "-z", "-" * 599 + "y"),
        # Huge texts are refused by their length before any search.
        (RDV, "Bonjour " + "x, " * 500_000),
        ("{a} b {c}", "b " * 1_000_000),
        # Line breaks everywhere.
        ("{a} x {b} x {c} x {d} x {e} x {f}", "x\n" * 5000),
    ],
)
def test_hostile_inputs_stay_linear(template: str, text: str) -> None:
    # No timing assertion: an exponential matcher would simply not finish.
    assert matches(template, text) in (True, False)


def test_hostile_inputs_that_do_match() -> None:
    template = " ".join(f"a {{x{i}}}" for i in range(MAX_PLACEHOLDERS)) + " end"
    assert matches(template, "a b " * 10 + "end")
    assert matches(template, "a " * 150 + "end")
    assert not matches(template, "a " * 350 + "end")  # more than 10 x 60 characters of values


# --- Declaring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_text"),
        ("   \n ", "empty_text"),
        (None, "empty_text"),
        ("x" * 1001, "too_long"),
        ("Votre colis\x07 {n} est parti", "invalid_character"),
        ("Votre colis\x1b[31m {n} est parti", "invalid_character"),
        ("Votre colis\x9b {n} est parti", "invalid_character"),
        ("Votre colis\x00 {n} est parti", "invalid_character"),
        ("Votre colis \ud800 est parti", "invalid_character"),
        ("Rendez-vous : " + " / ".join(f"{{v{i}}}" for i in range(11)), "too_many_placeholders"),
        ("Bonjour {first_name}{last_name}, votre colis est parti", "adjacent_placeholders"),
        ("Bonjour {first_name} \n {last_name}, votre colis est parti", "adjacent_placeholders"),
        ("{a}", "template_too_generic"),
        ("{a} - {b} / {c}", "template_too_generic"),
        ("Code : {c}", "template_too_generic"),
    ],
)
def test_template_text_refusals(text: object, code: str) -> None:
    with pytest.raises(DomainError) as err:
        check_template_text(text)
    assert (err.value.code, err.value.field) == (code, "text")


def test_template_text_accepted_with_its_placeholders() -> None:
    assert check_template_text(RDV) == ("first_name", "date", "heure")
    assert check_template_text("Du {date} au {date}, agence {ville} fermée") == ("date", "ville")
    assert check_template_text("Votre code :\r\n\t{code}\nvalable 10 min") == ("code",)
    assert check_template_text("Colis {} n° { numero } : {-50%} livré") == ("numero",)
    assert check_template_text("x" * 1000) == ()
    ten = "Rendez-vous : " + " / ".join(f"{{v{i}}}" for i in range(MAX_PLACEHOLDERS))
    assert len(check_template_text(ten)) == MAX_PLACEHOLDERS


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "missing_field"),
        ("  ", "missing_field"),
        (3, "missing_field"),
        ("a\nb", "invalid_character"),
        ("a\x7f", "invalid_character"),
        ("x" * 101, "too_long"),
    ],
)
def test_template_name_refusals(name: object, code: str) -> None:
    with pytest.raises(DomainError) as err:
        check_template_name(name)
    assert (err.value.code, err.value.field) == (code, "name")


def test_template_name_is_tidied() -> None:
    assert check_template_name("  Rappel   de  RDV ") == "Rappel de RDV"
    assert check_template_name("x" * 100) == "x" * 100


@pytest.mark.parametrize(
    "text",
    [
        "SOLDES : -50% sur tout le magasin ce week-end, {first_name} !",
        "Bonjour {first_name}, profitez de notre code promo {code} !",
        "Vente flash chez {magasin} : tout doit disparaître",
    ],
)
def test_promotional_templates_are_refused_naming_signals_and_excerpts(text: str) -> None:
    with pytest.raises(DomainError) as err:
        screen_template(text)
    assert (err.value.code, err.value.field) == ("promotional_content", "text")
    from halte_rules.promotional import promotional_signals

    for signal in promotional_signals(text):
        assert signal.name in err.value.message
        assert repr(signal.excerpt) in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        RDV,
        "Votre code de connexion : {code}. Ne le communiquez à personne.",
        "Votre facture de {montant} est disponible dans votre espace client.",
        "Votre commande {numero} a été expédiée.",
    ],
)
def test_informative_templates_pass_the_screen(text: str) -> None:
    screen_template(text)


# --- States and requirement ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        ("pending", "approve", "approved"),
        ("pending", "reject", "rejected"),
        ("pending", "retire", "retired"),
        ("approved", "approve", None),
        ("approved", "reject", "rejected"),
        ("approved", "retire", "retired"),
        ("rejected", "approve", "approved"),
        ("rejected", "reject", None),
        ("rejected", "retire", "retired"),
        ("retired", "retire", None),
    ],
)
def test_review_transitions(state: str, action: str, expected: str | None) -> None:
    assert review(state, action) == expected


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_a_retired_template_is_never_reviewed(action: str) -> None:
    with pytest.raises(DomainError) as err:
        review("retired", action)
    assert (err.value.code, err.value.field) == ("invalid_status", "state")


def test_requirements_and_usable_states() -> None:
    assert [check_template_mode(m) for m in ("off", "declared", "approved")] == ["off", "declared", "approved"]
    for bad in (None, "", "OFF", "strict", 1):
        with pytest.raises(DomainError) as err:
            check_template_mode(bad)
        assert (err.value.code, err.value.field) == ("invalid_informative_templates", "informative_templates")
    assert usable_states("declared") == {"pending", "approved"}
    assert usable_states("approved") == {"approved"}


def test_review_notes() -> None:
    assert check_note(None, required=False) is None
    assert check_note("  trop  vague ", required=True) == "trop vague"
    for note, code in (
        (None, "missing_field"),
        ("  ", "missing_field"),
        ("x" * 501, "too_long"),
        ("a\x00", "invalid_character"),
    ):
        with pytest.raises(DomainError) as err:
            check_note(note, required=True)
        assert (err.value.code, err.value.field) == (code, "note")
