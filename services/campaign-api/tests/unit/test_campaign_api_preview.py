"""Preview: final text, encoding, segments, cost and warnings (SPEC rules 2-3)."""

from __future__ import annotations

from typing import Any

import pytest

from halte_campaign_api.domain.errors import DomainError
from halte_campaign_api.domain.preview import Preview, PreviewWarning, preview

ADVERTISER = "Boulangerie Dupont"
BASE: dict[str, Any] = {"kind": "marketing", "advertiser_name": ADVERTISER, "short_code": "36111", "sender": "36111"}


def run(text: str, **overrides: Any) -> Preview:
    return preview(text=text, **{**BASE, **overrides})


def warning_of(result: Preview, code: str) -> PreviewWarning:
    found = result.warning(code)
    assert found is not None, f"no {code} warning in {result.warning_codes}"
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Mention and advertiser name both missing: both added.
        ("-20% ce week-end", "Boulangerie Dupont : -20% ce week-end STOP au 36111"),
        # Advertiser named (any case): only the mention is added.
        ("boulangerie dupont: -20%", "boulangerie dupont: -20% STOP au 36111"),
        ("Chez BOULANGERIE  DUPONT, -20%", "Chez BOULANGERIE  DUPONT, -20% STOP au 36111"),
        # Mention already written, in any case or spacing: not duplicated.
        ("Boulangerie Dupont -20% STOP au 36111", "Boulangerie Dupont -20% STOP au 36111"),
        ("Boulangerie Dupont -20% stop au 36111", "Boulangerie Dupont -20% stop au 36111"),
        ("Boulangerie Dupont -20% STOP au 36 111", "Boulangerie Dupont -20% STOP au 36 111"),
        ("Boulangerie Dupont -20% Stop SMS au 36111", "Boulangerie Dupont -20% Stop SMS au 36111"),
        # Other wordings are not the mandated mention (the dispatcher refuses them): it is added.
        # Recognised by the dispatcher as the mention: nothing is added twice.
        ("Boulangerie Dupont -20%. Stop: 36111", "Boulangerie Dupont -20%. Stop: 36111"),
        ("Boulangerie Dupont -20%. STOP 36111", "Boulangerie Dupont -20%. STOP 36111"),
        (
            "Boulangerie Dupont -20%\nSTOP au numéro 36111",
            "Boulangerie Dupont -20%\nSTOP au numéro 36111 STOP au 36111",
        ),
        # Mention present but advertiser missing: only the name is added.
        ("-20% STOP au 36111", "Boulangerie Dupont : -20% STOP au 36111"),
        # A word merely containing the name does not name the advertiser.
        ("Boulangerie Dupontel -20%", "Boulangerie Dupont : Boulangerie Dupontel -20% STOP au 36111"),
        # Trailing whitespace is not paid for.
        ("Boulangerie Dupont promo   \n", "Boulangerie Dupont promo STOP au 36111"),
    ],
)
def test_mention_and_advertiser(text: str, expected: str) -> None:
    assert run(text).final_text == expected


def test_advertiser_name_matches_without_case_or_accents() -> None:
    # The dispatcher reads the name the same way (halte_rules.mention): "cafe" names "Café".
    result = preview(text="cafe des arts: happy hour", **{**BASE, "advertiser_name": "Café des Arts"})
    assert result.final_text == "cafe des arts: happy hour STOP au 36111"
    assert not result.advertiser_added and result.mention_added
    named = preview(text="CAFÉ DES ARTS: happy hour", **{**BASE, "advertiser_name": "Café des Arts"})
    assert not named.advertiser_added


def test_mention_named_by_a_personalised_value_is_still_added() -> None:
    # The decision is taken on the client's words: a recipient's value never removes the mention.
    result = run("Boulangerie Dupont, bonjour {first_name}", sample_fields={"first_name": "STOP au 36111"})
    assert result.final_text.endswith("STOP au 36111 STOP au 36111")


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Votre commande est prête.", "informative", "Votre commande est prête."),
        ("Rendez-vous demain 10h", "informative", "Rendez-vous demain 10h"),
    ],
)
def test_informative_gets_no_mention_nor_prefix(text: str, kind: str, expected: str) -> None:
    result = run(text, kind=kind, sender="SHOP")
    assert result.final_text == expected
    assert not result.mention_added and not result.advertiser_added


def test_foreign_destination_gets_unsubscribe_link_not_stop() -> None:
    url = "https://u.halte.test/u/abc123"
    result = run("Boulangerie Dupont promo", destination_is_french=False, sender="SHOP", unsubscribe_url=url)
    assert result.final_text == f"Boulangerie Dupont promo STOP : {url}"
    assert result.unsubscribe_link_added and not result.mention_added


def test_foreign_marketing_without_link_is_refused() -> None:
    with pytest.raises(DomainError) as err:
        run("Boulangerie Dupont promo", destination_is_french=False)
    assert (err.value.code, err.value.field) == ("unsubscribe_url_required", "unsubscribe_url")


GSM_150 = "Boulangerie Dupont " + "x" * (150 - len("Boulangerie Dupont "))


@pytest.mark.parametrize(
    ("text", "segments", "warned"),
    [
        # 150 GSM chars + " STOP au 36111" = 164 > 160: the mention makes it 2 segments.
        (GSM_150, 2, True),
        # 146 + 14 = 160: still one segment.
        (GSM_150[:146], 1, False),
        # Already 2 segments on its own: the mention adds none.
        (GSM_150 + "y" * 100, 2, False),
        # 300 + 14 = 314 > 306 (2 x 153): the mention adds the third.
        (GSM_150 + "y" * 150, 3, True),
    ],
)
def test_segments_and_added_segment_warning(text: str, segments: int, warned: bool) -> None:
    assert len(text) in (146, 150, 250, 300)
    result = run(text)
    assert result.segments == segments
    assert result.cost == segments
    assert ("mention_added_segment" in result.warning_codes) is warned


def test_advertiser_prefix_pushing_into_second_segment_warns() -> None:
    # 130 + 14 = 144 fits one segment; the 21 characters of "Boulangerie Dupont : " do not.
    result = run("y" * 130 + " STOP au 36111")
    assert result.advertiser_added and not result.mention_added
    assert result.segments == 2
    assert "advertiser name" in warning_of(result, "mention_added_segment").message


def test_cost_uses_credits_per_segment() -> None:
    result = run(GSM_150, credits_per_segment=3)
    assert (result.segments, result.cost) == (2, 6)


@pytest.mark.parametrize(
    ("text", "encoding", "length", "warning", "chars"),
    [
        # é is in the GSM 7-bit alphabet.
        ("Boulangerie Dupont : café STOP au 36111", "GSM-7", 39, None, ()),
        # ê is not: the whole message goes UCS-2 and the warning names it.
        ("Boulangerie Dupont : fête STOP au 36111", "UCS-2", 39, "encoding_ucs2", ("ê",)),
        ("Boulangerie Dupont : fête ça œuf ê STOP au 36111", "UCS-2", 48, "encoding_ucs2", ("ê", "ç", "œ")),
        # € is a GSM extension character: it counts double.
        ("Boulangerie Dupont : 10€ STOP au 36111", "GSM-7", 39, "gsm_extension_characters", ("€",)),
        # An emoji takes two UTF-16 code units.
        ("Boulangerie Dupont : 🎉 STOP au 36111", "UCS-2", 37, "encoding_ucs2", ("🎉",)),
    ],
)
def test_encoding(text: str, encoding: str, length: int, warning: str | None, chars: tuple[str, ...]) -> None:
    result = run(text)
    assert result.final_text == text
    assert result.encoding == encoding
    assert result.length == length
    if warning is None:
        assert result.warnings == ()
    else:
        assert warning_of(result, warning).characters == chars
        for ch in chars:
            assert ch in warning_of(result, warning).message


def test_euro_counts_double_towards_segments() -> None:
    # 73 euro signs = 146 septets + " STOP au 36111" (14) = 160: one segment; one more is two.
    prefix = "Boulangerie Dupont "
    fill = "€" * ((146 - len(prefix)) // 2)
    text = prefix + fill + ("x" if len(prefix) % 2 else "")
    assert run(text).segments == 1
    assert run(text + "€").segments == 2


@pytest.mark.parametrize(
    ("sender", "code"),
    [
        ("36111", None),
        ("SHOP", "alphanumeric_sender"),
        ("0612345678", "mobile_number_sender"),
        ("+33712345678", "mobile_number_sender"),
        ("+33612345678", "mobile_number_sender"),
        ("07 61 23 45 67", "mobile_number_sender"),
        ("36 111", None),
        ("3611", "short_code_required"),
        ("38111", "transactional_short_code"),
        ("36222", "sender_short_code_mismatch"),
        ("", "sender_required"),
        ("A sender far too long", "invalid_sender"),
    ],
)
def test_sender_for_french_marketing(sender: str, code: str | None) -> None:
    if code is None:
        assert run("Boulangerie Dupont promo", sender=sender).final_text.endswith("STOP au 36111")
        return
    with pytest.raises(DomainError) as err:
        run("Boulangerie Dupont promo", sender=sender)
    assert (err.value.code, err.value.field) == (code, "sender")


@pytest.mark.parametrize("sender", ["SHOP", "0612345678", "38111", "36111"])
def test_informative_accepts_any_well_formed_sender(sender: str) -> None:
    assert run("Votre colis arrive", kind="informative", sender=sender).final_text == "Votre colis arrive"


def test_personalisation_default_warning() -> None:
    result = run("Boulangerie Dupont: Bonjour {first_name}, -20%", sample_fields={"first_name": ""})
    assert result.final_text == "Boulangerie Dupont: Bonjour, -20% STOP au 36111"
    assert warning_of(result, "personalisation_default_used").fields == ("first_name",)
    assert result.placeholders == ("first_name",)


def test_default_sample_is_a_representative_recipient() -> None:
    result = run("Boulangerie Dupont: Bonjour {first_name} {last_name}")
    assert result.final_text == "Boulangerie Dupont: Bonjour Camille Martin STOP au 36111"
    assert result.warnings == ()


def test_configured_default() -> None:
    result = run("Boulangerie Dupont: Bonjour {first_name}", sample_fields={}, field_defaults={"first_name": "client"})
    assert result.final_text == "Boulangerie Dupont: Bonjour client STOP au 36111"
    assert "personalisation_default_used" in result.warning_codes


def test_unknown_placeholder_refused() -> None:
    with pytest.raises(DomainError) as err:
        run("Boulangerie Dupont: code {promo_code}")
    assert (err.value.code, err.value.field) == ("unknown_placeholder", "text")


def test_notification_account_refuses_marketing_and_sends_informative_bare() -> None:
    with pytest.raises(DomainError) as err:
        run("Boulangerie Dupont promo", account_mode="notification")
    assert err.value.code == "marketing_not_allowed"
    result = run("Votre pain est prêt", kind="informative", account_mode="notification")
    assert result.final_text == "Votre pain est prêt"


def test_to_dict_is_json_ready() -> None:
    data = run("fête").to_dict()
    assert data["encoding"] == "UCS-2"
    assert data["warnings"][0]["code"] == "encoding_ucs2"
    assert data["warnings"][0]["characters"] == ["ê"]
