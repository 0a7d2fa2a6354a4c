"""Does the final fit pay? Train on part A with and without it; score both on part B, which neither saw.

    .venv/bin/python benchmarks/final_fit.py [--tasks topic,sentiment] [--time-budget MINUTES]

A and B: the shared training set split 80 / 20, stratified, seed 7 (benchmarks/common.py's split).
Each run is `textfit train` on A with its defaults (A's own stratified 20 % hold-out chooses the
epoch and the n-gram weight); "final fit" then trains the saved model afresh on all of A. B is
scored by the saved model, blended as textfit answers. Finance topics take about 15 minutes
without the final fit and 30 with it on 2 cores; sentiment about half that. Run on a quiet machine.
Rows that need ../shared/data are skipped when it is absent. Appends to benchmarks/results/final_fit.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import saved
from common import SENTIMENT, SENTIMENT_NAMES, TOPIC, split_labeled

TASKS = {"topic": TOPIC, "sentiment": SENTIMENT}


def load(task: str, rows: int | None):
    from textfit.data.labeled import TOPIC_LABELS, load_data, sample

    names = TOPIC_LABELS if task == "topic" else SENTIMENT_NAMES
    data = load_data(str(TASKS[task]), label_names=names)
    return sample(data, rows, seed=7) if rows else data


def run(
    task: str, final_fit: bool, budget: float | None, folder: Path, rows: int | None = None, model: str = "default"
) -> dict:
    from textfit import Classifier, TrainConfig, train
    from textfit.data.labeled import stratified_split
    from textfit.model.evaluate import compute_metrics

    a, b = split_labeled(load(task, rows))
    train_part, hold_out = stratified_split(a, 0.2, seed=7)  # as `textfit train` holds out of A
    config = TrainConfig(
        data=str(TASKS[task]), label_names=a.label_names, final_fit=final_fit, time_budget=budget, model=model
    )
    started = time.perf_counter()
    result = train(config, folder / f"{task}-{final_fit}", data=(train_part, hold_out))
    seconds = time.perf_counter() - started
    on_b = compute_metrics(b.labels, Classifier.load(result.folder).predict_proba(b.texts).argmax(axis=1))
    return {
        "task": task,
        "final_fit": final_fit,
        "time_budget": budget,
        "a": len(a),
        "b": len(b),
        "hold_out_accuracy": result.record["metrics"]["accuracy"],
        "b_accuracy": on_b["accuracy"],
        "b_macro_f1": on_b["macro_f1"],
        "final_fit_record": result.record["final_fit"],
        "seconds": round(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="topic,sentiment")
    parser.add_argument("--time-budget", type=float, default=None, help="minutes, for both fits together")
    parser.add_argument("--rows", type=int, default=None, help="a random sample of each task (a quick check)")
    parser.add_argument("--model", default="default", help="base model (a quick check: a small one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            if not TASKS[task].is_file():
                print(f"skipped {task}: {TASKS[task]} is absent", file=sys.stderr)
                continue
            for final_fit in (False, True):
                rows.append(run(task, final_fit, args.time_budget, Path(tmp), args.rows, args.model))
                print(
                    f"{task:10} final fit {'on ' if final_fit else 'off'}  A {rows[-1]['a']:>6}  "
                    f"hold-out acc {rows[-1]['hold_out_accuracy']:.4f}  B acc {rows[-1]['b_accuracy']:.4f}  "
                    f"B macro-F1 {rows[-1]['b_macro_f1']:.4f}  {rows[-1]['seconds']:>5} s",
                    flush=True,
                )
    saved.append("final_fit", rows)


if __name__ == "__main__":
    main()
