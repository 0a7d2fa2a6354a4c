"""What the studio's browser tests share: Debian's chromium, a free port, a studio in a thread, screenshots.

Every browser test module calls `skip_without_browser()` first: it skips the module (with the
reason) where chromium or playwright is missing; CI installs both (.ci/run). The `browser`, `page`
and `studio_url` fixtures are in conftest.py. Set STUDIO_SCREENSHOTS=/some/folder to keep a
screenshot of every stage."""

from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.waiting import eventually

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def skip_without_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("uvicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def studio_in_a_thread(app, port: int | None = None):
    """Serve the studio `app` on 127.0.0.1 from a thread; yields its URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "the studio's thread ended before it started serving"
        return server.started

    eventually(started, timeout=30, every=0.05, what="the studio to start")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(20)


def shoot(page, name: str) -> None:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"studio-{name}.png"), full_page=True)
