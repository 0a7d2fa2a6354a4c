"""Several labels per message, for a project marked so: each message's set of labels, stored the moment
it is confirmed, in a table of its own beside the LabelingSession's (the same session.sqlite).

The session keeps one label a message, the set's first: its fast head, suggestions and estimate
work on that one, as for any project. Training reads the sets: one row a message, the labels joined
by ';' (SEPARATOR), read by the library as several labels per text (data/multilabel.py)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from ..errors import StudioError

SEPARATOR = ";"
"""What joins a message's labels in the file a run trains on (`label_separator`) and in "your label"."""
TABLE = "CREATE TABLE IF NOT EXISTS label_sets (idx INTEGER PRIMARY KEY, labels TEXT NOT NULL)"


def checked(labels: list[str], names: list[str]) -> list[str]:
    """The labels, each once, in the order given; refused when empty or not among the project's names."""
    chosen = list(dict.fromkeys(labels))
    if not chosen:
        raise StudioError("choose at least one label for this message (or skip it)")
    unknown = [label for label in chosen if label not in names]
    if unknown:
        raise StudioError(f"unknown label(s) {', '.join(map(repr, unknown))}; the labels are: {', '.join(names)}")
    return chosen


def check_names(names: list[str]) -> None:
    """A project of several labels per message writes them joined by SEPARATOR: no name may hold it."""
    holding = [name for name in names if SEPARATOR in name]
    if holding:
        raise StudioError(
            f"a label name cannot hold '{SEPARATOR}' when a message can have several labels "
            f"({', '.join(map(repr, holding))}): rename it"
        )


def imported_sets(values, names: list[str], display: str, column: str) -> dict[int, list[str]]:
    """A file's own labels for a project of several a message: each row's labels (split as the library
    splits them, data/multilabel.py, knowing the names), where every one is among the names."""
    from ....data import multilabel
    from ....errors import DataError

    values = values.reset_index(drop=True)
    try:
        separator = multilabel.choose_separator(values, display, column, names=names)
    except DataError:  # unclear: only rows of one known label count
        separator = None
    found = {}
    for i, value in values.items():
        if value is None or (isinstance(value, float) and value != value):
            continue
        parts = [p.strip() for p in (str(value).split(separator) if separator else [str(value)]) if p.strip()]
        if parts and all(p in names for p in parts):
            found[int(i)] = list(dict.fromkeys(parts))
    return found


class LabelSets:
    """The sets of labels of a project's messages: message index -> label names, in the order chosen."""

    def __init__(self, path: Path):
        self.path = path

    def _db(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(TABLE)
        return closing(db)

    def put(self, sets: dict[int, list[str]]) -> None:
        """Store (or replace) the sets of these messages in one transaction."""
        with self._db() as db, db:
            db.executemany(
                "INSERT INTO label_sets VALUES (?, ?) ON CONFLICT(idx) DO UPDATE SET labels = excluded.labels",
                [(int(i), json.dumps(labels)) for i, labels in sets.items()],
            )

    def remove(self, index: int) -> None:
        with self._db() as db, db:
            db.execute("DELETE FROM label_sets WHERE idx = ?", (int(index),))

    def of(self, given: dict[int, str]) -> dict[int, list[str]]:
        """The set of each labeled message (`given`: the session's labels): the one stored, or the session's
        label alone where none is (a label given by a single-label route, e.g. the file's own)."""
        with self._db() as db:
            stored = {i: json.loads(labels) for i, labels in db.execute("SELECT idx, labels FROM label_sets")}
        return {i: stored.get(i) or [label] for i, label in given.items()}


def per_label(sets: dict[int, list[str]], names: list[str]) -> dict[str, int]:
    """How many messages have each label."""
    counts = dict.fromkeys(names, 0)
    for labels in sets.values():
        for label in labels:
            counts[label] += 1
    return counts
