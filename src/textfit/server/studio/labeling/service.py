"""Every labeling project of the studio, under `<workdir>/labeling/<project id>/` (projects.py):
created from an upload, found, opened on first use, renamed, deleted, listed."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from ....errors import TextfitError
from ..errors import StudioError
from ..housekeeping.service import clean_name
from ..runs.worker import write_json
from ..store import new_id, valid_id
from ..uploads.preview import read_upload
from .background import in_background
from .label_sets import check_names, imported_sets
from .projects import PROJECT, ROWS, Project


class LabelingProjects:
    """Every project under `<workdir>/labeling`, opened on first use (a studio restart reopens none until asked)."""

    def __init__(self, root: Path, uploads, runs, file_jobs):
        self.uploads, self.runs, self.file_jobs = uploads, runs, file_jobs
        self.root = root
        self.root.mkdir(exist_ok=True)
        self.open: dict[str, Project] = {}
        self.lock = threading.Lock()

    def describe_upload(self, upload_id: str, text_column: str | None, label_column: str | None) -> dict:
        """The studio's preview of an upload, with a text column found even in a file without labels, and a
        label column only when asked for or named like one (of two columns, training takes the other)."""
        from ....data.labeled import LABEL_COLUMN_NAMES
        from ....data.texts import find_text_column

        preview = self.uploads.preview(upload_id, text_column, label_column)
        if label_column is None and str(preview["label_column"]).lower() not in LABEL_COLUMN_NAMES:
            preview.update(label_column=None, labels=None, several_labels=None)
        if not preview["text_column"]:
            frame = read_upload(self.uploads.path(preview["upload"]), preview["upload"]["original_name"]).frame
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
        several_labels: bool = False,
    ) -> dict:
        """A new project; `several_labels`: a message can have several labels (label_sets.py)."""
        from ....data.texts import empty_texts
        from ....labeling.zeroshot import check_labels
        from ....model.base_models import resolve_model

        upload = self.uploads.get(upload_id, "no such upload: upload the file again")
        display = upload["original_name"]
        model = (model or "default").strip()
        try:
            names, descriptions = check_labels(label_names, [(d or "").strip() or None for d in descriptions])
            resolve_model(None if model == "default" else model)  # a clear error now, not in the background
        except TextfitError as exc:
            raise StudioError(str(exc).replace('e.g. --labels "billing,shipping,other"', "type one per line")) from None
        if several_labels:
            check_names(names)
        path = self.uploads.path(upload)
        frame = read_upload(path, display).frame
        for column in (text_column, label_column):
            if column is not None and column not in frame.columns:
                raise StudioError(f"'{display}' has no column '{column}'. The columns are: {', '.join(frame.columns)}")
        rows = [int(r) for r in (~empty_texts(frame[text_column])).to_numpy().nonzero()[0]]
        if not rows:
            raise StudioError(f"'{display}': the column '{text_column}' has no text in any row")
        texts = frame[text_column].iloc[rows].astype(str).tolist()
        imported = None
        if label_column and several_labels:
            imported = imported_sets(frame[label_column].iloc[rows], names, display, label_column)
        elif label_column:  # the file's own labels, where they are one of the names, count as given
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
            "several_labels": several_labels,
        }
        project = Project(self, folder, meta)
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
        project = Project(self, meta_path.parent, json.loads(meta_path.read_text()))
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

    def upload_ids(self) -> set[str]:
        """The uploads the projects were started from (read again whenever a project opens). A project.json
        that cannot be read raises: what it would keep cannot be known."""
        used = set()
        for meta_path in self.root.glob(f"*/{PROJECT}"):
            try:
                used.add(json.loads(meta_path.read_text())["upload_id"])
            except FileNotFoundError:  # deleted meanwhile
                continue
        return used

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
