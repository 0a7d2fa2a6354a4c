"""The labeling projects' background work: a daemon thread per task, and `Latest`, the newest
result of a slow computation for a version of the labels."""

from __future__ import annotations

import logging
import threading

from ..errors import error_message

log = logging.getLogger("textfit")


def in_background(target, *args) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


class Latest:
    """The newest result of a slow computation for a version of the labels, computed in a background
    thread: a reader gets the last result at once, and whether it is the current version's."""

    def __init__(self, compute):
        self.compute, self.value, self.version, self.busy = compute, None, None, False
        self.lock = threading.Lock()

    def get(self, version) -> tuple[dict | None, bool]:
        with self.lock:
            if self.version != version and not self.busy:
                self.busy = True
                in_background(self._run, version)
            return self.value, self.version == version

    def _run(self, version) -> None:
        try:
            value = self.compute()
        except Exception as exc:  # shown on the page; the next version tries again
            log.exception("studio: a background computation failed")
            value = {"error": error_message(exc)}
        with self.lock:
            self.value, self.version, self.busy = value, version, False
