"""Few-shot accuracy: `textfit train` (strategy auto) on 50 random and on 8-per-class examples.

    .venv/bin/python benchmarks/fewshot.py [DATA.csv] [--sentiment SENTIMENT.csv]

Split as textfit does (stratified 80/20, seed 7); train on (a) 50 random messages of the 80 %
(the article's setting) and (b) 8 per class (seeded); evaluate on the whole held-out 20 %.
`--sentiment` adds (c): the 3-class sentiment data, 8 per class, as a second data set.
Prints a table and writes JSON to benchmarks/results/fewshot.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from textfit import TrainConfig, train  # noqa: E402
from textfit.data import TOPIC_LABELS, LabeledTexts, load_data, sample, stratified_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "twitter-financial-news-topic" / "train.csv"
SENTIMENT_LABELS = ["Bearish", "Bullish", "Neutral"]
SEED = 7


def per_class(data: LabeledTexts, k: int, seed: int = SEED) -> LabeledTexts:
    """k examples of each class (all of a smaller class), picked with a seeded RNG."""
    rng = np.random.default_rng(seed)
    labels = np.array(data.labels)
    chosen = [int(i) for c in range(len(data.label_names))
              for i in rng.permutation(np.flatnonzero(labels == c))[:k]]
    return data.subset(sorted(chosen))


def run(setting: str, train_data: LabeledTexts, held_out: LabeledTexts, label_names: list[str]) -> dict:
    config = TrainConfig(label_names=label_names, seed=SEED)  # strategy auto: shows what it picks
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = train(config, Path(out) / "model", data=(train_data, held_out))
        wall = time.perf_counter() - started
    record = result.record
    row = {
        "setting": setting, "strategy": record["strategy"], "train_examples": len(train_data),
        "eval_examples": len(held_out), "train_s": record["timings"]["train_s"], "wall_s": round(wall, 1),
        "accuracy": round(result.report.metrics["accuracy"], 4), "macro_f1": round(result.report.metrics["macro_f1"], 4),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA), help="the topic data CSV")
    parser.add_argument("--sentiment", help="also run 8 per class on this 3-class sentiment CSV")
    parser.add_argument("--only", choices=["a", "b", "c"], action="append", help="run only these settings")
    args = parser.parse_args()
    only = set(args.only or "abc")

    train_pool, held_out = stratified_split(load_data(args.data, label_names=TOPIC_LABELS), 0.2, SEED)
    rows = []
    if "a" in only:
        rows.append(run("(a) 50 random", sample(train_pool, 50, SEED), held_out, TOPIC_LABELS))
    if "b" in only:
        rows.append(run("(b) 8 per class", per_class(train_pool, 8), held_out, TOPIC_LABELS))
    if args.sentiment and "c" in only:
        pool, held = stratified_split(load_data(args.sentiment, label_names=SENTIMENT_LABELS), 0.2, SEED)
        rows.append(run("(c) sentiment, 8 per class", per_class(pool, 8), held, SENTIMENT_LABELS))

    header = f"{'setting':<28} {'strategy':<9} {'train ex':>8} {'train s':>8} {'accuracy':>8} {'macro-F1':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r['setting']:<28} {r['strategy']:<9} {r['train_examples']:>8} {r['train_s']:>8.1f} "
              f"{r['accuracy']:>8.4f} {r['macro_f1']:>8.4f}")
    out = ROOT / "benchmarks" / "results" / "fewshot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    out.write_text(json.dumps({"data": args.data, "sentiment": args.sentiment, "machine": machine, "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
