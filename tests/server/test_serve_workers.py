"""`textfit serve --workers N`: N processes behind one port, each with its own model, the API key
checked in every one, and Ctrl-C (SIGINT) stopping them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.serving import free_port
from support.waiting import eventually

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

KEY = "worker-test-key"


def start_serve(model_dir, port: int, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "textfit.cli", "serve", str(model_dir), "--port", str(port), *extra]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "TEXTFIT_API_KEY": ""}
    # Its own session, so that a failed test can still end the whole group (see the finally below).
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc (Linux)")
def test_two_workers_answer_on_one_port_and_sigint_stops_them_all(tiny_model_dir, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = start_serve(tiny_model_dir, port, log, "--workers", "2", "--api-key", KEY)
    try:
        pids = set()

        def health_once_two_workers_answered() -> dict | None:
            assert server.poll() is None, f"serve exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            try:  # a new connection per request: the kernel hands each to whichever worker accepts first
                health = httpx.get(f"{base}/health", timeout=5).json()
            except httpx.TransportError:
                return None
            pids.add(health["pid"])
            return health if len(pids) >= 2 else None

        health = eventually(
            health_once_two_workers_answered,
            timeout=180,
            every=0.2,
            what="two workers to answer",
            details=lambda: f"saw {pids}:\n{log.read_text()[-3000:]}",
        )
        assert pids <= descendants(server.pid), "the answering processes are not the server's workers"
        cores = len(os.sched_getaffinity(0))
        assert health["threads"] == max(1, cores // 2)  # each worker takes its share of the cores

        # The key is checked in every worker: a dozen requests without it, each on a new connection, all refused.
        for _ in range(12):
            assert httpx.post(f"{base}/predict", json={"texts": "Oil prices fall"}, timeout=10).status_code == 401
        assert httpx.get(f"{base}/health", headers={"Host": "evil.example"}, timeout=10).status_code == 403
        answers = [
            httpx.post(
                f"{base}/predict",
                json={"texts": ["Oil prices fall", "Acme Corp announces new CEO"], "top_k": 2},
                headers={"X-API-Key": KEY},
                timeout=30,
            )
            for _ in range(6)
        ]
        assert all(a.status_code == 200 for a in answers), answers[0].text
        assert len({json.dumps(a.json()) for a in answers}) == 1  # every worker serves the same model
        model = httpx.get(f"{base}/model", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
        assert len(model["labels"]) == 20
        assert answers[0].json()["predictions"][0]["label"] in model["labels"]

        family = descendants(server.pid)
        server.send_signal(signal.SIGINT)  # to the supervisor only: it must stop its workers itself
        assert server.wait(60) == 0, log.read_text()[-3000:]
        eventually(
            lambda: not any(running(pid) for pid in family),
            timeout=30,
            what="every worker to exit",
            details=lambda: f"orphans left behind:\n{log.read_text()[-3000:]}",
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_a_worker_that_cannot_load_the_model_stops_the_server_with_the_reason(tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # passes the quick check, fails in the workers
    log = tmp_path / "serve.log"
    server = start_serve(broken, free_port(), log, "--workers", "2")
    try:
        code = server.wait(180)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    output = log.read_text()
    assert code == 1, output[-3000:]
    assert "a worker could not start" in output


def test_no_config_json_fails_before_any_worker_starts(tmp_path):
    from textfit.errors import ModelError
    from textfit.server.app import serve

    with pytest.raises(ModelError, match="not a trained model folder"):
        serve(tmp_path, workers=2)
    with pytest.raises(Exception, match="workers must be at least 1"):
        serve(tmp_path, workers=0)
