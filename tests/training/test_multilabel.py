"""Several labels per text through the whole product: train (a sigmoid head, thresholds per label),
the folder (plain transformers.pipeline loads it), evaluate, predict (CLI, files), serve, ONNX export."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from support.multilabel import LABELS, train_on_tickets, write_lists
from textfit import Classifier, TrainConfig, train
from textfit.cli import app
from textfit.data.labeled import load_data

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    return train_on_tickets(tiny_bert, tmp_path_factory.mktemp("multilabel"))


def test_the_saved_folder_says_multi_label_and_plain_pipeline_loads_it(trained):
    from transformers import pipeline

    result, _ = trained
    config = json.loads((result.folder / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    scores = pipeline("text-classification", model=str(result.folder), top_k=None)(["invoice charge asap now"])[0]
    by_label = {s["label"]: s["score"] for s in scores}
    ours = Classifier.load(result.folder).predict_proba(["invoice charge asap now"])[0]
    assert sorted(by_label) == sorted(LABELS)
    assert np.allclose([by_label[name] for name in result.classifier.label_names], ours, atol=1e-5)  # sigmoids


def test_the_record_and_report_give_the_multi_label_figures_and_notes(trained):
    result, _ = trained
    record = result.record
    assert {"micro_f1", "macro_f1", "accuracy", "hamming_loss"} <= set(record["metrics"])
    assert record["multi_label"]["separator"] == ";" and record["multi_label"]["rows_without_label"] > 0
    assert set(record["multi_label"]["thresholds"]) == set(LABELS)
    assert record["lexical"] is None and record["calibration"] is None
    assert "n-gram" in record["multi_label"]["notes"]["lexical"]
    assert record["baseline"]["source"] == "training data" and "micro_f1" in record["baseline"]
    thresholds = json.loads((result.folder / "thresholds.json").read_text())["thresholds"]
    assert set(thresholds) == set(LABELS)
    card = (result.folder / "README.md").read_text()
    assert "Hamming loss" in card and "subset accuracy" in card and "top_k=None" in card
    per_class = pd.read_csv(result.folder / "per_class.csv")
    assert {"precision", "recall", "f1", "support", "threshold"} <= set(per_class.columns)


def test_the_classifier_answers_lists_of_labels_at_or_above_their_thresholds(trained):
    result, _ = trained
    classifier = Classifier.load(result.folder)
    assert classifier.multi_label
    classifier.thresholds = np.array([0.0, 0.0, 1.1], dtype=np.float32)  # two always, one never
    answers = classifier.predict(["invoice charge", "hello team"])
    assert all(len(a) == 2 and classifier.label_names[2] not in a for a in answers)


def test_evaluate_scores_a_multi_label_file_with_the_model_s_thresholds(trained, tmp_path):
    result, data = trained
    out = tmp_path / "evaluation"
    run = runner.invoke(app, ["evaluate", str(result.folder), str(data), "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "micro-F1" in run.output and "Hamming loss" in run.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["multi_label"] and metrics["examples"] == 120


def test_predict_writes_every_label_above_its_threshold_joined_with_scores(trained, tmp_path):
    result, data = trained
    classifier = Classifier.load(result.folder)
    out = tmp_path / "out.csv"
    run = runner.invoke(app, ["predict", str(result.folder), "--input", str(data), "--output", str(out)])
    assert run.exit_code == 0, run.output
    frame = pd.read_csv(out, keep_default_na=False)
    expected = classifier.predict(frame["text"].tolist())
    assert frame["label"].tolist() == [";".join(labels) for labels in expected]
    scores = [s.split(";") if s else [] for s in frame["score"].astype(str)]
    assert [len(s) for s in scores] == [len(labels) for labels in expected]


def test_predict_on_the_command_line_shows_the_labels_as_json(trained):
    result, _ = trained
    run = runner.invoke(app, ["predict", str(result.folder), "invoice charge asap", "--json"])
    assert run.exit_code == 0, run.output
    assert '"labels"' in run.output


def test_serve_returns_the_labels_as_a_list(trained):
    from fastapi.testclient import TestClient

    from textfit.server.app import create_app

    result, _ = trained
    classifier = Classifier.load(result.folder)
    with TestClient(create_app(result.folder)) as client:
        answer = client.post("/predict", json={"texts": ["invoice charge asap", "hello"], "top_k": 3}).json()
    predictions = answer["predictions"]
    assert [p["labels"] for p in predictions] == classifier.predict(["invoice charge asap", "hello"])
    assert len(predictions[0]["top_k"]) == 3


def test_onnx_and_int8_answer_as_torch_does(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    import shutil

    from textfit.export.onnx import export_onnx

    result, data = trained
    folder = tmp_path / "model"
    shutil.copytree(result.folder, folder)
    export_onnx(folder, quantize="int8")
    texts = load_data(data).texts[:20]
    torch_scores = Classifier.load(folder).predict_proba(texts)
    onnx = Classifier.load(folder, backend="onnx")
    assert onnx.multi_label and np.allclose(onnx.predict_proba(texts), torch_scores, atol=1e-4)
    assert onnx.predict(texts) == Classifier.load(folder).predict(texts)
    int8 = Classifier.load(folder, backend="onnx-int8")
    assert int8.multi_label and np.abs(int8.predict_proba(texts) - torch_scores).max() < 0.1


def test_json_lines_lists_train_and_the_final_fit_keeps_the_sigmoid_head(tiny_bert, tmp_path):
    data = write_lists(tmp_path / "tickets.jsonl", count=140)
    config = TrainConfig(data=str(data), model=str(tiny_bert), epochs=1, final_fit=True, checkpoint_minutes=None)
    result = train(config, tmp_path / "model")
    assert result.record["final_fit"]["done"]
    assert result.record["multi_label"]["layout"] == "lists"
    assert Classifier.load(result.folder).multi_label
