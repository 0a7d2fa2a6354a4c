"""A model that gives a text several labels, as the run page shows it: its figures in plain words
(micro- and macro-F1, subset accuracy, Hamming loss), the yardstick, the per-label thresholds, and
"try it"'s answer: every label at or above its threshold, with the scores.

Everything comes from the library: the run record (training/train.py's `multi_label`, the
`baseline` of model/multilabel_report.py) and `Classifier.labels_above`; nothing is measured here."""

from __future__ import annotations

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


def answers(classifier, probabilities) -> list[dict]:
    """ "Try it" for a multi-label model: per text, every label at or above its threshold (best first, possibly
    none) and every label's score beside its threshold."""
    given = classifier.labels_above(probabilities)
    names = classifier.label_names
    found = []
    for row, labels in zip(probabilities, given):
        scores = sorted(
            (
                {"label": name, "score": float(row[j]), "threshold": float(classifier.thresholds[j])}
                for j, name in enumerate(names)
            ),
            key=lambda s: -s["score"],
        )
        found.append({"labels": labels, "scores": scores, "multi_label": True})
    return found
