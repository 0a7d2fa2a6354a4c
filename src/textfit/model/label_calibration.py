"""Several labels per text: how sure each label's decision is, and "not sure" per label.

A multi-label model decides every label on its own: present where its sigmoid score is at or above
the label's threshold (thresholds.py), absent below. A decision's confidence is the probability that
it is right: P(label | score) for "present", 1 - P(label | score) for "absent". With
`min_confidence`, a label whose decision is less sure than that is "not sure" for the text: neither
given nor denied, but listed apart (`Classifier.label_sets`, the `not_sure` column of `predict`, the
`not_sure` list of `serve`).

P(label | score) is the label's sigmoid score recalibrated by Platt scaling, per label:
sigmoid(a * logit(score) + b), a and b fitted after training on the held-out part (the texts its
threshold is chosen on) and saved as `label_calibration.json`. Why this, and not the held-out
precision of decisions at each score:
- a sigmoid head trained with binary cross-entropy is already a logistic model of its logit; what
  goes wrong is its scale (over-confidence: a) and its offset (a label's base rate: b), which two
  numbers per label correct. A held-out part of tens of texts, a rare label's handful of positives,
  can fit two numbers; binned precisions at each score would be noise there;
- it is monotone (a > 0), so a higher score is never less sure of "present": the decisions stay
  exactly those of the thresholds, and the "not sure" ones are those whose score lies in a band
  around the threshold that widens as `min_confidence` rises.
The fit is pulled toward the raw score (a = 1, b = 0) by a prior worth PRIOR_WEIGHT texts, so a
label with few held-out examples stays near its sigmoid; a label with no held-out positive or no
negative keeps it. As for calibration.py, the fit uses the same held-out texts the figures are
measured on (two numbers per label: little optimism, some).

A folder without the file (trained before it, or on fewer than MIN_HELD_OUT held-out texts) answers
with each label's raw sigmoid score as its confidence, and says so."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .thresholds import MIN_HELD_OUT, sigmoid

FILE = "label_calibration.json"
PRIOR_WEIGHT = 2.0
"""How strongly a and b are pulled toward the raw score (1, 0): an L2 penalty worth about this many texts."""
EPSILON = 1e-6  # keeps logit(0) and logit(1) finite
RAW = "each label's raw sigmoid score (no label_calibration.json)"


def logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def log_loss(probabilities: np.ndarray, targets: np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))


def fit_platt(scores: np.ndarray, targets: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """a, b minimising the log-loss of sigmoid(a * logit(score) + b) on one label's held-out
    answers, plus the prior toward (1, 0) (Newton's method on two numbers, a step halved where it
    overshoots); (1, 0) where the label has no held-out positive or no negative, or where the fit
    would not be monotone."""
    y = (np.asarray(targets) > 0.5).astype(np.float64)
    if y.all() or not y.any():
        return 1.0, 0.0
    x, prior = logit(scores), np.array([1.0, 0.0])

    def objective(params: np.ndarray) -> float:
        z = params[0] * x + params[1]  # the log-loss of sigmoid(z), written to stay finite
        return float(np.sum(np.logaddexp(0, z) - y * z) + PRIOR_WEIGHT / 2 * np.sum((params - prior) ** 2))

    params = prior.copy()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(params[0] * x + params[1], -50, 50)))
        residual, weight = p - y, p * (1 - p)
        gradient = np.array([residual @ x, residual.sum()]) + PRIOR_WEIGHT * (params - prior)
        hessian = np.array([[weight @ (x * x), weight @ x], [weight @ x, weight.sum()]]) + PRIOR_WEIGHT * np.eye(2)
        step, before = np.linalg.solve(hessian, gradient), objective(params)
        while objective(params - step) > before and np.abs(step).max() > 1e-12:
            step = step / 2  # a full Newton step can overshoot where the scores are extreme: halve it
        params = params - step
        if np.abs(step).max() < 1e-8:
            break
    a, b = float(params[0]), float(params[1])
    return (a, b) if a > 0 and np.isfinite(b) else (1.0, 0.0)


@dataclass
class LabelCalibration:
    slopes: np.ndarray  # a, per label
    offsets: np.ndarray  # b, per label
    examples: int  # the held-out texts a and b were fitted on
    log_loss_before: float  # over every held-out (text, label) decision
    log_loss_after: float

    @classmethod
    def fit(cls, scores: np.ndarray, targets: np.ndarray) -> LabelCalibration:
        fitted = [fit_platt(scores[:, j], targets[:, j]) for j in range(scores.shape[1])]
        calibration = cls(
            np.array([a for a, _ in fitted], dtype=np.float64),
            np.array([b for _, b in fitted], dtype=np.float64),
            len(scores),
            round(log_loss(scores, targets), 4),
            0.0,
        )
        calibration.log_loss_after = round(log_loss(calibration.apply(scores), targets), 4)
        return calibration

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """P(label | score), each label by its own a and b; the scores' shape and dtype."""
        scores = np.asarray(scores)
        return sigmoid(self.slopes * logit(scores) + self.offsets).astype(scores.dtype)

    def to_dict(self, label_names: list[str]) -> dict:
        return {
            "method": "Platt scaling per label: sigmoid(a * logit(score) + b)",
            "fitted_on": f"the {self.examples} held-out texts (the same ones the thresholds and metrics use)",
            "examples": self.examples,
            "log_loss_before": self.log_loss_before,
            "log_loss_after": self.log_loss_after,
            "labels": {
                name: {"a": round(float(a), 4), "b": round(float(b), 4)}
                for name, a, b in zip(label_names, self.slopes, self.offsets)
            },
        }

    def save(self, folder: str | Path, label_names: list[str]) -> None:
        Path(folder, FILE).write_text(json.dumps(self.to_dict(label_names), indent=2))

    @classmethod
    def load(cls, folder: str | Path, label_names: list[str]) -> LabelCalibration | None:
        """The folder's calibration in `label_names` order (a label it does not name keeps its raw
        score), or None without the file."""
        path = Path(folder, FILE)
        if not path.is_file():
            return None
        try:
            values = json.loads(path.read_text())
            given = values["labels"]
            slopes = np.array([float(given.get(name, {}).get("a", 1.0)) for name in label_names])
            offsets = np.array([float(given.get(name, {}).get("b", 0.0)) for name in label_names])
            calibration = cls(
                slopes, offsets, int(values["examples"]), values["log_loss_before"], values["log_loss_after"]
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{path} is damaged ({exc}); delete it to use the raw scores as confidences") from None
        if not (slopes > 0).all():
            raise ModelError(f"{path}: every label's a must be above 0; delete it to use the raw scores")
        return calibration


def calibrate_labels(scores: np.ndarray, targets: np.ndarray) -> LabelCalibration | None:
    """The calibration fitted after training, or None with fewer than MIN_HELD_OUT held-out texts."""
    return LabelCalibration.fit(scores, targets) if len(scores) >= MIN_HELD_OUT else None


def decision_confidence(scores: np.ndarray, thresholds: np.ndarray, calibration: LabelCalibration | None) -> np.ndarray:
    """How sure each (text, label) decision is: P(label | score) where the label is given (score at
    or above its threshold), 1 - P(label | score) where it is not; the raw score stands for P
    without a calibration."""
    scores = np.asarray(scores)
    likely = calibration.apply(scores) if calibration else scores
    return np.where(scores >= thresholds[None, :], likely, 1 - likely)


def record_note(calibration: dict | None) -> str:
    """What the run record and the model card say of "not sure" per label."""
    if not calibration:
        return (
            f"each label's raw sigmoid score is the confidence of its decision (no calibration: it needs "
            f"{MIN_HELD_OUT} held-out texts); with min_confidence, a label whose decision is less sure than it "
            "is 'not sure'"
        )
    return (
        "each label's decision (given at or above its threshold, not below) has a confidence: its sigmoid score "
        f"recalibrated per label (Platt scaling, label_calibration.json, fitted on {calibration['examples']} held-out "
        f"texts; log-loss {calibration['log_loss_before']:.3f} before, {calibration['log_loss_after']:.3f} after); "
        "with min_confidence, a label whose decision is less sure than it is 'not sure'"
    )
