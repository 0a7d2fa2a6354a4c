""" "Serve this model": the studio starts `textfit serve` for a finished run and stops it again.

One server per run, on a free port of 127.0.0.1 (this computer only, so no API key), with one
thread (the studio and a training run share the cores). Each server is written down in
RUN_DIR/serve.json (pid, port, url) and logs to RUN_DIR/serve.log. It is stopped when its run is
deleted and when the studio shuts down. A studio that crashed leaves its servers running: the
next studio start *adopts* every one whose process is still that server and whose /health
answers (the URL people were given keeps working, and "Stop serving" stops it), and stops any other."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from ..errors import StudioError
from ..processes import live_command
from ..runs.worker import write_json

SERVER_FILE = "serve.json"
SERVER_LOG = "serve.log"
HOST = "127.0.0.1"
EXAMPLE_TEXT = "Your message here"
# The studio's own process must never be proxied to a server on this computer.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = HOST) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def answers_health(url: str, timeout: float = 1.0) -> bool:
    try:
        with _LOCAL.open(f"{url}/health", timeout=timeout) as response:
            return response.status == 200 and json.load(response).get("status") == "ok"
    except (OSError, ValueError):
        return False


def curl_example(url: str) -> str:
    body = json.dumps({"texts": EXAMPLE_TEXT})
    return f"curl -s {url}/predict -H 'content-type: application/json' -d '{body}'"


def is_server_of(pid: int | None, model_folder: str) -> bool:
    """Is `pid` alive and a `textfit serve` of this folder?"""
    command = live_command(pid)
    return command is not None and (not command or ("serve" in command and model_folder in command))


class ModelServers:
    """The `textfit serve` processes of a studio, one per run at most."""

    def __init__(self, runs, models, start_timeout_s: float = 120.0, threads: int = 1):
        self.runs, self.models = runs, models
        self.start_timeout_s = start_timeout_s
        self.threads = threads
        self.procs: dict[str, subprocess.Popen] = {}
        self.starting = threading.Lock()  # two clicks on "Serve" start one server
        self.adopted = self.adopt_leftovers()

    def record_path(self, run_id: str) -> Path:
        return self.runs.folder(run_id) / SERVER_FILE

    def record(self, run_id: str) -> dict | None:
        """The run's server if it is still alive (a dead one's record is removed), else None."""
        path = self.record_path(run_id)
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        process = self.procs.get(run_id)
        alive = process.poll() is None if process else is_server_of(info.get("pid"), info.get("model_folder", ""))
        if not alive:
            self.procs.pop(run_id, None)
            path.unlink(missing_ok=True)
            return None
        return info

    def status(self, run_id: str) -> dict:
        info = self.record(run_id)
        if info is None:
            return {"serving": False}
        return {
            "serving": True,
            "url": info["url"],
            "port": info["port"],
            "pid": info["pid"],
            "started": info["started"],
            "adopted": run_id in self.adopted,
            "curl": curl_example(info["url"]),
        }

    def start(self, run_id: str) -> dict:
        """Start the run's server and return once its /health answers (or say why it did not)."""
        run = self.runs.get(run_id)
        if run["status"] in ("running", "queued"):
            raise StudioError("this run is still training: serve it once it has finished", 409)
        folder = self.models.folder(run_id)
        with self.starting:
            if self.record(run_id):
                return self.status(run_id)
            process, url = self._spawn(run_id, folder)
            deadline = time.time() + self.start_timeout_s
            while not answers_health(url):
                if process.poll() is not None or time.time() > deadline:
                    self.stop(run_id)
                    raise StudioError(f"the model server did not start: {self._last_log_line(run_id)}", 500)
                time.sleep(0.2)
        return self.status(run_id)

    def _spawn(self, run_id: str, folder: Path) -> tuple[subprocess.Popen, str]:
        port = free_port()
        command = [
            sys.executable,
            "-c",
            "from textfit.cli import app; app(prog_name='textfit')",
            "serve",
            str(folder),
            "--host",
            HOST,
            "--port",
            str(port),
            "--threads",
            str(self.threads),
        ]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        env.pop("TEXTFIT_API_KEY", None)  # on loopback without a key, so the curl example works as shown
        run_dir = self.runs.folder(run_id)
        with (run_dir / SERVER_LOG).open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[run_id] = process
        url = f"http://{HOST}:{port}"
        write_json(
            self.record_path(run_id),
            {"pid": process.pid, "port": port, "url": url, "model_folder": str(folder), "started": time.time()},
        )
        return process, url

    def _last_log_line(self, run_id: str) -> str:
        try:
            lines = (self.runs.folder(run_id) / SERVER_LOG).read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "no answer from it (details in the run's serve.log)"

    def stop(self, run_id: str, grace_s: float = 5.0) -> dict:
        """Stop the run's server, if it has one (SIGTERM, then SIGKILL after `grace_s`)."""
        info = self.record(run_id)
        process = self.procs.pop(run_id, None)
        if process is not None:
            process.terminate()
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elif info is not None:  # adopted: not our child, so watch its pid
            _end_pid(info["pid"], info["model_folder"], grace_s)
        self.record_path(run_id).unlink(missing_ok=True)
        self.adopted.discard(run_id)
        return {"serving": False}

    def stop_all(self) -> None:
        for run_id in self._recorded():
            self.stop(run_id)

    def adopt_leftovers(self) -> set[str]:
        """At start-up: keep the servers a crashed studio left that still answer; stop the others."""
        adopted = set()
        for run_id in self._recorded():
            info = self.record(run_id)
            if info and answers_health(info["url"], timeout=2.0):
                adopted.add(run_id)
            elif info:
                _end_pid(info["pid"], info["model_folder"], 5.0)
                self.record_path(run_id).unlink(missing_ok=True)
        return adopted

    def _recorded(self) -> list[str]:
        return sorted(path.parent.name for path in self.runs.root.glob(f"*/{SERVER_FILE}"))


def _end_pid(pid: int, model_folder: str, grace_s: float) -> None:
    if not is_server_of(pid, model_folder):
        return
    with contextlib.suppress(ProcessLookupError):  # it may end by itself meanwhile
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + grace_s
        while is_server_of(pid, model_folder):
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)
