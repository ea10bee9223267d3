"""Fixtures of the dispatcher's integration tests: the real carrier simulator, suppression and inbound services.

The suppression service is the real one (its routes, handlers, migrations and outbox, on the
test's schema and topics), served on a loopback port: the dispatcher follows its change feed
over HTTP exactly as in production. Its Kafka consumers are left out: the tests record opt-outs
through its operator API, and each consumer's group join costs the embedded broker 5 s.
``suppression_server`` lets a test stop it and start it again. The inbound service is served
the same way, for its opt-out journal: a test plays a carrier posting a STOP to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from halte_dispatcher.testing import Inbound, Suppression
from halte_inbound.bootstrap import bootstrap as bootstrap_inbound
from halte_inbound.config import Settings as InboundSettings
from halte_inbound.entrypoints.http import create_app as create_inbound_app
from halte_shared.carriers.testing import RunningSimulator, run_simulator, serve_app
from halte_shared.testing import Isolation, migrate
from halte_shared.web import create_service_app
from halte_suppression.bootstrap import SuppressionRuntime
from halte_suppression.bootstrap import bootstrap as bootstrap_suppression
from halte_suppression.config import Settings as SuppressionSettings
from halte_suppression.entrypoints.http import suppression_router

SuppressionServer = Callable[..., AbstractAsyncContextManager[Suppression]]
InboundServer = Callable[..., AbstractAsyncContextManager[Inbound]]


@pytest.fixture
async def simulator(isolation: Isolation) -> AsyncIterator[RunningSimulator]:
    async with run_simulator(database_url=isolation.database_url, schema=isolation.schema("carrier_sim")) as sim:
        yield sim


@pytest.fixture
async def suppression_server(isolation: Isolation) -> SuppressionServer:
    """Return a starter of the real suppression service (migrated once; same port on restart if given)."""
    await migrate(isolation, "halte_suppression", "suppression")
    settings = isolation.settings(SuppressionSettings, service="suppression")

    def runtime() -> SuppressionRuntime:
        built = bootstrap_suppression(settings)
        built.consumers = []
        return built

    @asynccontextmanager
    async def serve(port: int | None = None) -> AsyncIterator[Suppression]:
        app = create_service_app(
            title="suppression (no consumers)", runtime_factory=runtime, routers=[suppression_router()], test_mode=False
        )
        async with serve_app(app, port=port) as url:
            yield Suppression(url=url, admin_token="test-admin-token", runtime=app.state.runtime)

    return serve


@pytest.fixture
async def suppression(suppression_server: SuppressionServer) -> AsyncIterator[Suppression]:
    async with suppression_server() as running:
        yield running


@pytest.fixture
async def inbound_server(isolation: Isolation) -> InboundServer:
    """Return a starter of the real inbound service (migrated once; same port on restart if given)."""
    await migrate(isolation, "halte_inbound", "inbound")
    settings = isolation.settings(InboundSettings, service="inbound")

    @asynccontextmanager
    async def serve(port: int | None = None) -> AsyncIterator[Inbound]:
        app = create_inbound_app(settings, runtime_factory=lambda: bootstrap_inbound(settings, consume=False))
        async with serve_app(app, port=port) as url:
            yield Inbound(url=url, admin_token="test-admin-token", secret="test-sim-secret")

    return serve


@pytest.fixture
async def inbound(inbound_server: InboundServer) -> AsyncIterator[Inbound]:
    async with inbound_server() as running:
        yield running
