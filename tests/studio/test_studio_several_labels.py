"""Several labels per text in the studio, at the API level: the upload's preview says so and which
separator joins them (or asks where the library finds it unclear), a run trains on it, its results
speak of F1 rather than accuracy, "try it" gives every label above its threshold with the scores, and
"Classify a file" writes the labels joined by ';' as `textfit predict` does. In "Label messages", a
project marked so stores each message's set of labels and trains a multi-label model on them.
The encoder is the tiny random BERT: fast, meaningless answers."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from support.multilabel import LABELS, rows, write_joined, write_lists  # noqa: E402
from support.studio import NAMES, ended, put, tickets  # noqa: E402
from support.waiting import eventually  # noqa: E402
from textfit.model.evaluate import SMALL_HOLD_OUT  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the training and classifying processes inherit it
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))  # a labeling project's vectors go here


@pytest.fixture
def client(tmp_path):
    with TestClient(create_studio_app(tmp_path / "studio")) as client:
        yield client


# --- upload, train, results, try it, classify a file ------------------------------------------------
def test_the_preview_says_a_file_gives_several_labels_a_row_and_which_separator_joins_them(client, tmp_path):
    joined = put(client, "tickets.csv", write_joined(tmp_path / "tickets.csv", "|").read_bytes())
    several = joined["several_labels"]
    assert several["separator"] == "|" and "vertical bars" in several["description"]
    assert several["rows_with_several"] > 0 and several["rows_without_label"] > 0
    assert sorted(c["value"] for c in joined["labels"]["counts"]) == sorted(LABELS)  # each label, not each set
    assert joined["labels"]["missing"] == 0  # a row without a label is valid here

    lists = put(client, "tickets.jsonl", write_lists(tmp_path / "tickets.jsonl").read_bytes())
    assert lists["several_labels"]["layout"] == "lists" and "as lists" in lists["several_labels"]["description"]

    one_label = put(client, "one.csv", tickets().to_csv(index=False).encode())
    assert one_label["several_labels"] is None


def test_an_unclear_separator_is_asked_for_and_the_answer_reads_the_file_and_starts_the_run(client, tiny_bert):
    values = ["a;b", "a", "b", "c,d", "c", "d", "a;c", "b,d"] * 4
    frame = pd.DataFrame({"text": [f"message {i}" for i in range(len(values))], "labels": values})
    upload = put(client, "unclear.csv", frame.to_csv(index=False).encode())
    question = upload["several_labels"]["question"]
    assert "';' or by ','" in question["text"] and "--label-separator" not in question["text"]
    assert [c["value"] for c in question["choices"]] == [";", ",", "none"]

    answered = client.get(f"/api/uploads/{upload['upload']['id']}", params={"label_separator": ";"}).json()
    assert answered["several_labels"]["separator"] == ";"
    assert {c["value"] for c in answered["labels"]["counts"]} == {"a", "b", "c", "d", "c,d", "b,d"}

    body = {
        "upload_id": upload["upload"]["id"],
        "text_column": "text",
        "label_column": "labels",
        "model": str(tiny_bert),
    }
    refused = client.post("/api/runs", json=body)
    assert refused.status_code == 400 and "on the page" in refused.json()["error"]
    run = client.post("/api/runs", json={**body, "label_separator": ";", "epochs": 1})
    assert run.status_code == 201, run.text
    assert run.json()["settings"]["label_separator"] == ";" and run.json()["settings"]["several_labels"]
    client.post(f"/api/runs/{run.json()['id']}/stop")


def test_a_file_of_several_labels_trains_and_its_results_try_it_and_classified_file_give_label_sets(
    client, tiny_bert, tmp_path
):
    upload = put(client, "tickets.csv", write_joined(tmp_path / "tickets.csv").read_bytes())
    body = {"upload_id": upload["upload"]["id"], "text_column": "text", "label_column": "labels"}
    estimate = client.post("/api/runs/estimate", json={**body, "model": str(tiny_bert)})
    assert estimate.status_code == 200 and estimate.json()["strategy"] == "finetune"
    run = client.post("/api/runs", json={**body, "model": str(tiny_bert), "epochs": 2})
    assert run.status_code == 201, run.text
    done = ended(client, run.json()["id"])
    assert done["status"] == "completed", done
    assert {"micro_f1", "macro_f1", "hamming_loss"} <= set(done["metrics"])
    assert "micro_f1" in done["yardstick"]  # the runs list weighs it by micro-F1
    assert done["yardstick"]["one_figure"] is (done["yardstick"]["examples"] >= SMALL_HOLD_OUT)

    results = client.get(f"/api/runs/{done['id']}/results").json()
    several = results["several_labels"]
    assert results["figure"] is None  # no "accuracy" figure: the whole set's is one of the figures below
    assert [f["name"] for f in several["figures"]] == ["micro-F1", "macro-F1", "whole set right", "Hamming loss"]
    assert all(f["words"] for f in several["figures"]) and several["separator"] == ";"
    assert set(several["thresholds"]) == set(LABELS)
    assert "micro-F1" in several["yardstick"]["sentence"] and "--epochs" not in several["yardstick"]["sentence"]
    assert {"threshold", "f1", "support"} <= set(results["per_class"][0])
    assert client.get(f"/api/runs/{done['id']}/insight").json()["yardstick"] is None  # not in accuracy's terms

    answer = client.post(f"/api/runs/{done['id']}/predict", json={"text": "invoice charge asap now"}).json()
    assert answer["multi_label"] and len(answer["scores"]) == len(LABELS)
    above = [s["label"] for s in answer["scores"] if s["score"] >= s["threshold"]]
    assert sorted(answer["labels"]) == sorted(above)

    texts = pd.DataFrame({"message": [text for text, _ in rows(12, seed=3)]})
    to_classify = client.put(
        "/api/uploads/to-classify", params={"filename": "new.csv"}, content=texts.to_csv(index=False).encode()
    ).json()
    started = client.post(f"/api/runs/{done['id']}/classify", json={"upload_id": to_classify["upload"]["id"]})
    assert started.status_code == 202, started.text
    job = eventually(
        lambda: client.get(f"/api/runs/{done['id']}/classify").json()["job"],
        until=lambda job: job["status"] != "running",
        timeout=120,
        every=0.3,
        what="the classify job to end",
    )
    assert job["status"] == "completed", job
    assert set(job["label_counts"]) <= set(LABELS)  # each label counted, never a joined set
    classified = pd.read_csv(
        io.BytesIO(client.get(f"/api/runs/{done['id']}/classify/download", params={"format": "csv"}).content),
        keep_default_na=False,
    )
    assert list(classified.columns) == ["message", "predicted labels", "scores"]
    for given, scores in zip(classified["predicted labels"], classified["scores"]):
        assert len(str(given).split(";")) == len(str(scores).split(";")) and set(str(given).split(";")) <= {"", *LABELS}


def test_texts_without_labels_are_refused_for_a_file_of_several_labels(client, tiny_bert, tmp_path):
    upload = put(client, "tickets.csv", write_joined(tmp_path / "tickets.csv").read_bytes())
    plain = put(client, "plain.csv", b"text\nhello\nthere\n")
    refused = client.post(
        "/api/runs",
        json={
            "upload_id": upload["upload"]["id"],
            "text_column": "text",
            "label_column": "labels",
            "model": str(tiny_bert),
            "unlabeled_upload_id": plain["upload"]["id"],
        },
    )
    assert refused.status_code == 400 and "several labels per text" in refused.json()["error"]


# --- "Label messages": a project of several labels a message -----------------------------------------
def project_of_several(client, tiny_bert, **changes) -> dict:
    body = {
        "upload_id": put(client, "tickets.csv", tickets().to_csv(index=False).encode())["upload"]["id"],
        "text_column": "message",
        "label_names": NAMES,
        "model": str(tiny_bert),
        "several_labels": True,
        **changes,
    }
    created = client.post("/api/labeling", json=body)
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]

    def state() -> dict:
        project = client.get(f"/api/labeling/{project_id}").json()
        assert project["phase"] != "failed", project["error"]
        return project

    return eventually(state, until=lambda p: p["phase"] == "ready", timeout=120, what="the texts to be read")


def test_a_project_of_several_labels_stores_each_message_s_set_and_counts_every_label(client, tiny_bert):
    project = project_of_several(client, tiny_bert)
    assert project["several_labels"]
    url = f"/api/labeling/{project['id']}"
    first, second = client.post(f"{url}/next", json={"n": 2}).json()["items"][:2]

    saved = client.post(f"{url}/labels", json={"index": first["index"], "labels": ["billing", "account"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"]["labeled"] == 1
    assert saved.json()["status"]["per_label"] == {"billing": 1, "shipping": 0, "account": 1}
    one = client.post(f"{url}/labels", json={"index": second["index"], "label": "shipping"}).json()  # a set of one
    assert one["status"]["per_label"] == {"billing": 1, "shipping": 1, "account": 1}
    changed = client.post(f"{url}/labels", json={"index": first["index"], "labels": ["shipping", "account"]}).json()
    assert changed["status"]["per_label"] == {
        "billing": 0,
        "shipping": 2,
        "account": 1,
    }  # a correction replaces the set

    for body, words in (
        ({"index": first["index"], "labels": []}, "at least one label"),
        ({"index": first["index"], "labels": ["billing", "refunds"]}, "unknown label"),
        ({"index": first["index"]}, "either a label or labels"),
    ):
        refused = client.post(f"{url}/labels", json=body)
        assert refused.status_code in (400, 422) and words in refused.json()["error"], refused.text
    assert client.post(f"{url}/audit").status_code == 409  # it judges one label a message
    assert client.get(url).json()["status"]["per_label"]["shipping"] == 2  # a new request sees the sets


def test_a_file_s_own_label_sets_count_as_given_in_a_project_of_several_labels(client, tiny_bert):
    frame = tickets()
    frame["labels"] = [f"{t};account" if i % 2 and t != "account" else t for i, t in enumerate(frame["truth"])]
    frame.loc[5, "labels"] = "billing;refunds"  # a name not in the project: the row is not imported
    upload = put(client, "tickets.csv", frame[["message", "labels"]].to_csv(index=False).encode())
    described = client.get(f"/api/labeling/uploads/{upload['upload']['id']}").json()
    assert described["label_column"] == "labels" and described["several_labels"]["separator"] == ";"
    project = project_of_several(client, tiny_bert, upload_id=upload["upload"]["id"], label_column="labels")
    assert project["imported"] == 59 and project["status"]["labeled"] == 59
    accounts = sum("account" in value.split(";") for i, value in enumerate(frame["labels"]) if i != 5)
    assert project["status"]["per_label"]["account"] == accounts == 39  # alone or beside another label


def test_a_single_label_project_refuses_a_set_and_names_with_the_separator_are_refused_for_several(client, tiny_bert):
    upload = put(client, "tickets.csv", tickets().to_csv(index=False).encode())
    body = {"upload_id": upload["upload"]["id"], "text_column": "message", "model": str(tiny_bert)}
    refused = client.post("/api/labeling", json={**body, "label_names": ["a;b", "c"], "several_labels": True})
    assert refused.status_code == 400 and "cannot hold ';'" in refused.json()["error"]
    single = client.post("/api/labeling", json={**body, "label_names": NAMES}).json()
    assert not single["several_labels"]
    ready = eventually(
        lambda: client.get(f"/api/labeling/{single['id']}").json(),
        until=lambda p: p["phase"] == "ready",
        timeout=120,
        what="the texts to be read",
    )
    answer = client.post(f"/api/labeling/{ready['id']}/labels", json={"index": 0, "labels": ["billing"]})
    assert answer.status_code == 409 and "one label a message" in answer.json()["error"]


def test_training_from_a_project_of_several_labels_trains_a_model_of_label_sets(client, tiny_bert):
    project = project_of_several(client, tiny_bert)
    url = f"/api/labeling/{project['id']}"
    truth = tickets()["truth"]
    for index in range(30):  # each message its own label, every third "account" as well
        labels = [truth[index], "account"] if index % 3 == 0 and truth[index] != "account" else [truth[index]]
        assert client.post(f"{url}/labels", json={"index": index, "labels": labels}).status_code == 200

    run = client.post(f"{url}/train", json={"epochs": 1})
    assert run.status_code == 201, run.text
    settings = run.json()["settings"]
    assert settings["several_labels"] and settings["label_separator"] == ";"
    assert "unlabeled" not in settings  # the library learns from texts without labels through one label a text
    studio = client.app.state.studio
    written = pd.read_csv(studio.uploads.path(studio.store.get_upload(run.json()["upload_id"])))
    assert (written["label"].str.count(";") == 1).sum() == 10  # the sets, joined
    done = ended(client, run.json()["id"])
    assert done["status"] == "completed", done
    record = json.loads((studio.runs.folder(done["id"]) / "model" / "textfit.json").read_text())
    assert record["multi_label"]["separator"] == ";" and "micro_f1" in record["metrics"]
    assert client.get(url).json()["run"]["figure"] is None  # no accuracy figure for a model of label sets
