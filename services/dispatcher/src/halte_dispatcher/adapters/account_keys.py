"""Who holds an account API key: asked of campaign-api (``GET /v1/account``), cached briefly.

The dispatcher stores no API keys (campaign-api owns them, hashed). A key is checked by
calling campaign-api with it as the bearer; the answer (the account id, or "not a key") is
cached for a few seconds under a hash of the key, so a burst of policy probes costs one call.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import httpx
import structlog

log = structlog.get_logger("halte.dispatcher")


class AccountKeyCheckUnavailable(Exception):
    """campaign-api could not say whether a key is valid."""


@dataclass(frozen=True, slots=True)
class _Cached:
    account_id: str | None
    expires: float


class AccountKeyVerifier:
    """Resolve an account API key to its account id through campaign-api."""

    def __init__(
        self,
        *,
        campaign_api_url: str,
        ttl_seconds: float = 30.0,
        negative_ttl_seconds: float = 5.0,
        timeout: float = 3.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.campaign_api_url = campaign_api_url.rstrip("/")
        self._ttl = ttl_seconds
        self._negative_ttl = min(negative_ttl_seconds, ttl_seconds)
        self._client = httpx.AsyncClient(base_url=self.campaign_api_url, timeout=timeout, transport=transport)
        self._cache: dict[str, _Cached] = {}

    async def account_of(self, api_key: str) -> str | None:
        """Return the account id the key belongs to, or None if campaign-api does not know it."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached.expires > now:
            return cached.account_id
        account_id = await self._ask(api_key)
        if len(self._cache) > 10000:
            # Bounded: a flood of random keys must not grow memory without end.
            self._cache = {k: v for k, v in self._cache.items() if v.expires > now}
        ttl = self._ttl if account_id else self._negative_ttl
        self._cache[digest] = _Cached(account_id, now + ttl)
        return account_id

    async def _ask(self, api_key: str) -> str | None:
        try:
            response = await self._client.get("/v1/account", headers={"Authorization": f"Bearer {api_key}"})
        except httpx.HTTPError as exc:
            raise AccountKeyCheckUnavailable(
                f"campaign-api is unreachable at {self.campaign_api_url}: {exc!r}"
            ) from exc
        if response.status_code in (401, 403):
            return None
        if response.status_code != 200:
            raise AccountKeyCheckUnavailable(f"campaign-api answered {response.status_code} to an account key check")
        try:
            body = response.json()
            account_id = body.get("id") or body.get("account_id")
        except (ValueError, AttributeError) as exc:
            raise AccountKeyCheckUnavailable("campaign-api answered an account we cannot read") from exc
        if not isinstance(account_id, str) or not account_id:
            raise AccountKeyCheckUnavailable("campaign-api answered an account without an id")
        return account_id

    async def close(self) -> None:
        """Release connections."""
        await self._client.aclose()
