"""One epoch of training in one process against two (torchrun, gloo on the CPU): what a second
process buys on the same cores, and what the gradient exchange would cost between two machines.

    .venv/bin/python benchmarks/distributed.py [--data CSV] [--rows N] [--epochs 1]

Rows:
  1 process x 2 threads    `textfit train` with OMP_NUM_THREADS=2
  2 processes x 1 thread   `torchrun --standalone --nproc-per-node 2 -m textfit train` with OMP_NUM_THREADS=1
Both train the same global batch (`--batch-size` is global), with checkpoints off, on the full
finance-topic training set by default (../shared/data/...; skipped when absent) with textfit's 20 %
hold-out, or on a random --rows sample (and a quarter as many held-out messages) to try it quickly.

Columns: seconds per epoch (training examples / throughput: the n-gram fit and evaluations left
out), held-out accuracy, peak memory of each process, and, for the two-process row, the gradient
bytes each process all-reduces a step (the trainable weights in fp32; the frozen word embeddings
send nothing) and the time of that all-reduce between the two processes on this machine, timed
apart from training (the gradients in DDP's 25 MB buckets, gloo, median of --repeats). From the
bytes: a ring all-reduce between 2 machines moves each gradient byte once each way, so at 10 Gb/s
one step costs bytes x 8 / 10e9 seconds on the wire (before overlap with the backward pass).

Run one benchmark at a time on a quiet machine (DEVELOPERS.md): processes on 2 shared cores slow
each other 3-4x. Results accumulate in benchmarks/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import saved
from common import TOPIC

BUCKET_BYTES = 25 * 2**20  # DistributedDataParallel's default bucket_cap_mb
LINK_BITS_PER_S = 10e9


def train_row(name: str, processes: int, threads: int, args, folder: Path) -> dict:
    from textfit.data.labeled import TOPIC_LABELS

    out = folder / name.replace(" ", "-")
    options = [
        "train",
        str(args.data),
        "--label-names",
        ",".join(TOPIC_LABELS),
        "--epochs",
        str(args.epochs),
        "--checkpoint-minutes",
        "0",
        "--strategy",
        "finetune",
        "--no-final-fit",
        "--out",
        str(out),
        "--model",
        args.model,
    ]
    if args.rows:
        options += ["--train-size", str(args.rows), "--test-size", str(max(50, args.rows // 4))]
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
        if processes > 1
        else [sys.executable]
    )
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    tick = time.perf_counter()
    run = subprocess.run([*launcher, "-m", "textfit", *options], env=env, capture_output=True, text=True)
    wall_s = time.perf_counter() - tick
    if run.returncode != 0:
        log = Path(tempfile.gettempdir()) / f"textfit-benchmark-{out.name}.log"
        log.write_text(run.stdout + run.stderr)
        sys.exit(f"{name} failed (whole output in {log}):\n{run.stderr[-3000:]}")
    record = json.loads((out / "textfit.json").read_text())
    training, timings = record["training"], record["timings"]
    return {
        "row": name,
        "processes": processes,
        "threads": threads,
        "train_examples": record["data"]["train_examples"],
        "held_out": record["data"]["eval_examples"],
        "steps": training["steps"],
        "batch_size": training["batch_size"],
        "epoch_s": round(record["data"]["train_examples"] / timings["examples_per_s"], 1),
        "examples_per_s": timings["examples_per_s"],
        "eval_s": timings["eval_s"],
        "wall_s": round(wall_s, 1),
        "accuracy": record["metrics"]["accuracy"],
        "encoder_accuracy": (record.get("lexical") or {})
        .get("encoder_metrics", {})
        .get("accuracy", record["metrics"]["accuracy"]),
        "peak_rss_mb_by_process": training.get("peak_rss_mb_by_process") or [training["peak_rss_mb"]],
        "gradient_mb_per_step": training.get("gradient_mb_per_step"),
    }


def allreduce_row(args) -> dict:
    """Time the gradient all-reduce alone: two processes, one thread each, gloo."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(Path(__file__).resolve()),
        "--allreduce-worker",
        "--model",
        args.model,
        "--repeats",
        str(args.repeats),
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        sys.exit(f"all-reduce timing failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return json.loads(lines[-1])


def allreduce_worker(args) -> None:
    """Under torchrun: the model's trainable gradients, in DDP's buckets, all-reduced --repeats times."""
    import statistics

    import torch
    import torch.distributed as dist

    from textfit.config import TrainConfig
    from textfit.data.labeled import TOPIC_LABELS
    from textfit.model.base_models import add_mean_pooling_layer, build_classifier
    from textfit.training.loop import build_optimizer

    dist.init_process_group("gloo")
    model = build_classifier(args.model, TOPIC_LABELS)
    add_mean_pooling_layer(model)
    build_optimizer(model, TrainConfig())  # freezes what training freezes (the word embeddings)
    sizes = [p.numel() for p in model.parameters() if p.requires_grad]
    buckets, current = [], 0
    for size in sizes:
        if current and (current + size) * 4 > BUCKET_BYTES:
            buckets.append(current)
            current = 0
        current += size
    buckets.append(current)
    tensors = [torch.randn(n) for n in buckets]
    for tensor in tensors:  # warm-up: connections, buffers
        dist.all_reduce(tensor)
    times = []
    for _ in range(args.repeats):
        dist.barrier()
        tick = time.perf_counter()
        for tensor in tensors:
            dist.all_reduce(tensor)
        times.append(time.perf_counter() - tick)
    if dist.get_rank() == 0:
        gradient_bytes = sum(buckets) * 4
        print(
            json.dumps(
                {
                    "gradient_mb": round(gradient_bytes / 1e6, 2),
                    "buckets": len(buckets),
                    "allreduce_ms_local": round(1000 * statistics.median(times), 1),
                    "allreduce_ms_at_10gbps": round(1000 * gradient_bytes * 8 / LINK_BITS_PER_S, 1),
                }
            ),
            flush=True,
        )
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=TOPIC, help="labelled CSV (default: the finance topics)")
    parser.add_argument("--rows", type=int, help="train on a random sample of this many rows (default: all)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=20, help="all-reduce timings to take the median of")
    parser.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allreduce_worker:
        return allreduce_worker(args)
    if not args.data.is_file():
        print(f"skipped: {args.data} is not here (the shared data sets live in ../shared/data)", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            train_row("1 process x 2 threads", 1, 2, args, Path(tmp)),
            train_row("2 processes x 1 thread", 2, 1, args, Path(tmp)),
        ]
    communication = allreduce_row(args)
    rows[1].update(communication)
    print_table(rows, communication)
    saved.append(
        "distributed",
        [
            {
                "data": str(args.data),
                "rows": args.rows,
                "epochs": args.epochs,
                "model": args.model,
                "when": time.strftime("%Y-%m-%d %H:%M"),
                "machine": f"{os.cpu_count()} cores",
                "results": rows,
            }
        ],
    )


def print_table(rows: list[dict], communication: dict) -> None:
    print(
        f"\n{'':24} {'train':>6} {'steps':>6} {'s/epoch':>8} {'ex/s':>7} {'accuracy':>8} {'encoder':>8} "
        f"{'peak MB per process':>20}"
    )
    for r in rows:
        peaks = " / ".join(f"{m:.0f}" for m in r["peak_rss_mb_by_process"])
        print(
            f"{r['row']:24} {r['train_examples']:>6} {r['steps']:>6} {r['epoch_s']:>8.1f} {r['examples_per_s']:>7.1f} "
            f"{r['accuracy']:>8.4f} {r['encoder_accuracy']:>8.4f} {peaks:>20}"
        )
    steps = rows[1]["steps"]
    print(
        f"\ngradient all-reduced a step: {communication['gradient_mb']:.1f} MB "
        f"in {communication['buckets']} bucket(s); "
        f"{communication['allreduce_ms_local']:.1f} ms between 2 processes here (gloo, median); "
        f"{communication['allreduce_ms_at_10gbps']:.1f} ms on the wire at 10 Gb/s between 2 machines, "
        f"{communication['allreduce_ms_at_10gbps'] * steps / 1000:.1f} s over this run's {steps} steps"
    )


if __name__ == "__main__":
    main()
