"""The short-code attribution rule, case by case (SPEC.md rules 5 and 8; issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from halte_suppression.domain.attribution import (
    ALL_ON_SHORT_CODE,
    DEDICATED_SHORT_CODE,
    NAMED_ACCOUNT,
    RECENT_SENDERS,
    UNATTRIBUTED,
    attribute_optout,
)

T = datetime(2026, 11, 1, tzinfo=UTC)

CASES = [
    # (why, account_id, short_code, accounts on code, recent senders, expected accounts, expected rules)
    ("dedicated code names its account", None, "36111", ["a"], {}, ("a",), (DEDICATED_SHORT_CODE,)),
    ("dedicated code, owner also sent", None, "36111", ["a"], {"a": T}, ("a",), (DEDICATED_SHORT_CODE,)),
    (
        "dedicated code that changed hands: the previous sender too",
        None,
        "36111",
        ["b"],
        {"a": T},
        ("a", "b"),
        (DEDICATED_SHORT_CODE, RECENT_SENDERS),
    ),
    ("shared code: only the recent sender", None, "36200", ["a", "b", "c"], {"b": T}, ("b",), (RECENT_SENDERS,)),
    ("shared code: both senders", None, "36200", ["a", "b", "c"], {"a": T, "c": T}, ("a", "c"), (RECENT_SENDERS,)),
    ("shared code, no sender: fail safe", None, "36200", ["a", "b"], {}, ("a", "b"), (ALL_ON_SHORT_CODE,)),
    ("unknown code but a recent sender", None, "36999", [], {"a": T}, ("a",), (RECENT_SENDERS,)),
    ("unknown code, nobody: unattributed", None, "36999", [], {}, (), (UNATTRIBUTED,)),
    ("no short code, no account: unattributed", None, None, [], {}, (), (UNATTRIBUTED,)),
    ("web page names its account", "a", None, [], {}, ("a",), (NAMED_ACCOUNT,)),
    ("named account on an unknown code", "a", "36999", [], {}, ("a",), (NAMED_ACCOUNT,)),
    (
        "named account plus the code's own rule",
        "a",
        "36200",
        ["b", "c"],
        {},
        ("a", "b", "c"),
        (NAMED_ACCOUNT, ALL_ON_SHORT_CODE),
    ),
]


@pytest.mark.parametrize(("why", "account", "code", "owners", "senders", "accounts", "rules"), CASES)
def test_attribution(why, account, code, owners, senders, accounts, rules):
    result = attribute_optout(account_id=account, short_code=code, accounts_on_code=owners, recent_senders=senders)
    assert result.accounts == accounts, why
    assert result.rules == rules, why
    assert result.attributed == bool(accounts)


def test_the_explanation_names_every_rule_applied():
    result = attribute_optout(account_id="a", short_code="36200", accounts_on_code=["b", "c"], recent_senders={})
    assert result.explanation == "named_account+all_accounts_on_shared_short_code"


def test_accounts_come_out_sorted_and_once():
    result = attribute_optout(
        account_id="b", short_code="36200", accounts_on_code=["c", "a"], recent_senders={"b": T, "a": T}
    )
    assert result.accounts == ("a", "b")
