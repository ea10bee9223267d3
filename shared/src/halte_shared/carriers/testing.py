"""Test support: the carrier simulator served on a real loopback port, and a webhook receiver.

For integration tests of any service that sends SMS::

    async with run_simulator(database_url=iso.database_url, schema=iso.schema("carrier_sim"),
                             inbound_url=inbound) as sim:
        settings = iso.settings(Settings, service="notifier", HALTE_CARRIER_SIM_URL=sim.url)
        ...
        assert (await sim.messages(to="+33612345678"))["count"] == 1

Both are real HTTP servers (uvicorn on 127.0.0.1, a free port), not mocks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from halte_shared.carriers.simulator import SimulatorSettings, create_app
from halte_shared.infra import free_port
from halte_shared.signing import BadSignature, verify_webhook

TEST_ADMIN_TOKEN = "test-admin-token"
TEST_SIM_SECRET = "test-sim-secret"


@asynccontextmanager
async def serve_app(app: FastAPI, *, port: int | None = None, timeout: float = 15.0) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on loopback for the duration of the block; yield its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test server stopped before it started")
        if loop.time() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the test server did not start on port {port} within {timeout:.0f} s")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=timeout)


@dataclass
class ReceivedWebhook:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    signature_ok: bool
    signature_error: str | None


@dataclass
class WebhookReceiver:
    """A tiny inbound stand-in that records every webhook and verifies its signature.

    ``fail_next`` answers that many requests with 503 (inbound down for a moment).
    """

    secret: str
    received: list[ReceivedWebhook] = field(default_factory=list)
    fail_next: int = 0
    status: int = 200

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> JSONResponse:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse(status_code=503, content={"error": {"code": "down", "message": "down"}})
            raw = await request.body()
            error: str | None = None
            try:
                verify_webhook(
                    secret=self.secret,
                    timestamp=request.headers.get("x-halte-timestamp"),
                    signature=request.headers.get("x-halte-signature"),
                    body=raw,
                    now_unix=time.time(),
                )
            except BadSignature as exc:
                error = str(exc)
            self.received.append(
                ReceivedWebhook(
                    path="/" + path,
                    body=json.loads(raw),
                    headers=dict(request.headers),
                    signature_ok=error is None,
                    signature_error=error,
                )
            )
            return JSONResponse(status_code=self.status, content={"ok": True})

        return app

    def on(self, path: str) -> list[ReceivedWebhook]:
        """Return the webhooks received on one path."""
        return [hook for hook in self.received if hook.path == path]

    async def wait_for(self, path: str, count: int = 1, *, timeout: float = 10.0) -> list[ReceivedWebhook]:
        """Wait until `count` webhooks reached `path`; raise TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.on(path)) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{len(self.on(path))} webhooks on {path} after {timeout:.0f} s, expected {count}")
            await asyncio.sleep(0.02)
        return self.on(path)


@asynccontextmanager
async def run_receiver(
    secret: str = TEST_SIM_SECRET, *, port: int | None = None
) -> AsyncIterator[tuple[str, WebhookReceiver]]:
    """Serve a WebhookReceiver; yield (base URL, receiver)."""
    receiver = WebhookReceiver(secret=secret)
    async with serve_app(receiver.app(), port=port) as url:
        yield url, receiver


@dataclass
class RunningSimulator:
    """A simulator served for a test, with operator shortcuts."""

    url: str
    settings: SimulatorSettings
    admin_token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def messages(self, **filters: str) -> dict[str, Any]:
        """Return ``GET /v1/messages`` (filters: to, message_id)."""
        async with httpx.AsyncClient(base_url=self.url, headers=self._headers()) as client:
            response = await client.get("/v1/messages", params=filters)
            response.raise_for_status()
            return dict(response.json())

    async def control(self, **change: Any) -> dict[str, Any]:
        """Apply ``POST /v1/control``."""
        async with httpx.AsyncClient(base_url=self.url, headers=self._headers()) as client:
            response = await client.post("/v1/control", json=change)
            response.raise_for_status()
            return dict(response.json())

    async def inject_mo(self, **reply: Any) -> dict[str, Any]:
        """Apply ``POST /v1/inject/mo`` ({from, to, text, message_id?})."""
        async with httpx.AsyncClient(base_url=self.url, headers=self._headers(), timeout=30) as client:
            response = await client.post("/v1/inject/mo", json=reply)
            response.raise_for_status()
            return dict(response.json())


@asynccontextmanager
async def run_simulator(
    *,
    database_url: str,
    schema: str,
    inbound_url: str | None = None,
    secret: str = TEST_SIM_SECRET,
    admin_token: str = TEST_ADMIN_TOKEN,
    port: int | None = None,
    **overrides: Any,
) -> AsyncIterator[RunningSimulator]:
    """Serve the carrier simulator on a free loopback port for the block."""
    values: dict[str, Any] = {
        "HALTE_ENV": "test",
        "DATABASE_URL": database_url,
        "HALTE_CARRIER_SIM_SCHEMA": schema,
        "CARRIER_SIM_SECRET": secret,
        "ADMIN_TOKEN": admin_token,
        "HALTE_INBOUND_URL": inbound_url,
        "HALTE_CARRIER_SIM_DLR_DELAY_SECONDS": 0.0,
        "HALTE_CARRIER_SIM_DLR_RETRY_SECONDS": 0.05,
    }
    values.update(overrides)
    settings = SimulatorSettings(**values)
    async with serve_app(create_app(settings), port=port) as url:
        yield RunningSimulator(url=url, settings=settings, admin_token=admin_token)
