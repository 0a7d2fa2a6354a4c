"""Grid search over TrainConfig fields: one process per run, several at once on a GPU.

    python benchmarks/sweep.py GRID.json [--data CSV] [--model PATH] [--parallel N] [--out FILE]

How textfit's defaults were chosen (docs/guide/training-defaults.md, "How the defaults were chosen"). Each run trains on
the stratified 80 % (seed 7) of DATA, or a sample of it, and is scored on the 20 % after every
evaluation, so one run planned for E epochs also gives the accuracy at each epoch on the way.
GRID.json is a list of runs:

    {"name": "lr2e-4", "train": "all" | "per_class:8" | "random:50", "sample_seed": 7,
     "config": {"learning_rate": 2e-4, "epochs": 4},        # any TrainConfig field
     "set": {"textfit.training.fewshot.TEMPERATURE": 0.05}}           # module constants, for research

Accuracy does not depend on the machine, time does: on a GPU, run many at once (--parallel) and
convert epochs to CPU minutes with the CPU's measured seconds per epoch. Not part of the tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, TOPIC, split, training_set


def run_one(job: dict) -> dict:
    import torch

    from textfit import TrainConfig, train

    torch.set_num_threads(job["threads"])
    for dotted, value in job.get("set", {}).items():
        module, name = dotted.rsplit(".", 1)
        setattr(importlib.import_module(module), name, value)
    pool, held_out = split(job["data"])
    train_data = training_set(pool, job.get("train", "all"), job.get("sample_seed", 7))
    started = time.perf_counter()
    try:
        config = TrainConfig(label_names=pool.label_names, model=job["model"]).override(**job.get("config", {}))
        with tempfile.TemporaryDirectory() as out:
            result = train(config, Path(out) / "model", data=(train_data, held_out))
    except Exception as exc:  # one failed run must not lose the others
        return {"name": job["name"], "error": f"{type(exc).__name__}: {exc}"}
    record = result.record
    return {
        "name": job["name"],
        "train": job.get("train", "all"),
        "config": job.get("config", {}),
        "set": job.get("set", {}),
        "strategy": record["strategy"],
        "train_examples": len(train_data),
        "accuracy": result.report.metrics["accuracy"],
        "macro_f1": result.report.metrics["macro_f1"],
        "train_s": record["timings"]["train_s"],
        "wall_s": round(time.perf_counter() - started, 1),
        "tokens_trained": record["timings"]["tokens_trained"],
        "history": [{k: h[k] for k in ("epoch", "accuracy", "macro_f1", "elapsed_s")} for h in record["history"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", help="JSON list of runs")
    parser.add_argument("--data", default=str(TOPIC))
    parser.add_argument("--model", default="default", help="base model folder or id (default: the embedded MiniLM)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (1 on a 2-core CPU; 4-8 on a GPU)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    threads = max(1, (os.cpu_count() or 1) // args.parallel)
    jobs = [
        {"data": run.pop("data", args.data), "model": args.model, "threads": threads, **run}
        for run in json.loads(Path(args.grid).read_text())
    ]
    rows, out = [], Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with context.Pool(args.parallel, maxtasksperchild=1) as workers:
        for row in workers.imap_unordered(run_one, jobs):
            rows.append(row)
            out.write_text(json.dumps(rows, indent=1))  # after every run: nothing lost if stopped
            if "error" in row:
                print(f"{row['name']:<28} ERROR {row['error']}", flush=True)
                continue
            curve = " ".join(f"{h['accuracy']:.3f}" for h in row["history"])
            print(
                f"{row['name']:<28} acc {row['accuracy']:.4f} F1 {row['macro_f1']:.4f} {row['train_s']:7.1f}s  "
                f"per eval: {curve}",
                flush=True,
            )
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
