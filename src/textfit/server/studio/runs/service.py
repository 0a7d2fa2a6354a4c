"""The training runs: started from an upload and settings, queued while `max_concurrent_runs` train
(scheduler.py), each trained by a process of its own (`python -m textfit.server.studio.runs.worker
RUN_DIR`, worker.py) and followed from outside (progress.py), stopped, resumed from a checkpoint,
and their end recorded (outcome.py). A run's folder is `<workdir>/runs/<id>/`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from ....errors import TextfitError
from ....training import checkpoint
from ..errors import StudioError
from ..processes import end_processes
from ..recovery.service import adopt_orphans, stop_adopted
from ..store import RunStore, new_id, valid_id
from ..uploads.service import Uploads
from . import worker
from .estimate import estimate_run
from .outcome import ending
from .progress import WORKER, pid_alive, read_progress
from .scheduler import next_to_start, queue_places


class Runs:
    def __init__(self, store: RunStore, uploads: Uploads, root: Path, limits, python: str):
        self.store, self.uploads, self.root, self.limits = store, uploads, root, limits
        self.python = python
        """The interpreter that runs the workers (tests put a stand-in here)."""
        root.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.stop_requested: set[str] = set()
        self.closing = False
        self.lock = threading.RLock()
        self.on_resume = lambda run_id: None
        """What else lets go of a run that trains again (its model server: the Studio wires it)."""
        self.adopted: dict[str, int] = {}
        self.recover()

    def folder(self, run_id: str) -> Path:
        if not valid_id(run_id):
            raise StudioError("no such run", 404)
        return self.root / run_id

    # --- starting -------------------------------------------------------------------------------
    def start(
        self,
        upload_id: str,
        text_column: str,
        label_column: str | None,
        model: str = "default",
        epochs: int | None = None,
        time_budget: float | None = None,
        name: str | None = None,
        label_names: str | None = None,
        strategy: str = "auto",
        unlabeled_upload_id: str | None = None,
        extra: dict | None = None,
        label_separator: str | None = None,
    ) -> dict:
        """Check the data now (a clear error on the page, not in the run), then queue the run. With
        `unlabeled_upload_id`, the run also learns from that file's texts (`--unlabeled`). `extra`: notes
        kept with the run and its model (TrainConfig.extra), e.g. the categories it was trained without.
        `label_separator`: what joins several labels in a row where the page asked (`--label-separator`).
        No `label_column`: the file's labels are its 0/1 columns, one per label, read as `textfit train FILE`
        reads them (TrainConfig.label_column left unset)."""
        from ....data.labeled import check_trainable, load_data
        from ....model.base_models import resolve_model

        upload = self.uploads.get(upload_id, "no such upload: upload a data file first")
        model = (model or "default").strip()
        resolve_model(None if model == "default" else model)  # a clear error now, not in the run
        # Split here: data.parse_label_names reads a text that names a file on this machine as that file.
        # A pasted list: one name a line, or between commas or semicolons.
        names = [n.strip() for n in re.split(r"[,;\r\n]", label_names or "") if n.strip()] or None
        repeated = sorted(n for n, count in Counter(names or ()).items() if count > 1)
        if repeated:
            raise StudioError(f"label names repeat: {', '.join(repeated)}")
        data_path = self.uploads.path(upload)
        try:
            data = load_data(
                data_path,
                text_column=text_column,
                label_column=label_column,
                label_names=names,
                label_separator=label_separator,
            )
            check_trainable(data)
        except TextfitError as exc:
            raise StudioError(
                str(exc)
                .replace(str(data_path), f"'{upload['original_name']}'")
                .replace("--skip-bad-rows", "fixing the file")
                .replace("--text-column", "the column pickers")
                .replace("--label-column", "the column pickers")
                .replace("with --label-separator", "on the page")
            ) from None
        if data.multi_label and unlabeled_upload_id:
            raise StudioError(
                "texts without labels are learned from through one label per text; this file gives several "
                "labels per text: start the run without the file of texts without labels"
            )
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
            "unlabeled": self.unlabeled_path(unlabeled_upload_id),
            "extra": extra,
            "label_separator": label_separator,
        }
        return self._enqueue(upload, data, {k: v for k, v in settings.items() if v is not None}, name)

    def estimate(
        self, upload_id: str, text_column: str, label_column: str | None, model: str = "default", **settings
    ) -> dict:
        """How long a run with the new-run form's settings would train on this computer (estimate.py)."""
        from ....data.labeled import load_data

        upload = self.uploads.get(upload_id, "no such upload: upload a data file first")
        try:
            data = load_data(
                self.uploads.path(upload),
                text_column=text_column,
                label_column=label_column,
                label_separator=settings.get("label_separator"),
            )
        except TextfitError as exc:
            raise StudioError(
                str(exc).replace(str(self.uploads.path(upload)), f"'{upload['original_name']}'")
            ) from None
        strategy, epochs, minutes = (
            settings.get("strategy", "auto"),
            settings.get("epochs"),
            settings.get("time_budget"),
        )
        unlabeled = 0
        if settings.get("unlabeled_upload_id") and not data.multi_label:  # several labels a text: not learned from
            from ....training.distill import unseen

            # once each, less the labeled ones, as distill.learn_from_unlabeled counts them
            unlabeled = len(unseen(self.unlabeled_texts(settings["unlabeled_upload_id"])[1], data.texts))
        return estimate_run(data, model, strategy, epochs, minutes, unlabeled)

    def unlabeled_path(self, upload_id: str | None) -> str | None:
        """The uploaded file of texts without labels a run also learns from (training/distill.py),
        read now for a clear error on the page."""
        return self.unlabeled_texts(upload_id)[0] if upload_id else None

    def unlabeled_texts(self, upload_id: str) -> tuple[str, list[str]]:
        """(the path, the texts) of an uploaded file of texts without labels, or the file's problem in its name."""
        from ....training.distill import read_unlabeled

        upload = self.uploads.get(upload_id, "no such upload: upload the texts without labels again")
        path = self.uploads.path(upload)
        try:
            texts = read_unlabeled(path)
        except TextfitError as exc:
            raise StudioError(str(exc).replace(str(path), f"'{upload['original_name']}'")) from None
        return str(path), texts

    def upload_ids(self) -> set[str]:
        """The uploads the runs train from: each run's data, and its texts without labels (their path)."""
        used = set()
        for run in self.store.list_runs():
            used |= {run["upload_id"], self.uploads.id_of(run["settings"].get("unlabeled") or "")}
        return used - {None}

    def _enqueue(self, upload: dict, data, settings: dict, name: str | None) -> dict:
        """Record the run as queued (its folder and settings ready), then let the scheduler start it."""
        run_id = new_id("run")
        folder = self.folder(run_id)
        folder.mkdir(parents=True)
        worker.write_json(folder / worker.SETTINGS, settings)
        display = (name or "").strip()[:100] or f"{Path(upload['original_name']).stem} · {time.strftime('%b %d %H:%M')}"
        self.store.add_run(
            run_id,
            display,
            upload["id"],
            upload["original_name"],
            {
                **settings,
                "data": upload["original_name"],
                "examples": len(data),
                "labels": len(data.label_names),
                **({"several_labels": True} if data.multi_label else {}),
                **({"label_columns": data.label_names} if (data.label_layout or {}).get("layout") == "columns" else {}),
            },
            status="queued",
        )
        self.schedule()
        return self.get(run_id)

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
            return [{**with_one_figure(run), "queue": places.get(run["id"])} for run in runs]

    def _launch(self, run: dict) -> None:
        """Start a queued run's training process. The run is claimed in the database first, so two
        studios on one folder cannot both start it."""
        if not self.store.change_status(run["id"], "queued", "running", started=time.time()):
            return
        folder = self.folder(run["id"])
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        # A run queued again by `resume` has checkpoints; a new run has none.
        resume = ["--resume"] if checkpoint.latest(folder / worker.MODEL) else []
        try:
            with (folder / worker.LOG).open("ab") as log_file:
                process = subprocess.Popen(
                    [self.python, "-m", WORKER, str(folder), *resume],
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

    # --- reading --------------------------------------------------------------------------------
    def list(self) -> list[dict]:
        return self.schedule()

    def get(self, run_id: str) -> dict:
        for run in self.schedule():
            if run["id"] == run_id:
                return run
        raise StudioError("no such run", 404)

    def details(self, run_id: str) -> dict:
        """The run with its progress, its model folder and export, and whether it can be resumed."""
        run = self.get(run_id)
        folder = self.folder(run_id)
        run["progress"] = read_progress(
            folder / worker.PROGRESS,
            time_budget_min=run["settings"].get("time_budget"),
            live=run["status"] == "running",
        )
        run["has_model"] = (folder / worker.MODEL / "config.json").is_file()
        run["model_folder"] = str(folder / worker.MODEL) if run["has_model"] else None
        exported = folder / worker.EXPORT_RESULT
        run["export"] = json.loads(exported.read_text()) if exported.is_file() else None
        saved = self.resumable(run)
        run["resumable"] = {k: saved[k] for k in ("step", "total_steps", "saved")} if saved else None
        return run

    def resumable(self, run: dict) -> dict | None:
        """The checkpoint an ended run can continue from (checkpoint.latest), or None."""
        if run["status"] not in ("interrupted", "failed", "stopped"):  # a stopped run keeps its checkpoints
            return None
        return checkpoint.latest(self.folder(run["id"]) / worker.MODEL)

    # --- resuming and stopping ------------------------------------------------------------------
    def resume(self, run_id: str) -> dict:
        """Queue an interrupted run again; it continues from its last checkpoint (`worker --resume`)."""
        with self.lock:
            run = self.get(run_id)
            saved = self.resumable(run)
            if saved is None:
                raise StudioError(f"this run cannot be resumed: it is {run['status']} and has no checkpoint", 409)
            (self.folder(run_id) / worker.RESULT).unlink(missing_ok=True)  # the next result is the resumed run's
            where = (
                f"step {saved['step']} of {saved['total_steps']}" if saved["step"] else "the start (no checkpoint yet)"
            )
            if not self.store.change_status(
                run_id, run["status"], "queued", finished=None, pid=None, message=f"resuming from {where}"
            ):
                raise StudioError("this run changed meanwhile; reload the page", 409)
        self.on_resume(run_id)  # it served the model so far: serve the resumed run's once it has ended
        return self.get(run_id)

    def stop(self, run_id: str) -> dict:
        """Stop a training run (the best model so far is kept) or take a queued one off the queue."""
        with self.lock:
            run = self.get(run_id)
            if run["status"] == "queued" and self.store.change_status(
                run_id, "queued", "stopped", finished=time.time(), message="cancelled while waiting in the queue"
            ):
                return self.get(run_id)
        if run["status"] != "running":
            raise StudioError(f"this run is not training (it is {run['status']})", 409)
        self.stop_requested.add(run_id)
        try:
            os.kill(run["pid"], signal.SIGINT)  # the trainer saves the best model so far
        except (ProcessLookupError, TypeError):
            pass
        return self.get(run_id)

    # --- following the processes ----------------------------------------------------------------
    def _refresh(self, run: dict) -> dict:
        """Bring a 'running' run up to date with its process: finished, failed or gone."""
        if run["status"] != "running":
            return run
        process = self.procs.get(run["id"])
        if process is not None:
            code = process.poll()
            if code is None:
                return run
        elif pid_alive(run["pid"], self.folder(run["id"])):
            return run
        else:
            code = None
        self.procs.pop(run["id"], None)
        self.finalize(run, code)
        return self.store.get_run(run["id"])

    def finalize(self, run: dict, code: int | None, studio_stopped: bool = False) -> None:
        """Record how an ended run ended (outcome.py), from its result.json."""
        result_path = self.folder(run["id"]) / worker.RESULT
        result = json.loads(result_path.read_text()) if result_path.is_file() else None
        by_user = run["id"] in self.stop_requested
        self.stop_requested.discard(run["id"])
        self.store.update_run(run["id"], **ending(result, code, by_user, studio_stopped))

    def recover(self) -> None:
        """At startup: a run recorded as running whose process is gone was interrupted. (Queued runs
        start once the app is up: `schedule`.)"""
        with self.lock:
            for run in self.store.list_runs():
                self._refresh(run)
            self.adopted = adopt_orphans(self)  # workers alive without their studio: followed again

    def shutdown(self, grace_s: float) -> None:
        """Stop the runs this studio started or adopted and record them as interrupted; queued runs stay queued."""
        with self.lock:
            self.closing = True  # the scheduler starts nothing more
        end_processes([p for p in self.procs.values() if p.poll() is None], grace_s)
        for run_id, process in list(self.procs.items()):
            run = self.store.get_run(run_id)
            if run and run["status"] == "running":
                self.finalize(run, process.returncode, studio_stopped=True)
        self.procs.clear()
        stop_adopted(self, grace_s)


def with_one_figure(run: dict) -> dict:
    """The run, its yardstick saying whether its test messages are enough for one figure
    (evaluate.SMALL_HOLD_OUT): the runs list gives no bare percentage below it. Worked out here, not
    stored, so runs trained by an older studio say it too."""
    from ....model.evaluate import SMALL_HOLD_OUT

    yardstick = run.get("yardstick")
    if not yardstick or not yardstick.get("examples"):
        return run
    return {**run, "yardstick": {**yardstick, "one_figure": yardstick["examples"] >= SMALL_HOLD_OUT}}
