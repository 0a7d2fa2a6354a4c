"""Calibrated confidences and "not sure": temperature scaling on synthetic data with a known answer,
the coverage curve, and the model folder's calibration.json end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from textfit import NOT_SURE, Classifier, ModelError, TextfitError
from textfit.model.calibration import (
    CALIBRATION_FILE,
    Calibration,
    apply_temperature,
    calibrate,
    coverage_curve,
    expected_calibration_error,
    fit_temperature,
)

TEXTS = ["Fed holds rates steady", "Oil falls 3% as OPEC output rises", "Acme Corp announces new CEO", "asdfgh qwerty"]


def synthetic(n: int, temperature: float, seed: int = 0, classes: int = 5):
    """Labels drawn from softmax(logits), and the probabilities of a model whose logits are
    `temperature` times the true ones (over-confident above 1): fitting should find `temperature`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, classes))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in truth])
    sharp = np.exp(logits * temperature)
    return (sharp / sharp.sum(axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("true_temperature", [3.0, 0.5])
def test_temperature_recovers_a_known_scale(true_temperature):
    probabilities, labels = synthetic(4000, true_temperature)
    assert fit_temperature(probabilities, labels) == pytest.approx(true_temperature, rel=0.1)


def test_calibration_lowers_the_error_on_held_out_data_and_keeps_every_answer():
    probabilities, labels = synthetic(4000, 3.0)
    calibration = Calibration.fit(probabilities[:2000], labels[:2000])
    held_out, held_labels = probabilities[2000:], labels[2000:]
    before = expected_calibration_error(held_out, held_labels)
    after = expected_calibration_error(calibration.apply(held_out), held_labels)
    assert before > 0.15 and after < before / 3
    assert calibration.ece_after < calibration.ece_before and calibration.examples == 2000
    calibrated = calibration.apply(held_out)
    assert np.array_equal(calibrated.argmax(axis=1), held_out.argmax(axis=1))
    assert np.allclose(calibrated.sum(axis=1), 1, atol=1e-5) and calibrated.dtype == np.float32


def test_too_few_examples_are_not_calibrated():
    probabilities, labels = synthetic(19, 3.0)
    assert calibrate(probabilities, labels) is None
    assert calibrate(*synthetic(20, 3.0)) is not None


def test_coverage_curve_by_hand():
    probabilities = np.array([[0.95, 0.05], [0.6, 0.4], [0.55, 0.45], [0.2, 0.8]])
    labels = np.array([0, 1, 0, 1])  # right, wrong, right, right
    curve = {c["threshold"]: c for c in coverage_curve(probabilities, labels)}
    assert list(curve) == [round(0.05 * i, 2) for i in range(20)]  # 0, 0.05, ..., 0.95
    assert curve[0.95] == {"threshold": 0.95, "answered": 0.25, "accuracy": 1.0}
    assert curve[0.0] == {"threshold": 0.0, "answered": 1.0, "accuracy": 0.75}
    assert curve[0.6] == {"threshold": 0.6, "answered": 0.75, "accuracy": 0.6667}  # a score equal to it is answered
    assert curve[0.7] == {"threshold": 0.7, "answered": 0.5, "accuracy": 1.0}  # 0.95 and 0.8
    assert curve[0.9] == {"threshold": 0.9, "answered": 0.25, "accuracy": 1.0}
    assert coverage_curve(probabilities, labels, thresholds=[0.99]) == [
        {"threshold": 0.99, "answered": 0.0, "accuracy": None}
    ]


def test_temperature_one_changes_nothing():
    probabilities, _ = synthetic(50, 1.0)
    assert np.allclose(apply_temperature(probabilities, 1.0), probabilities, atol=1e-6)


def test_the_folder_round_trips_its_calibration(tiny_model_dir):
    saved = json.loads((tiny_model_dir / CALIBRATION_FILE).read_text())
    record = json.loads((tiny_model_dir / "textfit.json").read_text())
    assert saved["examples"] == record["data"]["eval_examples"] == 88 and saved["temperature"] > 0
    assert record["calibration"]["temperature"] == saved["temperature"]
    classifier = Classifier.load(tiny_model_dir)
    assert classifier.calibration == Calibration.load(tiny_model_dir)
    raw = classifier.blend(classifier.encoder_proba(TEXTS), TEXTS)
    assert np.allclose(classifier.predict_proba(TEXTS), apply_temperature(raw, saved["temperature"]), atol=1e-6)
    # the encoder's own scores stay raw (what plain transformers.pipeline gives)
    assert classifier.encoder_proba(TEXTS).max() > 0 and not np.allclose(
        classifier.predict_proba(TEXTS), raw, atol=1e-4
    )


def test_a_folder_without_calibration_answers_as_before(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "uncalibrated")
    (folder / CALIBRATION_FILE).unlink()
    classifier = Classifier.load(folder)
    assert classifier.calibration is None
    assert np.allclose(classifier.predict_proba(TEXTS), classifier.blend(classifier.encoder_proba(TEXTS), TEXTS))
    (folder / CALIBRATION_FILE).write_text('{"temperature": "warm"}')
    with pytest.raises(ModelError, match="calibration.json is damaged"):
        Classifier.load(folder)


def test_not_sure_below_the_threshold(tiny_model_dir):
    classifier = Classifier.load(tiny_model_dir)
    top = classifier.predict_proba(TEXTS).max(axis=1)
    threshold = float(np.median(top))  # two texts below, two at or above
    unsure = top < threshold
    assert unsure.sum() == 2
    labels = classifier.predict(TEXTS, min_confidence=threshold)
    plain = classifier.predict(TEXTS)
    assert [label == NOT_SURE for label in labels] == unsure.tolist()
    assert [a for a, u in zip(labels, unsure) if not u] == [a for a, u in zip(plain, unsure) if not u]
    assert classifier.predict(TEXTS, min_confidence=0) == plain
    ranked = classifier.top_k(TEXTS, k=2, min_confidence=threshold)
    for answer, below, guess, score in zip(ranked, unsure, plain, top):
        assert len(answer) == 2 and answer[0]["not_sure"] == bool(below)
        assert answer[0]["score"] == pytest.approx(score) and answer[1]["label"] not in (None, guess)
        if below:
            assert answer[0]["label"] is None and answer[0]["guess"] == guess
        else:
            assert answer[0]["label"] == guess
    assert "not_sure" not in classifier.top_k(TEXTS)[0][0]  # without a threshold, the usual answer
    with pytest.raises(TextfitError, match="between 0 and 1"):
        classifier.predict(TEXTS, min_confidence=50)
