"""Metrics and a report a manager can read: accuracy, F1, a per-class table, a confusion matrix
(picture and text) and the examples the model got wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from .data import LabeledTexts


def compute_metrics(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Accuracy and F1. Macro-F1 averages over the classes that occur in labels or predictions,
    so a rare class counts as much as a common one: the honest number for imbalanced data."""
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, predictions, average="weighted", zero_division=0)),
    }


@dataclass
class EvaluationReport:
    metrics: dict[str, float]
    per_class: pd.DataFrame
    confusion: np.ndarray
    label_names: list[str]
    misclassified: pd.DataFrame
    examples: int

    def summary(self) -> dict:
        return {**self.metrics, "examples": self.examples,
                "per_class": self.per_class.reset_index().to_dict(orient="records")}

    def confusion_text(self) -> str:
        """Rows are true labels, columns predictions (numbered as the rows); zeros as dots."""
        width = max(4, len(str(self.confusion.max())) + 1)
        names = [f"{i:>2} {name}" for i, name in enumerate(self.label_names)]
        name_width = max(len(n) for n in names)
        header = " " * name_width + "".join(f"{i:>{width}}" for i in range(len(self.label_names)))
        rows = [
            f"{name:<{name_width}}" + "".join(f"{(v if v else '.'):>{width}}" for v in row)
            for name, row in zip(names, self.confusion)
        ]
        return "\n".join(["true label (rows) x predicted label (columns)", header, *rows])

    def plot_confusion(self, path: str | Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(self.label_names)
        totals = self.confusion.sum(axis=1, keepdims=True)
        share = np.divide(self.confusion, totals, out=np.zeros_like(self.confusion, dtype=float), where=totals > 0)
        size = max(5.0, 0.45 * n + 3)
        fig, ax = plt.subplots(figsize=(size + 1.5, size))
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(n):
            for j in range(n):
                if self.confusion[i, j]:
                    ax.text(j, i, str(self.confusion[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(n), self.label_names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), self.label_names, fontsize=8)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        ax.set_title(f"Confusion matrix: accuracy {self.metrics['accuracy']:.3f}, "
                     f"macro-F1 {self.metrics['macro_f1']:.3f} ({self.examples} examples)")
        fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true label")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write metrics.json, per_class.csv, confusion_matrix.png/.txt and misclassified.csv."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / name for name in
                 ("metrics.json", "per_class.csv", "confusion_matrix.png", "confusion_matrix.txt", "misclassified.csv")}
        paths["metrics.json"].write_text(json.dumps(self.summary(), indent=2))
        self.per_class.to_csv(paths["per_class.csv"])
        self.plot_confusion(paths["confusion_matrix.png"])
        paths["confusion_matrix.txt"].write_text(self.confusion_text() + "\n")
        self.misclassified.to_csv(paths["misclassified.csv"], index=False)
        return paths


def build_report(data: LabeledTexts, probabilities: np.ndarray) -> EvaluationReport:
    names = data.label_names
    predictions = probabilities.argmax(axis=1)
    labels = np.asarray(data.labels)
    ids = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=ids, zero_division=0)
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": np.bincount(predictions, minlength=len(names))},
        index=pd.Index(names, name="label"),
    )
    per_class = per_class[(per_class.support > 0) | (per_class.predicted > 0)].round(4)
    wrong = np.flatnonzero(predictions != labels)
    misclassified = pd.DataFrame({
        "row": wrong + 1,
        "text": [data.texts[i] for i in wrong],
        "true_label": [names[labels[i]] for i in wrong],
        "predicted_label": [names[predictions[i]] for i in wrong],
        "score": probabilities[wrong, predictions[wrong]].round(4),
    })
    return EvaluationReport(
        metrics=compute_metrics(labels, predictions),
        per_class=per_class,
        confusion=confusion_matrix(labels, predictions, labels=ids),
        label_names=list(names),
        misclassified=misclassified,
        examples=len(labels),
    )


def evaluate(classifier, data: LabeledTexts) -> EvaluationReport:
    """Score a `Classifier` on labeled data whose label names match the model's."""
    from .errors import DataError

    if list(data.label_names) != list(classifier.label_names):
        unknown = sorted(set(data.label_names) - set(classifier.label_names))
        if unknown:
            raise DataError(f"{data.source}: labels the model does not know: {', '.join(unknown)}. "
                            f"The model's labels: {', '.join(classifier.label_names)}")
        index = {n: i for i, n in enumerate(classifier.label_names)}
        data = LabeledTexts(data.texts, [index[data.label_names[i]] for i in data.labels],
                            classifier.label_names, data.source, data.fingerprint)
    return build_report(data, classifier.predict_proba(data.texts))
