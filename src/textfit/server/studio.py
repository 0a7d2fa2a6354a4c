"""`textfit studio`: fine-tuning without code, in a browser on localhost.

The page (static/) talks to the JSON API below. Uploads and runs live in the studio's working
folder: `studio.db` (SQLite), `uploads/<id>/<file>`, `runs/<id>/` (settings, progress, the trained
model). Training runs in a separate process (`python -m textfit.server.worker`), so the page stays
responsive and a crashed run cannot take the studio down. Ids are generated here; a name a user
types is only ever displayed."""

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from ..errors import TextfitError
from . import worker
from .common import BodyLimitMiddleware, human_bytes, install_error_handlers, rank
from .runs import RunStore, new_id, valid_id

log = logging.getLogger("textfit")
STATIC = Path(__file__).parent / "static"
RESULT_FILES = ("confusion_matrix.png", "confusion_matrix.txt", "per_class.csv", "misclassified.csv",
                "metrics.json", "README.md", "textfit.json")
PREVIEW_ROWS = 10
PREVIEW_CHARS = 300


@dataclass
class StudioLimits:
    max_upload_bytes: int = 50 * 1024 * 1024
    """Largest data file accepted."""
    max_concurrent_runs: int = 1
    """Trainings at once; on a CPU a second one only slows the first down."""
    max_text_chars: int = 10_000
    """Longest message the try-it box accepts."""
    export_timeout_s: float = 900


class StudioError(TextfitError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def safe_filename(name: str) -> str:
    """The last path component of `name`, restricted to letters, digits, '.', '-' and '_'."""
    from ..data import FORMATS

    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")[:100]
    suffix = Path(base).suffix.lower()
    if suffix not in FORMATS:
        raise StudioError(
            f"'{name}' is not a data file textfit can read: use CSV, TSV, JSON Lines, JSON or Parquet "
            f"({', '.join(sorted(FORMATS))})", 415)
    stem = Path(base).stem or "data"
    return stem + suffix


def pid_alive(pid: Optional[int], run_dir: Path) -> bool:
    """Is `pid` still this run's worker? (Checks the command line where /proc exists: pids are reused.)"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists():
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has finished
            return False
        return "textfit.server.worker" in text and run_dir.name in text
    return True


def read_progress(path: Path, now: Optional[float] = None) -> dict:
    """Digest a run's progress.jsonl into what the page shows."""
    progress = {"phase": "preparing", "step": 0, "total_steps": None, "fraction": 0.0, "loss": None,
                "epoch": None, "epochs": None, "elapsed_s": None, "eta_s": None, "evaluations": [], "losses": []}
    if not path.is_file():
        return progress
    begin = last = None
    steps = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        last = event
        kind = event.get("event")
        if kind == "begin":
            begin = event
            progress.update(phase="training", total_steps=event.get("total_steps"), epochs=event.get("epochs"),
                            examples=event.get("examples"), strategy=event.get("strategy"))
        elif kind == "step":
            steps.append(event)
        elif kind == "evaluate":
            progress["evaluations"].append({k: event.get(k) for k in
                                            ("epoch", "step", "loss", "accuracy", "macro_f1", "weighted_f1", "elapsed_s", "best")})
        elif kind == "end":
            progress["phase"] = "done"
    if steps:
        latest = steps[-1]
        total = latest.get("total_steps") or progress["total_steps"]
        progress.update(step=latest["step"], total_steps=total, loss=latest.get("loss"), epoch=latest.get("epoch"))
        stride = max(1, len(steps) // 200)
        progress["losses"] = [[s["step"], s["loss"]] for s in steps[::stride]]
        if progress["losses"][-1][0] != latest["step"]:
            progress["losses"].append([latest["step"], latest["loss"]])
        if total:
            progress["fraction"] = min(1.0, latest["step"] / total)
    if begin:
        end_time = last["time"] if progress["phase"] == "done" else (now or time.time())
        elapsed = max(0.0, end_time - begin["time"])
        progress["elapsed_s"] = round(elapsed, 1)
        if progress["phase"] != "done" and progress["step"] and progress["total_steps"]:
            pace = elapsed / progress["step"]  # seconds per step so far, evaluations included
            remaining = progress["total_steps"] - progress["step"]
            progress["eta_s"] = round(pace * max(0, remaining), 1)
            if remaining <= 0:
                progress["phase"] = "saving"
    return progress


class Studio:
    """The state behind the web page: the store, the worker processes, loaded models."""

    def __init__(self, workdir: str | Path, limits: Optional[StudioLimits] = None, python: str = sys.executable):
        self.workdir = Path(workdir).resolve()
        self.limits = limits or StudioLimits()
        self.python = python
        (self.workdir / "uploads").mkdir(parents=True, exist_ok=True)
        (self.workdir / "runs").mkdir(parents=True, exist_ok=True)
        self.store = RunStore(self.workdir / "studio.db")
        self.procs: dict[str, subprocess.Popen] = {}
        self.stop_requested: set[str] = set()
        self.classifiers: OrderedDict = OrderedDict()
        self.lock = threading.RLock()
        self.load_lock = threading.Lock()
        self.export_locks: dict[str, asyncio.Lock] = {}
        self.recover()

    # --- paths ----------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not valid_id(run_id):
            raise StudioError("no such run", 404)
        return self.workdir / "runs" / run_id

    def upload_path(self, upload: dict) -> Path:
        return self.workdir / "uploads" / upload["id"] / upload["filename"]

    # --- uploads --------------------------------------------------------------------------------
    def add_upload(self, source, original_name: str) -> dict:
        """Store a file-like object under uploads/<new id>/ and describe it; refuses what cannot be read."""
        filename = safe_filename(original_name)
        upload_id = new_id("data")
        folder = self.workdir / "uploads" / upload_id
        folder.mkdir(parents=True)
        target = folder / filename
        size = 0
        try:
            with target.open("wb") as out:
                while chunk := source.read(1 << 20):
                    size += len(chunk)
                    if size > self.limits.max_upload_bytes:
                        raise StudioError(f"'{original_name}' is larger than the limit of "
                                          f"{human_bytes(self.limits.max_upload_bytes)}", 413)
                    out.write(chunk)
            if size == 0:
                raise StudioError(f"'{original_name}' is empty")
            preview = self.preview_file(target, original_name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.store.add_upload(upload_id, filename, original_name, size, preview["rows"], preview["columns"])
        return {"upload": self.store.get_upload(upload_id), **preview}

    def preview(self, upload_id: str, text_column: Optional[str] = None, label_column: Optional[str] = None) -> dict:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise StudioError("no such upload", 404)
        preview = self.preview_file(self.upload_path(upload), upload["original_name"], text_column, label_column)
        return {"upload": upload, **preview}

    def preview_file(self, path: Path, display: str, text_column: Optional[str] = None,
                     label_column: Optional[str] = None) -> dict:
        from ..data import TOPIC_LABELS, DataError, detect_columns, read_table, sample_fingerprint

        try:
            frame, fingerprint, _ = read_table(path)
        except DataError as exc:
            raise StudioError(str(exc).replace(str(path), f"'{display}'")) from None
        frame.columns = [str(c) for c in frame.columns]
        columns = list(frame.columns)
        detected, problem = {"text": None, "label": None}, None
        try:
            detected["text"], detected["label"] = detect_columns(frame.copy(), display, None, None)
        except DataError as exc:
            problem = str(exc).replace("--text-column", "the column pickers").replace("--label-column", "the column pickers")
        for given, role in ((text_column, "text"), (label_column, "label")):
            if given is not None and given not in columns:
                raise StudioError(f"'{display}' has no column '{given}'. The columns are: {', '.join(columns)}")
        text_column = text_column or detected["text"]
        label_column = label_column or detected["label"]
        label_names = None
        if fingerprint == sample_fingerprint():
            label_names = list(TOPIC_LABELS)  # the embedded sample's ids have names
        head = frame.head(PREVIEW_ROWS)
        rows = [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)]
        labels = None
        if label_column:
            values = frame[label_column].dropna().astype(str).str.strip()
            counts = values[values != ""].value_counts()
            named = label_names if label_names and all(v.isdigit() and int(v) < len(label_names) for v in counts.index) else None
            labels = {
                "column": label_column, "distinct": int(len(counts)),
                "missing": int(len(frame) - len(values[values != ""])),
                "counts": [{"value": value, "name": named[int(value)] if named else None, "count": int(count)}
                           for value, count in counts.head(100).items()],
                "single": [value for value, count in counts.items() if count < 2][:20],
            }
        texts = None
        if text_column:
            lengths = frame[text_column].fillna("").astype(str).str.len()
            texts = {"column": text_column, "empty": int((lengths == 0).sum()), "mean_chars": round(float(lengths.mean()), 1),
                     "max_chars": int(lengths.max())}
        return {"rows": int(len(frame)), "columns": columns, "preview": rows, "detected": detected,
                "text_column": text_column, "label_column": label_column, "labels": labels, "texts": texts,
                "label_names": label_names, "problem": problem}

    # --- runs -----------------------------------------------------------------------------------
    def start_run(self, upload_id: str, text_column: str, label_column: str, model: str = "default",
                  epochs: Optional[int] = None, time_budget: Optional[float] = None, name: Optional[str] = None,
                  label_names: Optional[str] = None) -> dict:
        from ..data import check_trainable, load_data, parse_label_names
        from ..models import resolve_model

        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise StudioError("no such upload: upload a data file first", 404)
        model = (model or "default").strip()
        resolve_model(None if model == "default" else model)  # a clear error now, not in the run
        names = parse_label_names(label_names.strip()) if label_names and label_names.strip() else None
        data_path = self.upload_path(upload)
        try:
            data = load_data(data_path, text_column=text_column, label_column=label_column, label_names=names)
            check_trainable(data)
        except TextfitError as exc:
            raise StudioError(str(exc).replace(str(data_path), f"'{upload['original_name']}'")
                              .replace("--skip-bad-rows", "fixing the file")) from None
        with self.lock:  # the check and the launch together: two clicks cannot start two runs
            return self._launch(upload, data, data_path, text_column, label_column, names, model, epochs,
                                time_budget, name)

    def _launch(self, upload, data, data_path, text_column, label_column, names, model, epochs, time_budget,
                name) -> dict:
        running = [r for r in self.list_runs() if r["status"] == "running"]
        if len(running) >= self.limits.max_concurrent_runs:
            raise StudioError(f"'{running[0]['name']}' is still training; wait for it to finish or stop it first", 409)
        settings = {"data": str(data_path), "text_column": text_column, "label_column": label_column,
                    "label_names": names, "model": model, "epochs": epochs, "time_budget": time_budget}
        settings = {k: v for k, v in settings.items() if v is not None}
        run_id = new_id("run")
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True)
        worker.write_json(folder / worker.SETTINGS, settings)
        display = (name or "").strip()[:100] or f"{Path(upload['original_name']).stem} · {time.strftime('%b %d %H:%M')}"
        self.store.add_run(run_id, display, upload["id"], upload["original_name"],
                           {**settings, "data": upload["original_name"], "examples": len(data),
                            "labels": len(data.label_names)})
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        with (folder / worker.LOG).open("ab") as log_file:
            process = subprocess.Popen(
                [self.python, "-m", "textfit.server.worker", str(folder)], cwd=folder, env=env,
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs[run_id] = process
        self.store.update_run(run_id, pid=process.pid)
        return self.get_run(run_id)

    def list_runs(self) -> list[dict]:
        with self.lock:
            return [self._refresh(run) for run in self.store.list_runs()]

    def get_run(self, run_id: str) -> dict:
        run = self.store.get_run(run_id)
        if run is None:
            raise StudioError("no such run", 404)
        with self.lock:
            return self._refresh(run)

    def run_details(self, run_id: str) -> dict:
        run = self.get_run(run_id)
        folder = self.run_dir(run_id)
        run["progress"] = read_progress(folder / worker.PROGRESS)
        run["has_model"] = (folder / worker.MODEL / "config.json").is_file()
        run["model_folder"] = str(folder / worker.MODEL) if run["has_model"] else None
        exported = json.loads((folder / worker.EXPORT_RESULT).read_text()) if (folder / worker.EXPORT_RESULT).is_file() else None
        run["export"] = exported
        return run

    def _refresh(self, run: dict) -> dict:
        """Bring a 'running' run up to date with its process: finished, failed or gone."""
        if run["status"] != "running":
            return run
        folder = self.run_dir(run["id"])
        process = self.procs.get(run["id"])
        if process is not None:
            code = process.poll()
            if code is None:
                return run
        elif pid_alive(run["pid"], folder):
            return run
        else:
            code = None
        self.procs.pop(run["id"], None)
        self._finalize(run, code)
        return self.store.get_run(run["id"])

    def _finalize(self, run: dict, code: Optional[int], studio_stopped: bool = False) -> None:
        folder = self.run_dir(run["id"])
        result_path = folder / worker.RESULT
        result = json.loads(result_path.read_text()) if result_path.is_file() else None
        by_user = run["id"] in self.stop_requested
        self.stop_requested.discard(run["id"])
        fields = {"finished": time.time(), "pid": None}
        if result and result.get("ok"):
            record_status = result.get("status")
            fields.update(metrics=result.get("metrics"), record_status=record_status)
            if record_status == "interrupted":
                fields["status"] = "stopped" if by_user else "interrupted"
                fields["message"] = ("stopped by you; the best model so far was saved" if by_user else
                                     "the studio was stopped during training; the best model so far was saved")
            else:
                fields["status"] = "completed"
                fields["message"] = "stopped early: the score stopped improving" if record_status == "stopped early" else None
        elif result:
            fields["status"] = "stopped" if result.get("stopped") and by_user else (
                "interrupted" if result.get("stopped") else "failed")
            fields["message"] = result.get("error")
        else:
            fields["status"] = "interrupted"
            if studio_stopped:
                fields["message"] = "the studio was stopped while this run was training"
            elif code is None:
                fields["message"] = "the training process is gone (the studio or the computer was restarted)"
            elif code < 0:
                fields["message"] = f"the training process was ended by signal {-code}"
            else:
                fields["message"] = f"the training process ended with exit code {code} without a result"
        self.store.update_run(run["id"], **fields)

    def recover(self) -> None:
        """At startup: a run recorded as running whose process is gone was interrupted."""
        self.list_runs()

    def stop_run(self, run_id: str) -> dict:
        run = self.get_run(run_id)
        if run["status"] != "running":
            raise StudioError(f"this run is not training (it is {run['status']})", 409)
        self.stop_requested.add(run_id)
        try:
            os.kill(run["pid"], signal.SIGINT)  # the trainer saves the best model so far
        except (ProcessLookupError, TypeError):
            pass
        return self.get_run(run_id)

    def shutdown(self, grace_s: float = 5.0) -> None:
        """Stop the runs this studio started and record them as interrupted."""
        live = {rid: p for rid, p in self.procs.items() if p.poll() is None}
        for process in live.values():
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + grace_s
        for process in live.values():
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for run_id, process in list(self.procs.items()):
            run = self.store.get_run(run_id)
            if run and run["status"] == "running":
                self._finalize(run, process.returncode, studio_stopped=True)
        self.procs.clear()
        self.store.close()

    # --- results --------------------------------------------------------------------------------
    def results(self, run_id: str) -> dict:
        import pandas as pd

        folder = self.model_folder(run_id)
        record = json.loads((folder / "textfit.json").read_text())
        per_class = pd.read_csv(folder / "per_class.csv")
        misclassified = pd.read_csv(folder / "misclassified.csv", keep_default_na=False)
        return {
            "metrics": record.get("metrics"), "labels": record.get("labels"), "base_model": record.get("base_model"),
            "status": record.get("status"), "strategy": record.get("strategy"), "history": record.get("history"),
            "data": record.get("data"), "timings": record.get("timings"),
            "per_class": per_class.to_dict(orient="records"),
            "misclassified": misclassified.head(100).to_dict(orient="records"),
            "misclassified_total": int(len(misclassified)),
            "model_folder": str(folder),
        }

    def model_folder(self, run_id: str) -> Path:
        self.get_run(run_id)
        folder = self.run_dir(run_id) / worker.MODEL
        if not (folder / "config.json").is_file():
            raise StudioError("this run has no trained model (yet)", 404)
        return folder

    def classifier(self, run_id: str):
        from ..classifier import Classifier

        folder = self.model_folder(run_id)
        with self.load_lock:  # one load at a time: a second request waits for the first's model
            with self.lock:
                if run_id in self.classifiers:
                    self.classifiers.move_to_end(run_id)
                    return self.classifiers[run_id]
            loaded = Classifier.load(folder)
            with self.lock:
                self.classifiers[run_id] = loaded
                while len(self.classifiers) > 2:
                    self.classifiers.popitem(last=False)
        return loaded

    def preload(self, run_id: str) -> None:
        """Load a run's model in the background, so the first 'try it' answers at once."""

        def load():
            try:
                self.classifier(run_id)
            except Exception:  # the try-it request will report it
                pass

        threading.Thread(target=load, daemon=True).start()

    def archive(self, run_id: str) -> Path:
        """The model folder as a .zip (rebuilt when the folder changed, e.g. after an ONNX export)."""
        folder = self.model_folder(run_id)
        target = self.run_dir(run_id) / f"textfit-model-{run_id}.zip"
        newest = max(p.stat().st_mtime for p in folder.rglob("*"))
        if target.is_file() and target.stat().st_mtime >= newest:
            return target
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w") as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    stored = path.suffix in (".safetensors", ".onnx", ".png", ".bin")  # already compact
                    archive.write(path, f"textfit-model-{run_id}/{path.relative_to(folder)}",
                                  compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        os.replace(partial, target)
        return target

    async def export(self, run_id: str, quantize: bool) -> dict:
        self.model_folder(run_id)
        folder = self.run_dir(run_id)
        lock = self.export_locks.setdefault(run_id, asyncio.Lock())
        if lock.locked():
            raise StudioError("an export of this model is already running", 409)
        async with lock:
            (folder / worker.EXPORT_RESULT).unlink(missing_ok=True)
            with (folder / worker.LOG).open("ab") as log_file:
                process = await asyncio.create_subprocess_exec(
                    self.python, "-m", "textfit.server.worker", str(folder), "--export", "int8" if quantize else "fp32",
                    cwd=folder, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                    env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            try:
                await asyncio.wait_for(process.wait(), self.limits.export_timeout_s)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
                raise StudioError("the ONNX export took too long and was stopped", 504) from None
            result_path = folder / worker.EXPORT_RESULT
            if not result_path.is_file():
                raise StudioError(f"the ONNX export process ended with exit code {process.returncode} "
                                  "without a result (details in the run's worker.log)", 500)
            result = json.loads(result_path.read_text())
            if not result.get("ok"):
                unavailable = "not available" in result.get("error", "")
                raise StudioError(result.get("error", "the export failed"), 501 if unavailable else 400)
            return result


def _cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


# --- the web application ----------------------------------------------------------------------------
def create_studio_app(workdir: str | Path = "textfit-studio", limits: Optional[StudioLimits] = None):
    from fastapi import FastAPI, File, Request, UploadFile
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field

    from ..data import SAMPLE_DATA
    from ..models import DEFAULT_MODEL_NAME

    studio = Studio(workdir, limits)
    limits = studio.limits

    @asynccontextmanager
    async def lifespan(app):
        yield
        await asyncio.to_thread(studio.shutdown)

    app = FastAPI(title="textfit studio", description="Fine-tune a text classifier without writing code.",
                  version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=1_000_000,
                       limits_by_prefix={"/api/uploads": limits.max_upload_bytes + 1_000_000})
    app.state.studio = studio

    @app.middleware("http")
    async def same_origin_only(request: Request, call_next):
        """Another web site open in the same browser must not start runs or upload files here."""
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin:
            if urlsplit(origin).netloc != request.headers.get("host"):
                return JSONResponse({"error": f"requests from {origin} are not allowed; use the studio's own page"},
                                    status_code=403)
        return await call_next(request)

    @app.exception_handler(StudioError)
    async def on_studio_error(request: Request, exc: StudioError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    class StartRun(BaseModel):
        model_config = ConfigDict(extra="forbid")
        upload_id: str
        text_column: str
        label_column: str
        model: str = Field("default", max_length=500)
        epochs: Optional[int] = Field(None, ge=1, le=100)
        time_budget: Optional[float] = Field(None, gt=0, le=24 * 60, description="minutes")
        name: Optional[str] = Field(None, max_length=100)
        label_names: Optional[str] = Field(None, max_length=20_000)

    class TryText(BaseModel):
        text: str = Field(..., min_length=1, max_length=limits.max_text_chars)
        top_k: int = Field(5, ge=1, le=100)

    class Export(BaseModel):
        quantize: bool = False

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    async def info():
        from .. import __version__

        return {"version": __version__, "workdir": str(studio.workdir), "default_model": DEFAULT_MODEL_NAME,
                "max_upload_bytes": limits.max_upload_bytes, "max_upload": human_bytes(limits.max_upload_bytes),
                "sample_available": SAMPLE_DATA.is_file()}

    @app.post("/api/uploads")
    async def upload(file: UploadFile = File(...)):
        return await asyncio.to_thread(studio.add_upload, file.file, file.filename or "")

    @app.post("/api/uploads/sample")
    async def upload_sample():
        def add():
            with SAMPLE_DATA.open("rb") as source:
                return studio.add_upload(source, SAMPLE_DATA.name)
        return await asyncio.to_thread(add)

    @app.get("/api/uploads/{upload_id}")
    async def preview(upload_id: str, text_column: Optional[str] = None, label_column: Optional[str] = None):
        return await asyncio.to_thread(studio.preview, upload_id, text_column, label_column)

    @app.get("/api/runs")
    async def runs():
        return {"runs": await asyncio.to_thread(studio.list_runs)}

    @app.post("/api/runs", status_code=201)
    async def start(request: StartRun):
        return await asyncio.to_thread(studio.start_run, **request.model_dump())

    @app.get("/api/runs/{run_id}")
    async def run(run_id: str):
        return await asyncio.to_thread(studio.run_details, run_id)

    @app.post("/api/runs/{run_id}/stop")
    async def stop(run_id: str):
        return await asyncio.to_thread(studio.stop_run, run_id)

    @app.get("/api/runs/{run_id}/results")
    async def results(run_id: str):
        answer = await asyncio.to_thread(studio.results, run_id)
        studio.preload(run_id)  # the page shows 'try it' next to the results
        return answer

    @app.get("/api/runs/{run_id}/files/{name}")
    async def result_file(run_id: str, name: str):
        if name not in RESULT_FILES:
            raise StudioError(f"no such file; the files are: {', '.join(RESULT_FILES)}", 404)
        path = studio.model_folder(run_id) / name
        if not path.is_file():
            raise StudioError(f"this run has no {name}", 404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    @app.post("/api/runs/{run_id}/predict")
    async def try_text(run_id: str, request: TryText):
        classifier = await asyncio.to_thread(studio.classifier, run_id)
        probabilities = await asyncio.to_thread(classifier.predict_proba, [request.text])
        return rank(probabilities, classifier.label_names, request.top_k)[0]

    @app.get("/api/runs/{run_id}/download")
    async def download(run_id: str):
        path = await asyncio.to_thread(studio.archive, run_id)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @app.post("/api/runs/{run_id}/export")
    async def export(run_id: str, request: Optional[Export] = None):
        return await studio.export(run_id, (request or Export()).quantize)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def run_studio(workdir: str | Path = "textfit-studio", host: str = "127.0.0.1", port: int = 8080,
               limits: Optional[StudioLimits] = None, log_level: str = "warning") -> None:
    import uvicorn

    app = create_studio_app(workdir, limits)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
