"""`textfit studio`: fine-tuning without code, in a browser.

The page (static/) talks to the JSON API below. Uploads and runs live in the studio's working
folder: `studio.db` (SQLite), `uploads/<id>/<file>` (uploads.py), `runs/<id>/` (settings, progress
log, the trained model). Training runs in a separate process (`python -m textfit.server.studio.worker`,
watched through progress.py), so the page stays responsive and a crashed run cannot take the
studio down; runs beyond `max_concurrent_runs` wait in a queue (scheduler.py). Who may reach the
studio: security.py. Ids are generated here; a name a user types is only ever displayed."""

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from ...errors import TextfitError
from ...training import checkpoint
from ..common import (
    BodyLimitMiddleware,
    StudioError,
    ascii_json_response,
    end_processes,
    human_bytes,
    install_error_handlers,
    rank,
)
from ..security import STUDIO_COOKIE, SameOriginOnly, guard, is_loopback, studio_login_page
from . import worker
from .classify_files import classify_router
from .download import is_fresh, write_zip, zip_name
from .housekeeping import housekeeping_router
from .insight import insight_router
from .labeling import labeling_router
from .progress import pid_alive, read_progress
from .recovery import ENDINGS, adopt_orphans, recovery_router, stop_adopted
from .runs import RunStore, new_id, valid_id
from .scheduler import keep_scheduling, next_to_start, queue_places
from .sharing import ModelServers, sharing_router
from .uploads import IncomingUpload, preview_file

log = logging.getLogger("textfit")
STATIC = Path(__file__).parent / "static"
RESULT_FILES = (
    "confusion_matrix.png",
    "confusion_matrix.txt",
    "per_class.csv",
    "misclassified.csv",
    "metrics.json",
    "README.md",
    "textfit.json",
)


@dataclass
class StudioLimits:
    max_upload_bytes: int = 50 * 1024 * 1024
    """Largest data file accepted."""
    max_concurrent_runs: int = 1
    """Trainings at once (more wait in a queue); on a CPU a second one only slows the first down."""
    max_text_chars: int = 10_000
    """Longest message the try-it box accepts."""
    export_timeout_s: float = 900
    checkpoint_minutes: float = 5.0
    """How often a run saves its training state (TrainConfig.checkpoint_minutes), for Resume."""


class Studio:
    """The state behind the web page: the store, the worker processes, loaded models."""

    def __init__(self, workdir: str | Path, limits: StudioLimits | None = None, python: str = sys.executable):
        self.workdir = Path(workdir).resolve()
        self.limits = limits or StudioLimits()
        self.python = python
        (self.workdir / "uploads").mkdir(parents=True, exist_ok=True)
        (self.workdir / "runs").mkdir(parents=True, exist_ok=True)
        self.store = RunStore(self.workdir / "studio.db")
        self.procs: dict[str, subprocess.Popen] = {}
        self.stop_requested: set[str] = set()
        self.classifiers: OrderedDict = OrderedDict()
        self.closing = False
        self.lock = threading.RLock()
        self.load_lock = threading.Lock()
        self.export_locks: dict[str, asyncio.Lock] = {}
        self.recover()
        self.servers = ModelServers(self)  # "Serve this model"; adopts servers a crashed studio left

    # --- paths ----------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not valid_id(run_id):
            raise StudioError("no such run", 404)
        return self.workdir / "runs" / run_id

    def upload_path(self, upload: dict) -> Path:
        return self.workdir / "uploads" / upload["id"] / upload["filename"]

    # --- uploads --------------------------------------------------------------------------------
    def add_upload(self, source, original_name: str) -> dict:
        """Store a file-like object (a multipart upload, the sample) as a new upload and describe it."""
        with self._incoming(original_name) as upload:
            while chunk := source.read(1 << 20):
                upload.write(chunk)
            upload.finish()
            return self._register(upload)

    async def receive_upload(self, chunks, original_name: str) -> dict:
        """Store a request body as it arrives, never whole in memory, as a new upload and describe it."""
        with self._incoming(original_name) as upload:
            async for chunk in chunks:
                upload.write(chunk)  # a local disk write of one network chunk: short enough for the event loop
            upload.finish()
            return await asyncio.to_thread(self._register, upload)

    def _incoming(self, original_name: str) -> IncomingUpload:
        return IncomingUpload(self.workdir / "uploads", original_name, self.limits.max_upload_bytes)

    def _register(self, upload: IncomingUpload) -> dict:
        preview = preview_file(upload.path, upload.original_name)
        self.store.add_upload(
            upload.id, upload.filename, upload.original_name, upload.size, preview["rows"], preview["columns"]
        )
        return {"upload": self.store.get_upload(upload.id), **preview}

    def preview(self, upload_id: str, text_column: str | None = None, label_column: str | None = None) -> dict:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise StudioError("no such upload", 404)
        preview = preview_file(self.upload_path(upload), upload["original_name"], text_column, label_column)
        return {"upload": upload, **preview}

    # --- runs -----------------------------------------------------------------------------------
    def start_run(
        self,
        upload_id: str,
        text_column: str,
        label_column: str,
        model: str = "default",
        epochs: int | None = None,
        time_budget: float | None = None,
        name: str | None = None,
        label_names: str | None = None,
        strategy: str = "auto",
    ) -> dict:
        from ...data.labeled import check_trainable, load_data
        from ...model.base_models import resolve_model

        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise StudioError("no such upload: upload a data file first", 404)
        model = (model or "default").strip()
        resolve_model(None if model == "default" else model)  # a clear error now, not in the run
        # Split here: data.parse_label_names reads a text that names a file on this machine as that file.
        names = [n.strip() for n in (label_names or "").split(",") if n.strip()] or None
        repeated = sorted(n for n, count in Counter(names or ()).items() if count > 1)
        if repeated:
            raise StudioError(f"label names repeat: {', '.join(repeated)}")
        data_path = self.upload_path(upload)
        try:
            data = load_data(data_path, text_column=text_column, label_column=label_column, label_names=names)
            check_trainable(data)
        except TextfitError as exc:
            raise StudioError(
                str(exc)
                .replace(str(data_path), f"'{upload['original_name']}'")
                .replace("--skip-bad-rows", "fixing the file")
                .replace("--text-column", "the column pickers")
                .replace("--label-column", "the column pickers")
            ) from None
        return self._enqueue(
            upload, data, data_path, text_column, label_column, names, model, epochs, time_budget, name, strategy
        )

    def _enqueue(
        self, upload, data, data_path, text_column, label_column, names, model, epochs, time_budget, name, strategy
    ) -> dict:
        """Record the run as queued (its folder and settings ready), then let the scheduler start it."""
        settings = {
            "data": str(data_path),
            "text_column": text_column,
            "label_column": label_column,
            "label_names": names,
            "model": model,
            "epochs": epochs,
            "time_budget": time_budget,
            "strategy": None if strategy == "auto" else strategy,
            "checkpoint_minutes": self.limits.checkpoint_minutes,
        }
        settings = {k: v for k, v in settings.items() if v is not None}
        run_id = new_id("run")
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True)
        worker.write_json(folder / worker.SETTINGS, settings)
        display = (name or "").strip()[:100] or f"{Path(upload['original_name']).stem} · {time.strftime('%b %d %H:%M')}"
        self.store.add_run(
            run_id,
            display,
            upload["id"],
            upload["original_name"],
            {**settings, "data": upload["original_name"], "examples": len(data), "labels": len(data.label_names)},
            status="queued",
        )
        self.schedule()
        return self.get_run(run_id)

    def schedule(self) -> list[dict]:
        """Bring every run up to date with its process, start queued runs while there is room
        (scheduler.py), and return the runs, newest first, queued ones with their place in the queue."""
        with self.lock:
            runs = [self._refresh(run) for run in self.store.list_runs()]
            starting = [] if self.closing else next_to_start(runs, self.limits.max_concurrent_runs)
            for run in starting:
                self._launch(run)
            if starting:
                runs = self.store.list_runs()
            places = queue_places(runs)
            return [{**run, "queue": places.get(run["id"])} for run in runs]

    def _launch(self, run: dict) -> None:
        """Start a queued run's training process. The run is claimed in the database first, so two
        studios on one folder cannot both start it."""
        if not self.store.change_status(run["id"], "queued", "running", started=time.time()):
            return
        folder = self.run_dir(run["id"])
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        # A run queued again by `resume_run` has checkpoints; a new run has none.
        resume = ["--resume"] if checkpoint.latest(folder / worker.MODEL) else []
        try:
            with (folder / worker.LOG).open("ab") as log_file:
                process = subprocess.Popen(
                    [self.python, "-m", "textfit.server.studio.worker", str(folder), *resume],
                    cwd=folder,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            self.store.update_run(
                run["id"], status="failed", finished=time.time(), message=f"the training process could not start: {exc}"
            )
            return
        self.procs[run["id"]] = process
        self.store.update_run(run["id"], pid=process.pid)

    def list_runs(self) -> list[dict]:
        return self.schedule()

    def get_run(self, run_id: str) -> dict:
        for run in self.schedule():
            if run["id"] == run_id:
                return run
        raise StudioError("no such run", 404)

    def run_details(self, run_id: str) -> dict:
        run = self.get_run(run_id)
        folder = self.run_dir(run_id)
        run["progress"] = read_progress(
            folder / worker.PROGRESS,
            time_budget_min=run["settings"].get("time_budget"),
            live=run["status"] == "running",
        )
        run["has_model"] = (folder / worker.MODEL / "config.json").is_file()
        run["model_folder"] = str(folder / worker.MODEL) if run["has_model"] else None
        exported = (
            json.loads((folder / worker.EXPORT_RESULT).read_text())
            if (folder / worker.EXPORT_RESULT).is_file()
            else None
        )
        run["export"] = exported
        saved = self.resumable(run)
        run["resumable"] = {k: saved[k] for k in ("step", "total_steps", "saved")} if saved else None
        return run

    def resumable(self, run: dict) -> dict | None:
        """The checkpoint an ended run can continue from (checkpoint.latest), or None."""
        if run["status"] not in ("interrupted", "failed", "stopped"):  # a stopped run keeps its checkpoints
            return None
        return checkpoint.latest(self.run_dir(run["id"]) / worker.MODEL)

    def resume_run(self, run_id: str) -> dict:
        """Queue an interrupted run again; it continues from its last checkpoint (`worker --resume`)."""
        with self.lock:
            run = self.get_run(run_id)
            saved = self.resumable(run)
            if saved is None:
                raise StudioError(f"this run cannot be resumed: it is {run['status']} and has no checkpoint", 409)
            (self.run_dir(run_id) / worker.RESULT).unlink(missing_ok=True)  # the next result is the resumed run's
            where = (
                f"step {saved['step']} of {saved['total_steps']}" if saved["step"] else "the start (no checkpoint yet)"
            )
            if not self.store.change_status(
                run_id, run["status"], "queued", finished=None, pid=None, message=f"resuming from {where}"
            ):
                raise StudioError("this run changed meanwhile; reload the page", 409)
        self.servers.stop(run_id)  # it served the model so far: serve the resumed run's once it has ended
        return self.get_run(run_id)

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

    def _finalize(self, run: dict, code: int | None, studio_stopped: bool = False) -> None:
        folder = self.run_dir(run["id"])
        result_path = folder / worker.RESULT
        result = json.loads(result_path.read_text()) if result_path.is_file() else None
        by_user = run["id"] in self.stop_requested
        self.stop_requested.discard(run["id"])
        fields = {"finished": time.time(), "pid": None}
        if result and result.get("ok"):
            record_status = result.get("status")
            fields.update(metrics=result.get("metrics"), yardstick=result.get("yardstick"), record_status=record_status)
            if record_status == "interrupted":
                fields["status"] = "stopped" if by_user else "interrupted"
                fields["message"] = (
                    "stopped by you; the best model so far was saved"
                    if by_user
                    else "the studio was stopped during training; the best model so far was saved"
                )
            else:
                fields["status"] = "completed"
                fields["message"] = ENDINGS.get(record_status)
        elif result:
            fields["status"] = (
                "stopped"
                if result.get("stopped") and by_user
                else ("interrupted" if result.get("stopped") else "failed")
            )
            fields["message"] = result.get("error")
        else:  # no result: the process died (or was stopped while it was still starting)
            fields["status"] = "stopped" if by_user else "interrupted"
            if by_user:
                fields["message"] = "stopped by you before a model was saved"
            elif studio_stopped:
                fields["message"] = "the studio was stopped while this run was training"
            elif code is None:
                fields["message"] = "the training process is gone (the studio or the computer was restarted)"
            elif code < 0:
                fields["message"] = f"the training process was ended by signal {-code}"
            else:
                fields["message"] = f"the training process ended with exit code {code} without a result"
        self.store.update_run(run["id"], **fields)

    def recover(self) -> None:
        """At startup: a run recorded as running whose process is gone was interrupted. (Queued runs
        start once the app is up: `schedule`.)"""
        with self.lock:
            for run in self.store.list_runs():
                self._refresh(run)
            self.adopted = adopt_orphans(self)  # workers alive without their studio: followed again

    def stop_run(self, run_id: str) -> dict:
        """Stop a training run (the best model so far is kept) or take a queued one off the queue."""
        with self.lock:
            run = self.get_run(run_id)
            if run["status"] == "queued" and self.store.change_status(
                run_id, "queued", "stopped", finished=time.time(), message="cancelled while waiting in the queue"
            ):
                return self.get_run(run_id)
        if run["status"] != "running":
            raise StudioError(f"this run is not training (it is {run['status']})", 409)
        self.stop_requested.add(run_id)
        try:
            os.kill(run["pid"], signal.SIGINT)  # the trainer saves the best model so far
        except (ProcessLookupError, TypeError):
            pass
        return self.get_run(run_id)

    def shutdown(self, grace_s: float = 5.0) -> None:
        """Stop the runs this studio started and record them as interrupted; queued runs stay queued."""
        with self.lock:
            self.closing = True  # the scheduler starts nothing more
        end_processes([p for p in self.procs.values() if p.poll() is None], grace_s)
        for run_id, process in list(self.procs.items()):
            run = self.store.get_run(run_id)
            if run and run["status"] == "running":
                self._finalize(run, process.returncode, studio_stopped=True)
        self.procs.clear()
        stop_adopted(self, grace_s)
        if hasattr(self, "file_jobs"):  # classify_files.py, where its router is installed
            self.file_jobs.stop_all(grace_s)
        self.servers.stop_all()
        self.store.close()

    # --- results --------------------------------------------------------------------------------
    def results(self, run_id: str) -> dict:
        import pandas as pd

        folder = self.model_folder(run_id)
        record = json.loads((folder / "textfit.json").read_text())
        per_class = pd.read_csv(folder / "per_class.csv")
        misclassified = pd.read_csv(folder / "misclassified.csv", keep_default_na=False)
        return {
            "metrics": record.get("metrics"),
            "labels": record.get("labels"),
            "base_model": record.get("base_model"),
            "status": record.get("status"),
            "strategy": record.get("strategy"),
            "history": record.get("history"),
            "data": record.get("data"),
            "timings": record.get("timings"),
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
        from ...model.classifier import Classifier

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
        """The model folder as a .zip of what serving needs (download.py), rebuilt when the folder
        changed (e.g. after an ONNX export)."""
        folder = self.model_folder(run_id)
        target = self.run_dir(run_id) / f"{zip_name(run_id)}.zip"
        if is_fresh(target, folder):
            return target
        partial = target.with_suffix(f".{threading.get_ident()}.partial")  # two downloads at once: two files
        write_zip(folder, partial, zip_name(run_id))
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
                    self.python,
                    "-m",
                    "textfit.server.studio.worker",
                    str(folder),
                    "--export",
                    "int8" if quantize else "fp32",
                    cwd=folder,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
                )
            try:
                await asyncio.wait_for(process.wait(), self.limits.export_timeout_s)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
                raise StudioError("the ONNX export took too long and was stopped", 504) from None
            result_path = folder / worker.EXPORT_RESULT
            if not result_path.is_file():
                raise StudioError(
                    f"the ONNX export process ended with exit code {process.returncode} "
                    "without a result (details in the run's worker.log)",
                    500,
                )
            result = json.loads(result_path.read_text())
            if not result.get("ok"):
                unavailable = "not available" in result.get("error", "")
                raise StudioError(result.get("error", "the export failed"), 501 if unavailable else 400)
            return result


# --- the web application ----------------------------------------------------------------------------
def create_studio_app(
    workdir: str | Path = "textfit-studio",
    limits: StudioLimits | None = None,
    *,
    host: str | None = None,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
):
    """The studio's FastAPI app. `host` is the address it will listen on: on loopback, requests for
    other host names are refused (DNS rebinding); elsewhere a `token` is required (security.py).
    `token` set: every request needs it. `host` None (tests, embedding): no Host check."""
    from fastapi import FastAPI, File, Query, Request, UploadFile
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field

    from ...data.labeled import SAMPLE_DATA
    from ...model.base_models import DEFAULT_MODEL_NAME

    if host is not None and not is_loopback(host) and not token:
        raise TextfitError(
            f"a studio listening on {host} can be reached from other machines: give it an access "
            "token (--token, or let `textfit studio` generate one)"
        )
    studio = Studio(workdir, limits)
    limits = studio.limits

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(studio.schedule)  # runs left queued by the last studio start now
        ticking = asyncio.create_task(keep_scheduling(studio.schedule))
        yield
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        await asyncio.to_thread(studio.shutdown)

    app = FastAPI(
        title="textfit studio",
        description="Fine-tune a text classifier without writing code.",
        version="1",
        lifespan=lifespan,
        default_response_class=ascii_json_response(),
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware, limit=1_000_000, limits_by_prefix={"/api/uploads": limits.max_upload_bytes + 1_000_000}
    )
    app.add_middleware(SameOriginOnly)  # another web site open in the same browser must not post here
    guard(app, host=host, token=token, allowed_hosts=allowed_hosts, cookie=STUDIO_COOKIE, page=studio_login_page())
    app.state.studio = studio

    class StartRun(BaseModel):
        model_config = ConfigDict(extra="forbid")
        upload_id: str
        text_column: str
        label_column: str
        model: str = Field("default", max_length=500)
        epochs: int | None = Field(None, ge=1, le=100)
        time_budget: float | None = Field(None, gt=0, le=24 * 60, description="minutes")
        name: str | None = Field(None, max_length=100)
        label_names: str | None = Field(None, max_length=20_000)
        strategy: Literal["auto", "finetune", "fewshot"] = "auto"  # auto: textfit chooses (train.choose_strategy)

    class TryText(BaseModel):
        text: str | None = Field(None, min_length=1, max_length=limits.max_text_chars)
        texts: list[Annotated[str, Field(min_length=1, max_length=limits.max_text_chars)]] | None = Field(
            None, min_length=1, max_length=100, description="several messages: answered as {results: [...]}"
        )
        top_k: int = Field(5, ge=1, le=100)
        min_confidence: float | None = Field(None, ge=0, le=1, description="below it: 'not sure' (insight.py)")

    class Export(BaseModel):
        quantize: bool = False

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    async def info():
        from ... import __version__

        return {
            "version": __version__,
            "workdir": str(studio.workdir),
            "default_model": DEFAULT_MODEL_NAME,
            "max_upload_bytes": limits.max_upload_bytes,
            "max_upload": human_bytes(limits.max_upload_bytes),
            "sample_available": SAMPLE_DATA.is_file(),
        }

    @app.put("/api/uploads")
    async def upload_stream(request: Request, filename: str = Query(..., max_length=1000)):
        """The page's upload: the body is the file, written to disk as it arrives (never held in memory)."""
        return await studio.receive_upload(request.stream(), filename)

    @app.post("/api/uploads")
    async def upload(file: UploadFile = File(...)):
        """A multipart form upload (curl -F file=@data.csv); python-multipart spools it first."""
        return await asyncio.to_thread(studio.add_upload, file.file, file.filename or "")

    @app.post("/api/uploads/sample")
    async def upload_sample():
        def add():
            with SAMPLE_DATA.open("rb") as source:
                return studio.add_upload(source, SAMPLE_DATA.name)

        return await asyncio.to_thread(add)

    @app.get("/api/uploads/{upload_id}")
    async def preview(upload_id: str, text_column: str | None = None, label_column: str | None = None):
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

    @app.post("/api/runs/{run_id}/resume")
    async def resume(run_id: str):
        return await asyncio.to_thread(studio.resume_run, run_id)

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
        texts = request.texts or ([request.text] if request.text else [])
        if not texts or (request.text and request.texts):
            raise StudioError("give either a text or texts (at most 100) to classify", 422)
        classifier = await asyncio.to_thread(studio.classifier, run_id)
        probabilities = await asyncio.to_thread(classifier.predict_proba, texts)
        answers = rank(probabilities, classifier.label_names, request.top_k, request.min_confidence)
        return {"results": [{"text": t, **a} for t, a in zip(texts, answers)]} if request.texts else answers[0]

    @app.get("/api/runs/{run_id}/download")
    async def download(run_id: str):
        path = await asyncio.to_thread(studio.archive, run_id)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @app.post("/api/runs/{run_id}/export")
    async def export(run_id: str, request: Export | None = None):
        return await studio.export(run_id, (request or Export()).quantize)

    app.include_router(insight_router(studio))  # the yardstick, "not sure" and "why this label"
    app.include_router(housekeeping_router(studio))  # rename, delete, disk use, the download's size
    app.include_router(sharing_router(studio))  # "Serve this model"
    app.include_router(classify_router(studio))  # "Classify a file"
    app.include_router(recovery_router(studio))  # "Train again with the same settings"
    app.include_router(labeling_router(studio))  # "Label messages" (labeling.py)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def run_studio(
    workdir: str | Path = "textfit-studio",
    host: str = "127.0.0.1",
    port: int = 8080,
    limits: StudioLimits | None = None,
    log_level: str = "warning",
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> None:
    import uvicorn

    app = create_studio_app(workdir, limits, host=host, token=token, allowed_hosts=allowed_hosts)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
