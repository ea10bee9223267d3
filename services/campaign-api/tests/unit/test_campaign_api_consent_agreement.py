"""The preview's consent groups are the dispatcher's decisions: one rule, halte_rules.consent, in both.

For every record of a table (as campaign-api stores it) and every campaign of another (what it
concerns, whether the account is flagged non-commercial), campaign-api's audience classification
and the dispatcher's policy, fed with the ``dispatch.requested`` the launcher would write (through
its JSON encoding), give the same reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from halte_campaign_api.domain.consent import classify_audience, consent_values
from halte_dispatcher.domain.dispatch import AccountView, decide
from halte_shared.events import ConsentSnapshot, DispatchRequested, decode, encode, envelope_for

#: A Tuesday at 10:00 in Paris: inside every window, so only consent can refuse.
AT = datetime(2026, 6, 16, 8, 0, tzinfo=UTC)
COLLECTED = "2025-06-01T10:00:00+02:00"
RECENT = (AT - timedelta(days=40)).isoformat()

RECORDS: dict[str, dict[str, Any] | None] = {
    "no record": None,
    "none": {"basis": "none"},
    "opt-in": {"basis": "opt_in", "collected_at": COLLECTED, "source": "site", "wording": "Oui aux offres par SMS"},
    "opt-in mentioning the CGU": {
        "basis": "opt_in",
        "collected_at": COLLECTED,
        "source": "Acceptation des CGU",
        "wording": "J'accepte de recevoir des offres par SMS (voir CGU)",
    },
    "customer, shoes": {
        "basis": "customer",
        "collected_at": COLLECTED,
        "source": "caisse",
        "last_purchase_at": RECENT,
        "purchase_categories": ["Chaussures", "Sacs"],
    },
    "customer, shoes long ago": {
        "basis": "customer",
        "collected_at": "2020-01-01T00:00:00Z",
        "source": "caisse",
        "last_purchase_at": "2021-01-01T00:00:00Z",
        "purchase_categories": ["chaussures"],
    },
    "b2b plumber": {"basis": "b2b", "collected_at": COLLECTED, "source": "salon", "profession": "Plombier"},
    "b2b lawyer": {"basis": "b2b", "collected_at": COLLECTED, "source": "salon", "profession": "avocat"},
    "charity donor": {"basis": "non_commercial", "collected_at": COLLECTED, "source": "don"},
}
# Records stored before these rules (no purchase categories, a terms-only opt-in): the dispatcher
# still meets them in snapshots, so they are compared too.
LEGACY: dict[str, dict[str, Any]] = {
    "customer without categories": {
        "basis": "customer",
        "collected_at": datetime(2025, 6, 1, tzinfo=UTC),
        "source": "caisse",
        "last_purchase_at": AT - timedelta(days=1),
        "purchase_categories": [],
    },
    "terms-only opt-in": {
        "basis": "opt_in",
        "collected_at": datetime(2025, 6, 1, tzinfo=UTC),
        "source": "Acceptation des CGU",
        "wording": "J'accepte les CGU",
        "purchase_categories": [],
    },
}


@dataclass(frozen=True)
class Campaign:
    category: str | None
    professions: tuple[str, ...]
    flagged: bool


CAMPAIGNS = {
    "nothing declared": Campaign(None, (), False),
    "shoes": Campaign("chaussures", (), False),
    "SHOES, flagged account": Campaign(" CHAUSSURES", (), True),
    "appliances": Campaign("électroménager", (), False),
    "plumbers and heating engineers": Campaign(None, ("plombier", "chauffagiste"), False),
    "lawyers, flagged account": Campaign("sacs", ("Avocat",), True),
}


def stored(name: str) -> dict[str, Any] | None:
    """Return a record as campaign-api keeps it (checked on input, or from before the rules)."""
    if name in LEGACY:
        return LEGACY[name]
    record = RECORDS[name]
    if record is None:
        return None
    values = consent_values(record, now=AT, account_non_commercial=True)
    values.setdefault("purchase_categories", [])
    return values


def campaign_api_reason(consent: dict[str, Any] | None, campaign: Campaign) -> str:
    counted = classify_audience(
        [(consent, 1)],
        at=AT,
        category=campaign.category,
        professions=list(campaign.professions),
        account_non_commercial=campaign.flagged,
    )
    if counted["allowed"] == 1:
        return "ok"
    [reason] = counted["refused"]
    return str(reason)


def dispatcher_reason(consent: dict[str, Any] | None, campaign: Campaign) -> str:
    request = DispatchRequested(
        request_id="r-1",
        account_id="acct-1",
        campaign_id="camp-1",
        phone="+33612345678",
        kind="marketing",
        sender="36111",
        text="Maison Dupont : -20 % samedi. STOP au 36111",
        segments=1,
        consent=ConsentSnapshot(**consent) if consent is not None else None,
        category=campaign.category,
        professions=list(campaign.professions),
        account_non_commercial=campaign.flagged,
        requested_at=AT,
    )
    # As the launcher writes it and the dispatcher reads it: through the event's JSON.
    _, received = decode(encode(envelope_for(request, producer="campaign-api", occurred_at=AT)))
    account = AccountView(
        account_id="acct-1",
        name="Maison Dupont",
        mode="marketing",
        short_codes=("36111",),
        hours_profile="strict",
        non_commercial=campaign.flagged,
    )
    decision = decide(received, account, suppressed=False, feed_current=True, now=AT).decision
    assert decision.decision in ("send", "refuse"), decision
    return decision.reason


@pytest.mark.parametrize(
    ("record", "campaign"), list(itertools.product([*RECORDS, *LEGACY], CAMPAIGNS)), ids=lambda name: name
)
def test_preview_and_dispatcher_agree(record: str, campaign: str) -> None:
    consent = stored(record)
    assert campaign_api_reason(consent, CAMPAIGNS[campaign]) == dispatcher_reason(consent, CAMPAIGNS[campaign])


def test_the_table_covers_sends_and_every_kind_of_refusal() -> None:
    reasons = {
        campaign_api_reason(stored(record), CAMPAIGNS[campaign])
        for record, campaign in itertools.product([*RECORDS, *LEGACY], CAMPAIGNS)
    }
    assert reasons == {
        "ok",
        "no_consent",
        "opt_in_terms_only",
        "customer_category_not_bought",
        "customer_consent_expired",
        "b2b_profession_not_concerned",
        "non_commercial_not_allowed",
    }
