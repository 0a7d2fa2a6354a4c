"""After a crash: training processes a dead studio left running are adopted; a run that ended
early can be trained again with the same upload and settings.

Adopting: at start-up, a run recorded as running whose worker is still alive (progress.pid_alive)
and whose studio is gone (the worker's parent is no longer the process that started it, see
worker.IDENTITY) is followed like any run. The page reads its progress log, Stop signals it by
pid, and its end is noticed by polling pid_alive, since there is no wait() for a process that is
not our child (Runs._refresh, every second). A worker another live studio on the same folder
still owns is followed too, but left to that studio when this one stops."""

from __future__ import annotations

import json
import os
import re
import signal
import time

from ..errors import StudioError
from ..processes import parent_pid
from ..runs.progress import pid_alive
from ..runs.worker import IDENTITY

ADOPTED = "the studio restarted while this model was training; the training went on, and the studio follows it again"


def is_orphan(pid: int, run_dir) -> bool:
    """Has the studio that started this worker gone? Its parent then is no longer the process that
    started it. Without a record of that process (an older worker) or of the parent (no /proc),
    it counts as orphaned."""
    try:
        started_by = json.loads((run_dir / IDENTITY).read_text())["parent"]
    except (OSError, ValueError, KeyError):
        return True
    now = parent_pid(pid)
    return now is None or now != started_by or started_by == os.getpid()


def adopt_orphans(runs) -> dict[str, int]:
    """Runs recorded as running whose worker lives on without its studio: run id -> pid. Each gets
    a message saying what happened; the studio stops them when it stops (`stop_adopted`)."""
    adopted = {}
    for run in runs.store.list_runs("running"):
        folder = runs.folder(run["id"])
        if run["id"] not in runs.procs and pid_alive(run["pid"], folder) and is_orphan(run["pid"], folder):
            adopted[run["id"]] = run["pid"]
            runs.store.update_run(run["id"], message=ADOPTED)
    return adopted


def stop_adopted(runs, grace_s: float) -> None:
    """At shutdown, as for the studio's own workers: SIGTERM (the trainer saves the best model so
    far), a grace period watched through pid_alive, then SIGKILL; the runs are then finalized."""
    live = {rid: pid for rid, pid in runs.adopted.items() if pid_alive(pid, runs.folder(rid))}
    for pid in live.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.time() + grace_s
    while time.time() < deadline and any(pid_alive(pid, runs.folder(rid)) for rid, pid in live.items()):
        time.sleep(0.1)
    for run_id, pid in live.items():
        if pid_alive(pid, runs.folder(run_id)):
            _signal(pid, signal.SIGKILL)
        run = runs.store.get_run(run_id)
        if run and run["status"] == "running":
            runs.finalize(run, None, studio_stopped=True)
    runs.adopted.clear()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def train_again(runs, run_id: str) -> dict:
    """Queue a new run with an ended run's upload and settings (its data checked again)."""
    run = runs.get(run_id)
    if run["status"] in ("queued", "running"):
        raise StudioError(f"this run is still {'training' if run['status'] == 'running' else 'waiting'}", 409)
    upload = runs.store.get_upload(run["upload_id"] or "")
    if upload is None or not runs.uploads.path(upload).is_file():
        raise StudioError("the data file of this run is no longer in the studio: upload it again to train", 409)
    settings = run["settings"]
    return runs.start(
        upload["id"],
        settings["text_column"],
        settings.get("label_column"),  # none: one 0/1 column per label
        model=settings.get("model", "default"),
        epochs=settings.get("epochs"),
        time_budget=settings.get("time_budget"),
        name=again_name(run["name"]),
        label_names=", ".join(settings.get("label_names") or []) or None,
        strategy=settings.get("strategy") or "auto",
        label_separator=settings.get("label_separator"),
    )


def again_name(name: str) -> str:
    """'Tickets' -> 'Tickets (again)' -> 'Tickets (again 2)' -> 'Tickets (again 3)'."""
    match = re.fullmatch(r"(.*) \(again(?: (\d+))?\)", name)
    if not match:
        return f"{name} (again)"[:100]
    return f"{match[1]} (again {int(match[2] or 1) + 1})"[:100]
