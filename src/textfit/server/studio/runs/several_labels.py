"""A model that gives a text several labels, as the run page shows it: its figures in plain words
(micro- and macro-F1, subset accuracy, Hamming loss), the yardstick, the per-label thresholds, and
"try it"'s answer: every label at or above its threshold, with the scores, and with a "not sure" bar the
labels whose decision is less sure than it, apart.

Everything comes from the library: the run record (training/train.py's `multi_label`, the
`baseline` of model/multilabel_report.py) and `Classifier.sure_and_unsure`; nothing is measured here."""

from __future__ import annotations

import numpy as np

FIGURES = (
    ("micro_f1", "micro-F1", "every text-and-label decision pooled: mostly follows the common labels"),
    ("macro_f1", "macro-F1", "the F1 of each label, averaged: a rare label counts as much as a common one"),
    ("accuracy", "whole set right", "the share of test texts whose whole set of labels is exactly right (strict)"),
    ("hamming_loss", "Hamming loss", "the share of text-and-label decisions that are wrong (lower is better)"),
)


def results_of(record: dict) -> dict | None:
    """The run page's account of a multi-label run record; None for a model of one label per text."""
    several = record.get("multi_label")
    if not several:
        return None
    metrics = record.get("metrics") or {}
    return {
        "layout": several.get("layout"),
        "separator": several.get("separator"),
        "rows_with_several": several.get("rows_with_several"),
        "rows_without_label": several.get("rows_without_label"),
        "thresholds": several.get("thresholds") or {},
        "figures": [
            {"key": key, "name": name, "value": metrics.get(key), "words": words}
            for key, name, words in FIGURES
            if metrics.get(key) is not None
        ],
        "yardstick": yardstick(record),
        "notes": list((several.get("notes") or {}).values()),
    }


def yardstick(record: dict) -> dict | None:
    """The library's own sentence (MultiLabelReport.baseline_sentence) on the record's yardstick, in the
    studio's words: always answering the training data's most frequent set of labels."""
    from ....model.multilabel_report import MultiLabelReport

    baseline = record.get("baseline")
    if not baseline or "micro_f1" not in baseline:
        return None
    report = MultiLabelReport(record["metrics"], None, [], None, baseline.get("examples", 0), baseline)
    sentence = report.baseline_sentence().replace(" (--epochs)", "").replace("more epochs", "a longer training")
    return {
        "label": baseline["label"],
        "micro_f1": baseline["micro_f1"],
        "beats": report.beats_baseline,
        "sentence": sentence,
    }


def answers(classifier, probabilities, min_confidence: float | None = None) -> list[dict]:
    """ "Try it" for a multi-label model: per text, every label at or above its threshold (best first, possibly
    none) and every label's score beside its threshold; with `min_confidence`, only the labels it is sure of,
    and apart, in `not_sure`, those whose decision (given or not) is less sure than that, as `textfit serve`
    answers (Classifier.sure_and_unsure). Each score also says how sure its decision is (`confidence`) and the
    chance that the label applies (`probability`: the score calibrated per label, label_calibration.py)."""
    sure, unsure = classifier.sure_and_unsure(probabilities, min_confidence)
    confidence = classifier.label_confidence(probabilities)
    given = probabilities >= classifier.thresholds[None, :]
    applies = np.where(given, confidence, 1 - confidence)  # the decision's confidence is P(label) where given
    names = classifier.label_names
    found = []
    for i, (row, labels, doubts) in enumerate(zip(probabilities, sure, unsure)):
        scores = sorted(
            (
                {
                    "label": name,
                    "score": float(row[j]),
                    "threshold": float(classifier.thresholds[j]),
                    "confidence": float(confidence[i, j]),
                    "probability": float(applies[i, j]),
                    "not_sure": name in doubts,
                }
                for j, name in enumerate(names)
            ),
            key=lambda s: -s["score"],
        )
        found.append({"labels": labels, "not_sure": doubts, "scores": scores, "multi_label": True})
    return found
