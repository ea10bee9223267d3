"""The unsubscribe page over HTTP: signed links, French or English, opt-out recorded with channel web."""

from __future__ import annotations

import html
import re

import pytest

from halte_inbound.testing import Inbound, account
from halte_shared.events import OptoutRequested
from halte_shared.signing import make_unsubscribe_token

pytestmark = pytest.mark.integration

SECRET = "test-unsubscribe-secret"


def token(account_id: str = "acc-uk", phone: str = "+447911123456") -> str:
    return make_unsubscribe_token(SECRET, account_id=account_id, phone=phone)


def tampered(value: str) -> str:
    claims, _, mac = value.partition(".")
    other = make_unsubscribe_token(SECRET, account_id="acc-uk", phone="+447911123400").partition(".")[0]
    return f"{other}.{mac}"


async def test_the_page_names_the_advertiser_masks_the_number_and_offers_a_form_without_javascript(inbound: Inbound):
    await inbound.accounts(account("acc-uk", short_codes=["36111"], name="Tea & Scones <Ltd>"))
    response = await inbound.client.get(f"/u/{token()}", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page
    assert "Tea &amp; Scones &lt;Ltd&gt;" in page  # escaped: an account name is not markup
    assert "+44 ••••••••56" in page and "7911123456" not in page
    assert re.search(r'<form method="post" action="/u/[^"]+">', page)
    assert '<button type="submit" name="confirm" value="yes">Unsubscribe</button>' in page
    assert "<script" not in page
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "script-src" not in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("accept_language", "query", "lang", "button"),
    [
        pytest.param("fr-FR,fr;q=0.9,en;q=0.8", "", "fr", "Me désabonner", id="french-browser"),
        pytest.param("de-DE,de;q=0.9,fr;q=0.3,en;q=0.2", "", "fr", "Me désabonner", id="french-preferred-to-english"),
        pytest.param("de-DE", "", "en", "Unsubscribe", id="neither-defaults-to-english"),
        pytest.param("fr-FR", "?lang=en", "en", "Unsubscribe", id="explicit-choice-wins"),
    ],
)
async def test_the_page_speaks_french_or_english(inbound: Inbound, accept_language, query, lang, button):
    response = await inbound.client.get(f"/u/{token()}{query}", headers={"Accept-Language": accept_language})
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.text
    assert f">{button}</button>" in response.text


async def test_confirming_records_a_web_optout_for_the_account_and_number_of_the_link(inbound: Inbound):
    await inbound.accounts(account("acc-uk", short_codes=["36111"], name="Tea & Scones"))
    response = await inbound.client.post(
        f"/u/{token()}", data={"lang": "fr", "confirm": "yes"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert "Vous êtes désabonné" in response.text and 'role="status"' in response.text

    [row] = await inbound.rows("SELECT account_id, phone, language FROM web_optouts")
    assert tuple(row) == ("acc-uk", "+447911123456", "fr")
    [(_, optout)] = await inbound.read("optout.requested", expect=1)
    assert isinstance(optout, OptoutRequested)
    assert (optout.channel, optout.account_id, optout.phone, optout.short_code) == (
        "web",
        "acc-uk",
        "+447911123456",
        None,
    )


async def test_an_account_the_service_has_not_heard_of_is_named_generically(inbound: Inbound):
    response = await inbound.client.get(f"/u/{token(account_id='acc-new')}", headers={"Accept-Language": "fr"})
    assert response.status_code == 200
    assert "<strong>cet expéditeur</strong>" in response.text


@pytest.mark.parametrize(
    "link",
    [
        pytest.param(tampered(token()), id="claims-swapped"),
        pytest.param(token()[:-3], id="truncated"),
        pytest.param("not-a-token", id="garbage"),
        pytest.param(
            make_unsubscribe_token("another-secret", account_id="acc-uk", phone="+447911123456"),
            id="signed-with-another-key",
        ),
        pytest.param(make_unsubscribe_token(SECRET, account_id="acc-uk", phone="not-a-number"), id="not-a-number"),
        pytest.param("x" * 5000, id="huge"),
    ],
)
async def test_a_tampered_link_gets_a_clear_400_page_and_changes_nothing(inbound: Inbound, link):
    shown = await inbound.client.get(f"/u/{link}", headers={"Accept-Language": "fr"})
    posted = await inbound.client.post(f"/u/{link}", data={"confirm": "yes"}, headers={"Accept-Language": "en"})
    assert (shown.status_code, posted.status_code) == (400, 400)
    assert "Ce lien de désabonnement n'est pas valide" in html.unescape(shown.text)
    assert "This unsubscribe link is not valid" in posted.text and 'role="alert"' in posted.text
    assert "<form" not in posted.text
    assert await inbound.count("web_optouts") == 0
    assert await inbound.outbox() == []


async def test_the_operator_gets_signed_links_on_the_public_url(inbound: Inbound):
    headers = {"Authorization": "Bearer test-admin-token"}
    response = await inbound.client.post(
        "/v1/unsubscribe-links", json={"account_id": "acc-uk", "phone": "+44 7911 123456"}, headers=headers
    )
    assert response.status_code == 200, response.text
    link = response.json()
    assert link["url"].endswith(f"/u/{link['token']}")
    assert link["token"] == token()
    page = await inbound.client.get(link["url"])
    assert page.status_code == 200
