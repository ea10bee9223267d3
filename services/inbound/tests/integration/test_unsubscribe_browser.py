"""The unsubscribe page in a real browser (headless Chromium), with JavaScript switched off.

Chromium is driven through the DevTools protocol over a plain websocket: it loads the
page served by uvicorn, the test reads the accessibility tree (is there a named button
and a heading?), clicks the button with a real mouse event, and reads the confirmation.
Scripts are disabled in the page, so this also proves the page needs no JavaScript.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from halte_inbound.entrypoints.http import create_app
from halte_inbound.testing import Inbound, account
from halte_shared.events import OptoutRequested
from halte_shared.signing import make_unsubscribe_token

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (Debian package chromium)"),
]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves pytest's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def served(inbound: Inbound) -> AsyncIterator[str]:
    """Serve the inbound app (already-started runtime) over real HTTP on a free loopback port."""
    app = create_app(inbound.settings)
    app.state.runtime = inbound.runtime
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


class DevTools:
    """A minimal DevTools-protocol client: commands by id, events collected while waiting."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._ws = websocket
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self._ws.recv(), timeout=15))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    async def wait_for(self, method: str, *, timeout: float = 15) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(await asyncio.wait_for(self._ws.recv(), timeout=remaining)))

    async def navigate(self, url: str) -> None:
        self.events.clear()
        await self.call("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired")

    async def html(self) -> str:
        root = (await self.call("DOM.getDocument", depth=0))["root"]["nodeId"]
        return str((await self.call("DOM.getOuterHTML", nodeId=root))["outerHTML"])

    async def accessible(self) -> list[tuple[str, str]]:
        """Return (role, name) of every node of the accessibility tree that has both."""
        nodes = (await self.call("Accessibility.getFullAXTree"))["nodes"]
        found = []
        for node in nodes:
            role = (node.get("role") or {}).get("value")
            name = (node.get("name") or {}).get("value")
            if role and name:
                found.append((str(role), str(name)))
        return found

    async def click(self, selector: str) -> None:
        """Click the centre of the first element matching `selector`, as a mouse would."""
        root = (await self.call("DOM.getDocument", depth=0))["root"]["nodeId"]
        node = (await self.call("DOM.querySelector", nodeId=root, selector=selector))["nodeId"]
        assert node, f"no element matches {selector}"
        quad = (await self.call("DOM.getBoxModel", nodeId=node))["model"]["content"]
        x, y = sum(quad[0::2]) / 4, sum(quad[1::2]) / 4
        self.events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[DevTools]:
    """Start a headless Chromium with a fresh profile and attach to its first page."""
    profile = Path(tempfile.mkdtemp(prefix="halte-chromium-"))
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        active_port = profile / "DevToolsActivePort"
        for _ in range(300):
            if active_port.exists() and active_port.read_text().strip():
                break
            assert process.returncode is None, f"chromium exited with code {process.returncode}"
            await asyncio.sleep(0.05)
        port = int(active_port.read_text().split()[0])
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list", timeout=10)).json()
        page = next(t for t in targets if t["type"] == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=None) as websocket:
            tools = DevTools(websocket)
            for domain in ("Page", "DOM", "Network", "Accessibility"):
                await tools.call(f"{domain}.enable")
            await tools.call("Emulation.setScriptExecutionDisabled", value=True)
            yield tools
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def test_a_recipient_unsubscribes_in_a_real_browser_in_french_then_sees_a_tampered_link_refused_in_english(
    inbound: Inbound,
):
    await inbound.accounts(account("acc-de", short_codes=["36111"], name="Kaffee & Kuchen"))
    link = make_unsubscribe_token("test-unsubscribe-secret", account_id="acc-de", phone="+4915112345678")
    async with served(inbound) as base, chromium() as browser:
        await browser.call("Network.setExtraHTTPHeaders", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
        await browser.navigate(f"{base}/u/{link}")
        page = await browser.html()
        assert '<html lang="fr">' in page
        assert "Kaffee &amp; Kuchen" in page and "+49 •••••••••78" in page
        tree = await browser.accessible()
        assert ("button", "Me désabonner") in tree
        assert ("heading", "Se désabonner des SMS") in tree

        await browser.click("button[type=submit]")
        await browser.wait_for("Page.loadEventFired")
        done = await browser.html()
        assert "Vous êtes désabonné" in done
        assert ("heading", "Vous êtes désabonné") in await browser.accessible()

        await browser.call("Network.setExtraHTTPHeaders", headers={"Accept-Language": "en-GB,en"})
        claims, _, mac = link.partition(".")
        await browser.navigate(f"{base}/u/{claims[:-2]}xx.{mac}")
        refused = await browser.html()
        assert "This unsubscribe link is not valid" in refused
        assert "<form" not in refused

    [row] = await inbound.rows("SELECT account_id, phone, language FROM web_optouts")
    assert tuple(row) == ("acc-de", "+4915112345678", "fr")
    [(_, optout)] = await inbound.read("optout.requested", expect=1)
    assert isinstance(optout, OptoutRequested)
    assert (optout.channel, optout.account_id, optout.phone) == ("web", "acc-de", "+4915112345678")
