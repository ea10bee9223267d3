import pytest

from halte_shared.phone import InvalidPhoneNumber, describe, is_ordinary_mobile_sender, normalize, normalize_mobile


@pytest.mark.parametrize(
    ("raw", "e164", "region", "zone"),
    [
        ("06 12 34 56 78", "+33612345678", "FR", "Europe/Paris"),
        ("0612345678", "+33612345678", "FR", "Europe/Paris"),
        ("+33 6 12 34 56 78", "+33612345678", "FR", "Europe/Paris"),
        ("0033612345678", "+33612345678", "FR", "Europe/Paris"),
        ("33612345678", "+33612345678", "FR", "Europe/Paris"),
        ("+590 690 12 34 56", "+590690123456", "GP", "America/Guadeloupe"),
        ("0690 12 34 56", "+590690123456", "GP", "America/Guadeloupe"),
        ("0692 12 34 56", "+262692123456", "RE", "Indian/Reunion"),
        ("0696 12 34 56", "+596696123456", "MQ", "America/Martinique"),
        ("+596 696 12 34 56", "+596696123456", "MQ", "America/Martinique"),
        ("+594 694 20 12 34", "+594694201234", "GF", "America/Cayenne"),
        ("+262 692 12 34 56", "+262692123456", "RE", "Indian/Reunion"),
        ("+262 639 01 23 45", "+262639012345", "YT", "Indian/Mayotte"),
        ("+508 55 12 34", "+508551234", "PM", "America/Miquelon"),
        ("+687 75 12 34", "+687751234", "NC", "Pacific/Noumea"),
        ("+689 87 12 34 56", "+68987123456", "PF", "Pacific/Tahiti"),
        ("+681 82 12 34", "+681821234", "WF", "Pacific/Wallis"),
        ("+44 7400 123456", "+447400123456", "GB", "Europe/London"),
        ("+49 151 23456789", "+4915123456789", "DE", "Europe/Berlin"),
    ],
)
def test_numbers_get_their_territory_and_zone(raw, e164, region, zone):
    info = describe(raw)
    assert (info.e164, info.region, info.time_zone) == (e164, region, zone)
    assert normalize(raw) == e164


@pytest.mark.parametrize("raw", ["+590 690 22 12 34", "+590 690 87 12 34"])
def test_saint_martin_and_saint_barthelemy_share_590_but_not_a_territory(raw):
    assert describe(raw).region in {"GP", "MF", "BL"}


@pytest.mark.parametrize("raw", ["", "abc", "+33 6 12", "12", "+999 1234567"])
def test_invalid_numbers_are_refused_with_a_code(raw):
    with pytest.raises(InvalidPhoneNumber) as err:
        normalize(raw)
    assert err.value.code == "invalid_number"


def test_landline_is_not_mobile():
    with pytest.raises(InvalidPhoneNumber) as err:
        normalize_mobile("01 42 68 53 00")
    assert err.value.code == "not_mobile"


def test_french_overseas_and_metropolitan_numbers_are_french():
    assert describe("+262692123456").is_french
    assert not describe("+447400123456").is_french


@pytest.mark.parametrize(
    ("sender", "expected"), [("36111", False), ("HALTESHOP", False), ("0612345678", True), ("+33756123456", True)]
)
def test_ordinary_mobile_sender(sender, expected):
    assert is_ordinary_mobile_sender(sender) is expected
