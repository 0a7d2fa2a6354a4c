"""The studio's labeling projects ("Label messages"): an uploaded file's texts, the label names a
person typed, and a `textfit.LabelingSession` over them, in `<workdir>/labeling/<project id>/`:

    project.json     what was chosen (name, upload, columns, label names, descriptions, model), the
                     runs trained from the labels and the last "classify the rest" file
    rows.json        the upload's row (0-based) of each message: rows without text are left out
    session.sqlite   the labels (LabelingSession): each one is stored the moment it is given

Renaming changes project.json only; deleting removes this folder and nothing else: the runs trained
from the labels, their uploads and the upload the project started from stay in the studio.

Everything slow runs in a background thread while the page polls: embedding the texts (when a
project is created, or first opened after a restart: then from the vector cache), the fast head's
refit after every few labels, the estimate and learning curve, the label audit. A request itself
only reads or writes SQLite and ranks the queue."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import threading
import time
from pathlib import Path

from ...errors import TextfitError
from ..common import Latest, StudioError, error_message, in_background
from .housekeeping import clean_name
from .runs import new_id, valid_id
from .uploads import read_upload
from .worker import write_json

log = logging.getLogger("textfit")
FOLDER, PROJECT, ROWS, SESSION = "labeling", "project.json", "rows.json", "session.sqlite"
AUDIT_ROWS = 25
"""The most suspicious labels the page lists."""


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Project:
    """One project: its choices (`meta`), its session once the texts are embedded, and its background work."""

    def __init__(self, studio, folder: Path, meta: dict):
        self.studio, self.folder, self.meta = studio, folder, meta
        self.session = None
        self.phase, self.done, self.error = "loading", 0, None
        """loading (the model) -> reading (embedding: done of meta['messages']) -> suggesting -> ready, or failed;
        closed: not opened since the studio started; deleted: its folder is gone (a request holding it gets a 404)."""
        self.lock = threading.Lock()
        self.changes = 0  # every label, correction or skip given here: the version `stand` is computed for
        self.head_version, self.refitting = 0, False
        self.stand = Latest(self._where_you_stand)
        self.audit = {"status": None}

    # --- opening ----------------------------------------------------------------------------------
    def open(self, texts: list[str] | None = None, imported: dict | None = None) -> None:
        """Embed (or load from the cache) and open the session; `texts` for a new project, with the
        upload's own labels to import. Runs in a background thread."""
        from ...errors import DataError
        from ...labeling import LabelingSession

        def session(texts):
            return LabelingSession(
                self.folder / SESSION,
                texts,
                self.meta["label_names"],
                self.meta["descriptions"],
                model=self.meta["model"],
                progress=self._progress,
            )

        try:
            try:
                opened = session(texts)
            except DataError:
                if texts is not None:
                    raise
                opened = session(self._texts_again())  # stopped before its texts were stored: start again
            if imported:
                opened.add_labels(imported)
            with self.lock:
                self.session, self.phase = opened, "ready"
        except Exception as exc:
            log.exception("labeling project %s could not be opened", self.meta["id"])
            with self.lock:
                self.phase, self.error = "failed", error_message(exc)

    def _progress(self, done: int, total: int) -> None:
        self.done = done
        self.phase = "suggesting" if done >= total else "reading"

    def _texts_again(self) -> list[str]:
        frame = self.upload_frame()
        rows = json.loads((self.folder / ROWS).read_text())
        return frame[self.meta["text_column"]].iloc[rows].astype(str).tolist()

    def upload_frame(self):
        upload = self.studio.store.get_upload(self.meta["upload_id"])
        if upload is None:
            raise StudioError(f"the file '{self.meta['upload_name']}' is no longer in the studio", 404)
        return read_upload(self.studio.upload_path(upload), upload["original_name"]).frame

    def ready(self):
        if self.phase == "deleted":
            raise StudioError("this labeling project was deleted", 404)
        if self.phase == "failed":
            raise StudioError(f"this project could not be opened: {self.error}", 409)
        if self.session is None:
            raise StudioError("the messages are still being read; wait a moment", 409)
        return self.session

    def save(self) -> None:
        write_json(self.folder / PROJECT, self.meta)

    # --- labeling ---------------------------------------------------------------------------------
    def next_batch(self, n: int, release: list[int]) -> dict:
        session = self.ready()
        if release:
            session.release(release)
        items = session.next_batch(n, refit=False)  # the request never waits for a refit: after_label starts it
        return {"items": items, "head": self.head()}

    def label(self, index: int, label: str) -> dict:
        status = self.ready().add_label(index, label)
        return self._changed(status)

    def skip(self, index: int) -> dict:
        session = self.ready()
        if index in session.labels():  # "undo", then skip: the label given before goes
            session.remove_label(index)
        return self._changed(session.skip(index))

    def _changed(self, status: dict) -> dict:
        with self.lock:
            self.changes += 1
            start = status["refit_due"] and not self.refitting
            self.refitting = self.refitting or start
        if start:
            in_background(self._refit)
        return {"status": status, "head": self.head()}

    def _refit(self) -> None:
        """Refit the head until no refit is due (labels keep coming while it fits); the page re-ranks
        its queue when `head_version` moves."""
        session = self.session  # kept: a delete drops self.session
        try:
            while True:
                if session.refit():
                    with self.lock:
                        self.head_version += 1
                with self.lock:
                    if not session.status()["refit_due"]:
                        self.refitting = False
                        return
        except Exception:
            if self.phase != "deleted":  # else its session.sqlite is simply gone
                log.exception("labeling: refitting the head failed")
            with self.lock:
                self.refitting = False

    def head(self) -> dict:
        return {"version": self.head_version, "refitting": self.refitting}

    def where_you_stand(self) -> dict:
        session = self.ready()
        value, current = self.stand.get(self.changes)
        return {"status": session.status(), **(value or {}), "current": current}

    def _where_you_stand(self) -> dict:
        return {"estimate": self.session.estimate(), "curve": self.session.learning_curve()}

    # --- training and classifying the rest -------------------------------------------------------
    def train(self, epochs: int | None, time_budget: float | None) -> dict:
        import pandas as pd

        session = self.ready()
        labels = session.labels()
        if len(set(labels.values())) < 2:
            raise StudioError("give labels of at least two kinds before training (a model tells labels apart)")
        table = pd.DataFrame({"text": [session.texts[i] for i in labels], "label": list(labels.values())})
        upload = self.studio.add_upload(
            io.BytesIO(table.to_csv(index=False).encode("utf-8")), f"{self.meta['name']}-labels.csv"
        )["upload"]
        run = self.studio.start_run(
            upload["id"],
            "text",
            "label",
            model=self.meta["model"] or "default",
            epochs=epochs,
            time_budget=time_budget,
            name=f"{self.meta['name']} · {len(labels)} labels",
        )
        with self.lock:
            self.meta["runs"] = [*self.meta.get("runs", []), run["id"]]
            self.save()
        return run

    def classify_rest(self) -> dict:
        """Classify every message without a label (skipped ones too) with the last trained run: a file of
        those rows, with all the upload's columns, goes to the studio's "Classify a file" job."""
        session = self.ready()
        run_id = (self.meta.get("runs") or [None])[-1]
        if run_id is None:
            raise StudioError("train the model first: “Classify the rest” uses it", 409)
        labeled = session.labels()
        rest = [i for i in range(len(session.texts)) if i not in labeled]
        if not rest:
            raise StudioError("every message has a label: there is nothing left to classify", 409)
        rows = json.loads((self.folder / ROWS).read_text())
        frame = self.upload_frame()
        unlabeled = frame.iloc[[rows[i] for i in rest]]
        upload = self.studio.add_upload(
            io.BytesIO(unlabeled.to_csv(index=False).encode("utf-8")), f"{self.meta['name']}-unlabeled.csv"
        )["upload"]
        job = self.studio.file_jobs.start(run_id, upload["id"], self.meta["text_column"], None, None)
        with self.lock:
            self.meta["classify"] = {"run": run_id, "upload": upload["id"], "messages": len(rest)}
            self.save()
        return job

    # --- checking the labels ----------------------------------------------------------------------
    def start_audit(self) -> dict:
        session = self.ready()
        labels = session.labels()
        if len(labels) < 10 or len(set(labels.values())) < 2:
            raise StudioError("label at least 10 messages, of at least two labels, before checking them")
        with self.lock:
            if self.audit["status"] == "running":
                raise StudioError("the labels are being checked already", 409)
            self.audit = {"status": "running", "labels": len(labels), "started": time.time()}
        in_background(self._audit, labels)
        return self.audit

    def _audit(self, labels: dict) -> None:
        import numpy as np

        from ...labeling import audit

        session = self.session
        indices = np.array(list(labels), int)
        try:
            report = audit([session.texts[i] for i in indices], list(labels.values()), vectors=session.vectors[indices])
            rows = []
            for record in report.to_records(AUDIT_ROWS):
                index = int(indices[record["index"]])
                # the report names rows by their place among the labels: name the message itself instead
                reason = re.sub(
                    r"near-duplicate of row (\d+)",
                    lambda m: f"almost the same as “{_short(session.texts[indices[int(m.group(1)) - 1]])}”",
                    record["reason"],
                )
                rows.append(
                    {
                        "index": index,
                        "text": session.texts[index],
                        "label": record["label"],
                        "suggested_label": record["suggested_label"],
                        "suspicion": record["suspicion"],
                        "label_probability": record["label_probability"],
                        "likely_mislabeled": record["likely_mislabeled"],
                        "reason": reason,
                    }
                )
            result = {"status": "done", "rows": rows, "flagged": int(report.flagged.sum())}
        except Exception as exc:
            log.exception("labeling: the label check failed")
            result = {"status": "failed", "error": error_message(exc)}
        with self.lock:
            self.audit = {**self.audit, **result, "finished": time.time()}

    def busy(self) -> str | None:
        """Why the project cannot be deleted now, in the page's words; None when it can."""
        if self.phase in ("loading", "reading", "suggesting"):
            return f"the messages of “{self.meta['name']}” are still being read: delete the project once they are"
        if self.audit["status"] == "running":
            return f"the labels of “{self.meta['name']}” are being checked: delete the project once the check is done"
        return None

    # --- what the page shows ----------------------------------------------------------------------
    def summary(self) -> dict:
        keys = (
            "id",
            "name",
            "created",
            "messages",
            "upload_name",
            "text_column",
            "label_column",
            "label_names",
            "descriptions",
            "model",
            "imported",
        )
        return {**{k: self.meta.get(k) for k in keys}, "phase": self.phase, "done": self.done, "error": self.error}

    def describe(self) -> dict:
        studio = self.studio
        answer = {
            **self.summary(),
            "head": self.head(),
            "audit": {k: v for k, v in self.audit.items() if k != "rows"},
            "status": self.session.status() if self.session else None,
            "run": None,
            "classify": None,
        }
        run_id = (self.meta.get("runs") or [None])[-1]
        if run_id:
            try:
                run = studio.get_run(run_id)
                answer["run"] = {k: run.get(k) for k in ("id", "name", "status", "metrics", "message")}
            except StudioError:  # deleted in "Your models"
                answer["run"] = {"id": run_id, "status": "deleted"}
        asked = self.meta.get("classify")
        if asked and answer["run"] and asked["run"] == run_id and answer["run"]["status"] != "deleted":
            job = studio.file_jobs.state(run_id)
            ours = job is not None and _job_upload(studio, run_id) == asked["upload"]  # not a file classified since
            answer["classify"] = {**asked, "job": job if ours else None}
        return answer


def _job_upload(studio, run_id: str) -> str | None:
    from .classify_files import JOB

    try:
        return json.loads((studio.file_jobs.folder(run_id) / JOB).read_text()).get("upload_id")
    except (OSError, ValueError):
        return None


class LabelingProjects:
    """Every project under `<workdir>/labeling`, opened on first use (a studio restart reopens none until asked)."""

    def __init__(self, studio):
        self.studio = studio
        self.root = studio.workdir / FOLDER
        self.root.mkdir(exist_ok=True)
        self.open: dict[str, Project] = {}
        self.lock = threading.Lock()

    def describe_upload(self, upload_id: str, text_column: str | None, label_column: str | None) -> dict:
        """The studio's preview of an upload, with a text column found even in a file without labels, and a
        label column only when asked for or named like one (of two columns, training takes the other)."""
        from ...data.labeled import LABEL_COLUMN_NAMES
        from ...data.texts import find_text_column

        preview = self.studio.preview(upload_id, text_column, label_column)
        if label_column is None and str(preview["label_column"]).lower() not in LABEL_COLUMN_NAMES:
            preview.update(label_column=None, labels=None)
        if not preview["text_column"]:
            frame = read_upload(self.studio.upload_path(preview["upload"]), preview["upload"]["original_name"]).frame
            try:
                preview["text_column"] = find_text_column(frame, preview["upload"]["original_name"])
            except TextfitError:
                pass  # the person picks it
        return preview

    def create(
        self,
        upload_id: str,
        text_column: str,
        label_column: str | None,
        label_names: list[str],
        descriptions: list[str | None],
        model: str,
        name: str | None,
    ) -> dict:
        from ...data.texts import empty_texts
        from ...labeling.zeroshot import check_labels
        from ...model.base_models import resolve_model

        upload = self.studio.store.get_upload(upload_id)
        if upload is None:
            raise StudioError("no such upload: upload the file again", 404)
        display = upload["original_name"]
        model = (model or "default").strip()
        try:
            names, descriptions = check_labels(label_names, [(d or "").strip() or None for d in descriptions])
            resolve_model(None if model == "default" else model)  # a clear error now, not in the background
        except TextfitError as exc:
            raise StudioError(str(exc).replace('e.g. --labels "billing,shipping,other"', "type one per line")) from None
        path = self.studio.upload_path(upload)
        frame = read_upload(path, display).frame
        for column in (text_column, label_column):
            if column is not None and column not in frame.columns:
                raise StudioError(f"'{display}' has no column '{column}'. The columns are: {', '.join(frame.columns)}")
        rows = [int(r) for r in (~empty_texts(frame[text_column])).to_numpy().nonzero()[0]]
        if not rows:
            raise StudioError(f"'{display}': the column '{text_column}' has no text in any row")
        texts = frame[text_column].iloc[rows].astype(str).tolist()
        imported = None
        if label_column:  # the file's own labels, where they are one of the names, count as given
            given = frame[label_column].iloc[rows].astype("string").str.strip()
            imported = {i: value for i, value in enumerate(given) if isinstance(value, str) and value in names}
        project_id = new_id("label")
        folder = self.root / project_id
        folder.mkdir()
        write_json(folder / ROWS, rows)
        meta = {
            "id": project_id,
            "name": (name or "").strip()[:100] or Path(display).stem,
            "created": time.time(),
            "upload_id": upload_id,
            "upload_name": display,
            "text_column": text_column,
            "label_column": label_column,
            "label_names": names,
            "descriptions": descriptions,
            "model": None if model == "default" else model,
            "messages": len(texts),
            "imported": len(imported) if imported is not None else None,
            "runs": [],
        }
        project = Project(self.studio, folder, meta)
        project.save()
        with self.lock:
            self.open[project_id] = project
        in_background(project.open, texts, imported)
        return project.describe()

    def get(self, project_id: str) -> Project:
        """The project, opened in the background the first time it is asked for."""
        with self.lock:
            project = self._find(project_id)
            if project.phase == "closed":
                project.phase, self.open[project_id] = "loading", project
                in_background(project.open)
        return project

    def _find(self, project_id: str) -> Project:
        """The project; one not open is read from its project.json, "closed", not opened. Hold self.lock."""
        if not valid_id(project_id):
            raise StudioError("no such labeling project", 404)
        if project_id in self.open:
            return self.open[project_id]
        meta_path = self.root / project_id / PROJECT
        if not meta_path.is_file():
            raise StudioError("no such labeling project", 404)
        project = Project(self.studio, meta_path.parent, json.loads(meta_path.read_text()))
        project.phase = "closed"
        return project

    def rename(self, project_id: str, name: str) -> dict:
        """Cleaned as a run's name is (housekeeping.clean_name: one line, at most 100 characters)."""
        if not any(c.isprintable() and not c.isspace() for c in name):
            raise StudioError("give the project a name (it cannot be empty)")
        name = clean_name(name)
        with self.lock:  # a project not open stays closed: renaming it embeds nothing
            project = self._find(project_id)
            with project.lock:
                project.meta["name"] = name
                project.save()
        return project.summary()

    def delete(self, project_id: str) -> dict:
        """Forget the project and remove its folder: refused while its texts are read or its labels checked.
        The session keeps no connection open (one per call), so dropping it closes it."""
        with self.lock:  # no request can open it meanwhile
            project = self._find(project_id)
            folder = project.folder
            if folder.resolve() != self.root.resolve() / project_id:  # a link, or not under <workdir>/labeling
                raise StudioError(f"refusing to remove {folder}: it is not a folder of {self.root}", 500)
            with project.lock:
                if reason := project.busy():
                    raise StudioError(reason, 409)
                project.phase, project.session = "deleted", None
            self.open.pop(project_id, None)
            try:
                (folder / PROJECT).unlink(missing_ok=True)  # first: a folder left half-removed is listed no more
                shutil.rmtree(folder)  # follows no links
            except OSError as exc:
                raise StudioError(
                    f"the project was deleted, but some of its files could not be removed ({exc}); "
                    f"remove the folder {folder} by hand",
                    500,
                ) from None
        return {"deleted": project_id, "name": project.meta["name"], "runs_kept": len(project.meta.get("runs") or [])}

    def list(self) -> list[dict]:
        """Newest first: open projects as they stand, the others as their project.json says."""
        found = []
        for meta_path in self.root.glob(f"*/{PROJECT}"):
            try:
                with self.lock:
                    project = self._find(meta_path.parent.name)
            except (OSError, ValueError, StudioError):  # removed meanwhile, or unreadable
                continue
            found.append(project.summary())
        return sorted(found, key=lambda p: p["created"] or 0, reverse=True)
