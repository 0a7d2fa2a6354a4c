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


SMALL_HOLD_OUT = 30
"""Below this many held-out messages no accuracy is shown alone. The 95 % interval of a share measured
on 30 messages spans about 33 points at 70 % (Wilson: 52-83 %), on 9 messages 45-94 % for 78 %:
wider than the differences a person decides by (this model or that one, label more or stop). There
the cross-validated estimate (every labeled example judged once) is the figure, where one exists."""


def proportion_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % interval of a share (Wilson score): sound at the small counts of a hold-out or an early
    labeling session, where p ± 2 standard errors runs below 0 or above 1. (0, 1) for no examples."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    labels: Sequence[int], predictions: Sequence[int], metric, rounds: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of a figure that is not a plain share (macro-F1): `metric(labels, predictions)`
    on `rounds` resamples of the messages, with replacement; the 2.5th and 97.5th percentiles."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(labels), size=(rounds, len(labels)))
    values = [metric(labels[rows], predictions[rows]) for rows in draws]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def share_text(value: float, low: float, high: float) -> str:
    """'78 % (45-94 %)': a share with its 95 % interval, in whole percents."""
    return f"{100 * value:.0f} % ({100 * low:.0f}-{100 * high:.0f} %)"


def measured(accuracy: float, examples: int) -> dict:
    """An accuracy measured on `examples` messages, with its 95 % interval."""
    low, high = proportion_interval(round(accuracy * examples), examples)
    return {"accuracy": round(accuracy, 4), "low": round(low, 4), "high": round(high, 4), "examples": int(examples)}


def accuracy_figure(accuracy: float, examples: int, cross_validated: dict | None = None) -> dict:
    """The one accuracy to show for a model: measured on `examples` held-out messages, with its 95 %
    interval; below SMALL_HOLD_OUT held-out messages, the `cross_validated` estimate where one exists
    ({"accuracy", "low", "high", "labels"}: the labeling session's, on every labeled example), else
    the interval alone. `text` says it with its size and range; `agreement`, beside an estimate,
    whether the two agree within their ranges, or why they may not. The CLI, the model card and both
    studio pages show this, so they say the same."""
    held_out = measured(accuracy, examples)
    estimate = None
    if cross_validated and cross_validated.get("accuracy") is not None:
        estimate = {k: cross_validated[k] for k in ("accuracy", "low", "high")}
        estimate["examples"] = int(cross_validated.get("labels") or cross_validated.get("examples") or 0)
    enough = examples >= SMALL_HOLD_OUT
    tested = f"{examples} test message{'s' if examples != 1 else ''}"
    alone = share_text(held_out["accuracy"], held_out["low"], held_out["high"])
    if enough:
        source, shown, text = "held-out", held_out, f"{alone} on {tested}"
    elif estimate:
        source, shown = "cross-validated", estimate
        text = (
            f"about {share_text(estimate['accuracy'], estimate['low'], estimate['high'])}, cross-validated on "
            f"{estimate['examples']} examples; the {tested} alone are too few to judge by ({alone})"
        )
    else:
        source, shown = "held-out", held_out
        text = (
            f"between {100 * held_out['low']:.0f} % and {100 * held_out['high']:.0f} % on only {tested}: too few "
            f"for one figure ({held_out['accuracy'] * 100:.0f} % measured; {SMALL_HOLD_OUT} give one)"
        )
    return {
        **shown,
        "source": source,
        "enough": enough,
        "held_out": held_out,
        "cross_validated": estimate,
        "text": text,
        "agreement": agreement(held_out, estimate) if estimate else None,
    }


CROSS_VALIDATED = "cross_validated"
"""The key, in a run's `extra` notes (TrainConfig.extra), of the labeling session's estimate when the
run was started: the figure of a run trained on few labels (accuracy_figure)."""


def record_figure(record: dict) -> dict | None:
    """accuracy_figure() of a run record (textfit.json): its held-out accuracy, and the labeling
    session's estimate it was trained with, if any. None without an accuracy (multi-label, unscored)."""
    accuracy = (record.get("metrics") or {}).get("accuracy")
    examples = (record.get("data") or {}).get("eval_examples")
    if accuracy is None or not examples:
        return None
    extra = (record.get("config") or {}).get("extra") or {}
    return accuracy_figure(accuracy, examples, extra.get(CROSS_VALIDATED))


def agreement(held_out: dict, estimate: dict) -> str:
    """Whether the held-out accuracy and the cross-validated estimate agree within their ranges."""
    said = (
        f"The estimate while labeling, {share_text(estimate['accuracy'], estimate['low'], estimate['high'])}, and "
        f"the test messages, {share_text(held_out['accuracy'], held_out['low'], held_out['high'])}"
    )
    if held_out["low"] <= estimate["high"] and estimate["low"] <= held_out["high"]:
        return f"{said}, agree within their ranges."
    if held_out["accuracy"] > estimate["accuracy"]:
        return (
            f"{said}, do not agree: the trained model does better than the quick model behind the estimate "
            "(it learns from whole messages, not fixed vectors), and the estimate is measured on the hard "
            "messages the session asked for, so it errs low."
        )
    return (
        f"{said}, do not agree: the trained model does worse than the quick model behind the estimate; "
        "with few examples a category, training more (or with a larger model) may help."
    )


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

    def accuracy_interval(self) -> list[float]:
        """The accuracy's 95 % interval on these examples (Wilson)."""
        figure = measured(self.metrics["accuracy"], self.examples)
        return [figure["low"], figure["high"]]

    def macro_f1_interval(self) -> list[float]:
        """Macro-F1's 95 % interval (bootstrap over the examples: it is not a plain share)."""
        truth, said = np.nonzero(self.confusion)
        counts = self.confusion[truth, said]
        labels, predictions = np.repeat(truth, counts), np.repeat(said, counts)

        k = len(self.label_names)

        def macro_f1(y, p):  # as compute_metrics' (sklearn's), over the labels present, without its checks
            confusion = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
            right, truth, said = np.diag(confusion), confusion.sum(1), confusion.sum(0)
            present = (truth + said) > 0
            return float((2 * right[present] / (truth[present] + said[present])).mean())

        return [round(v, 4) for v in bootstrap_interval(labels, predictions, macro_f1, rounds=200)]

    def baseline_sentence(self) -> str | None:
        return baseline_sentence(self.metrics["accuracy"], self.baseline) if self.baseline else None

    def summary(self) -> dict:
        return {
            **self.metrics,
            "examples": self.examples,
            "accuracy_interval": self.accuracy_interval(),
            "macro_f1_interval": self.macro_f1_interval(),
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
