"""Metrics and a report a manager can read: accuracy, F1, a per-class table, a confusion matrix
(picture and text) and the examples the model got wrong, each beside a yardstick: what always
answering the most common training label would score (the majority-class baseline)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from ..data.labeled import LabeledTexts


def compute_metrics(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Accuracy and F1. Macro-F1 averages over the classes that occur in labels or predictions,
    so a rare class counts as much as a common one: the honest number for imbalanced data."""
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, predictions, average="weighted", zero_division=0)),
    }


# A model "clearly" beats the baseline when its accuracy is at least this many points above it, or
# one binomial standard error of the baseline's accuracy on the evaluation examples, whichever is
# more: on 60 messages where the baseline scores 63.3 %, that is 6.2 points (69.6 %), so 66.7 % is
# within the noise of the evaluation itself; on 3,000 messages it is the 2 points.
MIN_MARGIN = 0.02
BASELINE_HINT = (
    "try more examples per class, more epochs (--epochs), or a larger encoder "
    "(`textfit download-model all-mpnet-base-v2`, then --model all-mpnet-base-v2)"
)


def majority_baseline(
    train_counts: dict[str, int], labels: Sequence[int], label_names: Sequence[str], source: str = "training data"
) -> dict:
    """What always answering the most frequent training label scores on the evaluation `labels`
    (ties go to the label listed first), and the margin a model must clear to beat it clearly."""
    names = list(label_names)
    label = max(names, key=lambda name: train_counts.get(name, 0))  # max() keeps the first of equals
    labels = np.asarray(labels)
    constant = np.full(len(labels), names.index(label))
    metrics = compute_metrics(labels, constant) if len(labels) else {"accuracy": 0.0, "macro_f1": 0.0}
    accuracy = metrics["accuracy"]
    standard_error = math.sqrt(accuracy * (1 - accuracy) / max(1, len(labels)))
    return {
        "label": label,
        "accuracy": round(accuracy, 4),
        "macro_f1": round(metrics["macro_f1"], 4),
        "source": source,
        "examples": int(len(labels)),
        "margin": round(max(MIN_MARGIN, standard_error), 4),
    }


def beats_baseline(accuracy: float, baseline: dict | None) -> bool:
    """Whether `accuracy` clears the baseline by its margin (True where there is no baseline)."""
    return baseline is None or accuracy >= baseline["accuracy"] + baseline["margin"] - 1e-9


def improves_on(entry: dict, best: dict | None, baseline: dict | None) -> bool:
    """The kept-epoch rule: an evaluation replaces the best so far when it has the higher macro-F1,
    except that one which beats the baseline clearly always wins over one that does not (a higher
    macro-F1 from an epoch no better than always answering the common label is not worth keeping)."""
    if best is None:
        return True
    eligible, best_eligible = beats_baseline(entry["accuracy"], baseline), beats_baseline(best["accuracy"], baseline)
    if eligible != best_eligible:
        return eligible
    return entry["macro_f1"] > best["macro_f1"]


def baseline_sentence(accuracy: float, baseline: dict) -> str:
    """One plain sentence: the baseline, this model's score and the difference, and when the model
    does not beat it clearly, that it does not and what to try."""
    points = 100 * (accuracy - baseline["accuracy"])
    difference = f"{abs(points):.1f} points {'more' if points >= 0 else 'less'}"
    sentence = (
        f"Always answering '{baseline['label']}' would score {100 * baseline['accuracy']:.1f} %; "
        f"this model scores {100 * accuracy:.1f} %, {difference}."
    )
    if beats_baseline(accuracy, baseline):
        return sentence
    return (
        f"{sentence} That does not clearly beat it (it takes {100 * baseline['margin']:.1f} points on "
        f"{baseline['examples']} evaluation examples): {BASELINE_HINT}."
    )


@dataclass
class EvaluationReport:
    metrics: dict[str, float]
    per_class: pd.DataFrame
    confusion: np.ndarray
    label_names: list[str]
    misclassified: pd.DataFrame
    examples: int
    baseline: dict | None = None  # majority_baseline(); None where no label counts were known
    coverage: list[dict] = field(default_factory=list)  # calibration.coverage_curve()

    @property
    def beats_baseline(self) -> bool | None:
        """Whether the model clearly beats the baseline; None where there is no baseline."""
        return beats_baseline(self.metrics["accuracy"], self.baseline) if self.baseline else None

    def baseline_sentence(self) -> str | None:
        return baseline_sentence(self.metrics["accuracy"], self.baseline) if self.baseline else None

    def summary(self) -> dict:
        return {
            **self.metrics,
            "examples": self.examples,
            "baseline": self.baseline,
            "beats_baseline": self.beats_baseline,
            "coverage": self.coverage,
            "per_class": self.per_class.reset_index().to_dict(orient="records"),
        }

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
                    ax.text(
                        j,
                        i,
                        str(self.confusion[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
        ax.set_xticks(range(n), self.label_names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), self.label_names, fontsize=8)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        ax.set_title(
            f"Confusion matrix: accuracy {self.metrics['accuracy']:.3f}, "
            f"macro-F1 {self.metrics['macro_f1']:.3f} ({self.examples} examples)"
        )
        fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true label")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write metrics.json, per_class.csv, confusion_matrix.png/.txt and misclassified.csv."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            name: folder / name
            for name in (
                "metrics.json",
                "per_class.csv",
                "confusion_matrix.png",
                "confusion_matrix.txt",
                "misclassified.csv",
            )
        }
        paths["metrics.json"].write_text(json.dumps(self.summary(), indent=2))
        self.per_class.to_csv(paths["per_class.csv"])
        self.plot_confusion(paths["confusion_matrix.png"])
        paths["confusion_matrix.txt"].write_text(self.confusion_text() + "\n")
        self.misclassified.to_csv(paths["misclassified.csv"], index=False)
        return paths


def build_report(
    data: LabeledTexts,
    probabilities: np.ndarray,
    train_counts: dict[str, int] | None = None,
    baseline_source: str = "training data",
) -> EvaluationReport:
    """The report on `data` from the model's `probabilities`; with the training data's label counts
    (`LabeledTexts.label_counts()`), beside the majority-class baseline."""
    from .calibration import coverage_curve

    names = data.label_names
    predictions = probabilities.argmax(axis=1)
    labels = np.asarray(data.labels)
    ids = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=ids, zero_division=0)
    per_class = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": np.bincount(predictions, minlength=len(names)),
        },
        index=pd.Index(names, name="label"),
    )
    per_class = per_class[(per_class.support > 0) | (per_class.predicted > 0)].round(4)
    wrong = np.flatnonzero(predictions != labels)
    misclassified = pd.DataFrame(
        {
            "row": wrong + 1,
            "text": [data.texts[i] for i in wrong],
            "true_label": [names[labels[i]] for i in wrong],
            "predicted_label": [names[predictions[i]] for i in wrong],
            "score": probabilities[wrong, predictions[wrong]].round(4),
        }
    )
    return EvaluationReport(
        metrics=compute_metrics(labels, predictions),
        per_class=per_class,
        confusion=confusion_matrix(labels, predictions, labels=ids),
        label_names=list(names),
        misclassified=misclassified,
        examples=len(labels),
        baseline=majority_baseline(train_counts, labels, names, baseline_source) if train_counts else None,
        coverage=coverage_curve(probabilities, labels),
    )


def evaluate(classifier, data: LabeledTexts) -> EvaluationReport:
    """Score a `Classifier` on labeled data whose label names match the model's. The baseline
    answers the most frequent label of the model's training data (its run record), or, for a
    folder without one, of `data` itself. A multi-label model is scored as multilabel_report.py says."""
    from ..errors import DataError

    if getattr(classifier, "multi_label", False):
        from .multilabel_report import evaluate_multi_label

        return evaluate_multi_label(classifier, data)

    if list(data.label_names) != list(classifier.label_names):
        unknown = sorted(set(data.label_names) - set(classifier.label_names))
        if unknown:
            raise DataError(
                f"{data.source}: labels the model does not know: {', '.join(unknown)}. "
                f"The model's labels: {', '.join(classifier.label_names)}"
            )
        index = {n: i for i, n in enumerate(classifier.label_names)}
        data = LabeledTexts(
            data.texts,
            [index[data.label_names[i]] for i in data.labels],
            classifier.label_names,
            data.source,
            data.fingerprint,
        )
    train_counts = classifier.record.get("data", {}).get("train_label_counts")
    source = "training data" if train_counts else "evaluation data"
    return build_report(data, classifier.predict_proba(data.texts), train_counts or data.label_counts(), source)
