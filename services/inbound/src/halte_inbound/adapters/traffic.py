"""Replies first: delivery reports wait while replies are being handled, and take a bounded number of slots.

A campaign's SMS come back as a flood of delivery reports, and a STOP must never queue behind
them. Every reply (a STOP among them) is counted while it is handled; a delivery report waits
until no reply is in hand (at most ``max_wait`` seconds, so a steady stream of replies cannot
starve the reports), then for one of ``concurrency`` slots. Nothing is refused: a waiting report
is answered once recorded, so a carrier never sees a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from halte_inbound import metrics


class RepliesFirst:
    """Admit replies at once and delivery reports behind them, never refusing either."""

    def __init__(self, *, report_concurrency: int, max_wait: float = 2.0) -> None:
        self._slots = asyncio.Semaphore(report_concurrency)
        self._max_wait = max_wait
        self._replies = 0
        self._no_reply = asyncio.Event()
        self._no_reply.set()

    @contextlib.asynccontextmanager
    async def reply(self) -> AsyncIterator[None]:
        """Count a reply as in hand for the length of the block."""
        self._replies += 1
        self._no_reply.clear()
        try:
            yield
        finally:
            self._replies -= 1
            if self._replies == 0:
                self._no_reply.set()

    @contextlib.asynccontextmanager
    async def report(self) -> AsyncIterator[None]:
        """Wait until no reply is in hand (bounded), then for a report slot; hold it for the block."""
        metrics.DLR_WAITING.inc()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_reply.wait(), timeout=self._max_wait)
            await self._slots.acquire()
        finally:
            metrics.DLR_WAITING.dec()
        try:
            yield
        finally:
            self._slots.release()
