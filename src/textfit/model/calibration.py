"""Confidences that mean what they say, and "not sure" below a threshold.

A fine-tuned classifier blended with an n-gram model is over- or under-confident in ways that
depend on the data: a score of 0.9 need not be right 9 times in 10. Temperature scaling (Guo et
al., 2017) fixes the scale with one number T fitted after training, on the held-out evaluation
examples: the calibrated probabilities are softmax(log p / T). T > 1 softens over-confident
answers, T < 1 sharpens timid ones; dividing every log-probability by the same T never changes
which label is on top, so accuracy and F1 stay exactly as measured.

T minimises the negative log-likelihood of the true labels. The caveat: it is fitted on the same
held-out messages the metrics and the coverage curve are measured on. With one parameter the
optimism this buys is small, but the curve is somewhat flattering on those messages; measure it
on new labelled data with `textfit evaluate` for an unbiased one.

Saved as `calibration.json` in the model folder and applied by `Classifier.predict_proba` (so
`predict`, `serve` and the studio answer calibrated), never by `Classifier.encoder_proba` or by plain
`transformers.pipeline`, which read the encoder's raw scores. A folder without the file answers as
before.

"Not sure": `Classifier.predict(texts, min_confidence=0.5)` answers `NOT_SURE` ("not sure") where
the top calibrated probability is below 0.5; `Classifier.top_k` marks such an answer as
`{"label": None, "score": ..., "not_sure": True, "guess": <the top label>}`. The coverage curve says
what a threshold costs: the share of messages still answered, and how accurate those answers are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError, TextfitError

CALIBRATION_FILE = "calibration.json"
NOT_SURE = "not sure"
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, ..., 0.95: the studio's slider stops
LOG_FLOOR = float(np.log(1e-7))  # keeps log(0) finite, as the blend does (lexical.py)
LOG_T_RANGE = (float(np.log(0.05)), float(np.log(20.0)))  # T from 0.05 to 20: wider is never a fit
MIN_EXAMPLES = 20  # fewer held-out examples say too little about confidence to fit even one number


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), np.exp(LOG_FLOOR)))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row by row, in the input's dtype."""
    scaled = log_probabilities(probabilities) / temperature
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.asarray(probabilities).dtype)


def negative_log_likelihood(log_p: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = log_p / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


def fit_temperature(probabilities: np.ndarray, labels: Sequence[int]) -> float:
    """The T that minimises the negative log-likelihood of `labels`, searched in log-space (T > 0)."""
    from scipy.optimize import minimize_scalar

    log_p, labels = log_probabilities(probabilities), np.asarray(labels)
    if not len(labels):
        raise TextfitError("no evaluation examples to calibrate on")
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(log_p, labels, float(np.exp(log_t))),
        bounds=LOG_T_RANGE,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def expected_calibration_error(probabilities: np.ndarray, labels: Sequence[int], bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over 10 equal-width confidence bins
    weighted by how many answers fall in each (0 is perfectly calibrated)."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    if not len(labels):
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = sum(
        abs(correct[which == b].mean() - confidence[which == b].mean()) * np.sum(which == b)
        for b in range(bins)
        if np.any(which == b)
    )
    return float(gap / len(labels))


def coverage_curve(
    probabilities: np.ndarray, labels: Sequence[int], thresholds: Sequence[float] = THRESHOLDS
) -> list[dict]:
    """For each threshold, the share of messages answered (top probability at least the threshold)
    and the accuracy among them (None where none is answered)."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence = probabilities.max(axis=1) if len(labels) else np.zeros(0)
    correct = probabilities.argmax(axis=1) == labels if len(labels) else np.zeros(0, dtype=bool)
    curve = []
    for threshold in thresholds:
        answered = confidence >= threshold
        curve.append(
            {
                "threshold": float(threshold),
                "answered": round(float(answered.mean()), 4) if len(labels) else 0.0,
                "accuracy": round(float(correct[answered].mean()), 4) if answered.any() else None,
            }
        )
    return curve


@dataclass
class Calibration:
    temperature: float
    examples: int  # the held-out examples T was fitted on
    ece_before: float
    ece_after: float

    @classmethod
    def fit(cls, probabilities: np.ndarray, labels: Sequence[int]) -> Calibration:
        temperature = fit_temperature(probabilities, labels)
        return cls(
            temperature=round(temperature, 4),
            examples=len(labels),
            ece_before=round(expected_calibration_error(probabilities, labels), 4),
            ece_after=round(expected_calibration_error(apply_temperature(probabilities, temperature), labels), 4),
        )

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        return apply_temperature(probabilities, self.temperature) if len(probabilities) else probabilities

    def to_dict(self) -> dict:
        return {**asdict(self), "fitted_on": "the held-out evaluation examples (the same ones the metrics measure)"}

    def save(self, folder: str | Path) -> None:
        Path(folder, CALIBRATION_FILE).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> Calibration | None:
        """The folder's calibration, or None where it has none (the model then answers uncalibrated)."""
        path = Path(folder, CALIBRATION_FILE)
        if not path.is_file():
            return None
        try:
            values = json.loads(path.read_text())
            calibration = cls(
                float(values["temperature"]),
                int(values["examples"]),
                float(values["ece_before"]),
                float(values["ece_after"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path} is damaged ({exc}); delete it to answer uncalibrated") from None
        if not calibration.temperature > 0:
            raise ModelError(f"{path}: the temperature must be above 0, not {calibration.temperature}")
        return calibration


def calibrate(probabilities: np.ndarray, labels: Sequence[int]) -> Calibration | None:
    """The calibration fitted after training, or None with fewer than MIN_EXAMPLES examples."""
    return Calibration.fit(probabilities, labels) if len(labels) >= MIN_EXAMPLES else None


def check_min_confidence(min_confidence: float | None) -> None:
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise TextfitError(f"min_confidence {min_confidence} must be between 0 and 1 (a probability)")
