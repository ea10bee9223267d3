"""A test-only crash hook: SIGKILL this process at a named step, to prove exactly-once end to end.

Active only when HALTE_TEST_MODE=1 and HALTE_NOTIFIER_CRASH_AT names the step; otherwise
every call is a no-op, so the hook cannot fire in production even if the variable leaks
into a deployment. SIGKILL (not an exception) is the point: no ``finally``, no rollback
handler, no flush runs, exactly as when the kernel's OOM killer or a node loss strikes.
"""

from __future__ import annotations

import os
import signal

import structlog

log = structlog.get_logger("halte.notifier")


class CrashHook:
    """Kill the process at one step, if armed."""

    def __init__(self, *, step: str | None, test_mode: bool) -> None:
        self.step = step if test_mode else None

    def __call__(self, step: str) -> None:
        """SIGKILL the process now if the hook is armed for `step`."""
        if self.step is not None and step == self.step:
            log.warning("test crash hook: killing the process with SIGKILL", step=step)
            os.kill(os.getpid(), signal.SIGKILL)
