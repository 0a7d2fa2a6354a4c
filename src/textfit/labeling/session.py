"""An active-learning labeling session: the model picks what a person labels next.

    session = LabelingSession("labels.sqlite", texts, ["billing", "shipping", "other"])
    for item in session.next_batch(10):          # [{"index", "text", "suggestion", "confidence", "top"}]
        session.add_label(item["index"], "billing")   # stored the moment it is given
    session.estimate()                            # {"accuracy": 0.71, "low": 0.62, "high": 0.79, ...}
    session.learning_curve()                      # {"points": [...], "flattened": False, "verdict": "..."}

Every label is written to SQLite in its own transaction before `add_label` returns: a reload, a
crash or a second browser tab loses nothing, and two session objects on one file (two tabs, two
processes) see each other's labels. A batch handed out is leased for `lease_seconds`, so two tabs
asking at once get different messages; a message labeled or skipped is never offered again.

The head (frozen vectors + logistic regression, `head.py`) is refitted when `refit_every` new
labels have arrived, at the next `next_batch` (or on `refit()`, which a web page can run in a
background thread: the head is swapped under a lock, and every method returns plain JSON types)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import head as fast_head
from . import select

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS texts (idx INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labels (
    idx INTEGER PRIMARY KEY, label INTEGER NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS skipped (idx INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS leases (idx INTEGER PRIMARY KEY, until REAL NOT NULL);
"""
FLAT_GAIN = 0.02
"""A doubling of the labels that raises the estimate by less than this has stopped paying."""
CEILING = 0.98
"""An estimate this high has nowhere left to rise."""
CURVE_START = 20
TREND_PER_CLASS = 5
"""A flat stretch says "stop" only from this many labels a class: below it the estimate is noise
(20 finance topics, 20 -> 40 labels: 25 % -> 20 %, with an interval of 10-35 %)."""
MIN_ESTIMATE = 10
"""Examples, in categories with two or more, before an estimate is given: below it the 95 % range
spans most of 0-100 % (and 12 examples of 12 categories score 0 %: none is seen in training)."""


def texts_fingerprint(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", errors="surrogatepass") + b"\0")
    return digest.hexdigest()


class LabelingSession:
    """See the module docstring. `texts` and `label_names` may be left out to reopen a session file;
    given, they must be the ones it was started with. `vectors`: the texts' vectors when at hand
    (else embedded with `model`, cached on disk). `zero_shot`: start from suggestions made from the
    label names (`suggest`); without it, the first batches are the most representative messages."""

    def __init__(
        self,
        path: str | Path,
        texts: Sequence[str] | None = None,
        label_names: Sequence[str] | None = None,
        descriptions=None,
        *,
        model: str | None = None,
        vectors: np.ndarray | None = None,
        zero_shot: bool = True,
        refit_every: int = 5,
        lease_seconds: float = 300,
        seed: int = 0,
        progress=None,
    ):
        self.path = Path(path)
        self.refit_every, self.lease_seconds, self.seed = max(1, int(refit_every)), float(lease_seconds), seed
        self._lock = threading.Lock()
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer; stored in the file
            db.executescript(SCHEMA)
        finally:
            db.close()
        self.texts, self.label_names, self.model = self._open(texts, label_names, model)
        self.vectors = vectors if vectors is not None else self._embed(progress)
        if len(self.vectors) != len(self.texts):
            raise DataError(f"{len(self.vectors)} vectors for {len(self.texts)} texts: give one vector per text")
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        self.prior = None
        if zero_shot:
            from .zeroshot import suggest

            self.prior = suggest(
                None, self.label_names, descriptions, model=self.model, vectors=self.vectors
            ).probabilities
        self.density = select.density(self.vectors, seed=seed)
        self.head, self.fitted_labels, self._probabilities = None, -1, self.prior
        self._focus_turn = -1  # which category short of examples `next_batch(focus=...)` looks for first

    # --- storage ------------------------------------------------------------------------------
    @contextmanager
    def _db(self, write: bool = False):
        """One connection per call (safe from any thread); `write` takes the write lock at once, so
        a read-then-write (leasing a batch) is one transaction no other tab can interleave with."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            db.close()

    def _open(self, texts, label_names, model):
        with self._db(write=True) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                if texts is None or label_names is None:
                    raise DataError(
                        f"{self.path} is not a labeling session yet: give the texts and the label names to start one"
                    )
                from .zeroshot import check_labels

                texts = [str(t) for t in texts]
                names, _ = check_labels(label_names, None)
                if not texts:
                    raise DataError("no texts to label")
                db.executemany("INSERT INTO texts VALUES (?, ?)", enumerate(texts))
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [
                        ("texts", texts_fingerprint(texts)),
                        ("label_names", json.dumps(names)),
                        ("model", json.dumps(model)),
                        ("created", str(time.time())),
                    ],
                )
                return texts, names, model
            stored_names = json.loads(meta["label_names"])
            if label_names is not None and list(label_names) != stored_names:
                raise DataError(
                    f"{self.path} was started with the labels {', '.join(stored_names)}; reopen it with "
                    "those (or none), or start a new session file for other labels"
                )
            if texts is not None and texts_fingerprint([str(t) for t in texts]) != meta["texts"]:
                raise DataError(
                    f"{self.path} was started for other texts; reopen it without texts, or start a new "
                    "session file for this data"
                )
            stored = [t for (t,) in db.execute("SELECT text FROM texts ORDER BY idx")]
            return stored, stored_names, json.loads(meta["model"]) if model is None else model

    def _embed(self, progress):
        from .vectors import embed

        return embed(self.texts, self.model, progress=progress)

    def _labeled(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices, label ids) in the order the labels were first given."""
        with self._db() as db:
            rows = db.execute("SELECT idx, label FROM labels ORDER BY seq").fetchall()
        return np.array([r[0] for r in rows], int), np.array([r[1] for r in rows], int)

    def _check_index(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.texts):
            raise DataError(f"no message {index!r}: indices run from 0 to {len(self.texts) - 1}")
        return int(index)

    def _label_id(self, label) -> int:
        if isinstance(label, str) and label in self.label_names:
            return self.label_names.index(label)
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and 0 <= label < len(self.label_names):
            return int(label)
        raise DataError(f"unknown label {label!r}; the labels are: {', '.join(self.label_names)}")

    # --- labeling -----------------------------------------------------------------------------
    def add_label(self, index: int, label: str | int) -> dict:
        """Store (or correct) one label; returns `status()`."""
        index, label = self._check_index(index), self._label_id(label)
        with self._db(write=True) as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM labels").fetchone()[0]
            db.execute(
                "INSERT INTO labels VALUES (?, ?, ?, ?) ON CONFLICT(idx) DO UPDATE SET label = excluded.label, "
                "at = excluded.at",
                (index, label, seq, time.time()),
            )
            db.execute("DELETE FROM skipped WHERE idx = ?", (index,))
            db.execute("DELETE FROM leases WHERE idx = ?", (index,))
        return self.status()

    def add_labels(self, labels: dict) -> dict:
        """Store many labels (message index -> label) in one transaction, e.g. a file's own label
        column; returns `status()`."""
        rows = [(self._check_index(i), self._label_id(label)) for i, label in labels.items()]
        now = time.time()
        with self._db(write=True) as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM labels").fetchone()[0]
            db.executemany(
                "INSERT INTO labels VALUES (?, ?, ?, ?) ON CONFLICT(idx) DO UPDATE SET label = excluded.label, "
                "at = excluded.at",
                [(i, label, seq + n, now) for n, (i, label) in enumerate(rows, start=1)],
            )
            db.executemany("DELETE FROM skipped WHERE idx = ?", [(i,) for i, _ in rows])
            db.executemany("DELETE FROM leases WHERE idx = ?", [(i,) for i, _ in rows])
        return self.status()

    def release(self, indices) -> None:
        """Give leased messages back before their lease ends (a page that re-ranks its queue, or closes)."""
        indices = [self._check_index(i) for i in indices]
        with self._db(write=True) as db:
            db.executemany("DELETE FROM leases WHERE idx = ?", [(i,) for i in indices])

    def skip(self, index: int) -> dict:
        """Leave a message unlabeled; it is not offered again."""
        index = self._check_index(index)
        with self._db(write=True) as db:
            db.execute("INSERT OR IGNORE INTO skipped VALUES (?, ?)", (index, time.time()))
            db.execute("DELETE FROM leases WHERE idx = ?", (index,))
        return self.status()

    def remove_label(self, index: int) -> dict:
        index = self._check_index(index)
        with self._db(write=True) as db:
            db.execute("DELETE FROM labels WHERE idx = ?", (index,))
        return self.status()

    def labels(self) -> dict[int, str]:
        """Every label given so far: message index -> label name."""
        indices, ids = self._labeled()
        return {int(i): self.label_names[j] for i, j in zip(indices, ids)}

    def status(self) -> dict:
        indices, ids = self._labeled()
        with self._db() as db:
            skipped = db.execute("SELECT COUNT(*) FROM skipped").fetchone()[0]
        counts = np.bincount(ids, minlength=len(self.label_names)) if len(ids) else np.zeros(len(self.label_names), int)
        return {
            "total": len(self.texts),
            "labeled": len(indices),
            "skipped": int(skipped),
            "remaining": len(self.texts) - len(indices) - int(skipped),
            "per_label": {n: int(c) for n, c in zip(self.label_names, counts)},
            "head_fitted_on": max(self.fitted_labels, 0),
            "refit_due": self._refit_due(len(indices)),
        }

    # --- the head -----------------------------------------------------------------------------
    def _refit_due(self, labeled: int) -> bool:
        return (
            self.fitted_labels < 0 or labeled - self.fitted_labels >= self.refit_every or labeled < self.fitted_labels
        )

    def refit(self, force: bool = False) -> bool:
        """Refit the head on every label so far, when `refit_every` new ones came (or `force`).
        Returns whether it refitted."""
        indices, ids = self._labeled()
        if not force and not self._refit_due(len(indices)):
            return False
        probabilities = self.prior
        if len(np.unique(ids)) >= 2:
            model = fast_head.fit(self.vectors[indices], ids, self.seed)
            probabilities = fast_head.probabilities(model, self.vectors, len(self.label_names))
            if self.prior is not None and len(model.classes_) < len(self.label_names):
                # labels nobody has given yet still get the names' say
                probabilities = 0.5 * probabilities + 0.5 * self.prior
        with self._lock:
            self._probabilities, self.fitted_labels = probabilities, len(indices)
        return True

    def probabilities(self) -> np.ndarray:
        """(texts, labels): the current head's (or the names') probabilities; uniform before anything."""
        with self._lock:
            current = self._probabilities
        if current is None:
            return np.full((len(self.texts), len(self.label_names)), 1 / len(self.label_names))
        return current

    def suggestions(self) -> list[dict]:
        """For every message: the label the current head suggests and its confidence."""
        p = self.probabilities()
        return [
            {"index": i, "label": self.label_names[j], "confidence": round(float(p[i, j]), 4)}
            for i, j in enumerate(p.argmax(1))
        ]

    def next_batch(self, n: int = 10, refit: bool = True, focus: Sequence[str] = ()) -> list[dict]:
        """The `n` messages that teach the head most now: uncertain, representative, unlike each other
        and the labeled ones (near-duplicates of those only when nothing else is left); never labeled,
        skipped, or leased to another tab. Each is leased for `lease_seconds`. `refit=False`: rank with
        the current head even when a refit is due (a web page refits in a background thread instead).
        `focus`: categories short of examples, looked for first, in turn (`select.likeness`): a message
        found for one comes with it as the suggestion and as `looking_for`."""
        if refit:
            self.refit()
        probabilities = self.probabilities()
        score = select.scores(probabilities, self.density)
        wanted = [self._label_id(name) for name in focus]
        examples = self._labeled()
        now = time.time()
        with self._db(write=True) as db:
            labeled = [i for (i,) in db.execute("SELECT idx FROM labels")]
            done = labeled + [i for (i,) in db.execute("SELECT idx FROM skipped")]
            leased = [i for (i,) in db.execute("SELECT idx FROM leases WHERE until > ?", (now,))]
            found = self._look_for(wanted, examples, n, done + leased, labeled + leased) if wanted else {}
            chosen = list(found)
            chosen += select.pick(
                self.vectors, score, n - len(chosen), exclude=done + leased + chosen, avoid=labeled + leased + chosen
            )
            if len(chosen) < n:  # only near-duplicates are left: offer them rather than stall the session
                taken = np.zeros(len(self.texts), bool)
                taken[done + leased + chosen] = True
                rest = np.flatnonzero(~taken)
                chosen += rest[np.argsort(-score[rest], kind="stable")][: n - len(chosen)].tolist()
            db.executemany(
                "INSERT OR REPLACE INTO leases VALUES (?, ?)", [(i, now + self.lease_seconds) for i in chosen]
            )
        return [self._item(i, probabilities[i], found.get(i)) for i in chosen]

    def _look_for(self, wanted: list[int], examples, n: int, exclude: list[int], avoid: list[int]) -> dict[int, int]:
        """Up to `n` messages, each the likeliest left of one `wanted` category, the categories in turn
        (a turn further at every call, so each gets its go); message index -> the category looked for."""
        indices, ids = examples
        found: dict[int, int] = {}
        self._focus_turn += 1
        for turn in range(n):
            label = wanted[(self._focus_turn + turn) % len(wanted)]
            names_say = self.prior[:, label] if self.prior is not None else None
            like = select.likeness(self.vectors, names_say, indices[ids == label])
            taken = list(found)
            picked = select.pick(
                self.vectors, like, 1, exclude=exclude + taken, avoid=avoid + taken, diversity=select.FOCUS_DIVERSITY
            )
            if not picked:  # only near-duplicates of what is labeled are left: the likeliest of them
                like[exclude + taken] = -np.inf
                picked = [int(np.argmax(like))] if np.isfinite(like.max()) else []
            if picked:
                found[picked[0]] = label
        return found

    def _item(self, index: int, p: np.ndarray, looking_for: int | None = None) -> dict:
        top = np.argsort(-p)[:3]
        suggested = int(top[0]) if looking_for is None else looking_for
        item = {
            "index": index,
            "text": self.texts[index],
            "suggestion": self.label_names[suggested],
            "confidence": round(float(p[suggested]), 4),
            "top": [{"label": self.label_names[int(j)], "probability": round(float(p[j]), 4)} for j in top],
        }
        if looking_for is not None:
            item["looking_for"] = self.label_names[looking_for]
        return item

    # --- where you stand ----------------------------------------------------------------------
    def _cross_validated(self, indices: np.ndarray, ids: np.ndarray) -> dict:
        oof = fast_head.out_of_fold(self.vectors[indices], ids, len(self.label_names), seed=self.seed)
        correct = int((oof.argmax(1) == ids).sum())
        low, high = fast_head.wilson_interval(correct, len(ids))
        return {
            "labels": len(ids),
            "examples": len(ids),
            "accuracy": round(correct / len(ids), 4),
            "low": round(low, 4),
            "high": round(high, 4),
        }

    def estimate(self) -> dict:
        """Accuracy of the fast head, 5-fold cross-validated on the labels so far, with a 95 % interval.
        The labels were picked as the hardest messages, so this errs low; `textfit train` on the same
        labels is usually better than the fast head."""
        indices, ids = self._labeled()
        counts = np.bincount(ids, minlength=len(self.label_names)) if len(ids) else np.zeros(1, int)
        # an example alone in its category cannot be answered by a model trained without it
        judged = counts[counts >= 2]
        if len(judged) < 2 or judged.sum() < MIN_ESTIMATE:
            return {
                "labels": len(ids),
                "examples": len(ids),
                "accuracy": None,
                "low": None,
                "high": None,
                "note": f"give at least {MIN_ESTIMATE} examples, two or more in each of at least two categories, "
                "for a first estimate",
            }
        return {
            **self._cross_validated(indices, ids),
            "note": "5-fold cross-validated accuracy of the quick model on your examples, with its 95 % range; "
            "the messages asked for are the hard ones, so it errs low",
        }

    def learning_curve(self) -> dict:
        """The estimate on the first 20, 40, 80, ... labels (in the order given) and on all of them,
        with a plain verdict on whether more labels still pay."""
        indices, ids = self._labeled()
        sizes, size = [], CURVE_START
        while size < len(ids):
            sizes.append(size)
            size *= 2
        if len(ids) >= 10:
            sizes.append(len(ids))
        points = [self._cross_validated(indices[:s], ids[:s]) for s in sizes if len(np.unique(ids[:s])) >= 2]
        return {"points": points, **verdict(points, len(self.label_names))}


def verdict(points: list[dict], classes: int = 2) -> dict:
    """Flattened when it reached CEILING, or when the last doubling of labels raised the estimate by
    less than FLAT_GAIN from at least TREND_PER_CLASS labels a class."""
    if len(points) < 2:
        return {"flattened": False, "verdict": f"Label at least {2 * CURVE_START} examples to see a trend."}
    last = points[-1]
    before = next((p for p in reversed(points[:-1]) if p["labels"] <= last["labels"] / 2 + 1), points[-2])
    gain = last["accuracy"] - before["accuracy"]
    span = (
        f"from {before['labels']} to {last['labels']} examples the estimate went from "
        f"{100 * before['accuracy']:.0f} % to {100 * last['accuracy']:.0f} %"
    )
    if last["accuracy"] >= CEILING:
        return {
            "flattened": True,
            "verdict": f"The curve has flattened: {span}. More examples now pay little; "
            "train the model, or check the labels (audit).",
        }
    if before["labels"] < TREND_PER_CLASS * classes:
        return {
            "flattened": False,
            "verdict": f"Too early to tell: {span}, but with {classes} categories the estimate "
            f"settles from about {TREND_PER_CLASS * classes * 2} examples. Keep going.",
        }
    if gain < FLAT_GAIN and last["labels"] >= 2 * before["labels"] - 1:
        return {
            "flattened": True,
            "verdict": f"The curve has flattened: {span}. More examples now pay little; "
            "train the model, or check the labels (audit).",
        }
    return {"flattened": False, "verdict": f"Still rising: {span}. More examples still pay."}
