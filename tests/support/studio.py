"""Studio test fixtures shared by the API tests and the browser tests: a finished run built
directly, a small labeled ticket file, an upload and the waits for a run or a classify job to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from support.waiting import eventually

RUN = "run-20200101-000000-trained"


def add_trained_run(workdir: Path, model_dir: Path, run_id: str = RUN) -> None:
    """A finished run, built directly: the studio's record and the tiny model as its model folder."""
    from textfit.server.studio.store import RunStore

    store = RunStore(workdir / "studio.db")
    store.add_run(run_id, "tiny topics", None, "finance_topics.csv", {"epochs": 1})
    store.update_run(run_id, status="completed")
    store.close()
    shutil.copytree(model_dir, workdir / "runs" / run_id / "model")


NAMES = ["billing", "shipping", "account"]
WORDS = {
    "billing": ["invoice", "charged twice", "refund", "payment failed", "wrong amount"],
    "shipping": ["parcel late", "tracking number", "delivery address", "courier lost it", "package damaged"],
    "account": ["password reset", "cannot log in", "change my email", "two-factor code", "delete my profile"],
}


def tickets(per_label: int = 20) -> pd.DataFrame:
    """60 short messages in 3 labels, with an id column: the row's true label is `truth`."""
    rows = [
        (f"T{len(NAMES) * i + k:03d}", f"{WORDS[name][i % 5]} on order {100 + i}, ticket {i}", name)
        for i in range(per_label)
        for k, name in enumerate(NAMES)
    ]
    return pd.DataFrame(rows, columns=["ticket", "message", "truth"])


def put(client, name: str, content: bytes) -> dict:
    """Upload `content` as the file `name` (the page's PUT /api/uploads); the upload's preview."""
    response = client.put("/api/uploads", params={"filename": name}, content=content)
    assert response.status_code == 200, response.text
    return response.json()


def ended(client, run_id: str) -> dict:
    """The run once it has ended (neither queued nor running)."""
    return eventually(
        lambda: client.get(f"/api/runs/{run_id}").json(),
        until=lambda run: run["status"] not in ("queued", "running"),
        timeout=240,
        every=0.5,
        what=f"run {run_id} to end",
    )


def classify_job_ended(client, run_id: str = RUN) -> dict:
    """The run's "Classify a file" job once it has stopped running."""
    return eventually(
        lambda: client.get(f"/api/runs/{run_id}/classify").json()["job"],
        until=lambda job: job["status"] != "running",
        timeout=120,
        every=0.3,
        what="the classify job to stop running",
    )
