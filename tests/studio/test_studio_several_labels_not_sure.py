"""'Not sure' per label in the studio, for a model of several labels per text: "try it" with a "not sure"
bar lists the labels it is sure of and, apart, those it is not, each with how sure its decision is;
"Classify a file" with a threshold writes the unsure labels in a "not sure" column, as `textfit predict
--min-confidence` does, and counts the rows that have any; the run page learns that its coverage curve
is for one label a text. The model is the tiny random BERT trained on a small ticket file."""

from __future__ import annotations

import io

import pandas as pd
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from support.multilabel import LABELS, rows, train_on_tickets  # noqa: E402
from support.studio import RUN, add_trained_run, classify_job_ended  # noqa: E402
from textfit import Classifier, predict_file  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402

TEXTS = ["invoice charge asap now", "hello team", "money back", "see the note invoice"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the classifying process inherits it


@pytest.fixture(scope="module")
def model(tiny_bert, tmp_path_factory):
    return train_on_tickets(tiny_bert, tmp_path_factory.mktemp("several-not-sure"))[0].folder


@pytest.fixture
def client(tmp_path, model):
    add_trained_run(tmp_path / "studio", model)
    with TestClient(create_studio_app(tmp_path / "studio")) as client:
        yield client


def middle_bar(model) -> float:
    """A "not sure" bar that leaves some decisions of this (barely trained) model unsure and others sure."""
    confidences = Classifier.load(model).label_confidence(Classifier.load(model).predict_proba(TEXTS))
    return round(float(pd.Series(confidences.ravel()).median()), 4)


def test_try_it_with_a_not_sure_bar_lists_the_unsure_labels_apart_as_the_library_does(client, model):
    bar = middle_bar(model)
    answers = client.post(f"/api/runs/{RUN}/predict", json={"texts": TEXTS, "min_confidence": bar}).json()["results"]
    expected = Classifier.load(model).label_sets(TEXTS, min_confidence=bar)
    assert [a["labels"] for a in answers] == [e["labels"] for e in expected]
    assert [a["not_sure"] for a in answers] == [e["not_sure"] for e in expected]
    assert any(a["not_sure"] for a in answers) and any(a["labels"] or len(a["not_sure"]) < 3 for a in answers)
    for answer in answers:
        for score in answer["scores"]:
            assert score["not_sure"] == (score["confidence"] < bar) == (score["label"] in answer["not_sure"])
            given = score["score"] >= score["threshold"]
            assert score["probability"] == pytest.approx(score["confidence"] if given else 1 - score["confidence"])


def test_without_a_bar_nothing_is_not_sure_and_at_certainty_every_label_is(client):
    plain = client.post(f"/api/runs/{RUN}/predict", json={"text": TEXTS[0]}).json()
    assert plain["not_sure"] == [] and not any(s["not_sure"] for s in plain["scores"])
    above = [s["label"] for s in plain["scores"] if s["score"] >= s["threshold"]]
    assert sorted(plain["labels"]) == sorted(above)  # as before: every label at or above its threshold

    certain = client.post(f"/api/runs/{RUN}/predict", json={"text": TEXTS[0], "min_confidence": 1.0}).json()
    assert certain["labels"] == [] and sorted(certain["not_sure"]) == sorted(LABELS)  # nothing is surer than certain


def test_the_run_page_learns_that_not_sure_is_decided_per_label_without_a_coverage_curve(client):
    insight = client.get(f"/api/runs/{RUN}/insight").json()
    assert insight["several_labels"] and insight["coverage"] == []
    assert insight["label_calibration"]["examples"] > 0  # fitted on the held-out texts (label_calibration.json)


def classify(client, frame: pd.DataFrame, min_confidence: float | None) -> tuple[dict, pd.DataFrame]:
    uploaded = client.put(
        "/api/uploads/to-classify", params={"filename": "new.csv"}, content=frame.to_csv(index=False).encode()
    ).json()
    body = {"upload_id": uploaded["upload"]["id"], "min_confidence": min_confidence}
    started = client.post(f"/api/runs/{RUN}/classify", json=body)
    assert started.status_code == 202, started.text
    job = classify_job_ended(client)
    assert job["status"] == "completed", job
    download = client.get(f"/api/runs/{RUN}/classify/download", params={"format": "csv"})
    return job, pd.read_csv(io.BytesIO(download.content), keep_default_na=False, dtype=str)


def test_a_classified_file_with_a_threshold_writes_the_unsure_labels_apart_as_predict_does(client, model, tmp_path):
    frame = pd.DataFrame({"message": [text for text, _ in rows(20, seed=5)] + TEXTS})
    frame.loc[3, "message"] = ""  # no text: no answer, never "not sure"
    bar = middle_bar(model)
    job, classified = classify(client, frame, bar)
    assert list(classified.columns) == ["message", "predicted labels", "not sure", "scores", "not sure below"]

    frame.to_csv(tmp_path / "new.csv", index=False)
    predict_file(model, tmp_path / "new.csv", tmp_path / "engine.csv", text_column="message", min_confidence=bar)
    engine = pd.read_csv(tmp_path / "engine.csv", keep_default_na=False, dtype=str)
    assert classified["predicted labels"].tolist() == engine["label"].tolist()
    assert classified["not sure"].tolist() == engine["not_sure"].tolist()
    assert classified["not sure"][3] == "" and set(classified["not sure below"]) == {str(bar)}

    unsure = int((classified["not sure"] != "").sum())
    assert 0 < unsure <= len(frame) - 1  # the row without text has none
    assert job["several_labels"] and job["not_sure_rows"] == unsure and job["min_confidence"] == bar
    given = [name for labels in classified["predicted labels"] if labels for name in labels.split(";")]
    assert job["label_counts"] == dict(pd.Series(given).value_counts())  # the sure labels only


def test_a_classified_file_without_a_threshold_is_as_before(client):
    frame = pd.DataFrame({"message": TEXTS})
    job, classified = classify(client, frame, None)
    assert list(classified.columns) == ["message", "predicted labels", "scores"]
    assert "not_sure_rows" not in job and job["several_labels"]
