"""Waiting for something to happen: `eventually`, the one polling loop the tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    *,
    timeout: float,
    every: float = 0.1,
    what: str,
    until: Callable[[T], object] = bool,
    details: Callable[[], object] | None = None,
) -> T:
    """Call `check` every `every` seconds until its value passes `until` (is truthy, by default); return it.

    After `timeout` seconds the test fails with a message that says `what` it waited for, the last
    value `check` returned and, where `details` is given, what `details()` returns then (a log's tail,
    say). Exceptions from `check` are not caught: a test that waits on a process asserts the process is
    alive inside `check`, so a crash fails at once, with its own message, rather than after the timeout."""
    deadline = time.monotonic() + timeout
    while not until(value := check()):
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"waited {timeout:g} s for {what}; the last check gave {value!r}{extra}")
        time.sleep(every)
    return value
