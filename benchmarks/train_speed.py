"""Training speed and accuracy, side by side, one process per contender.

    .venv/bin/python benchmarks/train_speed.py [DATA_CSV] [--only article,textfit-50,...] [--minutes 10]

Contenders (same model, data split and machine):
  matmul       the machine's fp32 matrix-multiply rate, for model FLOP utilisation (MFU)
  article      the article's recipe: HF Trainer, every message padded to 512 tokens, library
               defaults, 50 training / 10 test messages, 2 epochs
  textfit-50   `textfit train` on the same 50 / 10 messages, 2 epochs as the article, defaults otherwise
  textfit-50-auto  the same with every choice left to textfit (epochs too)
  textfit-full textfit on the full 80 % with --time-budget MINUTES, evaluated on the 20 %
  trainer-full a well-configured HF Trainer (dynamic padding, length-grouped batches, lr 1e-4,
               batch 32) stopped after MINUTES, evaluated on the 20 % as it goes
Data: a stratified 80/20 split (seed 7) of DATA_CSV, by default the Twitter Financial News Topic
training set in ../shared/data. Prints a table and writes benchmarks/results/train_speed.json.
Run it on a quiet machine: two torch processes on two cores slow each other several times over.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "twitter-financial-news-topic" / "train.csv"
RESULTS = ROOT / "benchmarks" / "results"
CONTENDERS = ("matmul", "article", "textfit-50", "textfit-50-auto", "textfit-full", "trainer-full")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def split(data_path: str):
    from textfit.data import TOPIC_LABELS, load_data, stratified_split

    return stratified_split(load_data(data_path, label_names=TOPIC_LABELS), 0.2, seed=7)


def held_out_accuracy(model, tokenizer, held_out) -> dict:
    from textfit.classifier import Classifier
    from textfit.evaluate import compute_metrics

    classifier = Classifier(model, tokenizer, held_out.label_names, max_length=128)
    return compute_metrics(held_out.labels, classifier.predict_proba(held_out.texts).argmax(axis=1))


def non_embedding_params(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


# --- contenders: each runs in its own process and returns a dict ------------------------------

def run_matmul(args) -> dict:
    import torch

    size, repeats = 2048, 20
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = time.perf_counter() - start
    return {"gflops": round(2 * size**3 * repeats / seconds / 1e9, 1), "threads": torch.get_num_threads()}


def hf_dataset(tokenizer, data, padding):
    from datasets import Dataset

    dataset = Dataset.from_dict({"text": data.texts, "label": data.labels})
    return dataset.map(lambda b: tokenizer(b["text"], padding=padding, truncation=True), batched=True)


def run_article(args) -> dict:
    """The article's code path, as printed, on the embedded model."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    from textfit.data import sample
    from textfit.models import resolve_model

    train, held_out = split(args.data)
    tiny_train, tiny_test = sample(train, 50, 7), sample(held_out, 10, 7)
    path = resolve_model(None)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=20)
    tokenizer = AutoTokenizer.from_pretrained(path)
    accuracy = lambda p: {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}  # noqa: E731
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(output_dir=out, num_train_epochs=2, eval_strategy="epoch", report_to=[],
                                   save_strategy="no", disable_tqdm=True),
            train_dataset=hf_dataset(tokenizer, tiny_train, "max_length"),
            eval_dataset=hf_dataset(tokenizer, tiny_test, "max_length"),
            compute_metrics=accuracy,
        )
        start = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - start
        test_accuracy = trainer.evaluate()["eval_accuracy"]
    return {"train_s": round(train_s, 1), "accuracy_10": test_accuracy,
            "held_out": held_out_accuracy(model, tokenizer, held_out), "peak_rss_mb": peak_rss_mb()}


def run_textfit_50(args, epochs: int | None = 2) -> dict:
    """The article's setting (50 / 10, 2 epochs); every other choice is textfit's default."""
    from textfit import TrainConfig, train
    from textfit.data import TOPIC_LABELS

    _, held_out = split(args.data)
    config = TrainConfig(data=args.data, label_names=TOPIC_LABELS, train_size=50, test_size=10, seed=7, epochs=epochs)
    with tempfile.TemporaryDirectory() as out:
        result = train(config, Path(out) / "model")
    return {"train_s": result.record["timings"]["train_s"], "strategy": result.record["strategy"],
            "accuracy_10": result.report.metrics["accuracy"],
            "held_out": held_out_accuracy(result.classifier.model, result.classifier.tokenizer, held_out),
            "peak_rss_mb": peak_rss_mb()}


def run_textfit_full(args) -> dict:
    from textfit import TrainConfig, train
    from textfit.data import TOPIC_LABELS

    config = TrainConfig(data=args.data, label_names=TOPIC_LABELS, seed=7, time_budget=args.minutes, evals_per_epoch=2)
    with tempfile.TemporaryDirectory() as out:
        result = train(config, Path(out) / "model")
    record = result.record
    return {"train_s": record["timings"]["train_s"], "eval_s": record["timings"]["eval_s"],
            "tokens_per_s": record["timings"]["tokens_per_s"], "examples_per_s": record["timings"]["examples_per_s"],
            "non_embedding_params": non_embedding_params(result.classifier.model),
            "history": [{k: h[k] for k in ("epoch", "elapsed_s", "accuracy", "macro_f1")} for h in record["history"]],
            "held_out": result.report.metrics, "precision": record["training"]["precision"],
            "peak_rss_mb": record["training"]["peak_rss_mb"]}


def run_trainer_full(args) -> dict:
    import numpy as np
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments)

    from textfit.evaluate import compute_metrics
    from textfit.models import resolve_model

    train, held_out = split(args.data)
    path = resolve_model(None)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=20)
    tokenizer = AutoTokenizer.from_pretrained(path)
    train_set, eval_set = hf_dataset(tokenizer, train, False), hf_dataset(tokenizer, held_out, False)
    tokens = sum(len(ids) for ids in train_set["input_ids"])
    history, started = [], {}

    class StopAfter(TrainerCallback):
        def on_train_begin(self, *a, **k):
            started["t"] = time.perf_counter()

        def on_step_end(self, args_, state, control, **k):
            if time.perf_counter() - started["t"] > args.minutes * 60:
                control.should_training_stop = control.should_evaluate = True

        def on_evaluate(self, args_, state, control, metrics=None, **k):
            history.append({"epoch": round(state.epoch, 3), "elapsed_s": round(time.perf_counter() - started["t"], 1),
                            "accuracy": metrics["eval_accuracy"], "macro_f1": metrics["eval_macro_f1"]})

    metrics = lambda p: compute_metrics(p.label_ids, np.argmax(p.predictions, -1))  # noqa: E731
    steps_per_epoch = len(train_set) // 32 + 1
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(output_dir=out, num_train_epochs=3, learning_rate=1e-4, per_device_train_batch_size=32,
                                   per_device_eval_batch_size=64, warmup_steps=0.06, train_sampling_strategy="group_by_length",
                                   eval_strategy="steps", eval_steps=steps_per_epoch // 2, save_strategy="no",
                                   report_to=[], disable_tqdm=True),
            train_dataset=train_set, eval_dataset=eval_set, data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=metrics, callbacks=[StopAfter()],
        )
        output = trainer.train()
    epochs_done = output.metrics.get("epoch", history[-1]["epoch"] if history else 0)
    train_s = output.metrics["train_runtime"]
    return {"train_s": round(train_s, 1), "history": history,
            "tokens_per_s": round(tokens * epochs_done / train_s, 1),  # eval time included: an upper bound on cost
            "held_out": {"accuracy": history[-1]["accuracy"], "macro_f1": history[-1]["macro_f1"]} if history else {},
            "peak_rss_mb": peak_rss_mb()}


RUNNERS = {"matmul": run_matmul, "article": run_article, "textfit-50": run_textfit_50,
           "textfit-50-auto": lambda args: run_textfit_50(args, epochs=None),
           "textfit-full": run_textfit_full, "trainer-full": run_trainer_full}


# --- orchestration ------------------------------------------------------------------------------

def time_to(history: list[dict], accuracy: float):
    return next((h["elapsed_s"] for h in history if h["accuracy"] >= accuracy), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    parser.add_argument("--minutes", type=float, default=10.0, help="training time for the full-data contenders")
    parser.add_argument("--contender", help=argparse.SUPPRESS)  # internal: run one contender in this process
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.contender:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        print(json.dumps(RUNNERS[args.contender](args)))
        return
    if not Path(args.data).is_file():
        sys.exit(f"data file not found: {args.data}")

    # Contenders can be run a few at a time (--only); their results accumulate in one file.
    saved = RESULTS / "train_speed.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {}
    for name in args.only.split(","):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, args.data, "--minutes", str(args.minutes), "--contender", name]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            results[name] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
        else:
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {name}: {json.dumps(results[name])[:300]}", file=sys.stderr, flush=True)

    results["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict) -> None:
    rows = [("contender", "train s", "accuracy (10)", "held-out acc", "held-out macro-F1", "t->0.88 s", "peak MB", "note")]
    for name in ("article", "textfit-50", "textfit-50-auto", "textfit-full", "trainer-full"):
        r = results.get(name)
        if not r or "error" in r:
            if r:
                rows.append((name, "-", "-", "-", "-", "-", "-", r["error"][:60]))
            continue
        held = r.get("held_out", {})
        note = r.get("strategy", "")
        if "tokens_per_s" in r:
            note = f"{r['tokens_per_s']:.0f} tok/s"
            gflops = results.get("matmul", {}).get("gflops")
            if gflops and r.get("non_embedding_params"):
                note += f", MFU {6 * r['non_embedding_params'] * r['tokens_per_s'] / (gflops * 1e9):.1%}"
        rows.append((name, f"{r['train_s']:.1f}", f"{r['accuracy_10']:.2f}" if "accuracy_10" in r else "-",
                     f"{held.get('accuracy', 0):.4f}", f"{held.get('macro_f1', 0):.4f}",
                     str(time_to(r.get("history", []), 0.88) or "-"), f"{r['peak_rss_mb']:.0f}", note))
    if "article" in results and "textfit-50" in results and "train_s" in results["article"] and "train_s" in results["textfit-50"]:
        for name in ("textfit-50", "textfit-50-auto"):
            if "train_s" in results.get(name, {}):
                ratio = results["article"]["train_s"] / max(results[name]["train_s"], 1e-9)
                rows.append(("speed-up", f"{ratio:.1f}x", "", "", "", "", "", f"article / {name} training time"))
    if "matmul" in results and "gflops" in results["matmul"]:
        rows.append(("matmul", "", "", "", "", "", "", f"{results['matmul']['gflops']} GFLOP/s fp32"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
