"""Every request gets an id, echoed in X-Request-ID, and is counted by route and status."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from halte_shared.web import ApiError, install_error_handlers, install_request_context


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_request_context(app, service="ctx-test")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise ApiError(404, "not_found", "No such item.", "item_id")
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return app


def count(route: str, status: str) -> float:
    labels = {"service": "ctx-test", "route": route, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("halte_http_requests_total", labels) or 0.0


async def test_the_callers_id_is_echoed_and_a_missing_one_is_made() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        given = await client.get("/items/1", headers={"X-Request-ID": "abc-123"})
        made = await client.get("/items/2")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 36


async def test_requests_are_counted_by_route_template_and_status() -> None:
    before_ok, before_404 = count("/items/{item_id}", "200"), count("/items/{item_id}", "404")
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/items/7")).status_code == 200
        assert (await client.get("/items/0")).status_code == 404
    assert count("/items/{item_id}", "200") == before_ok + 1
    assert count("/items/{item_id}", "404") == before_404 + 1


async def test_an_unhandled_error_is_counted_as_a_500() -> None:
    before = count("/boom", "500")
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/boom")).status_code == 500
    assert count("/boom", "500") == before + 1
