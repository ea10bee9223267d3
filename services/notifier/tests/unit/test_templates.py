"""Templates: defaults name the advertiser, only known placeholders, rendering never evaluates input."""

import pytest

from halte_notifier.domain.templates import (
    DEFAULT_TEMPLATES,
    MAX_TEMPLATE_LENGTH,
    TemplateError,
    check_template,
    render,
    text_for,
)
from halte_shared.sms import measure


def test_default_french_confirmation_is_the_wording_of_the_issue() -> None:
    text = text_for(
        purpose="optout_confirmation",
        language="fr",
        custom=None,
        advertiser="Boulangerie Martin",
        contact="01 23 45 67 89",
        short_code="36111",
    )
    assert text == (
        "Boulangerie Martin : votre désinscription est bien prise en compte. Vous ne recevrez plus de SMS commerciaux."
    )


@pytest.mark.parametrize("key", sorted(DEFAULT_TEMPLATES))
def test_every_default_names_the_advertiser_has_no_stop_mention_and_fits_gsm7(key: tuple[str, str]) -> None:
    text = render(DEFAULT_TEMPLATES[key], advertiser="Acme", contact="contact@acme.fr", short_code="36111")
    assert text.startswith("Acme")
    assert "STOP" not in text.upper()
    assert measure(text).encoding == "GSM-7"
    assert measure(text).segments == 1


def test_contact_default_gives_the_contact_line() -> None:
    text = text_for(
        purpose="contact_reply",
        language="en",
        custom=None,
        advertiser="Acme",
        contact="+33 1 23 45 67 89",
        short_code="36111",
    )
    assert text == "Acme: to contact us, +33 1 23 45 67 89"


def test_custom_template_wins_and_fills_every_placeholder() -> None:
    text = text_for(
        purpose="optout_confirmation",
        language="fr",
        custom="{advertiser} ({short_code}) : c'est noté. Questions : {contact}",
        advertiser="Acme",
        contact="01 02 03 04 05",
        short_code="36222",
    )
    assert text == "Acme (36222) : c'est noté. Questions : 01 02 03 04 05"


def test_rendering_does_not_evaluate_format_fields() -> None:
    # Values and templates are operator input: nothing is looked up through attributes.
    assert render("{advertiser.__class__} {0}", advertiser="A", contact="c", short_code="1") == (
        "{advertiser.__class__} {0}"
    )
    assert render("{advertiser}", advertiser="{contact}", contact="x", short_code="1") == "{contact}"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_template"),
        ("   ", "empty_template"),
        ("x" * (MAX_TEMPLATE_LENGTH + 1), "template_too_long"),
        ("{advertizer}: noted", "unknown_placeholder"),
        ("{advertiser.__class__}", "unknown_placeholder"),
        ("{0}", "unknown_placeholder"),
        ("{advertiser: noted", "unbalanced_braces"),
        ("advertiser}: noted", "unbalanced_braces"),
    ],
)
def test_check_template_refuses(text: str, code: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template(text)
    assert caught.value.code == code


def test_check_template_strips_and_accepts_known_placeholders() -> None:
    assert check_template("  {advertiser} {contact} {short_code}  ") == "{advertiser} {contact} {short_code}"
