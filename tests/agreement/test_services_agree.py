"""campaign-api and the dispatcher give the same answer for the same input.

Both read the legal rules from halte_rules; these tables feed each service's own entry point
(campaign-api's composition and account checks, the dispatcher's policy) with the same input
and compare what they decide, so a copy of a rule growing back in one service shows here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halte_campaign_api.domain.accounts import check_hours, check_short_codes, marketing_short_code
from halte_campaign_api.domain.compose import check_sender, compose
from halte_campaign_api.domain.errors import DomainError
from halte_dispatcher.domain.content import content_problem, sender_problem
from halte_dispatcher.domain.policy import PolicyInput, account_window, evaluate
from halte_rules.hours import HoursConfigError, window_for

ADVERTISER = "Café Dupont"
CODE = "36111"
#: A Tuesday at 10:00 in Paris: open under every profile.
OPEN = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

DRAFTS = [
    "Café Dupont : -20 % sur tout le magasin. STOP au 36111",
    "Cafe Dupont: -20 %. STOP 36111",
    "CAFÉ  DUPONT -20 %. Stop : 36 111",
    "-20 % chez cafe dupont. STOP SMS au 36.111",
    "-20 % chez Café Dupont. STOP au 36\u00a0111",
    "-20 % ce samedi",
    "Bonjour {first_name}, -20 % chez nous",
    "Bonjour {first_name}, STOP au 36111{last_name}",
    "L’équipe de Café Dupont vous attend. stop au 36111",
    "Répondez STOP au 36999 pour ne plus recevoir nos offres",
    "Café Dupont : STOP au 361112",
]


@pytest.mark.parametrize("draft", DRAFTS)
def test_what_campaign_api_composes_the_dispatcher_finds_lawful(draft: str) -> None:
    try:
        composed = compose(
            draft,
            kind="marketing",
            advertiser_name=ADVERTISER,
            short_code=CODE,
            sender=CODE,
            fields={"first_name": "Léa", "last_name": "Martin"},
        )
    except DomainError as refusal:
        # Refused at composition: the dispatcher refuses the same draft, for the same reason, once a
        # recipient's value (one starting with a digit) fills it and the advertiser is named.
        assert refusal.code == "stop_mention_wrong_number"
        filled = draft.replace("{first_name}", "2").replace("{last_name}", "2")
        problem = content_problem(
            text=f"{ADVERTISER} : {filled}",
            sender=CODE,
            advertiser_name=ADVERTISER,
            french_destination=True,
            short_codes=(CODE,),
        )
        assert problem == "stop_mention_wrong_number"
        return
    problem = content_problem(
        text=composed.text, sender=CODE, advertiser_name=ADVERTISER, french_destination=True, short_codes=(CODE,)
    )
    assert problem is None, composed.text
    # Nothing added twice: one mention, one name.
    assert composed.text.count("STOP") + composed.text.count("Stop") + composed.text.count("stop") == 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=120))
def test_no_composed_text_is_refused_by_the_dispatcher_for_its_content(draft: str) -> None:
    if "{" in draft or not draft.strip():
        return
    try:
        composed = compose(draft, kind="marketing", advertiser_name=ADVERTISER, short_code=CODE, sender=CODE)
    except DomainError:
        return
    problem = content_problem(
        text=composed.text, sender=CODE, advertiser_name=ADVERTISER, french_destination=True, short_codes=(CODE,)
    )
    assert problem is None, composed.text


SENDERS = [
    "36111",
    "36 111",
    "36.111",
    "38111",
    "37111",
    "61234",
    "SHOP",
    "0612345678",
    "+33 7 12 34 56 78",
    "3611",
    "0140000000",
]


@pytest.mark.parametrize("sender", SENDERS)
def test_both_services_accept_and_refuse_the_same_marketing_senders(sender: str) -> None:
    try:
        check_sender(sender, kind="marketing", destination_is_french=True)
        campaign_api = None
    except DomainError as refusal:
        campaign_api = refusal.code
    dispatcher = sender_problem(sender)
    assert (campaign_api is None) is (dispatcher is None), (campaign_api, dispatcher)
    shared = {"alphanumeric_sender", "mobile_number_sender", "transactional_short_code", "not_marketing_short_code"}
    if campaign_api in shared or dispatcher in shared:
        assert campaign_api == dispatcher


@pytest.mark.parametrize("codes", [["36111"], ["38111"], ["37111"], ["38111", "36222"], ["36 333"], ["61234", "36444"]])
def test_the_code_an_account_markets_from_is_one_the_dispatcher_accepts(codes: list[str]) -> None:
    try:
        accepted = check_short_codes(codes, mode="marketing")
    except DomainError:
        assert all(sender_problem(code) is not None for code in codes)
        return
    chosen = marketing_short_code(accepted)
    assert chosen is not None and sender_problem(chosen, short_codes=accepted) is None


WINDOWS = [
    (profile, start, end)
    for profile in ("strict", "af2m-2024", "af2m-2026")
    for start in (None, "07:59", "08:00", "09:00", "19:58", "19:59", "21:29")
    for end in (None, "08:01", "12:00", "19:59", "20:00", "20:01", "21:30", "22:00", "22:01")
]


@pytest.mark.parametrize(("profile", "start", "end"), WINDOWS)
def test_an_account_window_campaign_api_accepts_is_one_the_dispatcher_sends_in_unchanged(
    profile: str, start: str | None, end: str | None
) -> None:
    try:
        check_hours(profile, start, end)
        accepted = True
    except DomainError:
        accepted = False
    try:
        window_for(profile, start=start, end=end)
        lawful = True
    except HoursConfigError:
        lawful = False
    assert accepted is lawful
    if accepted:
        applied = account_window(hours_profile=profile, window_start=start, window_end=end)
        assert applied == window_for(profile, start=start, end=end)
        decision = evaluate(
            PolicyInput.probe(
                phone="+33612345678", kind="marketing", hours_profile=profile, window_start=start, window_end=end
            ),
            now=OPEN.replace(hour=23),
        )
        # Held until the window opens, never refused as a window that leaves no time to send.
        assert decision.decision == "hold" and decision.next_window_start is not None
