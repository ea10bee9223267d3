"""Inbound's opt-out journal, read over HTTP: every opt-out acknowledged to a carrier, in commit order.

``GET {HALTE_INBOUND_URL}/v1/internal/optout-journal?after=<sequence>&limit=<n>&wait=<s>`` with
the operator token answers ``{"entries": [{"sequence", "request_id", "channel", "phone",
"short_code", "account_id", "received_at", "acknowledged_at"}], "latest_sequence",
"earliest_sequence"}``, waiting up to ``wait`` seconds for an entry when none follows ``after``.
A page that cannot be read or understood raises :class:`JournalUnavailable`; the dispatcher's
view then ages until marketing holds (fail closed, docs/stop-enforcement.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict

from halte_dispatcher.adapters.long_poll import LongPollClient


class JournalUnavailable(Exception):
    """The journal could not be read (unreachable, refused, malformed); the message says which."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One opt-out request inbound acknowledged."""

    sequence: int
    request_id: str
    channel: str
    phone: str
    short_code: str | None
    account_id: str | None
    received_at: datetime
    acknowledged_at: datetime


@dataclass(frozen=True, slots=True)
class JournalPage:
    """What one read of the journal returned."""

    entries: list[JournalEntry]
    latest_sequence: int
    earliest_sequence: int | None = None


class OptoutJournal(Protocol):
    """Where acknowledged opt-outs come from."""

    async def fetch(self, *, after: int, limit: int, wait: float = 0.0) -> JournalPage:
        """Return the entries after a sequence, at most ``limit``, waiting up to ``wait`` s for one."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sequence: int
    request_id: str
    channel: str
    phone: str
    short_code: str | None = None
    account_id: str | None = None
    received_at: AwareDatetime
    acknowledged_at: AwareDatetime


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    entries: list[_Entry]
    latest_sequence: int
    earliest_sequence: int | None = None


class HttpOptoutJournal:
    """Read the journal from the inbound service with the operator token."""

    def __init__(
        self, *, base_url: str, token: str, timeout: float = 2.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = LongPollClient(
            base_url=base_url,
            token=token,
            what="inbound's opt-out journal",
            unavailable=JournalUnavailable,
            timeout=timeout,
            transport=transport,
        )
        self.base_url = self._http.base_url

    async def fetch(self, *, after: int, limit: int, wait: float = 0.0) -> JournalPage:
        """Return the entries after a sequence, at most ``limit``, waiting up to ``wait`` s for one."""
        page = await self._http.page("/v1/internal/optout-journal", _Page, after=after, limit=limit, wait=wait)
        return JournalPage(
            entries=[
                JournalEntry(
                    e.sequence,
                    e.request_id,
                    e.channel,
                    e.phone,
                    e.short_code,
                    e.account_id,
                    e.received_at,
                    e.acknowledged_at,
                )
                for e in page.entries
            ],
            latest_sequence=page.latest_sequence,
            earliest_sequence=page.earliest_sequence,
        )

    async def close(self) -> None:
        """Release connections."""
        await self._http.close()
