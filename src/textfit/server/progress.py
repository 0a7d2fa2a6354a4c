"""What the studio reads of a training process from outside: whether it is still alive, and its
progress log (RUN_DIR/progress.jsonl, written by textfit.callbacks.JsonlLog) digested for the page."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional


def pid_alive(pid: Optional[int], run_dir: Path) -> bool:
    """Is `pid` still this run's worker? (Checks the command line where /proc exists: pids are reused.)"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists():
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has finished
            return False
        return "textfit.server.worker" in text and run_dir.name in text
    return True


def read_progress(path: Path, now: Optional[float] = None) -> dict:
    """Digest a run's progress.jsonl into what the page shows."""
    progress = {"phase": "preparing", "step": 0, "total_steps": None, "fraction": 0.0, "loss": None,
                "epoch": None, "epochs": None, "elapsed_s": None, "eta_s": None, "evaluations": [], "losses": []}
    if not path.is_file():
        return progress
    begin = last = None
    steps = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        last = event
        kind = event.get("event")
        if kind == "begin":
            begin = event
            progress.update(phase="training", total_steps=event.get("total_steps"), epochs=event.get("epochs"),
                            examples=event.get("examples"), strategy=event.get("strategy"))
        elif kind == "step":
            steps.append(event)
        elif kind == "evaluate":
            progress["evaluations"].append({k: event.get(k) for k in
                                            ("epoch", "step", "loss", "accuracy", "macro_f1", "weighted_f1", "elapsed_s", "best")})
        elif kind == "end":
            progress["phase"] = "done"
    if steps:
        latest = steps[-1]
        total = latest.get("total_steps") or progress["total_steps"]
        progress.update(step=latest["step"], total_steps=total, loss=latest.get("loss"), epoch=latest.get("epoch"))
        stride = max(1, len(steps) // 200)
        progress["losses"] = [[s["step"], s["loss"]] for s in steps[::stride]]
        if progress["losses"][-1][0] != latest["step"]:
            progress["losses"].append([latest["step"], latest["loss"]])
        if total:
            progress["fraction"] = min(1.0, latest["step"] / total)
    if begin:
        end_time = last["time"] if progress["phase"] == "done" else (now or time.time())
        elapsed = max(0.0, end_time - begin["time"])
        progress["elapsed_s"] = round(elapsed, 1)
        if progress["phase"] != "done" and progress["step"] and progress["total_steps"]:
            pace = elapsed / progress["step"]  # seconds per step so far, evaluations included
            remaining = progress["total_steps"] - progress["step"]
            progress["eta_s"] = round(pace * max(0, remaining), 1)
            if remaining <= 0:
                progress["phase"] = "saving"
    return progress
