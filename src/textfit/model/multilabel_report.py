"""Several labels per text: the metrics, a yardstick and a report a manager can read.

- micro-F1: every (text, label) decision pooled: dominated by the common labels;
- macro-F1: the F1 of each label, averaged: a rare label counts as much as a common one;
- subset accuracy (`accuracy`): the share of texts whose whole set of labels is exactly right;
- Hamming loss: the share of (text, label) decisions that are wrong (lower is better).
The yardstick answers every text with the training data's most frequent set of labels."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

MIN_MARGIN = 0.02


def multilabel_metrics(targets: np.ndarray, answers: np.ndarray) -> dict[str, float]:
    """The figures above for 0/1 matrices (texts x labels). Macro-F1 averages over the labels that
    occur in the targets or the answers, as for one label per text."""
    targets, answers = np.asarray(targets).astype(int), np.asarray(answers).astype(int)
    seen = [j for j in range(targets.shape[1]) if targets[:, j].any() or answers[:, j].any()]
    options = {"zero_division": 0}
    return {
        "accuracy": float(accuracy_score(targets, answers)),
        "micro_f1": float(f1_score(targets, answers, average="micro", **options)),
        "macro_f1": float(f1_score(targets, answers, average="macro", labels=seen, **options)) if seen else 0.0,
        "weighted_f1": float(f1_score(targets, answers, average="weighted", **options)),
        "hamming_loss": float(hamming_loss(targets, answers)),
    }


def frequent_set_baseline(train_sets: list[tuple[int, ...]], targets: np.ndarray, label_names: list[str]) -> dict:
    """What answering every text with the training data's most frequent set of labels scores."""
    common = Counter(train_sets).most_common(1)[0][0] if train_sets else ()
    constant = np.zeros_like(targets)
    constant[:, list(common)] = 1
    metrics = multilabel_metrics(targets, constant) if len(targets) else {"micro_f1": 0.0, "accuracy": 0.0}
    share = metrics["micro_f1"]
    return {
        "label": "; ".join(label_names[i] for i in common) or "(no label)",
        "accuracy": round(metrics["accuracy"], 4),
        "micro_f1": round(share, 4),
        "macro_f1": round(metrics.get("macro_f1", 0.0), 4),
        "source": "training data",
        "examples": int(len(targets)),
        "margin": round(max(MIN_MARGIN, math.sqrt(share * (1 - share) / max(1, len(targets)))), 4),
    }


@dataclass
class MultiLabelReport:
    """The evaluation of a multi-label model (the same surface as evaluate.EvaluationReport)."""

    metrics: dict[str, float]
    per_class: pd.DataFrame
    label_names: list[str]
    misclassified: pd.DataFrame
    examples: int
    baseline: dict | None = None
    coverage: list[dict] = field(default_factory=list)
    multi_label: bool = True

    @property
    def beats_baseline(self) -> bool | None:
        if not self.baseline:
            return None
        return self.metrics["micro_f1"] >= self.baseline["micro_f1"] + self.baseline["margin"] - 1e-9

    def baseline_sentence(self) -> str | None:
        if not self.baseline:
            return None
        b = self.baseline
        sentence = (
            f"Always answering '{b['label']}' would score micro-F1 {b['micro_f1']:.3f} (macro-F1 {b['macro_f1']:.3f}); "
            f"this model scores {self.metrics['micro_f1']:.3f} (macro-F1 {self.metrics['macro_f1']:.3f})."
        )
        if self.beats_baseline:
            return sentence
        return f"{sentence} That does not clearly beat it: try more examples per label, or more epochs (--epochs)."

    def summary(self) -> dict:
        return {
            **self.metrics,
            "multi_label": True,
            "examples": self.examples,
            "baseline": self.baseline,
            "beats_baseline": self.beats_baseline,
            "per_class": self.per_class.reset_index().to_dict(orient="records"),
        }

    def confusion_text(self) -> str:
        """Per label: texts that have it and got it, missed it, got it wrongly."""
        rows = [f"{'label':<24}{'right':>8}{'missed':>8}{'wrongly':>8}"]
        for label, r in self.per_class.iterrows():
            rows.append(f"{str(label)[:23]:<24}{int(r.right):>8}{int(r.missed):>8}{int(r.wrongly):>8}")
        return "\n".join(["per label: texts given it rightly, missed, given it wrongly", *rows])

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write metrics.json, per_class.csv, confusion_matrix.txt (per label) and misclassified.csv."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            name: folder / name
            for name in ("metrics.json", "per_class.csv", "confusion_matrix.txt", "misclassified.csv")
        }
        paths["metrics.json"].write_text(json.dumps(self.summary(), indent=2))
        self.per_class.to_csv(paths["per_class.csv"])
        paths["confusion_matrix.txt"].write_text(self.confusion_text() + "\n")
        self.misclassified.to_csv(paths["misclassified.csv"], index=False)
        return paths


def build_multilabel_report(
    data, answers: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, train_sets: list | None = None
) -> MultiLabelReport:
    """The report on `data` (LabeledTexts with several labels per text) from 0/1 `answers` and the scores."""
    names = list(data.label_names)
    targets = data.label_matrix().astype(int)
    answers = np.asarray(answers).astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(targets, answers, average=None, zero_division=0)
    per_class = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": answers.sum(axis=0),
            "threshold": np.asarray(thresholds, dtype=float),
            "right": (targets & answers).sum(axis=0),
            "missed": (targets & (1 - answers)).sum(axis=0),
            "wrongly": ((1 - targets) & answers).sum(axis=0),
        },
        index=pd.Index(names, name="label"),
    )
    per_class = per_class[(per_class.support > 0) | (per_class.predicted > 0)].round(4)
    wrong = np.flatnonzero((targets != answers).any(axis=1))

    def joined(row) -> str:
        return "; ".join(names[j] for j in np.flatnonzero(row))

    misclassified = pd.DataFrame(
        {
            "row": wrong + 1,
            "text": [data.texts[i] for i in wrong],
            "true_labels": [joined(targets[i]) for i in wrong],
            "predicted_labels": [joined(answers[i]) for i in wrong],
            "scores": ["; ".join(f"{names[j]}={scores[i, j]:.3f}" for j in np.argsort(-scores[i])[:3]) for i in wrong],
        }
    )
    return MultiLabelReport(
        metrics=multilabel_metrics(targets, answers),
        per_class=per_class,
        label_names=names,
        misclassified=misclassified,
        examples=len(targets),
        baseline=frequent_set_baseline(train_sets, targets, names) if train_sets is not None else None,
    )


def evaluate_multi_label(classifier, data) -> MultiLabelReport:
    """Score a multi-label `Classifier` on `data` (read with `multi_label=True` and the model's label
    names; a file of one label per row reads as sets of one). The yardstick is `data`'s own most
    frequent set of labels: the run record keeps the training data's counts per label, not its sets."""
    from ..errors import DataError

    if list(data.label_names) != list(classifier.label_names) or not data.multi_label:
        raise DataError(
            f"{data.source}: read it with the model's labels as several labels per text "
            "(load_data(..., label_names=classifier.label_names, multi_label=True))"
        )
    scores = classifier.predict_proba(data.texts)
    answers = (scores >= classifier.thresholds[None, :]).astype(int)
    report = build_multilabel_report(data, answers, scores, classifier.thresholds, data.labels)
    if report.baseline:
        report.baseline["source"] = "evaluation data"
    return report


def card_section(report: MultiLabelReport) -> str:
    """The model card's account of a multi-label model's figures, in plain words."""
    m = report.metrics
    rows = "\n".join(
        f"| {str(label).replace('|', chr(92) + '|')} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
        f"{int(r['support'])} | {r['threshold']:.3f} |"
        for label, r in report.per_class.iterrows()
    )
    yardstick = report.baseline_sentence() or ""
    return f"""Each text can have several labels (or none). The model scores every label on its own, from 0 to 1,
and gives each label whose score is at least that label's threshold.

| metric | value |
|---|---|
| micro-F1 (every text-and-label decision pooled) | {m["micro_f1"]:.4f} |
| macro-F1 (every label counts equally) | {m["macro_f1"]:.4f} |
| subset accuracy (the whole set of labels exactly right) | {m["accuracy"]:.4f} |
| Hamming loss (share of label decisions wrong; lower is better) | {m["hamming_loss"]:.4f} |

Micro-F1 mostly follows the common labels; macro-F1 drops when rare labels are missed. Subset accuracy is strict:
a text with two right labels and one missing counts as wrong. {yardstick}

Thresholds were chosen per label on the held-out texts (`thresholds.json`: the best F1 for each label); the figures
above are cross-fitted (each held-out text judged by thresholds chosen without it), so the choice does not flatter
them. No n-gram model is blended in and the scores are not calibrated: each is the encoder's sigmoid, as plain
`transformers.pipeline(..., top_k=None)` gives them.

### Per label

| label | precision | recall | F1 | support | threshold |
|---|---|---|---|---|---|
{rows}

`confusion_matrix.txt` counts, per label, the texts given it rightly, missed and given it wrongly; the texts whose
set of labels was not exactly right are in `misclassified.csv`.
"""
