"""The studio's labeling projects ("Label messages"): an uploaded file's texts, the label names a
person typed, and a `textfit.LabelingSession` over them, in `<workdir>/labeling/<project id>/`:

    project.json     what was chosen (name, upload, columns, label names, descriptions, model), the
                     runs trained from the labels and the last "classify the rest" file
    rows.json        the upload's row (0-based) of each message: rows without text are left out
    session.sqlite   the labels (LabelingSession): each one is stored the moment it is given; in a
                     project of several labels per message, each message's set too (label_sets.py)

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
import threading
import time
from pathlib import Path

from ..classify.job import JOB
from ..errors import StudioError, error_message
from ..runs.worker import MODEL, write_json
from ..uploads.preview import read_upload
from .background import Latest, in_background
from .label_check import suspicious_labels
from .label_sets import SEPARATOR, LabelSets, checked, per_label

log = logging.getLogger("textfit")
FOLDER, PROJECT, ROWS, SESSION = "labeling", "project.json", "rows.json", "session.sqlite"
YOUR_LABEL = "your label"
""""Classify the rest": the column of the file that holds the labels given here (empty: the model's answer alone)."""


class Project:
    """One project: its choices (`meta`), its session once the texts are embedded, and its background work."""

    def __init__(self, owner, folder: Path, meta: dict):
        self.owner, self.folder, self.meta = owner, folder, meta  # owner: the LabelingProjects, with the services
        self.session = None
        self.phase, self.done, self.error = "loading", 0, None
        """loading (the model) -> reading (embedding: done of meta['messages']) -> suggesting -> ready, or failed;
        closed: not opened since the studio started; deleted: its folder is gone (a request holding it gets a 404)."""
        self.lock = threading.Lock()
        self.changes = 0  # every label, correction or skip given here: the version `stand` is computed for
        self.head_version, self.refitting = 0, False
        self.stand = Latest(self._where_you_stand)
        self.audit = {"status": None}
        self.sets = LabelSets(folder / SESSION) if meta.get("several_labels") else None
        """Several labels per message (label_sets.py); None: one label a message, as ever."""

    # --- opening ----------------------------------------------------------------------------------
    def open(self, texts: list[str] | None = None, imported: dict | None = None) -> None:
        """Embed (or load from the cache) and open the session; `texts` for a new project, with the
        upload's own labels to import. Runs in a background thread."""
        from ....errors import DataError
        from ....labeling import LabelingSession

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
                if self.sets:  # several labels a message: the session keeps each set's first
                    self.sets.put(imported)
                    imported = {i: labels[0] for i, labels in imported.items()}
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
        uploads = self.owner.uploads
        upload = uploads.get(
            self.meta["upload_id"], f"the file '{self.meta['upload_name']}' is no longer in the studio"
        )
        return read_upload(uploads.path(upload), upload["original_name"]).frame

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
        focus = self.focus(session)
        # the request never waits for a refit: after_label starts it
        items = session.next_batch(n, refit=False, focus=focus)
        return {"items": items, "head": self.head(), "focus": focus}

    # --- categories short of examples -------------------------------------------------------------
    def focus(self, session) -> list[str]:
        """The categories the queue looks for first ("Label more of these now"), until each has
        MIN_EXAMPLES: those that reached it drop out."""
        from ....data.coverage import short_categories

        wanted = self.meta.get("focus") or []
        if not wanted:
            return []
        still = [name for name in wanted if name in short_categories(self.status(session)["per_label"])]
        if still != wanted:
            with self.lock:
                self.meta["focus"] = still
                self.save()
        return still

    def look_for(self, categories: list[str]) -> dict:
        """Make the queue look for these categories first (an empty list: back to the usual order)."""
        session = self.ready()
        unknown = [name for name in categories if name not in session.label_names]
        if unknown:
            raise StudioError(f"no category {', '.join(map(repr, unknown))} in this project")
        with self.lock:
            self.meta["focus"] = list(dict.fromkeys(categories))
            self.save()
        return {"focus": self.focus(session)}

    def _labels_kept(self, session, without: list[str] | None) -> tuple[dict[int, str], dict[str, int]]:
        """The labels a run trains on, leaving out the categories `without` (their examples too), and the
        categories it cannot answer (left out, or without examples): name -> the examples they have. With
        several labels a message, each message's labels joined by ';' (a message left with none keeps its
        row: it belongs to none of the labels trained)."""
        unknown = [name for name in without or () if name not in session.label_names]
        if unknown:
            raise StudioError(f"no category {', '.join(map(repr, unknown))} in this project")
        left = set(without or ())
        counts = self.status(session)["per_label"]
        cannot = {name: counts[name] for name in session.label_names if name in left or not counts[name]}
        if self.sets:
            sets = self.sets.of(session.labels())
            return {i: SEPARATOR.join(n for n in labels if n not in left) for i, labels in sets.items()}, cannot
        return {i: label for i, label in session.labels().items() if label not in left}, cannot

    def label(self, index: int, label: str) -> dict:
        if self.sets:  # one label in a project of several a message: a set of one
            return self.label_set(index, [label])
        status = self.ready().add_label(index, label)
        return self._changed(status)

    def label_set(self, index: int, labels: list[str]) -> dict:
        """Several labels for one message (a project marked so): the set stored, the session given its first."""
        session = self.ready()
        if not self.sets:
            raise StudioError("this project gives one label a message: send one label", 409)
        chosen = checked(labels, session.label_names)
        session.add_label(index, chosen[0])  # checks the index
        self.sets.put({index: chosen})
        return self._changed(session.status())

    def skip(self, index: int) -> dict:
        session = self.ready()
        if index in session.labels():  # "undo", then skip: the label given before goes
            session.remove_label(index)
            if self.sets:
                self.sets.remove(index)
        return self._changed(session.skip(index))

    def status(self, session, status: dict | None = None) -> dict:
        """The session's status; with several labels a message, each label counted in every set holding it."""
        status = status if status is not None else session.status()
        if self.sets:
            status = {**status, "per_label": per_label(self.sets.of(session.labels()), session.label_names)}
        return status

    def _changed(self, status: dict) -> dict:
        status = self.status(self.session, status)
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
        return {"status": self.status(session), **(value or {}), "current": current}

    def _where_you_stand(self) -> dict:
        return {"estimate": self.session.estimate(), "curve": self.session.learning_curve()}

    # --- training and classifying the rest -------------------------------------------------------
    def train(
        self,
        epochs: int | None,
        time_budget: float | None,
        use_unlabeled: bool = True,
        without: list[str] | None = None,
    ) -> dict:
        """Train a model on the labels; by default it learns from the messages without a label too
        (skipped ones included: `--unlabeled`, training/distill.py). `without`: categories to leave out
        (the page's "Train without them"); the run records every category it cannot answer, so its
        page, its model card and its classified files name them."""
        import pandas as pd

        from ....data.coverage import LEFT_OUT
        from ....model.evaluate import CROSS_VALIDATED

        session = self.ready()
        labels, left_out = self._labels_kept(session, without)
        given = labels.values()
        kinds = {name for joined in given for name in joined.split(SEPARATOR) if name} if self.sets else set(given)
        if len(kinds) < 2:
            raise StudioError("give labels of at least two kinds before training (a model tells labels apart)")
        table = pd.DataFrame({"text": [session.texts[i] for i in labels], "label": list(labels.values())})
        upload = self.owner.uploads.add(
            io.BytesIO(table.to_csv(index=False).encode("utf-8")), f"{self.meta['name']}-labels.csv"
        )["upload"]
        # several labels a message: the library learns from texts without labels through one label a text only
        use_unlabeled = use_unlabeled and not self.sets
        rest = self._without_labels(session, labels) if use_unlabeled else []
        unlabeled = (
            self.owner.uploads.add(
                io.BytesIO(pd.DataFrame({"text": rest}).to_csv(index=False).encode("utf-8")),
                f"{self.meta['name']}-without-labels.csv",
            )["upload"]["id"]
            if rest
            else None
        )
        run = self.owner.runs.start(
            upload["id"],
            "text",
            "label",
            model=self.meta["model"] or "default",
            epochs=epochs,
            time_budget=time_budget,
            name=f"{self.meta['name']} · {len(labels)} labels",
            unlabeled_upload_id=unlabeled,
            extra={**({LEFT_OUT: left_out} if left_out else {}), CROSS_VALIDATED: self.estimate_now(session)},
            label_separator=SEPARATOR if self.sets else None,
        )
        with self.lock:
            self.meta["runs"] = [*self.meta.get("runs", []), run["id"]]
            self.save()
        return run

    def unlabeled_estimate(self, epochs: int | None = None, time_budget: float | None = None) -> dict:
        """What "Train the model" adds to learn from the messages without a label, as train() would give
        them (runs/estimate.unlabeled_part): {"unlabeled": None} where there are none, a project of several
        labels a message, or fewer than two kinds of labels."""
        from ....training.distill import unseen
        from ..runs.estimate import strategy_for, unlabeled_part

        session = self.ready()
        labels = session.labels()
        # as train() counts them: read as --unlabeled reads a file (stripped), once each, less the labeled
        without = [str(t).strip() for t in self._without_labels(session, labels)]
        rest = unseen(without, (session.texts[i] for i in labels))
        counts = [n for n in self.status(session)["per_label"].values() if n]
        if self.sets or not rest or len(counts) < 2:
            return {"unlabeled": None}
        mean_chars = sum(len(str(session.texts[i])) for i in labels) / len(labels)
        model = self.meta["model"] or "default"
        return {
            "unlabeled": unlabeled_part(
                len(rest), len(labels), len(counts), strategy_for(counts), mean_chars, model, epochs, time_budget
            )
        }

    @staticmethod
    def _without_labels(session, labels) -> list:
        """The messages without a label (skipped ones included) that "Train the model" learns from."""
        return [t for i, t in enumerate(session.texts) if i not in labels and str(t).strip()]

    def estimate_now(self, session) -> dict:
        """The session's estimate for the labels as they stand (the page's, when it is current): kept
        with a run trained from them, its figure while its test messages are few (evaluate.accuracy_figure)."""
        value, current = self.stand.get(self.changes)
        if current and value and "estimate" in value:
            return value["estimate"]
        return session.estimate()

    def classify_rest(self) -> dict:
        """Classify every message without a label (skipped ones too) with the last trained run: a file of
        every row with a text, with all the upload's columns and the label given to each labeled one in
        "your label" (YOUR_LABEL), goes to the studio's "Classify a file" job. An Excel upload is sent
        on as Excel, so its dates and numbers stay dates and numbers."""
        session = self.ready()
        run_id = (self.meta.get("runs") or [None])[-1]
        if run_id is None:
            raise StudioError("train the model first: “Classify the rest” uses it", 409)
        labeled = session.labels()
        if self.sets:  # every label of each message, joined as `textfit predict` joins its answers
            labeled = {i: SEPARATOR.join(labels) for i, labels in self.sets.of(labeled).items()}
        rest = [i for i in range(len(session.texts)) if i not in labeled]
        if not rest:
            raise StudioError("every message has a label: there is nothing left to classify", 409)
        rows = json.loads((self.folder / ROWS).read_text())
        frame = self.upload_frame().iloc[rows].reset_index(drop=True)
        column = next(n for n in (YOUR_LABEL, *(f"{YOUR_LABEL} ({k})" for k in range(2, 100))) if n not in frame)
        frame[column] = [labeled.get(i, "") for i in range(len(rows))]
        stem = Path(self.meta["upload_name"]).stem or self.meta["name"]
        content = io.BytesIO()
        if Path(self.meta["upload_name"]).suffix.lower() in (".xlsx", ".xlsm"):
            frame.to_excel(content, index=False)
            name = f"{stem}.xlsx"
        else:
            content.write(frame.to_csv(index=False).encode("utf-8"))
            name = f"{stem}.csv"
        content.seek(0)
        upload = self.owner.uploads.add(content, name)["upload"]
        job = self.owner.file_jobs.start(run_id, upload["id"], self.meta["text_column"], None, None)
        with self.lock:
            self.meta["classify"] = {
                "run": run_id,
                "upload": upload["id"],
                "messages": len(rows),
                "labeled": len(labeled),
                "column": column,
            }
            self.save()
        return job

    # --- checking the labels ----------------------------------------------------------------------
    def start_audit(self) -> dict:
        session = self.ready()
        if self.sets:
            raise StudioError(
                "checking the labels looks for messages whose one label looks wrong; in this project a message "
                "has several labels, which it cannot judge",
                409,
            )
        labels = session.labels()
        if len(labels) < 10 or len(set(labels.values())) < 2:
            raise StudioError("label at least 10 examples, of at least two categories, before checking them")
        with self.lock:
            if self.audit["status"] == "running":
                raise StudioError("the labels are being checked already", 409)
            self.audit = {"status": "running", "labels": len(labels), "started": time.time()}
        in_background(self._audit, labels)
        return self.audit

    def _audit(self, labels: dict) -> None:
        try:
            result = suspicious_labels(self.session, labels)
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
            "several_labels",
        )
        return {**{k: self.meta.get(k) for k in keys}, "phase": self.phase, "done": self.done, "error": self.error}

    def describe(self) -> dict:
        from ....data.coverage import MIN_EXAMPLES

        answer = {
            **self.summary(),
            "min_examples": MIN_EXAMPLES,  # fewer examples than this: a category the page warns about
            "focus": self.meta.get("focus") or [],
            "head": self.head(),
            "audit": {k: v for k, v in self.audit.items() if k != "rows"},
            "status": self.status(self.session) if self.session else None,
            "run": None,
            "classify": None,
        }
        run_id = (self.meta.get("runs") or [None])[-1]
        if run_id:
            try:
                run = self.owner.runs.get(run_id)
                answer["run"] = {k: run.get(k) for k in ("id", "name", "status", "metrics", "message")}
                answer["run"]["left_out"] = left_out_of(run)
                answer["run"]["figure"] = self.run_figure(run_id) if run.get("metrics") else None
            except StudioError:  # deleted in "Your models"
                answer["run"] = {"id": run_id, "status": "deleted"}
        asked = self.meta.get("classify")
        if asked and answer["run"] and asked["run"] == run_id and answer["run"]["status"] != "deleted":
            job = self.owner.file_jobs.state(run_id)
            ours = job is not None and self._job_upload(run_id) == asked["upload"]  # not a file classified since
            answer["classify"] = {**asked, "job": job if ours else None}
        return answer

    def run_figure(self, run_id: str) -> dict | None:
        """The trained run's accuracy as its run page shows it (runs/results.py: the same record, the same function)."""
        from ..runs.results import figure_of

        return figure_of(self.owner.runs.folder(run_id) / MODEL)

    def _job_upload(self, run_id: str) -> str | None:
        try:
            return json.loads((self.owner.file_jobs.folder(run_id) / JOB).read_text()).get("upload_id")
        except (OSError, ValueError):
            return None


def left_out_of(run: dict) -> dict[str, int]:
    """The categories a run was trained without (name -> the examples they had), from its settings."""
    from ....data.coverage import LEFT_OUT

    return ((run.get("settings") or {}).get("extra") or {}).get(LEFT_OUT) or {}
