"""The studio's memory: uploads and training runs in one SQLite file in its working folder.

Ids are made here, never taken from a request, and every path the studio touches is built from
an id that matches `ID_PATTERN`, so no name a user types can point outside the folder."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
RUN_STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
"""'queued': waiting for a free place (scheduler.py); 'stopped' also covers a run taken off the queue.
A new word for the `status` column, so a studio.db from before the queue opens as it is."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    filename TEXT NOT NULL,        -- sanitised name of the stored file (inside uploads/<id>/)
    original_name TEXT NOT NULL,   -- what the user's file was called, for display only
    size INTEGER NOT NULL,
    rows INTEGER,
    columns TEXT,                  -- JSON list
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,            -- display only, never used in a path
    upload_id TEXT,
    data_name TEXT,
    settings TEXT NOT NULL,        -- JSON: the TrainConfig fields the studio set
    status TEXT NOT NULL,          -- one of RUN_STATUSES
    message TEXT,                  -- why a run failed or was interrupted
    metrics TEXT,                  -- JSON: accuracy, macro_f1, weighted_f1
    yardstick TEXT,                -- JSON: label, accuracy, beats (always answering the commonest label)
    record_status TEXT,            -- the trainer's own word: completed, stopped early, interrupted
    pid INTEGER,
    created REAL NOT NULL,
    started REAL,                  -- when its process started (NULL while queued)
    finished REAL
);
"""


def new_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value or ""))


class RunStore:
    """A thin, thread-safe wrapper over the SQLite file (one connection, one lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        with self.lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
            columns = {row["name"] for row in self.db.execute("PRAGMA table_info(runs)")}
            if "yardstick" not in columns:  # a studio folder from before the runs list showed it
                self.db.execute("ALTER TABLE runs ADD COLUMN yardstick TEXT")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # --- uploads ------------------------------------------------------------------------------
    def add_upload(
        self, upload_id: str, filename: str, original_name: str, size: int, rows: int | None, columns: list[str] | None
    ) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO uploads (id, filename, original_name, size, rows, columns, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (upload_id, filename, original_name, size, rows, json.dumps(columns), time.time()),
            )

    def get_upload(self, upload_id: str) -> dict | None:
        if not valid_id(upload_id):
            return None
        with self.lock:
            row = self.db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return _upload(row) if row else None

    def list_uploads(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT * FROM uploads ORDER BY created").fetchall()
        return [_upload(row) for row in rows]

    def delete_upload(self, upload_id: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    # --- runs ---------------------------------------------------------------------------------
    def add_run(
        self, run_id: str, name: str, upload_id: str | None, data_name: str, settings: dict, status: str = "running"
    ) -> None:
        now = time.time()
        with self.lock:
            self.db.execute(
                "INSERT INTO runs (id, name, upload_id, data_name, settings, status, created, started) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    name,
                    upload_id,
                    data_name,
                    json.dumps(settings),
                    status,
                    now,
                    None if status == "queued" else now,
                ),
            )

    def update_run(self, run_id: str, **fields) -> None:
        self._update(run_id, None, fields)

    def change_status(self, run_id: str, old: str, new: str, **fields) -> bool:
        """Set status `new` (and `fields`) only if the run's status is still `old`, in one statement:
        True if it was. Two studios on one folder cannot both start, or cancel, the same run."""
        return self._update(run_id, old, {**fields, "status": new})

    def _update(self, run_id: str, only_if_status: str | None, fields: dict) -> bool:
        allowed = {"status", "message", "metrics", "yardstick", "record_status", "pid", "started", "finished", "name"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown run field(s): {unknown}")
        if fields.get("status", "queued") not in RUN_STATUSES:
            raise ValueError(f"unknown run status {fields['status']!r}")
        for name in ("metrics", "yardstick"):
            if name in fields and not isinstance(fields[name], (str, type(None))):
                fields[name] = json.dumps(fields[name])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        where, args = "id = ?", [run_id]
        if only_if_status is not None:
            where, args = where + " AND status = ?", args + [only_if_status]
        with self.lock:
            cursor = self.db.execute(f"UPDATE runs SET {assignments} WHERE {where}", (*fields.values(), *args))
        return cursor.rowcount > 0

    def get_run(self, run_id: str) -> dict | None:
        if not valid_id(run_id):
            return None
        with self.lock:
            row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def list_runs(self, status: str | None = None) -> list[dict]:
        query, args = "SELECT * FROM runs", ()
        if status:
            query, args = query + " WHERE status = ?", (status,)
        with self.lock:
            rows = self.db.execute(query + " ORDER BY created DESC", args).fetchall()
        return [_run(row) for row in rows]

    def delete_ended_run(self, run_id: str) -> bool:
        """Delete a run's record unless it is training or queued, in one statement: True if it was
        deleted. A run cannot be started (or resumed) by another studio between the check and the delete."""
        with self.lock:
            cursor = self.db.execute("DELETE FROM runs WHERE id = ? AND status NOT IN ('running', 'queued')", (run_id,))
        return cursor.rowcount > 0


def _upload(row: sqlite3.Row) -> dict:
    item = dict(row)
    item["columns"] = json.loads(item["columns"]) if item["columns"] else None
    return item


def _run(row: sqlite3.Row) -> dict:
    item = dict(row)
    item["settings"] = json.loads(item["settings"]) if item["settings"] else {}
    item["metrics"] = json.loads(item["metrics"]) if item["metrics"] else None
    item["yardstick"] = json.loads(item["yardstick"]) if item["yardstick"] else None
    return item
