"""What a Stop means to a training run: the training stops, and the model is still saved.

A Stop reaches a run as KeyboardInterrupt: Ctrl-C on the command line, or the studio's Stop
(SIGINT, or SIGTERM at shutdown, which `server/worker.py` turns into one). The training loops catch
it and end early with the best weights so far. What follows them (fitting the few-shot head, scoring
the held-out examples, saving) must not be cut short by a Stop that arrives meanwhile, or the run
would end with no model at all. `held_stops` keeps such a Stop from interrupting its block and
remembers it, so that the run can still skip what would train further (the final fit).
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("textfit")


@dataclass
class Stops:
    requested: bool = False


@contextmanager
def held_stops(what: str):
    """Within the block, SIGINT and SIGTERM are noted in the `Stops` it yields instead of raising
    KeyboardInterrupt; the previous handlers are back after it. Only signals handled in Python are
    held (a SIGTERM left at its default still ends the process, and an ignored one stays ignored);
    outside the main thread, where Python runs no signal handler, nothing changes."""
    stops = Stops()
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return

    def note(signum, frame):
        stops.requested = True
        log.warning("stop noted: %s first (a moment; killing the process now would lose the model)", what)

    held = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    held = {number: handler for number, handler in held.items() if callable(handler)}
    for number in held:
        signal.signal(number, note)
    try:
        yield stops
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
