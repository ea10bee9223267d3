"""Lifting a suppression needs a new explicit consent (SPEC.md rules 1, 5 and 7)."""

from __future__ import annotations

import pytest

from halte_suppression.domain.resubscription import (
    NOT_ALLOWED,
    NOT_SUPPRESSED,
    PROOF_MISSING,
    ActiveSuppression,
    Resubscription,
    decide_account_consent,
    decide_start_reply,
)


def by_sms(account: str, code: str) -> ActiveSuppression:
    return ActiveSuppression(account, "sms", code)


def by_web(account: str) -> ActiveSuppression:
    return ActiveSuppression(account, "web", None)


@pytest.mark.parametrize(
    ("why", "proof", "active", "expected"),
    [
        ("consent with proof lifts", "form v3, ticked", {"a": by_web("a")}, Resubscription(("a",), ())),
        ("no proof, nothing lifted", None, {"a": by_web("a")}, Resubscription((), (("a", PROOF_MISSING),))),
        ("blank proof is no proof", "   ", {"a": by_web("a")}, Resubscription((), (("a", PROOF_MISSING),))),
        ("not suppressed", "form", {}, Resubscription((), (("a", NOT_SUPPRESSED),))),
        (
            "another account's suppression is not ours",
            "form",
            {"b": by_web("b")},
            Resubscription((), (("a", NOT_SUPPRESSED),)),
        ),
    ],
)
def test_an_account_s_recorded_consent(why, proof, active, expected):
    assert decide_account_consent(account_id="a", proof=proof, active=active) == expected, why


@pytest.mark.parametrize(
    ("why", "owners", "active", "allows", "account", "text", "expected"),
    [
        ("dedicated code, allowed", ["a"], {"a": by_sms("a", "36111")}, {"a": True}, None, "START", (("a",), ())),
        (
            "dedicated code, not allowed",
            ["a"],
            {"a": by_sms("a", "36111")},
            {"a": False},
            None,
            "START",
            ((), (("a", NOT_ALLOWED),)),
        ),
        (
            "unknown account: not allowed",
            ["a"],
            {"a": by_sms("a", "36111")},
            {},
            None,
            "START",
            ((), (("a", NOT_ALLOWED),)),
        ),
        (
            "dedicated code lifts a web opt-out too",
            ["a"],
            {"a": by_web("a")},
            {"a": True},
            None,
            "UNSTOP",
            (("a",), ()),
        ),
        (
            "shared code: only the STOP sent to it",
            ["a", "b"],
            {"a": by_sms("a", "36111"), "b": by_web("b")},
            {"a": True, "b": True},
            None,
            "START",
            (("a",), ()),
        ),
        (
            "shared code: a STOP to another code is not answered here",
            ["a", "b"],
            {"a": by_sms("a", "36999")},
            {"a": True},
            None,
            "START",
            ((), ()),
        ),
        ("nothing suppressed: nothing to do", ["a"], {}, {"a": True}, None, "START", ((), ())),
        (
            "the event names its account",
            ["a", "b"],
            {"a": by_sms("a", "36111"), "b": by_sms("b", "36111")},
            {"a": True, "b": True},
            "b",
            "START",
            (("b",), ()),
        ),
        (
            "a reply without text proves nothing",
            ["a"],
            {"a": by_sms("a", "36111")},
            {"a": True},
            None,
            "",
            ((), (("a", PROOF_MISSING),)),
        ),
    ],
)
def test_a_start_reply(why, owners, active, allows, account, text, expected):
    decision = decide_start_reply(
        short_code="36111",
        raw_text=text,
        account_id=account,
        accounts_on_code=owners,
        active=active,
        allows_resubscribe=allows,
    )
    assert (decision.lift, decision.refused) == expected, why
