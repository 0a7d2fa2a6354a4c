"""`textfit studio` at the API level: uploads, previews, bad uploads, path traversal, and the life of a
run (train in a separate process, results, try, download, export, restart, interruption)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from support.studio import ended  # noqa: E402
from support.waiting import eventually  # noqa: E402
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS  # noqa: E402
from textfit.server.studio.app import StudioLimits, create_studio_app  # noqa: E402
from textfit.server.studio.runs.progress import read_progress  # noqa: E402
from textfit.server.studio.store import RunStore  # noqa: E402

LIMITS = StudioLimits(max_upload_bytes=200_000)


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "studio"


@pytest.fixture(autouse=True)
def one_thread_workers(monkeypatch):
    """Training/export processes inherit this: a tiny model gains nothing from more threads, and on a
    busy machine PyTorch's thread pool can make every step many times slower."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def client(workdir):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        yield client


def upload(client, name: str, content: bytes | str):
    data = content.encode() if isinstance(content, str) else content
    return client.post("/api/uploads", files={"file": (name, io.BytesIO(data), "application/octet-stream")})


def inside(workdir: Path) -> set[Path]:
    return {p.resolve() for p in workdir.parent.rglob("*")}


# --- uploads and previews ----------------------------------------------------------------------
def test_page_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and "textfit studio" in page.text
    assert client.get("/static/app.js").status_code == 200
    info = client.get("/api/info").json()
    assert info["max_upload_bytes"] == LIMITS.max_upload_bytes and info["sample_available"]


def test_upload_the_sample_csv_previews_rows_columns_and_label_counts(client):
    response = upload(client, "finance_topics.csv", SAMPLE_DATA.read_bytes())
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["rows"] == 440 and data["columns"] == ["text", "label"]
    assert data["text_column"] == "text" and data["label_column"] == "label"
    assert len(data["preview"]) == 10 and data["preview"][0][0].startswith("EU fines")
    assert data["labels"]["distinct"] == 20 and sum(c["count"] for c in data["labels"]["counts"]) == 440
    assert data["label_names"] == TOPIC_LABELS  # the embedded sample's numbered labels get their names
    assert {c["name"] for c in data["labels"]["counts"]} == set(TOPIC_LABELS)
    again = client.post("/api/uploads/sample").json()
    assert again["rows"] == 440 and again["upload"]["id"] != data["upload"]["id"]


def test_columns_are_detected_or_picked(client):
    csv = "id,message,category\n1,hello there,greeting\n2,bye now,farewell\n3,hi,greeting\n4,see you,farewell\n"
    data = upload(client, "tickets.csv", csv).json()
    assert (data["text_column"], data["label_column"]) == ("message", "category")
    assert {c["value"]: c["count"] for c in data["labels"]["counts"]} == {"greeting": 2, "farewell": 2}
    ambiguous = upload(client, "odd.tsv", "a\tb\tc\nx\ty\tz\n").json()
    assert ambiguous["text_column"] is None and "cannot tell" in ambiguous["problem"]
    picked = client.get(f"/api/uploads/{ambiguous['upload']['id']}", params={"text_column": "a", "label_column": "c"})
    assert picked.status_code == 200 and picked.json()["labels"]["column"] == "c"
    wrong = client.get(f"/api/uploads/{ambiguous['upload']['id']}", params={"label_column": "nope"})
    assert wrong.status_code == 400 and "no column 'nope'" in wrong.json()["error"]


def test_jsonl_and_parquet_uploads(client, tmp_path):
    import pandas as pd

    rows = [{"text": f"message {i}", "label": "ab"[i % 2]} for i in range(6)]
    jsonl = "\n".join(json.dumps(r) for r in rows)
    assert upload(client, "data.jsonl", jsonl).json()["rows"] == 6
    pd.DataFrame(rows).to_parquet(tmp_path / "data.parquet")
    parquet = upload(client, "data.parquet", (tmp_path / "data.parquet").read_bytes())
    assert parquet.status_code == 200 and parquet.json()["label_column"] == "label"


@pytest.mark.parametrize(
    "name, content, status, words",
    [
        ("program.exe", b"MZ...", 415, "not a data file textfit can read"),
        ("notes", b"text,label\n", 415, "not a data file"),
        ("empty.csv", b"", 400, "is empty"),
        ("header.csv", b"text,label\n", 400, "no data rows"),
        ("broken.jsonl", b'{"text": "a", "label": \n', 400, "cannot be parsed"),
        ("big.csv", b"text,label\n" + b"x,y\n" * 60_000, 413, "larger than the limit"),
    ],
)
def test_bad_uploads_are_refused_clearly(client, workdir, name, content, status, words):
    response = upload(client, name, content)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error
    assert str(workdir) not in error  # messages name the user's file, not the studio's folders
    assert not any((workdir / "uploads").iterdir())  # nothing half-stored


def test_upload_without_a_file_is_a_422(client):
    response = client.post("/api/uploads", data={"nothing": "here"})
    assert response.status_code == 422 and "file" in response.json()["error"]


def test_uploaded_file_names_cannot_escape_the_studio_folder(client, workdir):
    before = inside(workdir)
    for name in ("../../escape.csv", "..\\..\\escape.csv", "/etc/passwd.csv", "....//....//escape.csv", ".hidden.csv"):
        response = upload(client, name, "text,label\na,x\nb,y\n")
        assert response.status_code == 200, response.text
        stored = response.json()["upload"]["filename"]
        assert "/" not in stored and "\\" not in stored and not stored.startswith(".")
    created = inside(workdir) - before
    uploads = (workdir / "uploads").resolve()
    assert created and all(uploads in path.parents for path in created)  # nothing anywhere else
    escaped = [p for p in created if p.name == "escape.csv"]
    assert escaped and all(p.parent.parent == uploads for p in escaped)  # uploads/<id>/escape.csv


@pytest.mark.parametrize(
    "path",
    [
        "/api/uploads/..%2F..%2Fstudio.db",
        "/api/uploads/../../etc/passwd",
        "/api/runs/..%2Fstudio.db",
        "/api/runs/run-x/files/..%2F..%2Fstudio.db",
        "/api/runs/RUN_1/results",
        "/api/runs/.../download",
        "/api/runs/%2e%2e/files/textfit.json",
    ],
)
def test_ids_and_file_names_in_urls_cannot_traverse(client, path):
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert "SQLite" not in response.text and "root:" not in response.text


def test_other_web_sites_cannot_post_to_the_studio(client):
    foreign = client.post("/api/uploads/sample", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "not allowed" in foreign.json()["error"]
    own = client.post("/api/uploads/sample", headers={"Origin": "http://testserver"})
    assert own.status_code == 200


# --- starting runs: refused with a reason ------------------------------------------------------
def test_start_run_checks_its_settings(client, tiny_bert, tmp_path):
    data = upload(client, "tickets.csv", "text,label\nhello,a\nbye,b\nhi,a\n").json()
    upload_id = data["upload"]["id"]

    def start(**changes):
        body = {
            "upload_id": upload_id,
            "text_column": "text",
            "label_column": "label",
            "model": str(tiny_bert),
            **changes,
        }
        return client.post("/api/runs", json=body)

    checks = [
        (start(upload_id="data-20200101-000000-abcdef"), 404, "no such upload"),
        (start(upload_id="../../etc"), 404, "no such upload"),
        (start(label_column="nope"), 400, "no label column 'nope'"),
        (start(model=str(tmp_path)), 400, "is not a model folder"),
        (start(epochs=0), 422, "epochs"),
        (start(time_budget=-1), 422, "time_budget"),
        (start(surprise=1), 422, "surprise"),
    ]
    for response, status, words in checks:
        assert response.status_code == status, response.text
        assert words in response.json()["error"], response.json()
    assert client.get("/api/runs").json()["runs"] == []


# --- the life of a run -------------------------------------------------------------------------
def test_run_lifecycle_train_results_try_download_restart(workdir, tiny_bert):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        data = client.post("/api/uploads/sample").json()
        response = client.post(
            "/api/runs",
            json={
                "upload_id": data["upload"]["id"],
                "text_column": "text",
                "label_column": "label",
                "model": str(tiny_bert),
                "epochs": 2,
                "name": "../../tiny run <b>",
                "label_names": ", ".join(TOPIC_LABELS),
            },
        )
        assert response.status_code == 201, response.text
        run = response.json()
        assert run["status"] == "running" and run["name"] == "../../tiny run <b>"  # a name, never a path
        assert run["id"].startswith("run-") and (workdir / "runs" / run["id"]).is_dir()

        second = client.post(
            "/api/runs",
            json={
                "upload_id": data["upload"]["id"],
                "text_column": "text",
                "label_column": "label",
                "model": str(tiny_bert),
            },
        )
        assert second.status_code == 201 and second.json()["status"] == "queued"  # one training at a time
        assert second.json()["queue"] == {"position": 1, "waiting_for": "../../tiny run <b>"}
        cancelled = client.post(f"/api/runs/{second.json()['id']}/stop").json()
        assert cancelled["status"] == "stopped" and "queue" in cancelled["message"] and not cancelled["started"]

        done = ended(client, run["id"])
        assert done["status"] == "completed", done
        assert set(done["metrics"]) >= {"accuracy", "macro_f1"}
        assert done["progress"]["phase"] == "done" and len(done["progress"]["evaluations"]) >= 1
        assert done["progress"]["step"] == done["progress"]["total_steps"] > 0
        assert done["has_model"]

        results = client.get(f"/api/runs/{run['id']}/results").json()
        assert results["labels"] == TOPIC_LABELS
        assert results["metrics"] == done["metrics"]
        assert results["per_class"] and {"label", "precision", "recall", "f1", "support"} <= set(
            results["per_class"][0]
        )
        assert results["misclassified_total"] >= len(results["misclassified"])
        png = client.get(f"/api/runs/{run['id']}/files/confusion_matrix.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert client.get(f"/api/runs/{run['id']}/files/model.safetensors").status_code == 404  # not a result file

        guess = client.post(f"/api/runs/{run['id']}/predict", json={"text": "Acme Corp announces new CEO", "top_k": 3})
        assert guess.status_code == 200, guess.text
        assert guess.json()["label"] in TOPIC_LABELS and len(guess.json()["top_k"]) == 3
        assert client.post(f"/api/runs/{run['id']}/predict", json={"text": ""}).status_code == 422

        archive = client.get(f"/api/runs/{run['id']}/download")
        assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        folder = "tiny run b/"  # named after the run, as a file name every system takes (no path in it)
        assert {folder + n for n in ("config.json", "model.safetensors", "textfit.json", "README.md")} <= set(names)

    # the studio restarts: the run, its settings and its metrics are still there
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        listed, still_cancelled = client.get("/api/runs").json()["runs"][::-1]
        assert (
            still_cancelled["status"] == "stopped" and not (workdir / "runs" / still_cancelled["id"] / "model").exists()
        )
        assert listed["id"] == run["id"] and listed["status"] == "completed"
        assert listed["metrics"] == done["metrics"] and listed["settings"]["epochs"] == 2
        assert client.post(f"/api/runs/{run['id']}/predict", json={"text": "Oil prices fall"}).status_code == 200


def test_export_answers_with_files_or_a_clear_error(workdir, tiny_model_dir):
    import shutil

    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        store = client.app.state.studio.store
        store.add_run("run-20200101-000000-export", "exported", None, "x.csv", {"epochs": 1})
        shutil.copytree(tiny_model_dir, workdir / "runs" / "run-20200101-000000-export" / "model")
        store.update_run("run-20200101-000000-export", status="completed")
        response = client.post("/api/runs/run-20200101-000000-export/export", json={"quantize": False})
        if response.status_code == 200:
            assert [f["name"] for f in response.json()["files"]] == ["model.onnx"]
            names = zipfile.ZipFile(
                io.BytesIO(client.get("/api/runs/run-20200101-000000-export/download").content)
            ).namelist()
            assert any(n.endswith("/model.onnx") for n in names)
        else:  # the export module is missing or onnx is not installed: a readable refusal
            assert response.status_code in (400, 501), response.text
            assert response.json()["error"]
        no_model = client.post("/api/runs/run-20200101-000000-nomodel/export")
        assert no_model.status_code == 404


# --- runs whose process went away ----------------------------------------------------------------
def test_a_run_whose_process_is_gone_is_interrupted_after_a_restart(workdir):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = RunStore(workdir / "studio.db")
    store.add_run("run-20200101-000000-gone01", "was training", None, "x.csv", {})
    store.update_run("run-20200101-000000-gone01", pid=gone.pid)
    store.add_run("run-20200101-000000-nopid1", "never started", None, "x.csv", {})
    store.close()
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    for run in runs.values():
        assert run["status"] == "interrupted"
        assert "gone" in run["message"]


def test_killed_worker_is_interrupted_and_stopping_the_studio_interrupts_its_runs(workdir, sleeper):
    app = create_studio_app(workdir, LIMITS)
    studio = app.state.studio
    studio.python = sleeper  # the 'worker' only sleeps: process states without a real training
    with TestClient(app) as client:
        upload_id = upload(client, "d.csv", "text,label\na,x\nb,y\nc,x\nd,y\n").json()["upload"]["id"]
        body = {"upload_id": upload_id, "text_column": "text", "label_column": "label"}
        killed = client.post("/api/runs", json=body).json()
        assert client.get(f"/api/runs/{killed['id']}").json()["status"] == "running"
        process = studio.procs[killed["id"]]  # taken first: once it ends, the scheduler forgets it
        os.kill(killed["pid"], 9)
        process.wait()
        run = client.get(f"/api/runs/{killed['id']}").json()
        assert run["status"] == "interrupted" and "was killed" in run["message"]

        left = client.post("/api/runs", json=body).json()
        assert left["status"] == "running"
    # leaving the `with` stops the studio
    store = RunStore(workdir / "studio.db")
    run = store.get_run(left["id"])
    assert run["status"] == "interrupted" and "studio was stopped" in run["message"]


def test_a_run_still_training_after_a_restart_stays_running(workdir, sleeper):
    first = create_studio_app(workdir, LIMITS)
    first.state.studio.python = sleeper
    with TestClient(first) as client:
        upload_id = upload(client, "d.csv", "text,label\na,x\nb,y\nc,x\nd,y\n").json()["upload"]["id"]
        run = client.post(
            "/api/runs", json={"upload_id": upload_id, "text_column": "text", "label_column": "label"}
        ).json()
        process = first.state.studio.procs[run["id"]]  # taken first: once it ends, the scheduler forgets it
        # a second studio on the same folder (as after a crash of the first) sees the worker alive
        with TestClient(create_studio_app(workdir, LIMITS)) as second:
            assert second.get(f"/api/runs/{run['id']}").json()["status"] == "running"
            stopped = second.post(f"/api/runs/{run['id']}/stop")
            assert stopped.status_code == 200
        process.wait(10)
        final = client.get(f"/api/runs/{run['id']}").json()
        assert final["status"] in ("stopped", "interrupted")
        assert client.post(f"/api/runs/{run['id']}/stop").status_code == 409


def test_read_progress_digests_the_jsonl_log(tmp_path):
    log = tmp_path / "progress.jsonl"
    assert read_progress(log)["phase"] == "preparing"
    events = [
        {"event": "begin", "time": 100.0, "total_steps": 10, "epochs": 2, "examples": 80, "strategy": "finetune"},
        {"event": "step", "time": 102.0, "step": 4, "total_steps": 10, "loss": 2.5, "epoch": 0.8},
        {
            "event": "evaluate",
            "time": 103.0,
            "epoch": 1.0,
            "step": 5,
            "loss": 2.4,
            "accuracy": 0.5,
            "macro_f1": 0.4,
            "weighted_f1": 0.45,
            "elapsed_s": 3.0,
            "best": True,
        },
    ]
    log.write_text("\n".join(json.dumps(e) for e in events) + '\n{"event": "st')  # a line being written
    progress = read_progress(log, now=104.0)
    assert progress["phase"] == "training" and progress["step"] == 4 and progress["fraction"] == 0.4
    assert progress["elapsed_s"] == 4.0 and progress["eta_s"] == 6.0
    assert progress["evaluations"][0]["macro_f1"] == 0.4


def test_a_run_killed_with_sigkill_resumes_from_its_checkpoint(workdir, tiny_bert):
    """kill -9 of the training process mid-epoch: the run is 'interrupted' and resumable; Resume queues
    it again, it continues from the checkpoint and ends with a complete model and a record that says so."""
    import signal

    from textfit.model.classifier import Classifier
    from textfit.training import checkpoint

    limits = StudioLimits(max_upload_bytes=200_000, checkpoint_minutes=0.002)  # a checkpoint every ~0.1 s
    with TestClient(create_studio_app(workdir, limits)) as client:
        data = client.post("/api/uploads/sample").json()
        run = client.post(
            "/api/runs",
            json={
                "upload_id": data["upload"]["id"],
                "text_column": "text",
                "label_column": "label",
                "model": str(tiny_bert),
                "epochs": 4,
                "label_names": ", ".join(TOPIC_LABELS),
            },
        ).json()
        model_dir = workdir / "runs" / run["id"] / "model"
        assert client.post(f"/api/runs/{run['id']}/resume").status_code == 409  # running: nothing to resume

        def latest_checkpoint() -> dict | None:
            assert client.get(f"/api/runs/{run['id']}").json()["status"] == "running"
            return checkpoint.latest(model_dir)

        saved = eventually(
            latest_checkpoint,
            until=lambda saved: saved and saved["step"] > 22 and saved["step"] % 22,
            timeout=120,
            every=0.01,
            what="a mid-epoch checkpoint",
        )
        os.kill(run["pid"], signal.SIGKILL)
        killed = ended(client, run["id"])
        assert killed["status"] == "interrupted" and "was killed" in killed["message"], killed
        assert killed["resumable"]["step"] >= saved["step"] and not killed["has_model"]

        resumed = client.post(f"/api/runs/{run['id']}/resume").json()
        assert resumed["status"] in ("queued", "running") and "resuming from step" in resumed["message"]
        done = ended(client, run["id"])
        assert done["status"] == "completed" and done["has_model"] and done["resumable"] is None, done
        record = json.loads((model_dir / "textfit.json").read_text())
        assert record["resumed"][0]["from_step"] == killed["resumable"]["step"]
        assert not checkpoint.folder_for(model_dir).exists()
        assert Classifier.load(model_dir).predict(["Oil prices fall"])[0] in TOPIC_LABELS


def test_a_stopped_run_keeps_its_model_and_resume_trains_it_to_the_end(workdir, tiny_bert):
    from textfit.training import checkpoint

    limits = StudioLimits(max_upload_bytes=200_000, checkpoint_minutes=0.002)  # a checkpoint every ~0.1 s
    with TestClient(create_studio_app(workdir, limits)) as client:
        data = client.post("/api/uploads/sample").json()
        run = client.post(
            "/api/runs",
            json={
                "upload_id": data["upload"]["id"],
                "text_column": "text",
                "label_column": "label",
                "model": str(tiny_bert),
                "epochs": 6,
                "label_names": ", ".join(TOPIC_LABELS),
            },
        ).json()
        model_dir = workdir / "runs" / run["id"] / "model"

        def latest_checkpoint() -> dict | None:
            assert client.get(f"/api/runs/{run['id']}").json()["status"] == "running"
            return checkpoint.latest(model_dir)

        saved = eventually(
            latest_checkpoint,
            until=lambda saved: saved and saved["step"] > 22,
            timeout=120,
            every=0.01,
            what="a checkpoint after the first epoch",
        )
        assert client.post(f"/api/runs/{run['id']}/stop").status_code == 200
        stopped = ended(client, run["id"])
        assert stopped["status"] == "stopped" and stopped["has_model"], stopped
        assert stopped["resumable"]["step"] >= saved["step"]  # its checkpoints were kept: Resume is offered

        assert client.post(f"/api/runs/{run['id']}/resume").status_code == 200
        done = ended(client, run["id"])
        assert done["status"] == "completed" and done["resumable"] is None, done
        record = json.loads((model_dir / "textfit.json").read_text())
        assert record["resumed"][0]["from_step"] == stopped["resumable"]["step"]
        assert (
            record["status"] in ("completed", "stopped early")
            and record["training"]["steps"] > stopped["resumable"]["step"]
        )


def test_a_run_can_ask_for_its_strategy_and_train_again_keeps_it(workdir, tiny_bert):
    with TestClient(create_studio_app(workdir, StudioLimits(max_upload_bytes=200_000))) as client:
        data = client.post("/api/uploads/sample").json()
        fields = {
            "upload_id": data["upload"]["id"],
            "text_column": "text",
            "label_column": "label",
            "model": str(tiny_bert),
            "epochs": 1,
            "label_names": ", ".join(TOPIC_LABELS),
        }
        assert client.post("/api/runs", json={**fields, "strategy": "setfit"}).status_code == 422
        run = client.post("/api/runs", json={**fields, "strategy": "fewshot"}).json()  # the sample: auto fine-tunes
        done = ended(client, run["id"])
        assert done["status"] == "completed", done
        record = json.loads((workdir / "runs" / run["id"] / "model" / "textfit.json").read_text())
        assert record["strategy"] == "fewshot"
        again = client.post(f"/api/runs/{run['id']}/train-again").json()
        assert json.loads((workdir / "runs" / again["id"] / "settings.json").read_text())["strategy"] == "fewshot"
        assert client.post(f"/api/runs/{again['id']}/stop").status_code in (200, 409)


def test_a_studio_folder_from_before_the_yardstick_column_opens_and_gains_it(tmp_path):
    import sqlite3

    from textfit.server.studio.store import SCHEMA, RunStore

    old = sqlite3.connect(tmp_path / "studio.db")
    old.executescript("\n".join(line for line in SCHEMA.splitlines() if "yardstick" not in line))
    old.execute(
        "INSERT INTO runs (id, name, settings, status, created) VALUES ('run-20200101-000000-abcdef', 'Old', '{}', "
        "'completed', 0)"
    )
    old.commit()
    old.close()
    store = RunStore(tmp_path / "studio.db")
    assert store.get_run("run-20200101-000000-abcdef")["yardstick"] is None
    store.update_run("run-20200101-000000-abcdef", yardstick={"label": "a", "accuracy": 0.5, "beats": False})
    assert store.get_run("run-20200101-000000-abcdef")["yardstick"] == {"label": "a", "accuracy": 0.5, "beats": False}
    store.close()


def test_upload_says_how_it_was_read_and_what_to_do_with_old_excel(client):
    latin = upload(client, "caf\u00e9.csv", "text,label\ncaf\u00e9 cr\u00e8me,a\nna\u00efve,b\n".encode("cp1252"))
    assert latin.status_code == 200, latin.text
    note = latin.json()["encoding_note"]
    assert "cp1252" in note and "'caf\u00e9.csv'" in note and "studio" not in note  # the user's name, not our folder
    old = upload(client, "report.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert old.status_code == 415 and "save it as an Excel Workbook (.xlsx)" in old.json()["error"]


def test_a_listed_run_says_whether_its_test_messages_give_one_figure_even_when_recorded_before_it_did():
    from textfit.model.evaluate import SMALL_HOLD_OUT
    from textfit.server.studio.runs.service import with_one_figure

    few = with_one_figure({"id": "old", "yardstick": {"label": "billing", "examples": SMALL_HOLD_OUT - 1}})
    enough = with_one_figure({"id": "new", "yardstick": {"label": "billing", "examples": SMALL_HOLD_OUT}})
    assert few["yardstick"]["one_figure"] is False and enough["yardstick"]["one_figure"] is True
    assert with_one_figure({"id": "queued", "yardstick": None}) == {"id": "queued", "yardstick": None}
