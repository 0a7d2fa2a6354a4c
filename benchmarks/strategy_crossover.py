"""Few-shot or fine-tuning, as a user meets them: which gives the better saved model for a given
number of labeled examples a class?

    .venv/bin/python benchmarks/strategy_crossover.py [--task topic|sentiment]
        [--samples per_class:40,per_class:80] [--seeds 7]

Each row samples examples from the task's training part (the stratified 80 % of
benchmarks/common.py's split): N a class (per_class:N) or N at random (random:N, as a skewed task's file comes), writes
them to a CSV with the classes named, and runs `textfit train` on it as a user would (textfit holds
out 20 % of it, and fine-tuning then refits on all of it: the final fit), once with --strategy
fewshot and once with --strategy finetune. The saved models are scored on the task's held-out 20 %
(3,398 topic messages, 1,909 sentiment ones), which neither run sees. Appends to
benchmarks/results/strategy_crossover.json.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import saved
from common import SENTIMENT, SENTIMENT_NAMES, TOPIC, split, training_set


def one_run(task: str, how: str, seed: int, strategy: str, folder: Path) -> dict:
    import pandas as pd

    from textfit import Classifier, TrainConfig, train
    from textfit.model.evaluate import compute_metrics

    pool, held_out = split(str(TOPIC if task == "topic" else SENTIMENT))
    names = SENTIMENT_NAMES if task == "sentiment" else pool.label_names
    chosen = training_set(pool, how, seed)
    csv = folder / f"{task}-{how.replace(':', '-')}-{seed}.csv"
    pd.DataFrame({"text": chosen.texts, "label": [names[i] for i in chosen.labels]}).to_csv(csv, index=False)
    config = TrainConfig(data=str(csv), label_names=names, strategy=strategy, seed=seed)
    started = time.perf_counter()
    result = train(config, folder / f"{strategy}-{task}-{how.replace(':', '-')}-{seed}")
    seconds = time.perf_counter() - started
    answers = Classifier.load(result.folder).predict_proba(held_out.texts).argmax(axis=1)
    metrics = compute_metrics(held_out.labels, answers)
    return {
        "task": task,
        "sample": how,
        "seed": seed,
        "strategy": strategy,
        "final_fit": result.record["final_fit"].get("done"),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="topic", choices=["topic", "sentiment"])
    parser.add_argument("--samples", default="per_class:40,per_class:80")
    parser.add_argument("--seeds", default="7")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not TOPIC.is_file():
        raise SystemExit(f"skipped: {TOPIC} is absent")
    with tempfile.TemporaryDirectory() as tmp:
        for how in args.samples.split(","):
            for seed in map(int, args.seeds.split(",")):
                rows = [one_run(args.task, how, seed, strategy, Path(tmp)) for strategy in ("fewshot", "finetune")]
                saved.append("strategy_crossover", rows)
                for row in rows:
                    print(
                        f"{args.task:9} {how:13} seed {seed}  {row['strategy']:8} final fit {str(row['final_fit']):5}  "
                        f"held-out acc {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  {row['seconds']:>6} s",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
