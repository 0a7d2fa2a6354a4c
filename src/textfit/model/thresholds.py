"""Several labels per text: the score above which each label is given, chosen on held-out answers.

A sigmoid head scores every label on its own (0-1). One cut-off for all (0.5) suits no data set:
a rare label's scores stay low, so at 0.5 it is never given. Each label's threshold is the one of
GRID with the best F1 on the held-out texts (ties: the one nearest 0.5); a label without a held-out
example keeps 0.5.

Honest figures, as for the n-gram weight (blend.py): thresholds chosen on the messages a run is
scored on would flatter it, so `cross_fitted` answers each fold of the held-out texts with the
thresholds chosen on the other folds; the saved model keeps the thresholds chosen on all of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
DEFAULT = 0.5
FOLDS = 5
MIN_HELD_OUT = 20
"""Fewer held-out texts than this cannot choose thresholds: every label keeps 0.5."""
FILE = "thresholds.json"


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))).astype(np.float32)


def choose(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each label's threshold (module docstring), shape (labels,)."""
    thresholds = np.full(scores.shape[1], DEFAULT, dtype=np.float32)
    if len(scores) < MIN_HELD_OUT:
        return thresholds
    positive = targets > 0.5
    given = scores[:, :, None] >= GRID[None, None, :]  # texts x labels x grid
    true_pos = (given & positive[:, :, None]).sum(axis=0)
    false_pos = (given & ~positive[:, :, None]).sum(axis=0)
    false_neg = (~given & positive[:, :, None]).sum(axis=0)
    f1 = 2 * true_pos / np.maximum(1, 2 * true_pos + false_pos + false_neg)
    nearness = -np.abs(GRID - DEFAULT) * 1e-6  # ties go to the threshold nearest 0.5
    best = np.argmax(f1 + nearness[None, :], axis=1)
    has_examples = positive.any(axis=0)
    thresholds[has_examples] = GRID[best[has_examples]]
    return thresholds


def cross_fitted(scores: np.ndarray, targets: np.ndarray, seed: int = 0) -> np.ndarray:
    """0/1 answers where each held-out text is judged by thresholds chosen without it."""
    if len(scores) < MIN_HELD_OUT:
        return (scores >= DEFAULT).astype(np.int8)
    folds = np.random.default_rng(seed).permutation(len(scores)) % FOLDS
    answers = np.zeros(scores.shape, dtype=np.int8)
    for fold in range(FOLDS):
        inside = folds == fold
        answers[inside] = scores[inside] >= choose(scores[~inside], targets[~inside])[None, :]
    return answers


def save(folder: str | Path, thresholds: np.ndarray, label_names: list[str], examples: int) -> None:
    record = {
        "chosen_by": f"best F1 per label on {examples} held-out texts (0.5 where a label had none)",
        "thresholds": {name: round(float(t), 4) for name, t in zip(label_names, thresholds)},
    }
    Path(folder, FILE).write_text(json.dumps(record, indent=2))


def load(folder: str | Path, label_names: list[str]) -> np.ndarray:
    """The folder's thresholds in `label_names` order (0.5 for any it does not name, or without the file)."""
    path = Path(folder, FILE)
    given = json.loads(path.read_text())["thresholds"] if path.is_file() else {}
    return np.array([given.get(name, DEFAULT) for name in label_names], dtype=np.float32)
