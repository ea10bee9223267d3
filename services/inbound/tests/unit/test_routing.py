"""Routing rules of a reply (domain/routing.py): sender, short code, and which events it produces."""

from __future__ import annotations

import pytest

from halte_inbound.domain.routing import AccountRoute, normalise_short_code, plan_reply, sender_e164, serves

SHOP = AccountRoute("acc-shop", ("36111",), allow_resubscribe=True)
CLINIC = AccountRoute("acc-clinic", ("36111", "38123"), allow_resubscribe=False)
CLOSED = AccountRoute("acc-closed", ("36111",), allow_resubscribe=True, active=False)
ACCOUNTS = [CLINIC, SHOP, CLOSED]


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0612345678", "FR", "+33612345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33612345678", "FR", "+33612345678"),
        ("33612345678", "FR", "+33612345678"),  # SMPP international number without its plus
        ("0033612345678", "FR", "+33612345678"),
        ("0690123456", "FR", "+590690123456"),  # a Guadeloupe mobile written from the metropolis
        ("0470123456", "BE", "+32470123456"),
        ("0612345678", "BE", None),
        ("PROMO", "FR", None),
        ("", "FR", None),
        ("12", "FR", None),
        ("+1", "FR", None),
    ],
)
def test_the_sender_is_read_in_the_carrier_s_region(raw, region, expected):
    assert sender_e164(raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("36111", "36111"), (" 36 111 ", "36111"), ("+36111", "36111"), ("36-111", "36111"), ("MaBoutique", "MaBoutique")],
)
def test_short_codes_lose_their_spaces_and_plus(raw, expected):
    assert normalise_short_code(raw) == expected


def test_an_empty_carrier_list_serves_every_short_code():
    assert serves([], "36111")
    assert serves(["36 111"], "36111")
    assert not serves(["38123"], "36111")


def plan(text: str, *, sender: str = "0612345678", to: str = "36111", carrier_codes: tuple[str, ...] = ()):
    return plan_reply(
        text=text,
        raw_from=sender,
        raw_to=to,
        default_region="FR",
        carrier_short_codes=carrier_codes,
        accounts=ACCOUNTS,
    )


# text, to, carrier short codes -> (classification, unroutable, optout, optin accounts, contact accounts)
DECISIONS = [
    ("STOP", "36111", (), ("stop", None, True, (), ())),
    ("Stop 36111", "36 111", (), ("stop", None, True, (), ())),
    ("STOP", "36999", (), ("stop", "unknown_short_code", True, (), ())),
    ("STOP", "38123", ("36111",), ("stop", "short_code_not_served", True, (), ())),
    ("START", "36111", (), ("optin", None, False, ("acc-shop",), ())),
    ("START", "38123", (), ("optin", None, False, (), ())),  # the clinic does not allow re-subscription
    ("START", "36999", (), ("optin", "unknown_short_code", False, (), ())),
    ("START", "36111", ("38123",), ("optin", "short_code_not_served", False, (), ())),
    ("CONTACT", "36111", (), ("contact", None, False, (), ("acc-clinic", "acc-shop"))),
    ("CONTACT", "38123", (), ("contact", None, False, (), ("acc-clinic",))),
    ("CONTACT", "36999", (), ("contact", "unknown_short_code", False, (), ())),
    ("CONTACT", "38123", ("36111",), ("contact", "short_code_not_served", False, (), ())),
    ("HELP", "36111", (), ("help", None, False, (), ())),
    ("Merci pour l'info", "36111", (), ("other", None, False, (), ())),
]


@pytest.mark.parametrize(("text", "to", "carrier_codes", "expected"), DECISIONS)
def test_each_reply_produces_the_events_the_rules_say(text, to, carrier_codes, expected):
    result = plan(text, to=to, carrier_codes=carrier_codes)
    assert (
        result.classification,
        result.unroutable,
        result.optout,
        result.optin_account_ids,
        result.contact_account_ids,
    ) == expected


def test_inactive_accounts_are_not_routed_to():
    assert plan("CONTACT").account_ids == ("acc-clinic", "acc-shop")


def test_a_reply_from_an_unreadable_sender_produces_no_request_at_all():
    for text in ("STOP", "START", "CONTACT"):
        result = plan(text, sender="INFO")
        assert result.unroutable == "invalid_sender"
        assert result.phone is None
        assert (result.optout, result.optin_account_ids, result.contact_account_ids) == (False, (), ())


def test_the_short_code_itself_does_not_make_a_reply_other():
    # "CONTACT 38123" is still a CONTACT request for the code it names (keywords.classify drops it).
    assert plan("CONTACT 38123", to="38123").classification == "contact"
