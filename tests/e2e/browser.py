"""A real headless Chromium driven over the DevTools protocol: open a page, read it, submit its form.

No browser-automation package: Chromium listens on a free loopback port
(``--remote-debugging-port=0`` writes the port into ``DevToolsActivePort`` in its fresh
profile directory) and we speak the protocol's JSON over a websocket. The flags are the
ones the issue asks for: nothing reaches the network but the page we open.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    """Return the Chromium executable, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, spoken to over its DevTools websocket."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._ws = websocket
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 15) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        command_id = next(self._ids)
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def navigate(self, url: str, *, timeout: float = 15) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_loaded(timeout=timeout)

    def wait_loaded(self, *, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                return
            time.sleep(0.1)
        raise TimeoutError("the page did not finish loading")

    def text(self) -> str:
        """Return what a person reads on the page."""
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def submit_first_form(self) -> None:
        """Press the first form's submit button, as a person would."""
        clicked = self.evaluate(
            "(() => { const f = document.querySelector('form'); if (!f) return false;"
            " const b = f.querySelector('button[type=submit], input[type=submit], button');"
            " if (b) { b.click(); } else { f.submit(); } return true; })()"
        )
        if not clicked:
            raise AssertionError(f"the page has no form: {self.text()[:300]!r}")

    def wait_for_text(self, predicate: Callable[[str], bool], *, timeout: float = 15) -> str:
        """Wait until the page's text satisfies `predicate` and return it."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            try:
                if self.evaluate("document.readyState") == "complete":
                    text = self.text()
                    # Between a form's submission and the answer the browser may show an empty
                    # document, complete and blank: that is no page a person reads.
                    if text.strip() and predicate(text):
                        return text
            except (RuntimeError, TimeoutError):
                pass  # a navigation in progress replaces the execution context
            time.sleep(0.2)
        raise TimeoutError(f"the page never showed the expected text; last: {text[:300]!r}")

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """A headless Chromium with a fresh profile, stopped on exit."""

    def __init__(self, profile_dir: Path) -> None:
        self.profile_dir = Path(profile_dir)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._sockets: list[ClientConnection] = []

    def __enter__(self) -> Chromium:
        executable = chromium_path()
        if executable is None:
            raise RuntimeError("chromium is not installed")
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        active = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (active.exists() and active.read_text().strip()):
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.process.returncode}")
            time.sleep(0.1)
        self.port = int(active.read_text().split()[0])
        return self

    def open(self, url: str) -> Page:
        """Open `url` in the first tab and return it once loaded."""
        deadline = time.monotonic() + 15
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            targets = [
                t
                for t in httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=5).json()
                if t.get("type") == "page"
            ]
            if targets:
                break
            time.sleep(0.1)
        websocket = connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._sockets.append(websocket)
        page = Page(websocket)
        page.navigate(url)
        return page

    def __exit__(self, *exc: object) -> None:
        for websocket in self._sockets:
            websocket.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
