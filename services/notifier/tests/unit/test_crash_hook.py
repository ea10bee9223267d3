"""The crash hook fires only in test mode, only at its step."""

import os
import signal

import pytest

from halte_notifier.crash import CrashHook


def test_hook_is_inert_outside_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    CrashHook(step="after_carrier_call", test_mode=False)("after_carrier_call")
    CrashHook(step=None, test_mode=True)("after_carrier_call")
    CrashHook(step="before_ledger_commit", test_mode=True)("after_carrier_call")
    assert kills == []


def test_hook_kills_at_its_step_in_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    CrashHook(step="after_carrier_call", test_mode=True)("after_carrier_call")
    assert kills == [(os.getpid(), signal.SIGKILL)]
