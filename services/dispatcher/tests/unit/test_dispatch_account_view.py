"""The dispatcher's view of an account around the policy: unknown accounts, overrides, deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from halte_dispatcher.domain.decision import ACCOUNT_UNKNOWN, CARRIER_REJECTED, Decision
from halte_dispatcher.domain.dispatch import AccountView, decide, policy_input
from halte_dispatcher.domain.policy import PolicyInput, evaluate
from halte_shared.events import ConsentSnapshot, DispatchRequested

PARIS = ZoneInfo("Europe/Paris")
TUESDAY_10 = datetime(2026, 6, 16, 10, tzinfo=PARIS)
ACCOUNT = AccountView(
    account_id="acct-1",
    name="Maison Dupont",
    mode="marketing",
    short_codes=("36111",),
    hours_profile="strict",
)
REQUEST = DispatchRequested(
    request_id="camp-1:+33612345678",
    account_id="acct-1",
    campaign_id="camp-1",
    phone="+33612345678",
    kind="marketing",
    sender="36111",
    text="Maison Dupont: -20% samedi. STOP au 36111",
    segments=1,
    consent=ConsentSnapshot(basis="opt_in", collected_at=datetime(2025, 1, 1, tzinfo=UTC)),
    requested_at=datetime(2026, 6, 1, tzinfo=UTC),
)
INFORMATIVE = REQUEST.model_copy(
    update={
        "kind": "informative",
        "sender": "DUPONT",
        "consent": None,
        "text": "Maison Dupont : votre commande 4521 est prête, retrait en magasin dès 14 h.",
    }
)


def outcome(request: DispatchRequested = REQUEST, account: AccountView | None = ACCOUNT, **view: bool):  # type: ignore[no-untyped-def]
    return decide(
        request,
        account,
        suppressed=view.get("suppressed", False),
        feed_current=view.get("feed_current", True),
        now=TUESDAY_10,
    )


def test_marketing_waits_for_an_unknown_account_and_informative_does_not() -> None:
    assert outcome(account=None).decision == Decision.hold(ACCOUNT_UNKNOWN)
    assert outcome(INFORMATIVE, account=None).decision == Decision.send()


def test_a_send_of_marketing_carries_its_deadline_and_informative_none() -> None:
    assert outcome().send_by == datetime(2026, 6, 16, 19, 59, tzinfo=PARIS)
    assert outcome(INFORMATIVE).send_by is None
    assert outcome(suppressed=True).send_by is None


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (replace(ACCOUNT, mode="notification"), "marketing_not_allowed"),
        (replace(ACCOUNT, mode="something-new"), "marketing_not_allowed"),
        (replace(ACCOUNT, short_codes=("36222",)), "unknown_short_code"),
        (replace(ACCOUNT, name="Boulangerie Martin"), "missing_advertiser_name"),
        (replace(ACCOUNT, window_start="11:00"), "outside_hours"),
    ],
)
def test_the_account_s_latest_settings_override_the_request(account: AccountView, reason: str) -> None:
    assert outcome(account=account).decision.reason == reason


def test_the_account_s_non_commercial_flag_as_it_stands_at_send_time_decides() -> None:
    charity = REQUEST.model_copy(
        update={
            "consent": ConsentSnapshot(basis="non_commercial", collected_at=datetime(2025, 1, 1, tzinfo=UTC)),
            "account_non_commercial": True,  # flagged when the message was requested...
        }
    )
    # ... and no longer: the operator lifted the flag before the dispatcher decided.
    assert outcome(charity).decision == Decision.refuse("non_commercial_not_allowed")
    assert outcome(charity, account=replace(ACCOUNT, non_commercial=True)).decision == Decision.send()
    unflagged_request = charity.model_copy(update={"account_non_commercial": False})
    assert outcome(unflagged_request, account=replace(ACCOUNT, non_commercial=True)).decision == Decision.send()


def test_what_the_message_concerns_reaches_the_consent_rule() -> None:
    plumber = REQUEST.model_copy(
        update={
            "consent": ConsentSnapshot(
                basis="b2b", collected_at=datetime(2025, 1, 1, tzinfo=UTC), profession="Plombier"
            ),
            "professions": ["plombier", "chauffagiste"],
        }
    )
    assert outcome(plumber).decision == Decision.send()
    lawyers = plumber.model_copy(update={"professions": ["avocat"]})
    assert outcome(lawyers).decision == Decision.refuse("b2b_profession_not_concerned")


def test_the_blocklist_view_is_applied() -> None:
    assert outcome(suppressed=True).decision == Decision.refuse("suppressed")
    assert outcome(feed_current=False).decision == Decision.hold("suppression_feed_stale")
    assert outcome(INFORMATIVE, suppressed=True, feed_current=False).decision == Decision.send()
    promotion = INFORMATIVE.model_copy(update={"text": REQUEST.text})
    assert outcome(promotion, suppressed=True).decision == Decision.refuse("promotional_content")


def test_the_direct_construction_matches_from_dispatch_then_replace() -> None:
    built = policy_input(REQUEST, ACCOUNT, suppressed=False, feed_current=True)
    reference = replace(
        PolicyInput.from_dispatch(
            REQUEST, advertiser_name="Maison Dupont", short_codes=("36111",), suppressed=False, suppression_current=True
        ),
        account_mode="marketing",
        hours_profile="strict",
        window_start=None,
        window_end=None,
    )
    assert built == reference
    assert evaluate(built, now=TUESDAY_10) == evaluate(reference, now=TUESDAY_10)


def test_the_dispatcher_s_own_reasons_belong_to_their_decisions() -> None:
    assert not Decision.hold(ACCOUNT_UNKNOWN).is_final
    assert Decision.refuse(CARRIER_REJECTED).is_final
    with pytest.raises(ValueError, match="not a reason"):
        Decision.refuse(ACCOUNT_UNKNOWN)
