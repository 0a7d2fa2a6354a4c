"""How long textfit takes to answer: the median wall time of a few commands, each in a fresh process.

    .venv/bin/python benchmarks/startup.py [--label after] [--runs 7] [--train-runs 3] [--skip-train]

Rows: `python -c "import textfit"`, `textfit --help`, `textfit train --help`, and the article's whole
command, `textfit train --train-size 50 --test-size 10 --epochs 2`, on the embedded sample (offline,
so no hub look-up). Each --label's medians are kept in benchmarks/results/startup.json, and the table
shows every label measured so far side by side (e.g. `--label before` on the old tree, then
`--label after`; another checkout is measured with PYTHONPATH=ITS/src). Run it on a quiet machine:
a busy core doubles the wall times (the CPU times, also shown, move much less).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "startup.json"
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "src" / "textfit" / "data" / "sample" / "finance_topics.csv"


def commands(out: Path) -> dict[str, list[str]]:
    textfit = [str(BIN / "textfit")]
    return {
        'python -c "import textfit"': [sys.executable, "-c", "import textfit"],
        "textfit --help": [*textfit, "--help"],
        "textfit train --help": [*textfit, "train", "--help"],
        "textfit train (article: 50 / 10, 2 epochs)": [
            *textfit,
            "train",
            str(SAMPLE),
            "--train-size",
            "50",
            "--test-size",
            "10",
            "--epochs",
            "2",
            "--out",
            str(out),
        ],
    }


def machine() -> str:
    """The CPU's model name, its core count and whether it has native bfloat16 (AVX512-BF16)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    bf16 = "yes" if "avx512_bf16" in flags else "no"
    return f"{model}, {os.cpu_count()} cores, avx512_bf16 {bf16}, Python {platform.python_version()}"


def median_seconds(command: list[str], runs: int) -> tuple[float, float]:
    """The median wall time of `runs` runs, and the median CPU time (user + system) of the process
    and its children: the CPU time hardly moves when other work shares the cores, the wall time does."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="now", help="column name for this measurement (e.g. before, after)")
    parser.add_argument("--runs", type=int, default=7, help="runs of each quick command (median reported)")
    parser.add_argument("--train-runs", type=int, default=3, help="runs of the article's training command")
    parser.add_argument("--skip-train", action="store_true", help="leave out the training command")
    args = parser.parse_args()
    load = os.getloadavg()[0]  # other processes on these cores slow every row: say how busy they were

    with tempfile.TemporaryDirectory() as tmp:
        measured = {}
        for name, command in commands(Path(tmp) / "model").items():
            training = name.startswith("textfit train (")
            if args.skip_train and training:
                continue
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm the file cache
            wall, cpu = median_seconds(command, args.train_runs if training else args.runs)
            measured[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
            print(f"  {name}: {wall:.2f} s ({cpu:.2f} s CPU)", file=sys.stderr)

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label] = {"machine": f"{machine()}, load {load:.1f} at the start", "median": measured}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict) -> None:
    labels = list(results)
    rows = list(dict.fromkeys(name for label in labels for name in results[label]["median"]))
    width = max(len(row) for row in rows)
    print("median wall time (CPU time), s; a fresh process each run")
    print(f"{'':{width}}  " + "  ".join(f"{label:>15}" for label in labels))
    for row in rows:
        cells = [results[label]["median"].get(row) for label in labels]
        shown = (f"{c['wall_s']:6.2f} ({c['cpu_s']:5.2f})" if c else f"{'-':>15}" for c in cells)
        print(f"{row:{width}}  " + "  ".join(f"{cell:>15}" for cell in shown))
    for label in labels:
        print(f"{label}: {results[label]['machine']}")


if __name__ == "__main__":
    main()
