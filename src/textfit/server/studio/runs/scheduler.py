"""The studio's training queue: at most `max_concurrent_runs` runs train at once; the others wait
with status 'queued' and start by themselves, oldest first, as places free up.

The queue is nothing but the runs table: a queued run is a row (and a run folder with its
settings) without a process, so a restarted studio finds its queue where it left it."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("textfit")


def waiting(runs: list[dict]) -> list[dict]:
    """The queued runs, first to start first."""
    return sorted((r for r in runs if r["status"] == "queued"), key=lambda r: (r["created"], r["id"]))


def next_to_start(runs: list[dict], max_running: int) -> list[dict]:
    """The queued runs that may start now."""
    running = sum(r["status"] == "running" for r in runs)
    return waiting(runs)[: max(0, max_running - running)]


def queue_places(runs: list[dict]) -> dict[str, dict]:
    """Per queued run: its place in the queue (1 = next) and the run it waits for."""
    running = sorted((r for r in runs if r["status"] == "running"), key=lambda r: r["created"])
    blocking = running[0]["name"] if running else None
    return {run["id"]: {"position": place, "waiting_for": blocking} for place, run in enumerate(waiting(runs), start=1)}


async def keep_scheduling(schedule, every_s: float = 1.0) -> None:
    """Call `schedule()` (blocking: it starts processes) every `every_s` seconds, so queued runs
    start when the one before them ends even while no page is polling. Runs until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(schedule)
        except Exception:  # a failed launch is recorded on its run; the loop must go on
            log.exception("the studio's scheduler failed; retrying")
