import httpx
import pytest
from fastapi import FastAPI
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
