"""A short soak of `textfit serve` in CI: 32 clients without pause against a real server process
(benchmarks/serve_load.py). The 5-minute soak with a MiniLM model is a benchmark (docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def test_32_clients_get_answers_and_the_server_stays_up(tiny_model_dir, tmp_path):
    out = tmp_path / "soak.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TEXTFIT_API_KEY": "soak-key"}  # the key path too
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tiny_model_dir),
            "--clients",
            "32",
            "--duration",
            "6",
            "--warmup",
            "1",
            "--rss-every",
            "1",
            "--server-arg=--threads=1",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    level = report["levels"][0]
    assert report["server_alive_after"] and level["errors"] == 0 and level["requests"] > 100
    memory = level["rss_mb"]
    assert memory and len(memory["samples"]) >= 5 and memory["end"] > 0
