"""The studio's classification jobs ("Classify a file"): at most one per run, each in a process of
its own (`python -m textfit.server.studio.classify.job RUN/classify`, job.py), followed through
its files in `runs/<run>/classify/`, so a reloaded page (or a restarted studio) finds it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from ..downloads.archive import file_name_part
from ..errors import StudioError
from ..processes import end_processes, runs_with
from ..uploads.incoming import write_stream
from .file_preview import inspect_file
from .job import FOLDER, JOB, LOG, PROGRESS, RESULTS, read_json, write_json

JOB_MODULE = "textfit.server.studio.classify.job"
READABLE = (".txt",)
"""Beside the data formats a training upload may have: a text file of one message a line."""


class FileJobs:
    """The studio's classification jobs: at most one per run, each in a process of its own."""

    def __init__(self, runs, models, uploads, python: str):
        self.runs, self.models, self.uploads = runs, models, uploads
        self.python = python
        """The interpreter that runs the jobs (tests put a stand-in here)."""
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()

    def folder(self, run_id: str) -> Path:
        return self.runs.folder(run_id) / FOLDER

    async def receive(self, chunks, filename: str) -> dict:
        """A file to classify, streamed to disk as it arrives (the same store and limits as a training upload)."""
        return await write_stream(self.uploads.incoming(filename, READABLE), chunks, self.register)

    def register(self, upload, sheet: str | None = None) -> dict:
        """Describe and record a file received for classifying."""
        described = inspect_file(upload.path, upload.original_name, sheet)
        self.uploads.store.add_upload(
            upload.id, upload.filename, upload.original_name, upload.size, None, described["columns"]
        )
        return {"upload": self.uploads.store.get_upload(upload.id), **described}

    def describe_upload(self, upload_id: str, sheet: str | None) -> dict:
        upload = self._upload(upload_id)
        return {"upload": upload, **inspect_file(self.uploads.path(upload), upload["original_name"], sheet)}

    def _upload(self, upload_id: str) -> dict:
        return self.uploads.get(upload_id, "no such upload: upload the file again")

    def start(
        self,
        run_id: str,
        upload_id: str,
        text_column: str | None,
        sheet: str | None,
        min_confidence: float | None,
    ) -> dict:
        run = self.runs.get(run_id)
        if run["status"] in ("running", "queued"):
            raise StudioError("this model is still training: classify a file once training has ended", 409)
        model = self.models.folder(run_id)
        upload = self._upload(upload_id)
        described = inspect_file(self.uploads.path(upload), upload["original_name"], sheet)
        text_column = text_column or described["text_column"]
        if not text_column:
            raise StudioError(described["problem"] or "pick the column that holds the texts")
        if text_column not in described["columns"]:
            raise StudioError(
                f"'{upload['original_name']}' has no column '{text_column}'. "
                f"The columns are: {', '.join(described['columns'])}"
            )
        with self.lock:
            current = self.state(run_id)
            if current and current["status"] == "running":
                raise StudioError(
                    f"this model is already classifying '{current['input_name']}': wait for it to "
                    "finish, or stop it, before starting another file",
                    409,
                )
            folder = self.folder(run_id)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            job = {
                "input": str(self.uploads.path(upload)),
                "input_name": upload["original_name"],
                "upload_id": upload_id,
                "sheet": described["sheet"],
                "text_column": text_column,
                "min_confidence": min_confidence,
                "model": str(model),
                "created": time.time(),
                "pid": None,
            }
            write_json(folder / JOB, job)
            self._spawn(run_id, folder, job)
        return self.state(run_id)

    def _spawn(self, run_id: str, folder: Path, job: dict) -> None:
        """Start the job's process; one that cannot start is recorded as failed, for the page."""
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        try:
            with (folder / LOG).open("ab") as log_file:
                # Not a session of its own: Ctrl-C on the studio's terminal stops it too.
                process = subprocess.Popen(
                    [self.python, "-m", JOB_MODULE, str(folder)],
                    cwd=folder,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            write_json(
                folder / PROGRESS,
                {
                    "status": "failed",
                    "rows": 0,
                    "finished": time.time(),
                    "error": f"the classifying process could not start: {exc}",
                },
            )
        else:
            self.procs[run_id] = process
            write_json(folder / JOB, {**job, "pid": process.pid})

    def upload_ids(self) -> set[str]:
        """The files the runs' jobs classified or are classifying (kept while the job's record is)."""
        jobs = (read_json(self.folder(run["id"]) / JOB) for run in self.runs.store.list_runs())
        return {job["upload_id"] for job in jobs if job and job.get("upload_id")}

    def stop(self, run_id: str) -> dict:
        with self.lock:
            state = self.state(run_id)
            if not state or state["status"] != "running":
                raise StudioError("no file is being classified with this model", 409)
            job = read_json(self.folder(run_id) / JOB)
            write_json(self.folder(run_id) / JOB, {**job, "stop_requested": True})
            try:
                os.kill(job["pid"], signal.SIGTERM)  # the job records "stopped" and removes its partial files
            except (ProcessLookupError, TypeError):
                pass
        return self.state(run_id)

    def stop_all(self, grace_s: float) -> None:
        """At the studio's shutdown: stop the jobs it started (each records "stopped" and removes its
        partial files), SIGKILL after `grace_s`. Not left running without anyone to follow them."""
        with self.lock:
            live = {run_id: p for run_id, p in self.procs.items() if p.poll() is None}
            for run_id in live:
                job = read_json(self.folder(run_id) / JOB) or {}
                write_json(self.folder(run_id) / JOB, {**job, "stop_requested": True})
            end_processes(list(live.values()), grace_s)
            self.procs.clear()

    def state(self, run_id: str) -> dict | None:
        """The run's latest job as the page shows it, or None. A job whose process is gone without
        an outcome failed (or was stopped); the outcome is written for the next look."""
        folder = self.folder(run_id)
        job = read_json(folder / JOB)
        if job is None:
            return None
        progress = read_json(folder / PROGRESS) or {"status": "running", "rows": 0, "phase": "starting"}
        if progress["status"] == "running" and not self._alive(run_id, job, folder):
            progress = {
                **progress,
                "status": "stopped" if job.get("stop_requested") else "failed",
                "finished": time.time(),
                "error": (
                    "stopped before the end; nothing was saved"
                    if job.get("stop_requested")
                    else "the classifying process ended without finishing (the studio or the computer was "
                    f"restarted, or it ran out of memory; see {FOLDER}/{LOG} in the run's folder)"
                ),
            }
            write_json(folder / PROGRESS, progress)
        state = {key: job.get(key) for key in ("input_name", "sheet", "text_column", "min_confidence", "created")}
        state.update(progress)
        if progress.get("started") and progress.get("rows"):
            seconds = (progress.get("finished") or time.time()) - progress["started"]
            state["rows_per_second"] = round(progress["rows"] / seconds, 1) if seconds > 0 else None
        done = progress["status"] == "completed"
        state["downloads"] = [kind for kind, name in RESULTS.items() if done and (folder / name).is_file()]
        state["unanswerable"] = self.unanswerable(run_id)
        return state

    def unanswerable(self, run_id: str) -> list[str]:
        """The categories the run's model was trained without: no row can be answered with one of them."""
        from ....data.coverage import LEFT_OUT

        try:
            settings = self.runs.get(run_id).get("settings") or {}
        except StudioError:
            return []
        return list((settings.get("extra") or {}).get(LEFT_OUT) or {})

    def _alive(self, run_id: str, job: dict, folder: Path) -> bool:
        process = self.procs.get(run_id)
        if process is not None and process.pid == job.get("pid"):
            return process.poll() is None
        return _job_process_alive(job.get("pid"), folder)

    def result(self, run_id: str, kind: str) -> tuple[Path, str]:
        if kind not in RESULTS:
            raise StudioError(f"no such format '{kind}'; choose csv or xlsx", 404)
        state = self.state(run_id)
        path = self.folder(run_id) / RESULTS[kind]
        if not state or state["status"] != "completed" or not path.is_file():
            reason = (
                "more rows than an Excel sheet holds: download the CSV"
                if (state and state["status"] == "completed" and kind == "xlsx")
                else "classify a file first"
            )
            raise StudioError(f"no classified file to download ({reason})", 404)
        return path, classified_name(state["input_name"], self.runs.get(run_id).get("name"), kind)


def classified_name(input_name: str, model_name: str | None, kind: str) -> str:
    """A classified file's name: the input's and the model's, e.g. "tickets classified by Support inbox.xlsx"."""
    stem = file_name_part(Path(input_name).stem) or "file"
    model = file_name_part(model_name or "", 60)
    return f"{stem} classified by {model}.{kind}" if model else f"{stem} classified.{kind}"


def _job_process_alive(pid: int | None, folder: Path) -> bool:
    """Is `pid` still this folder's job?"""
    return runs_with(pid, JOB_MODULE, str(folder))
