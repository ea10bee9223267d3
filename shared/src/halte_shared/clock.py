"""The clock port: every rule takes "now" from here, so tests can replay any instant.

Outside test mode the clock is the system's and cannot be moved. With HALTE_TEST_MODE=1
an operator endpoint can pin it to an instant or shift it by an offset; the pinned clock
keeps running from that instant, so timeouts and schedules still move forward.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class AdjustableClock:
    """A clock that runs at real speed from an instant an operator chose (test mode only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def set(self, instant: datetime) -> None:
        """Make now() answer `instant` from this moment on."""
        if instant.tzinfo is None:
            raise ValueError("the instant must carry a time zone offset")
        with self._lock:
            self._offset = instant - datetime.now(UTC)

    def shift(self, delta: timedelta) -> None:
        """Move the clock forward (or back) by `delta`."""
        with self._lock:
            self._offset += delta

    def reset(self) -> None:
        """Go back to the system time."""
        with self._lock:
            self._offset = timedelta(0)

    @property
    def offset(self) -> timedelta:
        return self._offset


class FixedClock:
    """A clock that never moves, for unit tests of rules."""

    def __init__(self, instant: datetime) -> None:
        self._instant = instant

    def now(self) -> datetime:
        return self._instant


def monotonic() -> float:
    """Return a monotonic reading for durations (never the wall clock)."""
    return time.monotonic()
