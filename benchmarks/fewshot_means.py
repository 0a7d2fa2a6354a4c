"""Few-shot accuracy as a mean over samples: one sample of 50 messages, or of 8 per class, is luck.

    .venv/bin/python benchmarks/fewshot_means.py [--samples 5] [--model default] [--only random:50,per_class:8]

Each row trains `textfit train` (every choice left to textfit) on --samples different samples of
the finance-topic training part (the 80 % of benchmarks/common.py's split) and scores each on the same
20 % hold-out (3,398 messages); it prints the mean and the range. "names" gives the 20 topic names;
"numbers" gives the classes as 0..19, as a user with numbered classes would (the names then help
neither the few-shot head nor the n-gram model). Appends to benchmarks/results/fewshot_means.json.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import saved
from common import TOPIC, split, training_set


def numbered(data):
    """The same examples with the classes named 0..N-1."""
    from dataclasses import replace

    return replace(data, label_names=[str(i) for i in range(len(data.label_names))])


def one_run(how: str, seed: int, names: bool, model: str, folder: Path, data: str = str(TOPIC)) -> dict:
    from textfit import TrainConfig, train

    pool, held_out = split(data)
    chosen = training_set(pool, how, seed)
    if not names:
        chosen, held_out = numbered(chosen), numbered(held_out)
    # final_fit off: the held-out 20 % is the score's (few-shot runs have none anyway)
    config = TrainConfig(label_names=chosen.label_names, seed=seed, model=model, final_fit=False)
    started = time.perf_counter()
    result = train(config, folder / f"{how}-{seed}-{names}".replace(":", "-"), data=(chosen, held_out))
    return {
        "how": how,
        "seed": seed,
        "names": names,
        "model": model,
        "strategy": result.record["strategy"],
        "accuracy": result.report.metrics["accuracy"],
        "macro_f1": result.report.metrics["macro_f1"],
        "train_s": result.record["timings"]["train_s"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def means(how: str, model: str, samples: int, data: str = str(TOPIC), names=(True, False)) -> dict:
    """{"names": {...}, "numbers": {...}}: mean, min, max of accuracy and macro-F1 over `samples`
    samples (seeds 7, 8, ...), and the runs themselves."""
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        for named in names:
            runs = [one_run(how, 7 + i, named, model, Path(tmp), data) for i in range(samples)]
            accuracy = [r["accuracy"] for r in runs]
            summary["names" if named else "numbers"] = {
                "accuracy": sum(accuracy) / len(runs),
                "min": min(accuracy),
                "max": max(accuracy),
                "macro_f1": sum(r["macro_f1"] for r in runs) / len(runs),
                "train_s": sum(r["train_s"] for r in runs) / len(runs),
                "runs": runs,
            }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--model", default="default")
    parser.add_argument("--only", default="random:50,per_class:8")
    parser.add_argument("--names", default="names,numbers", help="names, numbers or both (default)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not TOPIC.is_file():
        raise SystemExit(f"skipped: {TOPIC} is absent")
    for how in args.only.split(","):
        for names in [kind == "names" for kind in args.names.split(",")]:
            summary = means(how, args.model, args.samples, names=(names,))["names" if names else "numbers"]
            saved.append("fewshot_means", summary["runs"])  # after each row: nothing lost if stopped
            print(
                f"{how:12} {'names' if names else 'numbers':8} {args.model:18} mean {summary['accuracy']:.3f}"
                f"  range {summary['min']:.3f}-{summary['max']:.3f}  samples {args.samples}  "
                f"({summary['train_s']:.0f} s training each)",
                flush=True,
            )


if __name__ == "__main__":
    main()
