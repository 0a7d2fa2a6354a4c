"""Checkpoints: a training run killed half-way (kill -9, out of memory, a reboot) continues from
its last checkpoint with `--resume` instead of starting over.

Where: beside the model folder OUT, in OUT.checkpoints/ (never inside OUT: OUT is replaced when
the model is saved); removed once the model folder has been saved.

    run.json       the run's config, a fingerprint of its data and its resumes, written when
                   training starts: a run killed before its first checkpoint (and a few-shot run,
                   which takes none) starts over with the same settings on --resume
    lexical/       the n-gram model (lexical.py), fitted once per run
    step-000000120/  the latest checkpoint: the loop's progress, history, best entry and random
                   generator states (state.json); optimiser, learning-rate schedule, torch
                   generators and the batch order's generator at the epoch's start (training.pt);
                   the trained weights and the best ones so far (weights.safetensors,
                   best.safetensors; frozen weights come from the base model again)

When: every `checkpoint_minutes` and at the end of every epoch, but only once the run has lasted
`checkpoint_minutes`: a run shorter than that writes none (it would lose less than that anyway).

How: a checkpoint is written to a `.tmp-` folder, fsynced and renamed into place, so a folder
named step-N is always complete; then the older ones are removed. Only the latest is kept: it
carries the best weights as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import shutil
import time
from pathlib import Path

import numpy as np

from ..atomic import write_atomically, write_json
from ..config import TrainConfig
from ..errors import TextfitError
from .loop import LoopState

log = logging.getLogger("textfit")

RUN_FILE = "run.json"
LEXICAL_DIR = "lexical"
STATE_FILE = "state.json"
TRAINING_FILE = "training.pt"
WEIGHTS_FILE = "weights.safetensors"
BEST_FILE = "best.safetensors"
MAY_DIFFER = (
    "checkpoint_minutes",
    "distributed_timeout_minutes",
)  # config fields a resumed run may change: they do not change the model


def folder_for(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    return out.with_name(out.name + ".checkpoints")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def data_fingerprint(train_data, eval_data) -> str:
    """SHA-256 of the texts and labels a run trains and evaluates on (after splitting and sampling)."""
    digest = hashlib.sha256()
    for part in (train_data, eval_data):
        labels = [[int(i) for i in x] for x in part.labels] if part.multi_label else [int(x) for x in part.labels]
        digest.update(json.dumps([part.texts, labels, part.label_names]).encode())
    return digest.hexdigest()


def latest(out_dir: str | Path) -> dict | None:
    """What `--resume` would continue for the model folder `out_dir`, or None when there is
    nothing (the run finished, or was started with checkpoints off):
    {"folder", "checkpoint" (None before the first), "step", "total_steps", "saved", "strategy",
    "config", "started", "resumed", "stopped" (when it was stopped on purpose and saved, or None)}."""
    return latest_in(folder_for(out_dir))


def latest_in(root: Path) -> dict | None:
    """`latest` for the checkpoint folder `root` itself."""
    try:
        run = json.loads((root / RUN_FILE).read_text())
    except (OSError, json.JSONDecodeError):  # written atomically: unreadable means absent
        return None
    info = {
        "folder": str(root),
        "checkpoint": None,
        "step": 0,
        "total_steps": None,
        "saved": None,
        **{k: run.get(k) for k in ("strategy", "config", "started", "resumed", "stopped")},
    }
    steps = sorted(root.glob("step-*"))
    if steps:
        state = json.loads((steps[-1] / STATE_FILE).read_text())
        info.update(
            checkpoint=str(steps[-1]),
            step=state["loop"]["step"],
            total_steps=state["loop"]["planned_steps"],
            saved=state["saved"],
        )
    return info


def begin(
    out_dir: str | Path, config: TrainConfig, fingerprint: str, strategy: str, resume: bool, processes: int = 1
) -> Checkpoints | None:
    """The checkpoints of a run about to train into `out_dir`: a new run's (None with checkpoints
    off), or, with `resume`, the interrupted run's, with its latest checkpoint loaded. A run over
    several `processes` resumes with as many: each continues its own random draws."""
    root = folder_for(out_dir)
    if not resume:
        if (unfinished := latest(out_dir)) and not unfinished.get("stopped"):
            raise TextfitError(
                f"{root} holds the checkpoints of an unfinished run into {out_dir}: continue it with "
                f"--resume, or delete {root} to start over"
            )
        if unfinished:  # a run stopped on purpose, and saved: starting anew is the user's choice
            log.info("replacing the checkpoints of the run stopped at step %d in %s", unfinished["step"], root)
        if not config.checkpoint_minutes:
            return None
        shutil.rmtree(root, ignore_errors=True)  # leftovers of a run that had not written run.json
        run = {
            "started": now_iso(),
            "strategy": strategy,
            "fingerprint": fingerprint,
            "config": json_ready(config.to_dict()),
            "resumed": [],
        }
        root.mkdir(parents=True)
        write_json(root / RUN_FILE, run)
        return Checkpoints(root, config.checkpoint_minutes, run, restored=None)

    info = latest(out_dir)
    if info is None:
        raise TextfitError(f"nothing to resume in {root}; start without --resume")
    run = json.loads((root / RUN_FILE).read_text())
    check_same_run(root, run, config, fingerprint)
    for leftover in root.glob(".tmp-*"):  # a checkpoint the kill interrupted
        shutil.rmtree(leftover, ignore_errors=True)
    restored = load(Path(info["checkpoint"])) if info["checkpoint"] else None
    if restored and restored["training"].get("processes", 1) != processes:
        raise TextfitError(
            f"the run in {root} was checkpointed with {restored['training'].get('processes', 1)} "
            f"process(es): resume it with as many (this run has {processes}), or delete {root} "
            "and start over"
        )
    run.pop("stopped", None)  # training again: from here a kill is a crash, which --resume continues
    run["resumed"].append(
        {
            "from_step": info["step"],
            "at": now_iso(),
            "checkpoint_saved": info["saved"],
            **(
                {}
                if restored
                else {
                    "note": "no checkpoint had been written (few-shot runs and runs shorter than "
                    "checkpoint_minutes write none): trained again from the start"
                }
            ),
        }
    )
    write_json(root / RUN_FILE, run)
    return Checkpoints(root, config.checkpoint_minutes, run, restored)


def check_same_run(root: Path, run: dict, config: TrainConfig, fingerprint: str) -> None:
    saved, now = run["config"], json_ready(config.to_dict())
    differs = [
        f"{key} {saved[key]!r} in the checkpoint, {now[key]!r} now"
        for key in sorted(saved.keys() & now.keys())
        if key not in MAY_DIFFER and saved[key] != now[key]
    ]
    if differs:
        raise TextfitError(
            f"cannot resume the run in {root} with other settings ({'; '.join(differs)}): "
            "give the same options (`textfit train --out OUT --resume` alone reuses them), "
            f"or delete {root} and start over"
        )
    if fingerprint != run["fingerprint"]:
        raise TextfitError(
            f"cannot resume the run in {root}: the training or evaluation data differs from the "
            f"data it started on ({saved.get('data')}); resume with the same file, or delete {root} "
            "and start over"
        )


class Checkpoints:
    """One run's checkpoints: when the next is due, writing it, and the one a resumed run starts from."""

    def __init__(self, root: Path, interval_minutes: float | None, run: dict, restored: dict | None):
        self.root, self.run, self.restored = root, run, restored
        self.interval_s = interval_minutes * 60 if interval_minutes else math.inf
        self.last_s = restored["state"].elapsed_s if restored else 0.0

    def due(self, elapsed_s: float, epoch_end: bool) -> bool:
        """Every interval, and at each epoch's end, once the run has lasted one interval."""
        return elapsed_s >= self.interval_s and (epoch_end or elapsed_s - self.last_s >= self.interval_s)

    def save(self, state: LoopState, weights: dict, best_weights: dict | None, training: dict) -> dict:
        """Write a checkpoint of `state`, the trained `weights`, `best_weights` and `training`
        (optimiser, schedule and the like: anything `torch.save` keeps with weights_only) and
        remove the older ones. Returns what happened, for the callbacks' `on_checkpoint`."""
        import torch
        from safetensors.torch import save_file

        tick = time.perf_counter()
        folder = self.root / f"step-{state.step:09d}"

        def write(tmp: Path) -> None:
            save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS_FILE))
            if best_weights is not None:
                save_file({k: v.cpu().contiguous() for k, v in best_weights.items()}, str(tmp / BEST_FILE))
            torch.save({**training, **torch_random_states()}, tmp / TRAINING_FILE)
            (tmp / STATE_FILE).write_text(
                json.dumps({"saved": now_iso(), "loop": state.to_dict(), "random": python_random_states()})
            )

        write_atomically(folder, write)
        for older in self.root.glob("step-*"):
            if older != folder:
                shutil.rmtree(older, ignore_errors=True)
        self.last_s = state.elapsed_s
        seconds = time.perf_counter() - tick
        state.checkpoint_s += seconds
        size = sum(p.stat().st_size for p in folder.iterdir())
        return {
            "event": "saved",
            "step": state.step,
            "folder": str(folder),
            "seconds": round(seconds, 3),
            "size_mb": round(size / 1e6, 1),
        }

    def keep_lexical(self, lexical, fit_s: float) -> None:
        """Save the run's n-gram model once, so a resumed run need not fit it again."""
        if lexical and not (self.root / LEXICAL_DIR).exists():
            write_atomically(self.root / LEXICAL_DIR, lexical.save)
            self.run["lexical_fit_s"] = fit_s
            write_json(self.root / RUN_FILE, self.run)

    def saved_lexical(self, normalize):
        """(the n-gram model, its fit seconds) as saved by `keep_lexical`, or None."""
        from ..model.lexical import LexicalModel

        lexical = LexicalModel.load(self.root / LEXICAL_DIR, normalize)
        return (lexical, self.run.get("lexical_fit_s", 0.0)) if lexical else None

    def remove(self) -> None:
        """The model folder is saved: the checkpoints have served."""
        shutil.rmtree(self.root, ignore_errors=True)

    def keep_for_resume(self) -> dict | None:
        """A stopped run's model folder is saved: keep its checkpoints, if it wrote any, so that
        --resume (the studio's Resume) can still train it to the end; a new run into the same
        folder replaces them (`begin`). Returns what --resume would continue (`latest`), or None
        when there was no checkpoint to keep (then they are removed)."""
        if not any(self.root.glob("step-*")):
            self.remove()
            return None
        self.run["stopped"] = now_iso()
        write_json(self.root / RUN_FILE, self.run)
        return latest_in(self.root)


def load(folder: Path) -> dict:
    """A checkpoint written by `Checkpoints.save`:
    {"state", "weights", "best_weights", "training", "random", "saved"}."""
    import torch
    from safetensors.torch import load_file

    saved = json.loads((folder / STATE_FILE).read_text())
    best = folder / BEST_FILE
    return {
        "state": LoopState.from_dict(saved["loop"]),
        "saved": saved["saved"],
        "random": saved["random"],
        "weights": load_file(str(folder / WEIGHTS_FILE)),
        "best_weights": load_file(str(best)) if best.exists() else None,
        "training": torch.load(folder / TRAINING_FILE, map_location="cpu", weights_only=True),
    }


# --- random generators -------------------------------------------------------------------------
def python_random_states() -> dict:
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": [kind, keys.tolist(), position, has_gauss, cached]}


def torch_random_states() -> dict:
    import torch

    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_random_states(restored: dict) -> None:
    """Python's, numpy's and torch's global generators as they were at the checkpoint (dropout
    masks and any other draw continue as in the uninterrupted run)."""
    import torch

    version, state, gauss = restored["random"]["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, position, has_gauss, cached = restored["random"]["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(restored["training"]["torch_rng"])
    if restored["training"]["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(restored["training"]["cuda_rng"])


def json_ready(values: dict) -> dict:
    """`values` as JSON would give them back (paths and the like as text), for run.json."""
    return json.loads(json.dumps(values, default=str))
