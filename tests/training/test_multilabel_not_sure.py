"""Calibrated "not sure" per label (several labels per text): training fits and saves it, and the
Python API, `predict` (files, the terminal) and `serve` list apart the labels whose decision is less
sure than `min_confidence`; a folder trained before it answers with the raw scores as confidences."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from support.multilabel import LABELS, train_on_tickets
from textfit import Classifier
from textfit.cli import app

runner = CliRunner()
TEXTS = ["invoice charge asap now", "hello team", "money back", "see the note invoice"]


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    return train_on_tickets(tiny_bert, tmp_path_factory.mktemp("not-sure"))


def test_training_saves_each_label_s_calibration_and_the_record_and_card_say_how_sure_is_measured(trained):
    result, _ = trained
    saved = json.loads((result.folder / "label_calibration.json").read_text())
    assert set(saved["labels"]) == set(LABELS) and all(v["a"] > 0 for v in saved["labels"].values())
    calibration = result.record["multi_label"]["calibration"]
    assert calibration["examples"] == 24 and calibration["log_loss_after"] <= calibration["log_loss_before"]
    assert "Platt" in result.record["multi_label"]["notes"]["not_sure"]
    assert result.record["calibration"] is None  # the single-label temperature: not for a sigmoid head
    card = (result.folder / "README.md").read_text()
    assert '"Not sure" per label' in card and "label_calibration.json" in card


def test_a_label_at_its_threshold_is_not_sure_at_a_high_min_confidence_and_sure_at_zero(trained):
    result, _ = trained
    classifier = Classifier.load(result.folder)
    assert classifier.label_calibration is not None
    # scored alone, as the calls below score it: in a batch of four its padding moves the last bits of its scores
    scores = classifier.predict_proba(TEXTS[:1])
    j = 1
    classifier.thresholds = np.array([1.1, scores[0, j], 1.1], dtype=np.float32)  # text 0 just gets label j
    sure = classifier.label_confidence(scores)[0, j]
    given = classifier.label_names[j]
    assert classifier.label_sets(TEXTS[:1], min_confidence=0)[0]["labels"] == [given]
    assert classifier.label_sets(TEXTS[:1], min_confidence=float(sure) - 1e-4)[0]["labels"] == [given]
    above = classifier.label_sets(TEXTS[:1], min_confidence=min(1.0, float(sure) + 1e-4))[0]
    assert above["labels"] == [] and given in above["not_sure"]
    assert classifier.predict(TEXTS[:1], min_confidence=min(1.0, float(sure) + 1e-4)) == [[]]
    without = classifier.label_sets(TEXTS[:1])[0]
    assert without["labels"] == [given] and without["not_sure"] == []


def test_every_label_is_either_given_denied_or_not_sure_and_a_higher_bar_only_adds_doubts(trained):
    result, _ = trained
    classifier = Classifier.load(result.folder)
    answers = {m: classifier.label_sets(TEXTS, min_confidence=m) for m in (0.0, 0.6, 0.9, 1.0)}
    plain = classifier.predict(TEXTS)
    assert [a["labels"] for a in answers[0.0]] == plain and all(not a["not_sure"] for a in answers[0.0])
    for low, high in ((0.0, 0.6), (0.6, 0.9), (0.9, 1.0)):
        for a, b, given in zip(answers[low], answers[high], plain):
            assert set(a["not_sure"]) <= set(b["not_sure"]) and set(b["labels"]) <= set(a["labels"])
            assert set(b["labels"]) | (set(given) & set(b["not_sure"])) == set(given)
    assert all(set(a["not_sure"]) == set(LABELS) for a in answers[1.0])  # nothing is surer than certain


def test_predict_writes_the_unsure_labels_in_a_not_sure_column(trained, tmp_path):
    result, data = trained
    classifier = Classifier.load(result.folder)
    out = tmp_path / "out.csv"
    command = ["predict", str(result.folder), "--input", str(data), "--output", str(out), "--min-confidence", "0.9"]
    run = runner.invoke(app, command)
    assert run.exit_code == 0, run.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns[-3:]) == ["label", "not_sure", "score"]
    expected = classifier.label_sets(frame["text"].tolist(), min_confidence=0.9)
    assert frame["label"].tolist() == [";".join(a["labels"]) for a in expected]
    assert frame["not_sure"].tolist() == [";".join(a["not_sure"]) for a in expected]
    assert any(frame["not_sure"] != "")
    assert [len(s.split(";")) if s else 0 for s in frame["score"].astype(str)] == [len(a["labels"]) for a in expected]


def test_predict_on_the_command_line_gives_the_unsure_labels_as_json_and_in_a_file(trained, tmp_path):
    result, _ = trained
    classifier = Classifier.load(result.folder)
    run = runner.invoke(app, ["predict", str(result.folder), TEXTS[0], "--json", "--min-confidence", "1"])
    assert run.exit_code == 0, run.output
    shown = json.loads(run.output)
    assert shown["labels"] == [] and sorted(a["label"] for a in shown["not_sure"]) == sorted(LABELS)
    out = tmp_path / "few.csv"
    run = runner.invoke(app, ["predict", str(result.folder), *TEXTS, "--output", str(out), "--min-confidence", "0.9"])
    assert run.exit_code == 0, run.output
    frame = pd.read_csv(out, keep_default_na=False)
    expected = classifier.label_sets(TEXTS, min_confidence=0.9)
    assert list(frame.columns) == ["text", "label", "not_sure", "score"]
    assert frame["not_sure"].tolist() == [";".join(a["not_sure"]) for a in expected]


def test_serve_returns_the_unsure_labels_as_a_list_beside_the_labels(trained):
    from fastapi.testclient import TestClient

    from textfit.server.app import create_app

    result, _ = trained
    classifier = Classifier.load(result.folder)
    with TestClient(create_app(result.folder)) as client:
        unsure = client.post("/predict", json={"texts": TEXTS, "min_confidence": 0.9}).json()["predictions"]
        plain = client.post("/predict", json={"texts": TEXTS}).json()["predictions"]
    expected = classifier.label_sets(TEXTS, min_confidence=0.9)
    assert [p["labels"] for p in unsure] == [a["labels"] for a in expected]
    assert [p["not_sure"] for p in unsure] == [a["not_sure"] for a in expected]
    assert all(p["label"] is not None for p in unsure)  # the top label is never "not sure" for a label set
    assert [p["labels"] for p in plain] == classifier.predict(TEXTS) and all(p["not_sure"] == [] for p in plain)


def test_a_folder_trained_before_the_calibration_still_answers_with_the_raw_scores(trained, tmp_path, caplog):
    result, _ = trained
    old = tmp_path / "old-model"
    shutil.copytree(result.folder, old)
    (old / "label_calibration.json").unlink()
    classifier = Classifier.load(old)
    assert classifier.label_calibration is None
    scores = classifier.predict_proba(TEXTS)
    with caplog.at_level(logging.WARNING, logger="textfit"):
        answers = classifier.label_sets(TEXTS, min_confidence=0.9)
        classifier.label_sets(TEXTS, min_confidence=0.9)
    assert sum("raw sigmoid" in r.message for r in caplog.records) == 1  # said once
    given = scores >= classifier.thresholds
    confidence = np.where(given, scores, 1 - scores)
    for answer, row, sure in zip(answers, scores, confidence):
        names = np.array(classifier.label_names)
        assert set(answer["not_sure"]) == set(names[sure < 0.9])
        assert set(answer["labels"]) == set(names[(row >= classifier.thresholds) & (sure >= 0.9)])
    out = tmp_path / "out.csv"
    run = runner.invoke(app, ["predict", str(old), *TEXTS, "--output", str(out), "--min-confidence", "0.9"])
    assert run.exit_code == 0, run.output
