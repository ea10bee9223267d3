"""The suppression service's change feed, read over HTTP.

``GET {HALTE_SUPPRESSION_URL}/v1/feed?after=<sequence>&limit=<n>&wait=<s>`` with the operator
token answers ``{"changes": [{"sequence", "account_id", "phone", "action", "at", "request_id",
"short_code"}], "latest_sequence", "as_of"}``, waiting up to ``wait`` seconds for a change when
none follows ``after``. The dispatcher keeps its local blocklist copy current from it; a page
that cannot be read or understood raises :class:`FeedUnavailable`, and the copy then ages until
marketing holds (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict

from halte_dispatcher.adapters.long_poll import LongPollClient


class FeedUnavailable(Exception):
    """The feed could not be read (unreachable, refused, malformed); the message says which."""


FeedAction = Literal["suppress", "lift", "pending", "resolve"]


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One change: a number suppressed for an account or lifted, or an opt-out request pending or resolved."""

    sequence: int
    account_id: str | None
    phone: str | None
    action: FeedAction
    at: datetime
    request_id: str | None = None
    short_code: str | None = None


@dataclass(frozen=True, slots=True)
class FeedPage:
    """What one read of the feed returned."""

    changes: list[FeedChange]
    latest_sequence: int
    as_of: datetime | None


class SuppressionFeed(Protocol):
    """Where the blocklist changes come from."""

    async def fetch(self, *, after: int, limit: int, wait: float = 0.0) -> FeedPage:
        """Return the changes after a sequence, at most ``limit``, waiting up to ``wait`` s for one."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class _Change(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sequence: int
    account_id: str | None = None
    phone: str | None = None
    action: FeedAction
    at: AwareDatetime
    request_id: str | None = None
    short_code: str | None = None


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    changes: list[_Change]
    latest_sequence: int
    as_of: AwareDatetime | None = None


class HttpSuppressionFeed:
    """Read the feed from the suppression service with the operator token."""

    def __init__(
        self, *, base_url: str, token: str, timeout: float = 2.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = LongPollClient(
            base_url=base_url,
            token=token,
            what="the suppression feed",
            unavailable=FeedUnavailable,
            timeout=timeout,
            transport=transport,
        )
        self.base_url = self._http.base_url

    async def fetch(self, *, after: int, limit: int, wait: float = 0.0) -> FeedPage:
        """Return the changes after a sequence, at most ``limit``, waiting up to ``wait`` s for one."""
        page = await self._http.page("/v1/feed", _Page, after=after, limit=limit, wait=wait)
        return FeedPage(
            changes=[
                FeedChange(c.sequence, c.account_id, c.phone, c.action, c.at, c.request_id, c.short_code)
                for c in page.changes
            ],
            latest_sequence=page.latest_sequence,
            as_of=page.as_of,
        )

    async def close(self) -> None:
        """Release connections."""
        await self._http.close()
