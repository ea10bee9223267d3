"""The suppression service's change feed, read over HTTP.

``GET {HALTE_SUPPRESSION_URL}/v1/feed?after=<sequence>&limit=<n>`` with the operator token
answers ``{"changes": [{"sequence", "account_id", "phone", "action", "at"}], "latest_sequence",
"as_of"}``. The dispatcher keeps its local blocklist copy current from it; a page that cannot
be read or understood raises :class:`FeedUnavailable`, and the copy then ages until marketing
holds (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError


class FeedUnavailable(Exception):
    """The feed could not be read (unreachable, refused, malformed); the message says which."""


@dataclass(frozen=True, slots=True)
class FeedChange:
    """One change of the blocklist: a number suppressed for an account, or lifted."""

    sequence: int
    account_id: str
    phone: str
    action: Literal["suppress", "lift"]
    at: datetime


@dataclass(frozen=True, slots=True)
class FeedPage:
    """What one read of the feed returned."""

    changes: list[FeedChange]
    latest_sequence: int
    as_of: datetime | None


class SuppressionFeed(Protocol):
    """Where the blocklist changes come from."""

    async def fetch(self, *, after: int, limit: int) -> FeedPage:
        """Return the changes after a sequence, at most ``limit``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class _Change(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sequence: int
    account_id: str
    phone: str
    action: Literal["suppress", "lift"]
    at: AwareDatetime


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    changes: list[_Change]
    latest_sequence: int
    as_of: AwareDatetime | None = None


class HttpSuppressionFeed:
    """Read the feed from the suppression service with the operator token."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )

    async def fetch(self, *, after: int, limit: int) -> FeedPage:
        """Return the changes after a sequence, at most ``limit``."""
        try:
            response = await self._client.get("/v1/feed", params={"after": after, "limit": limit})
        except httpx.HTTPError as exc:
            raise FeedUnavailable(f"the suppression feed at {self.base_url} is unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise FeedUnavailable(
                f"the suppression feed at {self.base_url} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            page = _Page.model_validate_json(response.content)
        except ValidationError as exc:
            raise FeedUnavailable(f"the suppression feed answered a page we cannot read: {exc.errors()[:2]}") from exc
        return FeedPage(
            changes=[FeedChange(c.sequence, c.account_id, c.phone, c.action, c.at) for c in page.changes],
            latest_sequence=page.latest_sequence,
            as_of=page.as_of,
        )

    async def close(self) -> None:
        """Release connections."""
        await self._client.aclose()
