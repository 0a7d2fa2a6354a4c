"""What the studio reads of a training process from outside: whether it is still alive, and its
progress log (RUN_DIR/progress.jsonl, written by textfit.training.callbacks.JsonlLog) digested for the page,
with the time left estimated from the measured pace (`time_left`)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ..processes import runs_with

WARM_UP = 0.02
"""Share of the steps (at least 3) left out of the pace: the longest batch comes first and the first
steps pay one-off costs, so they would make the estimate too long."""
EVAL_STEPS_PER_EXAMPLE = 0.25 * 0.35
"""Before the first evaluation, its cost as the trainer's planner guesses it (loop.steps_for_budget):
the held-out part (eval_split 0.2: a quarter of the training part) in batches that cost about a
third of a training step each, i.e. this many steps per training example / batch size."""


WORKER = "textfit.server.studio.runs.worker"
"""The training process's module (`python -m WORKER RUN_DIR`), as its command line shows it."""


def pid_alive(pid: int | None, run_dir: Path) -> bool:
    """Is `pid` still this run's worker?"""
    return runs_with(pid, WORKER, run_dir.name)


def step_pace(steps: list[tuple[float, int]], pauses: list[float], total_steps: int) -> float | None:
    """Seconds per training step: the time between logged steps over the steps taken, leaving out
    the warm-up and every stretch that holds a pause (an evaluation or a checkpoint). Summing whole
    stretches, rather than averaging rates, keeps one slow or fast batch from swinging the answer."""
    stretches = _stretches(steps)
    if not stretches:
        return None
    warm = max(3, math.ceil(WARM_UP * total_steps))
    timed = [s for s in stretches if s[1] >= warm] or stretches[1:] or stretches
    calm = [s for s in timed if not _paused(s[0], s[2], pauses)] or timed
    return sum(s[2] for s in calm) / sum(s[3] for s in calm)


def _stretches(steps: list[tuple[float, int]]) -> list[tuple[float, int, float, int]]:
    """(start time, start step, seconds, steps) between consecutive logged steps."""
    return [(t1, s1, t2 - t1, s2 - s1) for (t1, s1), (t2, s2) in zip(steps, steps[1:]) if s2 > s1]


def _paused(start: float, seconds: float, pauses: list[float]) -> bool:
    return any(start < p <= start + seconds for p in pauses)


def time_left(
    steps: list[tuple[float, int]],
    evaluations: list[dict],
    pauses: list[float],
    total_steps: int,
    now: float,
    begin: dict | None = None,
) -> float | None:
    """Seconds until the last step and its evaluation, at the measured pace: the steps left at
    `step_pace`, plus the evaluations left at what the ones so far cost (before the first one, at
    the planner's guess from the `begin` event's examples and batch size)."""
    pace = step_pace(steps, pauses, total_steps)
    if pace is None:
        return None
    last_time, last_step = steps[-1]
    left = (total_steps - last_step) * pace
    evaluated = [e["time"] for e in evaluations]
    costs = [
        seconds - count * pace for start, _, seconds, count in _stretches(steps) if _paused(start, seconds, evaluated)
    ]
    every = _evaluation_every([e.get("step") for e in evaluations if e.get("step")])
    begin = begin or {}
    if not costs and begin.get("examples") and begin.get("batch_size") and begin.get("epochs"):
        costs = [begin["examples"] / begin["batch_size"] * EVAL_STEPS_PER_EXAMPLE * pace]
        every = every or max(1, begin["total_steps"] // begin["epochs"])  # once an epoch, the default
    if costs and every:
        coming = (total_steps // every - last_step // every) + (total_steps % every != 0)
        left += max(0, coming) * max(0.0, sum(costs) / len(costs))
    return max(0.0, left - max(0.0, now - last_time))


def _evaluation_every(steps: list[int]) -> int | None:
    """Steps between evaluations: the smallest gap seen, or the first one's step (a fresh run
    evaluates first at step `every`)."""
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    return min(gaps) if gaps else (steps[0] if steps else None)


def read_progress(
    path: Path, now: float | None = None, time_budget_min: float | None = None, live: bool = True
) -> dict:
    """Digest a run's progress.jsonl into what the page shows. `time_budget_min`: the run's time
    budget (TrainConfig.time_budget): the time left never passes its end. `live` False: the run
    has ended, so its time stops at its last event and nothing is left to estimate."""
    progress = {
        "phase": "preparing",
        "step": 0,
        "total_steps": None,
        "fraction": 0.0,
        "loss": None,
        "epoch": None,
        "epochs": None,
        "elapsed_s": None,
        "eta_s": None,
        "evaluations": [],
        "losses": [],
    }
    if not path.is_file():
        return progress
    now = now or time.time()
    begin = last = None
    steps, recent, evaluations, pauses = [], [], [], []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        last = event
        kind = event.get("event")
        if kind == "begin":  # a resumed run begins again: its pace is measured afresh
            begin, recent, evaluations, pauses = event, [], [], []
            progress.update(
                phase=event.get("phase", "training"),
                total_steps=event.get("total_steps"),
                epochs=event.get("epochs"),
                examples=event.get("examples"),
                strategy=event.get("strategy"),
                final_fit_follows=bool(event.get("final_fit_examples")),
            )
        elif kind == "step":
            steps.append(event)
            recent.append((event["time"], event["step"]))
        elif kind == "evaluate":
            progress["evaluations"].append(
                {
                    k: event.get(k)
                    for k in ("epoch", "step", "loss", "accuracy", "macro_f1", "weighted_f1", "elapsed_s", "best")
                }
            )
            evaluations.append(event)
            pauses.append(event["time"])
        elif kind == "checkpoint":
            pauses.append(event["time"])
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
        end_time = last["time"] if progress["phase"] == "done" or not live else now
        elapsed = max(0.0, end_time - begin["time"])
        progress["elapsed_s"] = round(elapsed, 1)
        if progress["phase"] != "done" and live:
            budget_s = 60 * time_budget_min if time_budget_min else None
            progress["eta_s"] = _eta(progress, begin, recent, evaluations, pauses, elapsed, budget_s, now)
            if progress["step"] and progress["total_steps"] and progress["step"] >= progress["total_steps"]:
                progress["phase"], progress["eta_s"] = "saving", None
    return progress


def _eta(progress: dict, begin: dict, recent, evaluations, pauses, elapsed: float, time_budget_s, now: float):
    step, total = progress["step"], progress["total_steps"]
    eta = None
    if step and total:
        eta = time_left(recent, evaluations, pauses, total, now, begin) if len(recent) > 1 else None
        if eta is None:  # a single logged step: the plain average so far
            eta = elapsed / step * max(0, total - step)
    if eta is not None and begin.get("final_fit_examples") and begin.get("examples"):
        # A final fit follows: at most the planned steps again, scaled to every example, at this
        # pace and without evaluations (it stops where the hold-out run's best epoch was, often sooner).
        pace = (step_pace(recent, pauses, total) if len(recent) > 1 else None) or elapsed / step
        eta += total * begin["final_fit_examples"] / begin["examples"] * pace
    if time_budget_s:
        # The budget counts from the trainer's clock: an evaluation says where it started
        # (its time less its elapsed_s); before the first one, the log's beginning is close.
        timed = [e for e in evaluations if e.get("elapsed_s") is not None]
        started = timed[-1]["time"] - timed[-1]["elapsed_s"] if timed else begin["time"]
        budget_left = max(0.0, started + time_budget_s - now)
        eta = budget_left if eta is None else min(eta, budget_left)
    return None if eta is None else round(eta, 1)
