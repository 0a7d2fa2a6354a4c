"""An app served for real on 127.0.0.1 from a thread, for tests that need a real HTTP server (a
browser, a client library)."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

from support.waiting import eventually


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_in_a_thread(app, port: int | None = None):
    """Serve the ASGI `app` (the studio, `textfit serve`'s) on 127.0.0.1 from a thread; yields its URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "the server's thread ended before it started serving"
        return server.started

    eventually(started, timeout=30, every=0.05, what="the server to start")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(20)
