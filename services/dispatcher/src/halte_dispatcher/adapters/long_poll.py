"""Reading a numbered source over HTTP with long polls: the client both opt-out sources share.

Inbound's opt-out journal and suppression's change feed answer the same kind of request
(``?after=<sequence>&limit=<n>&wait=<s>``, operator token) with a page validated by a pydantic
model; what differs is the path, the page's shape and the words of the errors.
"""

from __future__ import annotations

from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class LongPollClient:
    """Ask one service for pages after a sequence, with the operator token; raise `unavailable` when it cannot."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        what: str,
        unavailable: type[Exception],
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._what = what
        self._unavailable = unavailable
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )

    async def page(self, path: str, model: type[M], *, after: int, limit: int, wait: float) -> M:
        """Return the page after `after`, waiting up to `wait` seconds for one, validated as `model`."""
        params: dict[str, float] = {"after": after, "limit": limit}
        if wait > 0:
            params["wait"] = wait
        try:
            # The timeout bounds the connection; a long poll may hold its answer for `wait` more.
            response = await self._client.get(path, params=params, timeout=self._timeout + wait)
        except httpx.HTTPError as exc:
            raise self._unavailable(f"{self._what} at {self.base_url} is unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise self._unavailable(
                f"{self._what} at {self.base_url} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise self._unavailable(f"{self._what} answered a page we cannot read: {exc.errors()[:2]}") from exc

    async def close(self) -> None:
        """Release connections."""
        await self._client.aclose()
