"""Batch prediction benchmark: the streaming engine (`textfit.predict_file`) against the in-memory
path, and Ray Data where installed, on files of topic tweets with a row_id.

    .venv/bin/python benchmarks/batch_predict.py [--model DIR] [--rows 10000,1000000] [--engines local,memory,ray]

Each run is its own process, so its peak RSS (getrusage) is its own: rows/s counts reading,
classifying and writing (not the model load); the in-memory path reads every text, classifies
them all at once (`Classifier.top_k`) and writes at the end, as `textfit predict` did before.
Ray's actors are separate processes: its peak RSS is the driver's alone.

Model: --model (a folder with model.int8.onnx for onnx-int8), else a MiniLM trained once on the
embedded sample and exported to int8, cached in ~/.cache/textfit/benchmarks. Texts: the topic
tweets in ../shared/data/twitter-financial-news-topic/train.csv when present, else the embedded
sample, repeated to N rows. Goals (issue 12): peak RSS at 1,000,000 rows within 10 % of the peak
at 10,000 and under 1 GB; streaming rows/s within 10 % of the in-memory path on 10,000 rows."""

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

from common import TOPIC

MODEL_CACHE = Path.home() / ".cache" / "textfit" / "benchmarks" / "minilm-sample"


def quick_model() -> Path:
    """A MiniLM fine-tuned for 2 epochs on the embedded sample, exported to ONNX and int8 (once)."""
    if (MODEL_CACHE / "model.int8.onnx").is_file():
        return MODEL_CACHE
    from textfit import TrainConfig, train
    from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS
    from textfit.export.onnx import export_onnx

    print(f"training a MiniLM on the embedded sample into {MODEL_CACHE} (once)", file=sys.stderr)
    train(TrainConfig(data=str(SAMPLE_DATA), label_names=TOPIC_LABELS, epochs=2, checkpoint_minutes=0), MODEL_CACHE)
    export_onnx(MODEL_CACHE, quantize="int8")
    return MODEL_CACHE


def write_input(rows: int, folder: Path) -> Path:
    import pandas as pd

    from textfit.data.labeled import SAMPLE_DATA

    texts = pd.read_csv(TOPIC if TOPIC.is_file() else SAMPLE_DATA)["text"].astype(str).tolist()
    path = folder / f"tweets-{rows}.csv"
    with path.open("w", encoding="utf-8") as f:  # written in pieces: a million rows need not sit in memory
        for start in range(0, rows, 100_000):
            ids = range(start, min(rows, start + 100_000))
            pd.DataFrame({"row_id": ids, "text": [texts[i % len(texts)] for i in ids]}).to_csv(
                f, index=False, header=start == 0
            )
    return path


def worker(args) -> dict:
    """In a child process: one run, timed from after the model load."""
    engine, source, output = args.worker, Path(args.input), Path(args.output)
    if engine == "local":
        from textfit import predict_file

        summary = predict_file(
            args.model, source, output, backend=args.backend, threads=args.threads, batch_rows=args.batch_rows
        )
        rows, seconds = summary.rows, summary.seconds
    elif engine == "memory":
        from textfit.data.texts import read_texts, write_predictions
        from textfit.predict.batch import load_classifier

        classifier = load_classifier(args.model, args.backend, args.threads)
        started = time.perf_counter()
        texts = read_texts(source)
        write_predictions(output, texts, classifier.top_k(texts))
        rows, seconds = len(texts), time.perf_counter() - started
    else:
        from textfit.predict.ray_engine import predict_with_ray

        summary = predict_with_ray(
            args.model,
            source,
            output,
            actors=2,
            cpus_per_actor=1,
            backend=args.backend,
            top_k=1,
            text_column="text",
            batch_rows=args.batch_rows,
        )
        rows, seconds = summary.rows, summary.seconds
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(engine: str, source: Path, args) -> dict:
    output = source.with_name(f"{source.stem}.{engine}.csv")
    command = [
        sys.executable,
        __file__,
        "--worker",
        engine,
        "--input",
        str(source),
        "--output",
        str(output),
        "--model",
        str(args.model),
        "--backend",
        args.backend,
        "--batch-rows",
        str(args.batch_rows),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    output.unlink(missing_ok=True)
    if done.returncode:
        return {"error": f"failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:100]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def ray_available() -> str | None:
    try:
        import ray  # noqa: F401

        from textfit.predict import ray_engine  # noqa: F401
    except ImportError as exc:
        return f"skipped: {exc} (pip install 'textfit[ray]')"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained model folder (default: a MiniLM trained on the sample, cached)")
    parser.add_argument("--rows", default="10000,1000000", help="row counts for the streaming engine")
    parser.add_argument("--memory-rows", type=int, default=10_000, help="rows for the in-memory path (0: skip)")
    parser.add_argument("--engines", default="local,memory,ray")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--threads", type=int, help="PyTorch / ONNX Runtime threads (default: every core)")
    parser.add_argument("--batch-rows", type=int, default=1024)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    args.model = Path(args.model) if args.model else quick_model()
    engines = args.engines.split(",")
    rows = [int(n) for n in args.rows.split(",")]
    ray_note = ray_available() if "ray" in engines else None
    results = []
    with tempfile.TemporaryDirectory(prefix="textfit-batch-") as tmp:
        plan = [("memory", args.memory_rows)] if "memory" in engines and args.memory_rows else []
        plan += [(engine, n) for n in rows for engine in ("local", "ray") if engine in engines]
        inputs = {}
        for engine, n in plan:
            if engine == "ray" and ray_note:
                results.append({"engine": engine, "rows": n, "error": ray_note})
                continue
            inputs[n] = inputs.get(n) or write_input(n, Path(tmp))
            print(f"{engine} on {n:,} rows ...", file=sys.stderr, flush=True)
            results.append({"engine": engine, "rows": n, **run(engine, inputs[n], args)})

    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    print(
        f"\n{args.backend}, {args.model}, threads {args.threads or 'default'}, batch rows {args.batch_rows}; "
        f"{os.cpu_count()} cores, {cpu}; texts from {TOPIC if TOPIC.is_file() else 'the embedded sample'}\n"
    )
    print("| engine | rows | seconds | rows/s | peak RSS (MB) |\n|---|---:|---:|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['engine']} | {r['rows']:,} | {r['error']} | | |")
        else:
            print(
                f"| {r['engine']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                f"{r['peak_rss_mb']:.0f} |"
            )
    local = {r["rows"]: r for r in results if r["engine"] == "local" and "error" not in r}
    memory = next((r for r in results if r["engine"] == "memory" and "error" not in r), None)
    if len(local) > 1:
        small, large = local[min(local)], local[max(local)]
        growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
        met = growth <= 0.10 and large["peak_rss_mb"] < 1024
        print(
            f"\npeak RSS at {max(local):,} rows is {growth:+.1%} against {min(local):,} rows "
            f"(goal: within 10 % and under 1 GB: {'met' if met else 'NOT met'})"
        )
    if memory and memory["rows"] in local:
        same = local[memory["rows"]]
        ratio = (same["rows"] / same["seconds"]) / (memory["rows"] / memory["seconds"])
        print(
            f"streaming rows/s on {memory['rows']:,} rows is {ratio:.0%} of the in-memory path "
            f"(goal: at least 90 %: {'met' if ratio >= 0.9 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
