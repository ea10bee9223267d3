import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from halte_shared.web import JsonBodyGuard, install_error_handlers


class Body(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(JsonBodyGuard, max_bytes=1000)

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return app


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"name": "ok"}', 200, None),
        (b'{"name": "nul\\u0000here"}', 422, "invalid_character"),
        (b'{"name": "nul\\U0000here"}', 422, "invalid_character"),
        (b'{"name": "raw\x00"}', 422, "invalid_character"),
        (b'{"name": "' + b"x" * 2000 + b'"}', 413, "payload_too_large"),
        (b"{not json", 422, "invalid"),
    ],
)
async def test_json_guard_answers_4xx_and_lets_good_bodies_through(content, status, code):
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/echo", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code


def make_app_with_raw_routes(*, configure: str) -> FastAPI:
    """Return an app with guarded /echo and /raw/... routes that read their own body."""
    app = FastAPI()
    install_error_handlers(app)
    if configure == "constructor":
        app.add_middleware(JsonBodyGuard, max_bytes=1000, left_to_routes=("/raw/",))
    else:
        app.add_middleware(JsonBodyGuard, max_bytes=1000)
        JsonBodyGuard.leave_to_routes(app, "/raw/")

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.post("/raw/{name}")
    async def raw(name: str, request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/rawish")
    async def rawish(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


@pytest.mark.parametrize("configure", ["constructor", "leave_to_routes"])
@pytest.mark.parametrize(
    ("path", "content", "status", "code"),
    [
        ("/raw/a", b'{"name": "nul\\u0000here"}', 200, None),
        ("/raw/a", b'{"name": "raw\x00"}', 200, None),
        # Over the guard's limit: the route's own limit decides (this one has none).
        ("/raw/a", b'{"name": "' + b"x" * 2000 + b'"}', 200, None),
        ("/echo", b'{"name": "nul\\u0000here"}', 422, "invalid_character"),
        ("/echo", b'{"name": "' + b"x" * 2000 + b'"}', 413, "payload_too_large"),
        # A prefix is matched as written: "/rawish" is not under "/raw/".
        ("/rawish", b'{"name": "raw\x00"}', 422, "invalid_character"),
    ],
)
async def test_paths_left_to_their_routes_pass_untouched_and_every_other_route_stays_guarded(
    configure, path, content, status, code
):
    transport = httpx.ASGITransport(app=make_app_with_raw_routes(configure=configure))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
    else:
        assert response.json() == {"bytes": len(content)}


def test_leave_to_routes_keeps_the_guard_s_other_options_and_adds_to_earlier_prefixes():
    app = FastAPI()
    app.add_middleware(JsonBodyGuard, max_bytes=1000, left_to_routes=("/a/",))
    JsonBodyGuard.leave_to_routes(app, "/b/", "/c/")
    [middleware] = app.user_middleware
    assert middleware.cls is JsonBodyGuard
    assert middleware.kwargs == {"max_bytes": 1000, "left_to_routes": ("/a/", "/b/", "/c/")}


def test_leave_to_routes_refuses_an_app_without_the_guard_or_already_started():
    with pytest.raises(RuntimeError, match="not installed"):
        JsonBodyGuard.leave_to_routes(FastAPI(), "/raw/")
    app = FastAPI()
    app.add_middleware(JsonBodyGuard)
    app.middleware_stack = app.build_middleware_stack()
    with pytest.raises(RuntimeError, match="before the application starts"):
        JsonBodyGuard.leave_to_routes(app, "/raw/")
