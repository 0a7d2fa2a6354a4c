"""Does the n-gram blend earn its place? The encoder alone against the blend, on small and large data.

    .venv/bin/python benchmarks/blend.py [--only sample,sentiment-300,sentiment-1800,topic-full] [--seeds 3]

Each row is one `textfit train` with its defaults (the embedded encoder, textfit's own stratified
20 % hold-out), and reads from the run record:
  encoder      the fine-tuned encoder alone (what plain `transformers.pipeline` answers)
  blend 0.5    the fixed weight textfit used before the weight was chosen (all held-out messages)
  blend chosen textfit's answers: the weight chosen on the held-out answers, scored cross-fitted (blend.py)
Data: the embedded sample; random samples of 300 and 1,800 rows of the sentiment training set
(one row per --seeds seed); the whole finance-topic training set (about 20 minutes on 2 cores).
The shared data sets come from ../shared/data; rows that need them are skipped when it is absent.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import saved
from common import SENTIMENT, SENTIMENT_NAMES, SHARED, TOPIC

ROWS = ("sample", "sentiment-300", "sentiment-1800", "topic-full")


def sentiment_sample(rows: int, seed: int, folder: Path) -> Path:
    path = folder / f"sentiment-{rows}-{seed}.csv"
    frame = pd.read_csv(SENTIMENT).sample(rows, random_state=seed)
    frame["label"] = frame["label"].map(dict(enumerate(SENTIMENT_NAMES)))
    frame.to_csv(path, index=False)
    return path


def train_row(name: str, config, folder: Path) -> dict:
    from textfit.training.train import train

    started = time.perf_counter()
    config = config.override(final_fit=False)  # these figures are the hold-out run's either way: save its time
    result = train(config, folder / name.replace(" ", "-"))
    lexical = result.record.get("lexical") or {}
    return {
        "data": name,
        "train": result.record["data"]["train_examples"],
        "held_out": result.record["data"]["eval_examples"],
        "encoder": lexical.get("encoder_metrics", result.report.metrics)["accuracy"],
        "blend_0.5": lexical.get("accuracy_by_weight", {}).get("0.5"),
        "blend_chosen": result.report.metrics["accuracy"],
        "weight": lexical.get("weight"),
        "seconds": round(time.perf_counter() - started),
        "accuracy_by_weight": lexical.get("accuracy_by_weight"),
        "coverage": result.record.get("coverage"),
        "calibration": result.record.get("calibration"),
    }


def main() -> None:
    from textfit.config import TrainConfig
    from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(ROWS))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for which in args.only.split(","):
            if which == "sample":
                rows.append(
                    train_row("embedded sample", TrainConfig(data=str(SAMPLE_DATA), label_names=TOPIC_LABELS), folder)
                )
            elif which.startswith("sentiment-") and SENTIMENT.is_file():
                size = int(which.split("-")[1])
                for seed in range(args.seeds):
                    data = sentiment_sample(size, seed, folder)
                    rows.append(train_row(f"sentiment {size} (sample {seed})", TrainConfig(data=str(data)), folder))
            elif which == "topic-full" and TOPIC.is_file():
                rows.append(
                    train_row("finance topics, all", TrainConfig(data=str(TOPIC), label_names=TOPIC_LABELS), folder)
                )
            else:
                print(f"skipped {which}: its data is not in {SHARED}", file=sys.stderr)
            print_table(rows)
    saved.append("blend", rows)


def print_table(rows: list[dict]) -> None:
    def fmt(x):
        return "–" if x is None else f"{x:.3f}"

    print(
        f"\n{'data':32} {'train':>6} {'held-out':>8} {'encoder':>8} {'blend 0.5':>9} "
        f"{'chosen':>7} {'weight':>6} {'s':>6}"
    )
    for r in rows:
        print(
            f"{r['data']:32} {r['train']:>6} {r['held_out']:>8} {fmt(r['encoder']):>8} {fmt(r['blend_0.5']):>9} "
            f"{fmt(r['blend_chosen']):>7} {fmt(r['weight']):>6} {r['seconds']:>6}",
            flush=True,
        )


if __name__ == "__main__":
    main()
