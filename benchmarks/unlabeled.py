"""Few labels and many unlabeled texts (issue 25): labels alone against labels + unlabeled texts
(`textfit train --unlabeled`), with the served model as its own teacher and with all-mpnet-base-v2,
on the finance topics with the benchmark's split (stratified 80/20, seed 7; common.split).

    .venv/bin/python benchmarks/unlabeled.py [--rows 8pc] [--teachers none,mpnet] [--samples 1]
        [--first-seed 0] [--unlabeled 4000] [--distill-epochs 2] [--zero-shot] [--held-out N]

Each sample draws its labeled examples from the 80 % pool (`per_class:8`: 8 a category; `random:50`;
`loop:160`: the 160 that textfit's labeling loop asks for, on MiniLM's cached vectors), and its unlabeled
texts from the rest of the pool (their labels are never read); every score is on the held-out 20 % (human
labels only), which neither the labels nor the unlabeled texts touch. The labels-alone figure is the
same run's model before it learned from the unlabeled texts (the record's `unlabeled.labels_alone_metrics`):
the same sample, the same held-out messages. The n-gram blend is
off, so both figures are the encoder's. --zero-shot adds labeling/zeroshot.py from the 20 bare names
(and with one-line descriptions), with and without the unlabeled texts and the teacher.
Prints a table (mean and range over the samples) and writes benchmarks/results/unlabeled-TIME.json.
all-mpnet-base-v2 must be downloaded (`textfit download-model all-mpnet-base-v2`) for the mpnet rows."""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, TOPIC, one_label_a_topic, split, training_set

ROWS = {
    "8pc": "per_class:8",
    "50": "random:50",
    "160": "random:160",
    "200": "random:200",
    "loop80": "loop:80",
    "loop160": "loop:160",
    "loop320": "loop:320",
}
TEACHERS = {"none": "none", "mpnet": "all-mpnet-base-v2"}


def loop_labels(pool, size: int, seed: int, vectors):
    """The `size` labels textfit's labeling loop asks for (labeling/session.py on MiniLM's frozen vectors of
    the pool, one label a topic to start, then 20 at a time), answered with the pool's true labels: as
    benchmarks/labeling.py's "textfit order" row picks them."""
    from textfit import LabelingSession

    labels = np.array(pool.labels)
    with tempfile.TemporaryDirectory() as folder:
        session = LabelingSession(
            f"{folder}/s.sqlite", [str(i) for i in range(len(pool))], pool.label_names, vectors=vectors,
            zero_shot=False, refit_every=20, seed=seed,
        )  # fmt: skip
        for i in one_label_a_topic(labels, len(pool.label_names), seed):
            session.add_label(i, int(labels[i]))
        while len(session.labels()) < size:
            for item in session.next_batch(min(20, size - len(session.labels()))):
                session.add_label(item["index"], int(labels[item["index"]]))
        return pool.subset(sorted(session.labels()))


def one_run(pool, held_out, how: str, seed: int, teacher: str, unlabeled: int, folder: Path, vectors=None) -> dict:
    """One sample: labels alone and with `unlabeled` texts of the pool, taught by `teacher`."""
    from textfit import TrainConfig, train

    kind, _, size = how.partition(":")
    labeled = loop_labels(pool, int(size), seed, vectors) if kind == "loop" else training_set(pool, how, seed)
    taken = set(labeled.texts)
    rest = [t for t in pool.texts if t not in taken]
    texts = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))[:unlabeled]]
    path = folder / f"unlabeled-{seed}.txt"
    path.write_text("\n".join(t.replace("\n", " ") for t in texts), encoding="utf-8")
    config = TrainConfig(unlabeled=str(path), teacher=teacher, seed=seed, lexical_weight=0.0, checkpoint_minutes=0)
    tick = time.perf_counter()
    record = train(config, folder / f"model-{seed}", data=(labeled, held_out)).record
    found = record["unlabeled"]
    return {
        "labels": len(labeled),
        "unlabeled": found["texts_used"],
        "teacher": found["teacher"],
        "labels_alone": found["labels_alone_metrics"]["accuracy"],
        "with_unlabeled": found["with_unlabeled_metrics"]["accuracy"],
        "teacher_accuracy": (found["teacher_metrics"] or {}).get("accuracy"),
        "rounds": found["rounds"],  # 2: the teacher was trained again with its surest answers (distill.teach_again)
        "teacher_first_round": ((found.get("teacher_round") or {}).get("first_round_metrics") or {}).get("accuracy"),
        "kept": found["kept"],
        "seconds": round(time.perf_counter() - tick, 1),
        "labels_alone_seconds": record["timings"]["train_s"],
        "unlabeled_seconds": found["seconds"],
    }


def zero_shot(pool, held_out, unlabeled: int, descriptions: dict | None) -> list[dict]:
    """labeling/zeroshot.py from the names, the held-out texts with `unlabeled` texts of the pool beside
    them (no labels read): on the embedded MiniLM's vectors (as before), then on all-mpnet-base-v2's."""
    from textfit.labeling.zeroshot import suggest_with_teacher

    names = held_out.label_names
    given = [descriptions[n] for n in names] if descriptions else None
    texts = [pool.texts[i] for i in np.random.default_rng(0).permutation(len(pool))[:unlabeled]]
    rows = []
    for teacher in ("none", "all-mpnet-base-v2"):
        tick = time.perf_counter()
        predicted = suggest_with_teacher(texts, held_out.texts, names, given, teacher=teacher).label_ids
        accuracy = float(np.mean(np.asarray(predicted) == np.asarray(held_out.labels)))
        how = f"{'MiniLM' if teacher == 'none' else 'mpnet'} + {len(texts)} unlabeled"
        rows.append({"how": how, "descriptions": bool(descriptions), "accuracy": round(accuracy, 4),
                     "seconds": round(time.perf_counter() - tick, 1)})  # fmt: skip
        print(f"zero-shot {how:<30} descriptions={bool(descriptions)!s:<5} accuracy {accuracy:.4f}", flush=True)
    return rows


def summary(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="8pc", help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--teachers", default="none,mpnet", help="comma-separated, of none, mpnet")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed + 1, ...")
    parser.add_argument("--unlabeled", type=int, default=4000)
    parser.add_argument("--held-out", type=int, default=None, help="score on a random N of the held-out 20 %%")
    parser.add_argument("--distill-epochs", type=int, default=None, help="the served model's passes (distill.EPOCHS)")
    parser.add_argument("--zero-shot", action="store_true")
    parser.add_argument("--zero-shot-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # textfit's progress
    if args.distill_epochs:
        from textfit.training import distill

        distill.EPOCHS = args.distill_epochs  # read when distillation runs and when a budget is planned
    pool, held_out = split(str(TOPIC))
    vectors = None
    if any(ROWS[row].startswith("loop:") for row in args.rows.split(",")):
        from textfit.labeling.vectors import embed

        vectors = embed(pool.texts + held_out.texts)[: len(pool)]  # benchmarks/labeling.py's: cached on disk
    if args.held_out:
        held_out = held_out.subset(sorted(np.random.default_rng(0).permutation(len(held_out))[: args.held_out]))
    results = {"held_out": len(held_out), "unlabeled": args.unlabeled, "runs": [], "zero_shot": []}
    results["distill_epochs"] = args.distill_epochs
    table = []
    with tempfile.TemporaryDirectory() as folder:
        for row in [] if args.zero_shot_only else args.rows.split(","):
            for teacher in args.teachers.split(","):
                runs = []
                for seed in range(args.first_seed, args.first_seed + args.samples):
                    how, taught = ROWS[row], TEACHERS[teacher]
                    run = one_run(pool, held_out, how, seed, taught, args.unlabeled, Path(folder), vectors)
                    print(json.dumps(run), flush=True)
                    runs.append({"row": row, "seed": seed, **run})
                results["runs"] += runs
                table.append(
                    f"| {ROWS[row]} | {teacher} | {summary(runs, 'labels_alone')} | {summary(runs, 'with_unlabeled')} "
                    f"| {np.mean([r['seconds'] for r in runs]):.0f} s |"
                )
        if args.zero_shot or args.zero_shot_only:
            from labeling import DESCRIPTIONS

            for descriptions in (None, DESCRIPTIONS):
                results["zero_shot"] += zero_shot(pool, held_out, args.unlabeled, descriptions)
    load = f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end"
    print(f"\nheld-out: {len(held_out)} messages; {args.unlabeled} unlabeled texts; MiniLM served; {load}")
    print("| labels | teacher | labels alone | + unlabeled | time (all) |\n|---|---|---|---|---|")
    print("\n".join(table))
    for row in results["zero_shot"]:
        how = f"zero-shot, {row['how']}, {'names + descriptions' if row['descriptions'] else 'names only'}"
        print(f"| {how} | - | - | {row['accuracy']:.3f} | {row['seconds']} s |")
    out = ROOT / "benchmarks" / "results" / f"unlabeled-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no results folder
    out.write_text(json.dumps(results, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
