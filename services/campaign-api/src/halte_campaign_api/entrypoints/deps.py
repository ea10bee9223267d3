"""Dependency aliases of the routes: the runtime, the calling account, rate limits."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Header, Request

from halte_campaign_api.handlers.accounts import authenticate
from halte_campaign_api.runtime import CampaignRuntime
from halte_shared.web import ApiError, bearer_token


class RateLimited(Exception):
    """Too many requests of a kind for one account; retry after the given seconds."""

    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(what)
        self.retry_after = retry_after
        self.what = what


async def campaign_runtime(request: Request) -> CampaignRuntime:
    """Return the running service's runtime."""
    runtime: CampaignRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[CampaignRuntime, Depends(campaign_runtime)]


async def current_account(runtime: Runtime, authorization: Annotated[str | None, Header()] = None) -> str:
    """Return the account of the request's API key, or refuse with 401."""
    token = bearer_token(authorization)
    account_id = await authenticate(runtime, token) if token else None
    if account_id is None:
        raise ApiError(
            401, "unauthorized", "A valid API key is required: Authorization: Bearer hk_live_... (revoked keys fail)."
        )
    return account_id


AccountId = Annotated[str, Depends(current_account)]


def limit_sends(runtime: CampaignRuntime, account_id: str) -> None:
    """Refuse with 429 when the account sends faster than its bucket allows."""
    wait = runtime.send_limiter.check(account_id, now=time.monotonic())
    if wait:
        raise RateLimited(wait, "sends")


def limit_imports(runtime: CampaignRuntime, account_id: str) -> None:
    """Refuse with 429 when the account imports faster than its bucket allows."""
    wait = runtime.import_limiter.check(account_id, now=time.monotonic())
    if wait:
        raise RateLimited(wait, "imports")
