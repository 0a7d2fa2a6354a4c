"""How sure each label's decision is (several labels per text): Platt scaling per label, fitted on
held-out answers, and the decisions' confidences that "not sure" is judged by."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textfit.errors import ModelError
from textfit.model.label_calibration import (
    FILE,
    LabelCalibration,
    calibrate_labels,
    decision_confidence,
    fit_platt,
    record_note,
)

NAMES = ["billing", "urgent"]


def over_confident(count: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores three times too sure of themselves: the truth is sigmoid(z), the model says sigmoid(3z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(count, 2))
    targets = (rng.random((count, 2)) < 1 / (1 + np.exp(-z))).astype(np.float32)
    return (1 / (1 + np.exp(-3 * z))).astype(np.float32), targets


def test_platt_scaling_finds_the_scale_of_over_confident_scores_and_lowers_the_log_loss():
    scores, targets = over_confident()
    a, b = fit_platt(scores[:, 0], targets[:, 0])
    assert a == pytest.approx(1 / 3, abs=0.05) and b == pytest.approx(0, abs=0.1)
    calibration = LabelCalibration.fit(scores, targets)
    assert calibration.log_loss_after < calibration.log_loss_before
    assert calibration.apply(np.array([[0.9, 0.5]], dtype=np.float32))[0, 0] < 0.75  # 0.9 was over-sure
    assert calibration.apply(scores).dtype == np.float32


def test_a_label_without_held_out_positives_keeps_its_raw_score():
    assert fit_platt(np.array([0.1, 0.3, 0.8]), np.zeros(3)) == (1.0, 0.0)
    assert fit_platt(np.array([0.1, 0.3, 0.8]), np.ones(3)) == (1.0, 0.0)


def test_few_held_out_texts_stay_near_the_raw_score_and_too_few_fit_nothing():
    scores = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3])
    a, b = fit_platt(scores, np.array([1, 0, 0, 1, 1, 0]))  # six noisy texts: the prior keeps a near 1
    assert 0 < a < 1.5 and abs(b) < 1
    assert calibrate_labels(np.full((19, 2), 0.5), np.zeros((19, 2))) is None


def test_a_decision_s_confidence_is_the_probability_it_is_right():
    scores = np.array([[0.9, 0.1], [0.55, 0.45]], dtype=np.float32)
    thresholds = np.array([0.5, 0.5], dtype=np.float32)
    confidence = decision_confidence(scores, thresholds, None)  # uncalibrated: the raw score stands for it
    assert np.allclose(confidence, [[0.9, 0.9], [0.55, 0.55]])
    low = np.array([0.3, 0.3], dtype=np.float32)  # a low threshold gives a label at 0.45 but is not sure of it
    assert np.allclose(decision_confidence(scores, low, None)[1], [0.55, 0.45])


def test_a_higher_score_is_never_less_sure_of_a_given_label():
    scores, targets = over_confident()
    calibration = LabelCalibration.fit(scores, targets)
    grid = np.linspace(0.01, 0.99, 99, dtype=np.float32)[:, None].repeat(2, axis=1)
    likely = calibration.apply(grid)
    assert (np.diff(likely, axis=0) >= 0).all()


def test_the_calibration_survives_its_folder_and_a_damaged_file_says_what_to_do(tmp_path):
    scores, targets = over_confident(500)
    calibration = LabelCalibration.fit(scores, targets)
    calibration.save(tmp_path, NAMES)
    loaded = LabelCalibration.load(tmp_path, list(reversed(NAMES)))  # in the order asked for
    assert np.allclose(loaded.slopes, calibration.slopes[::-1], atol=1e-4)
    assert loaded.examples == 500 and "Platt" in json.loads((tmp_path / FILE).read_text())["method"]
    assert LabelCalibration.load(tmp_path / "elsewhere", NAMES) is None
    (tmp_path / FILE).write_text('{"labels": 3}')
    with pytest.raises(ModelError, match="delete it"):
        LabelCalibration.load(tmp_path, NAMES)


def test_the_record_says_whether_the_confidence_is_calibrated_or_the_raw_score():
    assert "raw sigmoid" in record_note(None)
    note = record_note({"examples": 40, "log_loss_before": 0.5, "log_loss_after": 0.4})
    assert "Platt" in note and "40 held-out" in note
