"""Inference benchmark: PyTorch vs ONNX vs ONNX int8 on one trained model folder.

    .venv/bin/python benchmarks/inference.py MODEL_DIR [--data FILE]

For each backend, in its own process (so thread pools and caches never mix): messages/s through
`Classifier.predict_proba` at batch size 64 over the held-out messages (tokenisation included, as
a user sees it), the median and p90 latency of one message at a time, and held-out accuracy. Then
how often each backend's top label agrees with PyTorch's. Prints a Markdown table and writes JSON
to benchmarks/results/.

Data: --data, default ../shared/data/twitter-financial-news-topic/train.csv (stratified 20%
hold-out, seed 7: the same split `textfit train` evaluates on), or the embedded sample when that
file is absent. The ONNX files are exported into MODEL_DIR first when missing
(`textfit export MODEL_DIR --onnx --quantize int8`), or always with --export. Torch and ONNX Runtime use their default
thread counts (every core this process may use)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, TOPIC

RESULTS = ROOT / "benchmarks" / "results"
BACKENDS = ("torch", "onnx", "onnx-int8")


def held_out(data: str, label_names: list[str], fraction: float, seed: int):
    from textfit.data.labeled import load_data, stratified_split

    _, evaluation = stratified_split(load_data(data, label_names=label_names), fraction, seed)
    return evaluation


def worker(args) -> dict:
    """Runs in a child process: one backend, all measurements."""
    import numpy as np
    import torch

    from textfit import Classifier

    started = time.perf_counter()
    classifier = Classifier.load(args.model_dir, backend=args.worker)
    load_s = time.perf_counter() - started
    evaluation = held_out(args.data, classifier.label_names, args.eval_split, args.seed)
    texts, labels = evaluation.texts, np.array(evaluation.labels)
    if args.max_messages:
        texts, labels = texts[: args.max_messages], labels[: args.max_messages]

    classifier.predict_proba(texts[: args.batch_size * 2], batch_size=args.batch_size)  # warm-up
    passes = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        probabilities = classifier.predict_proba(texts, batch_size=args.batch_size)
        passes.append(time.perf_counter() - start)
    predictions = probabilities.argmax(axis=1)
    # The encoder alone (untimed): int8's own agreement, which the blended n-gram model could mask.
    encoder_predictions = classifier.encoder_proba(texts, batch_size=args.batch_size).argmax(axis=1)

    for text in texts[:10]:  # warm-up for batch size 1
        classifier.predict_proba([text], batch_size=1)
    latencies = []
    for i in range(args.latency_n):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        classifier.predict_proba([text], batch_size=1)
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    return {
        "backend": args.worker,
        "messages": len(texts),
        "load_s": round(load_s, 3),
        "batch_size": args.batch_size,
        "pass_s": [round(s, 3) for s in passes],
        "messages_per_s": round(len(texts) / statistics.median(passes), 1),
        "latency_ms_median": round(1000 * statistics.median(latencies), 2),
        "latency_ms_p90": round(1000 * latencies[int(0.9 * (len(latencies) - 1))], 2),
        "latency_samples": len(latencies),
        "accuracy": round(float((predictions == labels).mean()), 4),
        "predictions": predictions.tolist(),
        "encoder_accuracy": round(float((encoder_predictions == labels).mean()), 4),
        "encoder_predictions": encoder_predictions.tolist(),
        "threads": torch.get_num_threads() if args.worker == "torch" else _ort_threads(classifier),
    }


def _ort_threads(classifier) -> int | None:
    options = getattr(getattr(classifier.backend, "session", None), "get_session_options", lambda: None)()
    return options.intra_op_num_threads if options else None


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": cores,
        "load_avg_1m_at_start": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("textfit", "torch", "transformers", "onnx", "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a trained textfit model folder")
    parser.add_argument("--data", help=f"labeled data (default: {TOPIC} if present, else the embedded sample)")
    parser.add_argument("--eval-split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the held-out set (median)")
    parser.add_argument("--latency-n", type=int, default=200, help="single-message calls timed")
    parser.add_argument("--max-messages", type=int, default=None, help="use only the first N held-out messages")
    parser.add_argument(
        "--out", type=Path, help="JSON file to write (default: benchmarks/results/inference-<time>.json)"
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="export to ONNX again even when the files exist (measures the current export code)",
    )
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.data is None:
        from textfit.data.labeled import SAMPLE_DATA

        args.data = str(TOPIC if TOPIC.is_file() else SAMPLE_DATA)
    if args.worker:
        json.dump(worker(args), sys.stdout)
        return

    from textfit.export.onnx import export_onnx, read_exports
    from textfit.model.backends import INT8_FILE, ONNX_FILE

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if any(b != "torch" for b in backends) and (
        args.export or not ((args.model_dir / ONNX_FILE).is_file() and (args.model_dir / INT8_FILE).is_file())
    ):
        print(f"exporting {args.model_dir} to ONNX (fp32 + int8) first ...", file=sys.stderr)
        export_onnx(args.model_dir, quantize="int8")

    info = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "model_dir": str(args.model_dir.resolve()),
        "data": args.data,
        "held_out": f"stratified {args.eval_split:.0%}, seed {args.seed}",
        "batch_size": args.batch_size,
        "exports": {
            k: {"file": v.get("file"), "size_bytes": v.get("size_bytes")}
            for k, v in read_exports(args.model_dir).items()
        },
    }
    results = {}
    for backend in backends:
        print(f"measuring {backend} ...", file=sys.stderr)
        command = [
            sys.executable,
            __file__,
            str(args.model_dir),
            "--worker",
            backend,
            "--data",
            args.data,
            "--eval-split",
            str(args.eval_split),
            "--seed",
            str(args.seed),
            "--batch-size",
            str(args.batch_size),
            "--repeats",
            str(args.repeats),
            "--latency-n",
            str(args.latency_n),
        ]
        if args.max_messages:
            command += ["--max-messages", str(args.max_messages)]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            sys.exit(f"{backend} failed:\n{done.stderr[-3000:]}")
        results[backend] = json.loads(done.stdout)

    reference = results.get("torch", {})
    for result in results.values():
        for kind, key in (
            ("predictions", "agreement_with_torch"),
            ("encoder_predictions", "encoder_agreement_with_torch"),
        ):
            if reference.get(kind):
                agree = sum(a == b for a, b in zip(result[kind], reference[kind])) / len(reference[kind])
                result[key] = round(agree, 4)
    torch_speed = results.get("torch", {}).get("messages_per_s")
    torch_acc = results.get("torch", {}).get("accuracy")

    n = next(iter(results.values()))["messages"]
    print(
        f"\n{n} held-out messages from {args.data}; {info['machine']['cores']} cores ({info['machine']['cpu']}), "
        f"batch size {args.batch_size}\n"
    )
    print(
        "| backend | messages/s (batch 64) | vs torch | median latency (1 msg) | p90 latency | accuracy | "
        "agreement with torch | file size |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        speedup = f"{r['messages_per_s'] / torch_speed:.2f}x" if torch_speed else "-"
        size = info["exports"].get(name, {}).get("size_bytes")
        if name == "torch":
            weights = args.model_dir / "model.safetensors"
            size = weights.stat().st_size if weights.is_file() else None
        delta = f" ({100 * (r['accuracy'] - torch_acc):+.1f} pt)" if torch_acc is not None and name != "torch" else ""
        size_text = f"{size / 1e6:.1f} MB" if size else "-"
        agreement = f"{100 * r['agreement_with_torch']:.2f}%" if "agreement_with_torch" in r else "-"
        print(
            f"| {name} | {r['messages_per_s']:.0f} | {speedup} | {r['latency_ms_median']:.1f} ms | "
            f"{r['latency_ms_p90']:.1f} ms | {r['accuracy']:.4f}{delta} | {agreement} | {size_text} |"
        )

    for result in results.values():
        result.pop("predictions")
    out = args.out or RESULTS / f"inference-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**info, "results": results}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
