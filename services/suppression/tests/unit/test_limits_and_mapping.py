"""Evidence text kept storable, and events mapped to commands (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from halte_shared.events import DispatchDecided, OptinRequested, OptoutRequested
from halte_suppression.domain.limits import clip
from halte_suppression.entrypoints.consumers import marketing_send_of, optin_command, optout_command

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        (None, 10, None),
        ("STOP", 10, "STOP"),
        ("STOP" * 5, 6, "STOPST"),
        ("ST\x00OP", 10, "ST\ufffdOP"),
        ("arr\ud800t", 10, "arr\ufffdt"),
        ("arrêt 🛑", 10, "arrêt 🛑"),
    ],
)
def test_clip_keeps_evidence_storable(text, limit, expected):
    assert clip(text, limit) == expected


def decided(**changes) -> DispatchDecided:
    values = {
        "request_id": "r1",
        "account_id": "acc-1",
        "phone": "+33612345678",
        "kind": "marketing",
        "decision": "send",
        "reason": "ok",
        "segments": 1,
        "sender": "36111",
        "decided_at": AT,
    }
    values.update(changes)
    return DispatchDecided(**values)


def test_a_marketing_send_from_a_short_code_is_remembered():
    send = marketing_send_of(decided())
    assert send is not None
    assert (send.account_id, send.phone, send.short_code, send.sent_at) == ("acc-1", "+33612345678", "36111", AT)


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "informative"},
        {"decision": "hold"},
        {"decision": "refuse"},
        {"sender": "MYSHOP"},
        {"phone": "+33000000000"},
    ],
)
def test_anything_else_is_not(changes):
    assert marketing_send_of(decided(**changes)) is None


def test_an_optout_event_becomes_a_normalised_command():
    command = optout_command(
        OptoutRequested(
            request_id="sim:1",
            channel="sms",
            phone="+330612345678",
            short_code=" 36 111 ",
            raw_text="Stop\x00",
            carrier="sim",
            received_at=AT,
        ),
        event_id="e1",
    )
    assert (command.phone, command.short_code, command.source_event_id) == ("+33612345678", "36111", "e1")
    assert command.raw_text == "Stop\x00", "raw text is cleaned where it is stored, not here"


def test_an_unusable_short_code_is_kept_as_written():
    command = optin_command(
        OptinRequested(request_id="sim:2", channel="sms", phone="+33612345678", short_code="SHOP", received_at=AT),
        event_id="e2",
    )
    assert command.short_code == "SHOP"
