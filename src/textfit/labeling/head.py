"""The fast head: a logistic regression on frozen sentence vectors. It fits a few hundred labels in
well under a second on 2 cores, so the labeling session can refit after every few labels, and
cross-validating it (out-of-fold probabilities) is cheap enough for the estimate and the audit."""

from __future__ import annotations

import numpy as np

C = 10.0
"""Weak regularisation: unit-length vectors are small inputs (probe.py's setting, 0.80 on all labels)."""
FOLDS = 5


def fit(vectors: np.ndarray, labels: np.ndarray, seed: int = 0, c: float | None = None):
    import warnings

    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():  # "more classes than half the samples": expected with a label or two a class
        warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
        return LogisticRegression(C=C if c is None else c, max_iter=1000, random_state=seed).fit(vectors, labels)


def probabilities(head, vectors: np.ndarray, num_labels: int) -> np.ndarray:
    """(n, num_labels): labels the head never saw get probability 0."""
    full = np.zeros((len(vectors), num_labels), np.float64)
    full[:, head.classes_] = head.predict_proba(vectors)
    return full


def out_of_fold(
    vectors: np.ndarray,
    labels: np.ndarray,
    num_labels: int,
    folds: int = FOLDS,
    seed: int = 0,
    c: float | None = None,
    splits: list | None = None,
) -> np.ndarray:
    """Each row's probabilities from a head that never saw it: `folds`-fold, stratified when every
    label has `folds` examples. A row whose label is missing from its training folds is scored as a
    new head would score it (probability 0 for that label): honest, if pessimistic, for rare labels.
    `splits`: the folds (`fold_splits`), when another model is judged on the same ones."""
    labels = np.asarray(labels)
    result = np.zeros((len(labels), num_labels))
    for train, test in splits or fold_splits(labels, num_labels, folds, seed):
        if len(np.unique(labels[train])) < 2:
            result[test] = np.bincount(labels[train], minlength=num_labels) / len(train)
            continue
        result[test] = probabilities(fit(vectors[train], labels[train], seed, c), vectors[test], num_labels)
    return result


def fold_splits(labels: np.ndarray, num_labels: int, folds: int = FOLDS, seed: int = 0) -> list:
    """(train rows, test rows) of each fold: stratified when every label has `folds` examples."""
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=num_labels)
    folds = max(2, min(folds, len(labels)))
    stratified = counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratified else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % interval of a proportion: the one helper every figure of textfit uses (evaluate.proportion_interval)."""
    from ..model.evaluate import proportion_interval

    return proportion_interval(correct, total, z)
