"""Where the benchmark scripts keep what they measured: benchmarks/results/NAME.json, a list that
each run appends to (earlier runs stay: docs/benchmarks.md quotes them)."""

from __future__ import annotations

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "results"


def append(name: str, rows: list) -> Path:
    """Add `rows` to benchmarks/results/`name`.json; returns its path."""
    path = FOLDER / f"{name}.json"
    FOLDER.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(previous + rows, indent=1))
    return path
