"""The studio's housekeeping at the API level: rename and delete runs (with their files, and nothing
else), disk use, the download (what it holds, its size before it is built, that it loads and
predicts), and "Serve this model" (a real `textfit serve` on the tiny model: start, /health, stop,
stopped on delete, adopted after a crash)."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from textfit.data.labeled import TOPIC_LABELS  # noqa: E402
from textfit.server.studio.app import Studio, StudioLimits, create_studio_app  # noqa: E402
from textfit.server.studio.housekeeping.service import folder_bytes  # noqa: E402
from textfit.server.studio.sharing.service import answers_health, is_server_of  # noqa: E402

LIMITS = StudioLimits(max_upload_bytes=200_000)
RUN, OTHER = "run-20200101-000000-aaaaaa", "run-20200101-000000-bbbbbb"


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "studio"


def add_finished_run(studio, run_id: str, model_dir: Path, name: str = "Finance topics") -> Path:
    """A completed run as the studio leaves it: model folder, checkpoints beside it, logs, settings."""
    studio.store.add_run(run_id, name, None, "sample.csv", {"epochs": 2}, status="completed")
    folder = studio.run_dir(run_id)
    shutil.copytree(model_dir, folder / "model")
    (folder / "model.checkpoints" / "step-00000010").mkdir(parents=True)
    (folder / "model.checkpoints" / "step-00000010" / "state.pt").write_bytes(b"x" * 5000)
    for log in ("worker.log", "progress.jsonl", "settings.json", "result.json"):
        (folder / log).write_text("{}\n")
    studio.store.update_run(run_id, finished=time.time())
    return folder


# --- rename --------------------------------------------------------------------------------------
def test_rename_a_run(workdir, tiny_model_dir):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        add_finished_run(client.app.state.studio, RUN, tiny_model_dir)
        renamed = client.patch(f"/api/runs/{RUN}", json={"name": "  Support\ttickets\n March  "})
        assert renamed.status_code == 200 and renamed.json()["name"] == "Support tickets March"
        assert client.get("/api/runs").json()["runs"][0]["name"] == "Support tickets March"
        assert client.patch(f"/api/runs/{RUN}", json={"name": "x" * 100}).status_code == 200
        too_long = client.patch(f"/api/runs/{RUN}", json={"name": "x" * 101})
        assert too_long.status_code == 400 and "at most 100 characters (this one has 101)" in too_long.json()["error"]
        empty = client.patch(f"/api/runs/{RUN}", json={"name": " \n "})
        assert empty.status_code == 400 and "cannot be empty" in empty.json()["error"]
        assert client.patch("/api/runs/run-20200101-000000-none", json={"name": "a"}).status_code == 404
        assert client.patch("/api/runs/..", json={"name": "a"}).status_code in (404, 405)
        assert client.get(f"/api/runs/{RUN}").json()["name"] == "x" * 100


# --- delete --------------------------------------------------------------------------------------
def test_delete_removes_the_record_and_every_file_of_the_run_and_nothing_else(workdir, tiny_model_dir, tmp_path):
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "keep.txt").write_text("precious")
    (outside / "folder" / "keep.txt").write_text("precious too")
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        studio = client.app.state.studio
        folder = add_finished_run(studio, RUN, tiny_model_dir)
        other = add_finished_run(studio, OTHER, tiny_model_dir, name="Other")
        upload = client.post("/api/uploads/sample").json()["upload"]
        assert client.get(f"/api/runs/{RUN}/download").status_code == 200  # the zip, inside the run's folder
        assert client.post(f"/api/runs/{RUN}/predict", json={"text": "Oil prices fall"}).status_code == 200
        # links inside the run's folder that point outside it: the links go, their targets stay
        (folder / "model" / "link-to-file").symlink_to(outside / "keep.txt")
        (folder / "link-to-folder").symlink_to(outside / "folder", target_is_directory=True)
        size = folder_bytes(folder)
        before = client.get("/api/storage").json()

        deleted = client.delete(f"/api/runs/{RUN}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["name"] == "Finance topics" and deleted.json()["freed_bytes"] == size
        assert not folder.exists() and not os.path.lexists(folder)
        assert (outside / "keep.txt").read_text() == "precious"
        assert (outside / "folder" / "keep.txt").read_text() == "precious too"
        assert other.is_dir() and (other / "model" / "model.safetensors").is_file()
        assert (workdir / "uploads" / upload["id"] / upload["filename"]).is_file()
        assert RUN not in studio.classifiers
        assert [r["id"] for r in client.get("/api/runs").json()["runs"]] == [OTHER]
        assert client.get(f"/api/runs/{RUN}").status_code == 404
        assert client.delete(f"/api/runs/{RUN}").status_code == 404
        after = client.get("/api/storage").json()
        assert abs(after["total"]["bytes"] - (before["total"]["bytes"] - size)) < 100_000  # studio.db's own change
        assert list(after["runs"]) == [OTHER]


def test_delete_is_refused_while_training_or_queued(workdir, sleeper):
    app = create_studio_app(workdir, LIMITS)
    studio = app.state.studio
    studio.python = sleeper
    with TestClient(app) as client:
        data = io.BytesIO(b"text,label\na,x\nb,y\nc,x\nd,y\n")
        upload_id = client.post("/api/uploads", files={"file": ("d.csv", data)}).json()["upload"]["id"]
        body = {"upload_id": upload_id, "text_column": "text", "label_column": "label"}
        training = client.post("/api/runs", json={**body, "name": "First"}).json()
        queued = client.post("/api/runs", json={**body, "name": "Second"}).json()
        assert (training["status"], queued["status"]) == ("running", "queued")
        process = studio.procs[training["id"]]  # taken first: once it ends, the scheduler forgets it

        refused = client.delete(f"/api/runs/{training['id']}")
        assert refused.status_code == 409 and "“First” is training: stop it first" in refused.json()["error"]
        refused = client.delete(f"/api/runs/{queued['id']}")
        assert refused.status_code == 409 and "stop it first" in refused.json()["error"]
        assert (workdir / "runs" / training["id"]).is_dir() and (workdir / "runs" / queued["id"]).is_dir()

        assert client.post(f"/api/runs/{queued['id']}/stop").json()["status"] == "stopped"  # off the queue
        assert client.delete(f"/api/runs/{queued['id']}").status_code == 200
        client.post(f"/api/runs/{training['id']}/stop")
        process.wait(10)
        assert client.delete(f"/api/runs/{training['id']}").status_code == 200
        assert client.get("/api/runs").json()["runs"] == []
        assert sorted(p.name for p in (workdir / "runs").iterdir()) == []


# --- disk use and the download ---------------------------------------------------------------------
def test_disk_use_and_the_download_size_before_it_is_built(workdir, tiny_model_dir):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        folder = add_finished_run(client.app.state.studio, RUN, tiny_model_dir)
        storage = client.get("/api/storage").json()
        assert storage["runs"][RUN]["bytes"] == folder_bytes(folder) > 4_000_000
        assert storage["runs"][RUN]["size"].endswith(" MB")
        assert storage["total"]["bytes"] == folder_bytes(workdir) >= storage["runs"][RUN]["bytes"]

        details = client.get(f"/api/runs/{RUN}/storage").json()
        assert details["disk"] == storage["runs"][RUN]
        promised = details["download"]["bytes"]
        assert not list(folder.glob("*.zip"))  # measured, not built
        archive = client.get(f"/api/runs/{RUN}/download")
        assert len(archive.content) == promised
        assert int(archive.headers["content-length"]) == promised
        assert client.get(f"/api/runs/{RUN}/storage").json()["download"]["bytes"] == promised  # the zip's own now

        # a new file in the model folder (an ONNX export) changes the promise and the zip alike
        (folder / "model" / "model.onnx").write_bytes(os.urandom(10_000))
        promised = client.get(f"/api/runs/{RUN}/storage").json()["download"]["bytes"]
        assert len(client.get(f"/api/runs/{RUN}/download").content) == promised


def test_the_zip_holds_what_serving_needs_and_loads_in_textfit_and_transformers(workdir, tiny_model_dir, tmp_path):
    from transformers import pipeline

    from textfit import Classifier

    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        add_finished_run(client.app.state.studio, RUN, tiny_model_dir)
        response = client.get(f"/api/runs/{RUN}/download")
        content = response.content
    assert unquote(response.headers["content-disposition"]).endswith(
        "Finance topics.zip"
    )  # the model's name, not its id
    archive = zipfile.ZipFile(io.BytesIO(content))
    prefix = "Finance topics/"
    names = {name.removeprefix(prefix) for name in archive.namelist()}
    assert all(name.startswith(prefix) for name in archive.namelist())
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "lexical.json",
        "lexical.safetensors",
        "calibration.json",
        "README.md",
        "textfit.json",
        "metrics.json",
    } <= names
    assert not [n for n in names if n.endswith(".png")]  # the picture is not in it (its numbers are)
    assert not [n for n in names if "/" in n or "checkpoint" in n or n.endswith((".log", ".jsonl"))]
    assert "settings.json" not in names and "result.json" not in names

    archive.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / prefix.rstrip("/")
    classifier = Classifier.load(folder)
    assert classifier.predict(["Oil prices fall"])[0] in TOPIC_LABELS
    answer = pipeline("text-classification", model=str(folder))("Fed keeps rates unchanged")
    assert answer[0]["label"] in TOPIC_LABELS and 0 < answer[0]["score"] <= 1


# --- "Serve this model" ----------------------------------------------------------------------------
def test_serve_a_run_then_stop_it_and_stop_on_delete(workdir, tiny_model_dir):
    import urllib.request

    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        studio = client.app.state.studio
        add_finished_run(studio, RUN, tiny_model_dir)
        assert client.get(f"/api/runs/{RUN}/serve").json() == {"serving": False}

        served = client.post(f"/api/runs/{RUN}/serve")
        assert served.status_code == 200, served.text
        info = served.json()
        assert info["serving"] and info["url"].startswith("http://127.0.0.1:") and not info["adopted"]
        assert answers_health(info["url"])
        assert info["curl"].startswith(f"curl -s {info['url']}/predict ")
        # the curl example's body, sent as it is written, gets labels back
        body = info["curl"].split("-d '", 1)[1].rstrip("'").encode()
        request = urllib.request.Request(
            info["url"] + "/predict", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            assert json.load(response)["predictions"][0]["label"] in TOPIC_LABELS
        again = client.post(f"/api/runs/{RUN}/serve").json()  # one server per run
        assert again["pid"] == info["pid"] and again["url"] == info["url"]
        assert client.get(f"/api/runs/{RUN}/serve").json()["url"] == info["url"]

        assert client.delete(f"/api/runs/{RUN}/serve").json() == {"serving": False}
        assert not is_server_of(info["pid"], str(workdir / "runs" / RUN / "model"))
        assert not answers_health(info["url"])
        assert client.get(f"/api/runs/{RUN}/serve").json() == {"serving": False}

        second = client.post(f"/api/runs/{RUN}/serve").json()
        assert client.delete(f"/api/runs/{RUN}").status_code == 200
        assert not is_server_of(second["pid"], str(workdir / "runs" / RUN / "model"))
        assert not answers_health(second["url"])


def test_resuming_a_run_stops_serving_its_model_so_far(workdir, tiny_model_dir):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        studio = client.app.state.studio
        folder = add_finished_run(studio, RUN, tiny_model_dir)
        studio.store.update_run(RUN, status="interrupted")  # stopped early: its best model so far was saved
        shutil.rmtree(folder / "model.checkpoints" / "step-00000010")
        (folder / "model.checkpoints" / "run.json").write_text("{}")  # and it can be resumed (from the start)
        info = client.post(f"/api/runs/{RUN}/serve").json()
        assert info["serving"] and answers_health(info["url"])
        resumed = client.post(f"/api/runs/{RUN}/resume")
        assert resumed.status_code == 200, resumed.text
        # the resumed run writes a new model: the old one must not go on answering as if it were it
        assert client.get(f"/api/runs/{RUN}/serve").json() == {"serving": False}
        assert not is_server_of(info["pid"], str(folder / "model")) and not answers_health(info["url"])


def test_a_studio_restart_adopts_a_server_left_running_and_shutdown_stops_it(workdir, tiny_model_dir):
    crashed = Studio(workdir, LIMITS)  # never shut down: as if killed
    add_finished_run(crashed, RUN, tiny_model_dir)
    info = crashed.servers.start(RUN)
    model = str(workdir / "runs" / RUN / "model")
    # a second run whose record names a process that is gone: forgotten at start-up
    add_finished_run(crashed, OTHER, tiny_model_dir, name="Other")
    (workdir / "runs" / OTHER / "serve.json").write_text(
        json.dumps(
            {"pid": info["pid"] + 999_999, "port": 1, "url": "http://127.0.0.1:1", "model_folder": model, "started": 0}
        )
    )

    restarted = Studio(workdir, LIMITS)
    assert restarted.servers.adopted == {RUN}
    status = restarted.servers.status(RUN)
    assert status["serving"] and status["adopted"] and status["pid"] == info["pid"]
    assert restarted.servers.status(OTHER) == {"serving": False}
    assert not (workdir / "runs" / OTHER / "serve.json").exists()
    restarted.shutdown()
    assert not is_server_of(info["pid"], model) and not answers_health(info["url"])
    crashed.servers.procs[RUN].wait(5)  # reap it (the crashed studio's child, in this test's process)
    crashed.store.close()


def test_uploads_nothing_uses_are_removed_at_start_once_a_week_old_and_the_rest_kept(workdir):
    from textfit.server.studio.classify.job import FOLDER, JOB
    from textfit.server.studio.labeling.projects import PROJECT
    from textfit.server.studio.uploads.service import UNUSED_UPLOAD_DAYS

    studio = Studio(workdir, LIMITS)
    made = {}
    for role in ("trained", "unlabeled", "project", "classified", "forgotten", "fresh"):
        made[role] = studio.add_upload(io.BytesIO(b"text,label\nOil prices fall,Macro\n"), f"{role}.csv")["upload"]
    path = lambda role: str(studio.upload_path(made[role]))  # noqa: E731
    studio.store.add_run(RUN, "A run", made["trained"]["id"], "trained.csv", {"data": "trained.csv"}, "completed")
    studio.store.add_run(OTHER, "Another", None, "x.csv", {"data": "x.csv", "unlabeled": path("unlabeled")}, "failed")
    (workdir / "labeling" / "label-20200101-000000-cccccc").mkdir(parents=True)
    (workdir / "labeling" / "label-20200101-000000-cccccc" / PROJECT).write_text(
        json.dumps({"upload_id": made["project"]["id"], "name": "Inbox"})
    )
    (studio.run_dir(RUN) / FOLDER).mkdir(parents=True)
    (studio.run_dir(RUN) / FOLDER / JOB).write_text(json.dumps({"upload_id": made["classified"]["id"]}))
    week_ago = time.time() - UNUSED_UPLOAD_DAYS * 86_400 - 60
    for role in ("trained", "unlabeled", "project", "classified", "forgotten"):
        studio.store.db.execute("UPDATE uploads SET created = ? WHERE id = ?", (week_ago, made[role]["id"]))
    studio.store.close()

    again = Studio(workdir, LIMITS)  # a start of the studio

    assert [upload["id"] for upload in again.removed_uploads] == [made["forgotten"]["id"]]
    assert again.store.get_upload(made["forgotten"]["id"]) is None
    assert not (workdir / "uploads" / made["forgotten"]["id"]).exists()
    for role in ("trained", "unlabeled", "project", "classified", "fresh"):
        assert again.store.get_upload(made[role]["id"]) and Path(path(role)).is_file(), role
    (workdir / "labeling" / "label-20200101-000000-cccccc" / PROJECT).write_text("{not json")
    again.store.delete_ended_run(RUN)  # the trained and classified files are used no more, but
    again.store.close()
    third = Studio(workdir, LIMITS)
    assert third.removed_uploads == []  # a project whose record cannot be read keeps everything
    third.store.close()
