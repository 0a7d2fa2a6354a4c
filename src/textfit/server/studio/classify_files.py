"""The studio's "Classify a file": a trained run's model labels every row of an uploaded file, with
the engine behind `textfit predict --input --output` (batch.BatchPredictor over batch_io's
readers and writers), in a process of its own so the page stays responsive.

The job lives in files, so a reloaded page (or a restarted studio) finds it: `runs/<run>/classify/`
holds `job.json` (what was asked and the process id; written by the studio), `progress.json` (phase,
rows done and total, pace, answers per label, the outcome; written by the job) and the results,
`classified.csv` and `classified.xlsx` (the input's columns, then the answer, its confidence and
the runners-up). One job at a time per run; a new one replaces the last one's files.

    python -m textfit.server.studio.classify_files RUN/classify     # what the studio starts
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from ...errors import TextfitError
from ..common import StudioError, end_processes, naming_the_upload
from .progress import runs_with

log = logging.getLogger("textfit")
FOLDER, JOB, PROGRESS, LOG = "classify", "job.json", "progress.json", "job.log"
RESULTS = {"csv": "classified.csv", "xlsx": "classified.xlsx"}
READABLE = (".txt",)
"""Beside the data formats a training upload may have: a text file of one message a line."""
ANSWER_COLUMNS = ("predicted label", "confidence", "2nd choice", "2nd confidence", "3rd choice", "3rd confidence")
"""What the answer columns are called in the results (the engine's label, score, label_2, ...)."""
BATCH_ROWS = 256
"""Rows classified and written at a time: the page's progress moves at least this often."""
PREVIEW_ROWS = 5
PREVIEW_CHARS = 200


# --- the job (in its own process) --------------------------------------------------------------
def run_job(folder: Path) -> dict:
    """Classify the file `job.json` names, reporting into `progress.json`; the outcome, also written there."""
    import pandas as pd

    from ...data.streaming import EXCEL_MAX_ROWS, Source, batches, open_sink, partial_path, remove_partial
    from ...predict.batch import BatchPredictor

    job = json.loads((folder / JOB).read_text())
    source_path, display = Path(job["input"]), job["input_name"]
    report = ProgressReport(folder)
    sinks = []
    try:
        report.update(phase="counting")
        source = Source(source_path, job["sheet"])
        total = source.total_rows
        if total is None:  # reading is tens of times faster than classifying: count exactly first
            total = sum(len(frame) for frame in Source(source_path, job["sheet"]).frames())
        if not total:
            raise TextfitError(f"{display}: has no data rows")
        report.update(phase="loading", total=total)
        predictor = BatchPredictor(
            job["model"], top_k=3, text_column=job["text_column"], min_confidence=job["min_confidence"]
        )
        renamed = dict(zip(predictor.columns, ANSWER_COLUMNS))
        excel_fits = total <= EXCEL_MAX_ROWS - 1
        outputs = {"csv": folder / RESULTS["csv"], **({"xlsx": folder / RESULTS["xlsx"]} if excel_fits else {})}
        sinks = [(output, open_sink(output, partial_path(output), 0)) for output in outputs.values()]
        report.update(phase="classifying", started=time.time())
        counts, rows, empty = Counter(), 0, 0
        for frame in batches(source.frames(), BATCH_ROWS):
            frame.columns = [str(c) for c in frame.columns]
            # Only the texts go in: the engine's columns (label, score, ...) would overwrite an input's own "label".
            answers = predictor(frame[[job["text_column"]]])[predictor.columns]
            labels = answers["label"]
            answers = answers.assign(**{c: answers[c].round(4) for c in answers.columns if c.startswith("score")})
            answers.columns = [_unique(renamed[c], frame.columns) for c in answers.columns]
            answered = pd.concat([frame, answers], axis=1)
            for _, sink in sinks:
                sink.write(answered)
            counts.update(labels[labels != ""].tolist())
            rows, empty = rows + len(frame), empty + int((labels == "").sum())
            report.update(rows=rows, empty_rows=empty, label_counts=_ordered(counts))
        report.update(phase="saving", force=True)
        for output, sink in sinks:
            sink.finish(output)
        return report.update(status="completed", phase="done", finished=time.time(), force=True)
    except KeyboardInterrupt:  # the page's Stop (SIGTERM) or the studio's Ctrl-C
        return _give_up(report, sinks, status="stopped", error="stopped before the end; nothing was saved")
    except TextfitError as exc:
        message = str(exc).replace(str(source_path), f"'{display}'").replace(str(job["model"]), "the model")
        return _give_up(report, sinks, status="failed", error=message.replace("--text-column", "the column picker"))
    except Exception as exc:  # a bug or the machine: say what, the traceback goes to job.log
        log.exception("classifying %s failed", display)
        return _give_up(report, sinks, status="failed", error=f"classifying stopped: {type(exc).__name__}: {exc}")
    finally:
        for output, _ in sinks:
            remove_partial(partial_path(output))


def _give_up(report: "ProgressReport", sinks: list, status: str, error: str) -> dict:
    for output, sink in sinks:
        sink.close()
        output.unlink(missing_ok=True)
    return report.update(status=status, error=error, finished=time.time(), force=True)


def _unique(name: str, taken) -> str:
    """`name`, or `name (2)`, ... when the input already has a column of that name (a file classified before)."""
    taken, candidate, n = set(taken), name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def _ordered(counts: Counter) -> dict:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class ProgressReport:
    """`progress.json`, replaced whole (readers never see half a file), at most every half second unless forced."""

    def __init__(self, folder: Path):
        self.path, self.state, self.written = folder / PROGRESS, {"status": "running", "rows": 0}, 0.0

    def update(self, force: bool = False, **fields) -> dict:
        self.state.update(fields)
        now = time.time()
        if force or "phase" in fields or now - self.written >= 0.5:
            _write_json(self.path, self.state)
            self.written = now
        return self.state


def _write_json(path: Path, payload: dict) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(payload, default=str))
    os.replace(partial, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    # Explicit: a process started from a background shell inherits SIGINT as ignored (DEVELOPERS.md).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    outcome = run_job(Path(argv[0]))
    return 0 if outcome["status"] == "completed" else 1


# --- the studio's side ------------------------------------------------------------------------
def inspect_file(path: Path, display: str, sheet: str | None = None) -> dict:
    """What the page shows before classifying: the sheets (Excel), the columns, the first rows and
    the text column found. Without `sheet`, a workbook's first sheet that has rows."""
    from ...data.readers import choose_sheet
    from ...data.streaming import Source, kind
    from ...data.texts import find_text_column
    from ...errors import DataError

    try:
        sheets = _sheet_names(path) if kind(path) == "excel" else None
        candidates = [choose_sheet(sheets, sheet, path)] if sheets and sheet else sheets or [None]
        first = None
        for candidate in candidates:
            first = next((frame for frame in Source(path, candidate).frames() if len(frame)), None)
            if first is not None:
                sheet = candidate
                break
        if first is None:
            where = f"sheet '{candidates[0]}' of " if sheets and len(candidates) == 1 and len(sheets) > 1 else ""
            raise DataError(f"{where}{path} has no data rows")
    except DataError as exc:
        raise naming_the_upload(exc, path, display) from None
    first.columns = [str(c) for c in first.columns]
    try:
        text_column, problem = find_text_column(first, display), None
    except DataError as exc:
        text_column, problem = None, str(exc).replace("; use --text-column", ": pick it below")
    head = first.head(PREVIEW_ROWS).astype(object).where(first.head(PREVIEW_ROWS).notna(), "")
    preview = [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)]
    return {
        "sheets": sheets,
        "sheet": sheet,
        "columns": list(first.columns),
        "preview": preview,
        "text_column": text_column,
        "problem": problem,
    }


def _sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    from ...errors import DataError

    try:
        workbook = load_workbook(path, read_only=True)
    except Exception as exc:  # zipfile, openpyxl and XML errors: not a workbook
        raise DataError(
            f"{path}: is not a readable Excel workbook ({type(exc).__name__}: {exc}). "
            "Open it in Excel and save it again as .xlsx, or as CSV."
        ) from None
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _cell(value) -> str:
    text = str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


class FileJobs:
    """The studio's classification jobs: at most one per run, each in a process of its own."""

    def __init__(self, studio):
        self.studio = studio
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()

    def folder(self, run_id: str) -> Path:
        return self.studio.run_dir(run_id) / FOLDER

    def receive(self, upload, sheet: str | None = None) -> dict:
        """Describe and record a file received for classifying (the studio's upload store and limits)."""
        described = inspect_file(upload.path, upload.original_name, sheet)
        self.studio.store.add_upload(
            upload.id, upload.filename, upload.original_name, upload.size, None, described["columns"]
        )
        return {"upload": self.studio.store.get_upload(upload.id), **described}

    def describe_upload(self, upload_id: str, sheet: str | None) -> dict:
        upload = self._upload(upload_id)
        return {"upload": upload, **inspect_file(self.studio.upload_path(upload), upload["original_name"], sheet)}

    def _upload(self, upload_id: str) -> dict:
        upload = self.studio.store.get_upload(upload_id)
        if upload is None:
            raise StudioError("no such upload: upload the file again", 404)
        return upload

    def start(
        self,
        run_id: str,
        upload_id: str,
        text_column: str | None,
        sheet: str | None,
        min_confidence: float | None,
    ) -> dict:
        run = self.studio.get_run(run_id)
        if run["status"] in ("running", "queued"):
            raise StudioError("this model is still training: classify a file once training has ended", 409)
        model = self.studio.model_folder(run_id)
        upload = self._upload(upload_id)
        described = inspect_file(self.studio.upload_path(upload), upload["original_name"], sheet)
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
                "input": str(self.studio.upload_path(upload)),
                "input_name": upload["original_name"],
                "upload_id": upload_id,
                "sheet": described["sheet"],
                "text_column": text_column,
                "min_confidence": min_confidence,
                "model": str(model),
                "created": time.time(),
                "pid": None,
            }
            _write_json(folder / JOB, job)
            env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
            try:
                with (folder / LOG).open("ab") as log_file:
                    # Not a session of its own: Ctrl-C on the studio's terminal stops it too.
                    process = subprocess.Popen(
                        [self.studio.python, "-m", "textfit.server.studio.classify_files", str(folder)],
                        cwd=folder,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                    )
            except OSError as exc:
                _write_json(
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
                _write_json(folder / JOB, {**job, "pid": process.pid})
        return self.state(run_id)

    def stop(self, run_id: str) -> dict:
        with self.lock:
            state = self.state(run_id)
            if not state or state["status"] != "running":
                raise StudioError("no file is being classified with this model", 409)
            job = _read_json(self.folder(run_id) / JOB)
            _write_json(self.folder(run_id) / JOB, {**job, "stop_requested": True})
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
                job = _read_json(self.folder(run_id) / JOB) or {}
                _write_json(self.folder(run_id) / JOB, {**job, "stop_requested": True})
            end_processes(list(live.values()), grace_s)
            self.procs.clear()

    def state(self, run_id: str) -> dict | None:
        """The run's latest job as the page shows it, or None. A job whose process is gone without
        an outcome failed (or was stopped); the outcome is written for the next look."""
        folder = self.folder(run_id)
        job = _read_json(folder / JOB)
        if job is None:
            return None
        progress = _read_json(folder / PROGRESS) or {"status": "running", "rows": 0, "phase": "starting"}
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
            _write_json(folder / PROGRESS, progress)
        state = {key: job.get(key) for key in ("input_name", "sheet", "text_column", "min_confidence", "created")}
        state.update(progress)
        if progress.get("started") and progress.get("rows"):
            seconds = (progress.get("finished") or time.time()) - progress["started"]
            state["rows_per_second"] = round(progress["rows"] / seconds, 1) if seconds > 0 else None
        done = progress["status"] == "completed"
        state["downloads"] = [kind for kind, name in RESULTS.items() if done and (folder / name).is_file()]
        return state

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
        return path, f"{Path(state['input_name']).stem or 'file'}-classified.{kind}"


def _job_process_alive(pid: int | None, folder: Path) -> bool:
    """Is `pid` still this folder's job?"""
    return runs_with(pid, "textfit.server.studio.classify_files", str(folder))


def classify_router(studio):
    """The endpoints of "Classify a file": upload, look, start, follow, stop, download."""
    import asyncio

    from fastapi import APIRouter, Query, Request
    from fastapi.responses import FileResponse
    from pydantic import BaseModel, ConfigDict, Field

    from .uploads import IncomingUpload

    jobs = studio.file_jobs = FileJobs(studio)  # housekeeping asks it before deleting a run
    router = APIRouter()

    class StartJob(BaseModel):
        model_config = ConfigDict(extra="forbid")
        upload_id: str = Field(..., max_length=100)
        text_column: str | None = Field(None, max_length=1000)
        sheet: str | None = Field(None, max_length=1000)
        min_confidence: float | None = Field(None, ge=0, le=1)

    @router.put("/api/uploads/to-classify")
    async def upload_to_classify(request: Request, filename: str = Query(..., max_length=1000)):
        """A file to classify, streamed to disk as it arrives (the same store and limits as a training upload)."""
        with IncomingUpload(studio.workdir / "uploads", filename, studio.limits.max_upload_bytes, READABLE) as upload:
            async for chunk in request.stream():
                upload.write(chunk)
            upload.finish()
            return await asyncio.to_thread(jobs.receive, upload)

    @router.get("/api/uploads/{upload_id}/to-classify")
    async def describe(upload_id: str, sheet: str | None = Query(None, max_length=1000)):
        return await asyncio.to_thread(jobs.describe_upload, upload_id, sheet)

    @router.post("/api/runs/{run_id}/classify", status_code=202)
    async def start(run_id: str, request: StartJob):
        return {"job": await asyncio.to_thread(jobs.start, run_id, **request.model_dump())}

    @router.get("/api/runs/{run_id}/classify")
    async def state(run_id: str):
        studio.run_dir(run_id)  # a valid id
        return {"job": await asyncio.to_thread(jobs.state, run_id)}

    @router.post("/api/runs/{run_id}/classify/stop")
    async def stop(run_id: str):
        return {"job": await asyncio.to_thread(jobs.stop, run_id)}

    @router.get("/api/runs/{run_id}/classify/download")
    async def download(run_id: str, format: str = "csv"):
        path, name = await asyncio.to_thread(jobs.result, run_id, format)
        media = "text/csv" if format == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return FileResponse(path, media_type=media, filename=name, headers={"Cache-Control": "no-cache"})

    return router


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
