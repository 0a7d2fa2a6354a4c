"""`textfit studio`: fine-tuning without code, in a browser.

The page (static/) talks to a JSON API made of one router per feature, each built from that
feature's service (a plain class, no FastAPI): uploads/, runs/, downloads/, insight/,
housekeeping/, sharing/, classify/, recovery/, labeling/, teacher/. `Studio` wires the services together over
the studio's working folder: `studio.db` (SQLite, store.py), `uploads/<id>/<file>`, `runs/<id>/`
(settings, progress log, the trained model) and `labeling/<id>/`. Training runs in a separate
process (`python -m textfit.server.studio.runs.worker`), so the page stays responsive and a
crashed run cannot take the studio down. Who may reach the studio: security.py. Ids are generated
here; a name a user types is only ever displayed."""

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ...errors import TextfitError
from ..security import STUDIO_COOKIE, SameOriginOnly, guard, is_loopback, studio_login_page
from ..shared import BodyLimitMiddleware, ascii_json_response, human_bytes, install_error_handlers
from .classify.router import classify_router
from .classify.service import FileJobs
from .downloads.router import downloads_router
from .downloads.service import Downloads
from .housekeeping.router import housekeeping_router
from .housekeeping.service import Housekeeping
from .insight.router import insight_router
from .labeling.router import labeling_router
from .labeling.service import LabelingProjects
from .models import Models
from .recovery.router import recovery_router
from .runs.router import runs_router
from .runs.scheduler import keep_scheduling
from .runs.service import Runs
from .sharing.router import sharing_router
from .sharing.service import ModelServers
from .store import RunStore
from .teacher.router import teacher_router
from .teacher.service import LargerTeacher
from .uploads.router import uploads_router
from .uploads.service import Uploads

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("textfit")


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
    """The studio's services over its working folder, wired together. Creating it recovers from a
    studio that crashed: runs it left are finalized or adopted, model servers it left adopted."""

    def __init__(self, workdir: str | Path, limits: StudioLimits | None = None, python: str = sys.executable):
        self.workdir = Path(workdir).resolve()
        self.limits = limits or StudioLimits()
        self.store = RunStore(self.workdir / "studio.db")
        self.uploads = Uploads(self.store, self.workdir / "uploads", self.limits.max_upload_bytes)
        self.runs = Runs(self.store, self.uploads, self.workdir / "runs", self.limits, python)
        self.models = Models(self.runs)
        self.servers = ModelServers(self.runs, self.models)  # "Serve this model"
        self.runs.on_resume = self.servers.stop  # a resumed run's model so far is served no more
        self.downloads = Downloads(self.runs, self.models, python, self.limits.export_timeout_s)
        self.file_jobs = FileJobs(self.runs, self.models, self.uploads, python)  # "Classify a file"
        self.labeling = LabelingProjects(self.workdir / "labeling", self.uploads, self.runs, self.file_jobs)
        self.teacher = LargerTeacher()  # fetched once for runs that learn from texts without labels
        self.housekeeping = Housekeeping(
            self.runs, self.models, self.downloads, self.file_jobs, self.servers, self.workdir
        )
        self.removed_uploads = self.remove_unused_uploads()

    def remove_unused_uploads(self) -> list[dict]:
        """Uploads no run trains from, no labeling project reads and no classifying job names, once a week
        old (uploads.UNUSED_UPLOAD_DAYS): the page cannot reach them. Nothing goes while a project's
        record cannot be read (what it needs cannot be known)."""
        try:
            projects = self.labeling.upload_ids()
        except (OSError, ValueError, KeyError) as exc:
            log.warning("uploads kept: a labeling project's record cannot be read (%s)", exc)
            return []
        removed = self.uploads.remove_unused(projects | self.runs.upload_ids() | self.file_jobs.upload_ids())
        if removed:
            freed = human_bytes(sum(upload["size"] for upload in removed))
            log.warning(
                "removed %d uploaded files no run or project uses, a week old or more (%s)", len(removed), freed
            )
        return removed

    @property
    def python(self) -> str:
        """The interpreter of the studio's processes: training, export, classifying (tests put a stand-in here)."""
        return self.runs.python

    @python.setter
    def python(self, python: str) -> None:
        self.runs.python = self.downloads.python = self.file_jobs.python = python

    # --- what scripts and tests reach for -------------------------------------------------------
    @property
    def procs(self) -> dict:
        """The training processes this studio started, by run id."""
        return self.runs.procs

    @property
    def adopted(self) -> dict:
        """The training processes a crashed studio left, followed by this one: run id -> pid."""
        return self.runs.adopted

    @property
    def classifiers(self):
        return self.models.loaded

    def run_dir(self, run_id: str) -> Path:
        return self.runs.folder(run_id)

    def upload_path(self, upload: dict) -> Path:
        return self.uploads.path(upload)

    def add_upload(self, source, original_name: str) -> dict:
        return self.uploads.add(source, original_name)

    def start_run(self, upload_id: str, text_column: str, label_column: str | None, **settings) -> dict:
        return self.runs.start(upload_id, text_column, label_column, **settings)

    def get_run(self, run_id: str) -> dict:
        return self.runs.get(run_id)

    def run_details(self, run_id: str) -> dict:
        return self.runs.details(run_id)

    def stop_run(self, run_id: str) -> dict:
        return self.runs.stop(run_id)

    def shutdown(self, grace_s: float = 5.0) -> None:
        """Stop the runs, classifying jobs and model servers this studio started or adopted; queued
        runs stay queued."""
        self.runs.shutdown(grace_s)
        self.file_jobs.stop_all(grace_s)
        self.servers.stop_all()
        self.store.close()

    def routers(self) -> list:
        """The API, one router per feature (routes are matched in this order)."""
        max_text_chars = self.limits.max_text_chars
        return [
            uploads_router(self.uploads),
            runs_router(self.runs, self.models, max_text_chars),
            downloads_router(self.downloads),  # result files, the model's .zip, ONNX
            insight_router(self.models, max_text_chars),  # the yardstick, "not sure" and "why this label"
            housekeeping_router(self.housekeeping),  # rename, delete, disk use, the download's size
            sharing_router(self.servers),  # "Serve this model"
            classify_router(self.file_jobs),  # "Classify a file"
            recovery_router(self.runs),  # "Train again with the same settings"
            labeling_router(self.labeling),  # "Label messages"
            teacher_router(self.teacher),  # "Fetch the larger teacher"
        ]


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
    from fastapi import FastAPI
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    if host is not None and not is_loopback(host) and not token:
        raise TextfitError(
            f"a studio listening on {host} can be reached from other machines: give it an access "
            "token (--token, or let `textfit studio` generate one)"
        )
    studio = Studio(workdir, limits)
    limits = studio.limits

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(studio.runs.schedule)  # runs left queued by the last studio start now
        ticking = asyncio.create_task(keep_scheduling(studio.runs.schedule))
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

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    def info():
        return studio_info(studio)

    for router in studio.routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def studio_info(studio: Studio) -> dict:
    """GET /api/info: the version, the working folder, the default model and the upload limit."""
    from ... import __version__
    from ...data.labeled import SAMPLE_DATA
    from ...model.base_models import DEFAULT_MODEL_NAME

    return {
        "version": __version__,
        "workdir": str(studio.workdir),
        "default_model": DEFAULT_MODEL_NAME,
        "max_upload_bytes": studio.limits.max_upload_bytes,
        "max_upload": human_bytes(studio.limits.max_upload_bytes),
        "sample_available": SAMPLE_DATA.is_file(),
    }


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
