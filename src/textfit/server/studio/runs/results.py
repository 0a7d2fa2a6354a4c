"""A trained run's results as the page shows them (read from its model folder), and "try it": the
run's model on a few messages typed on the page."""

from __future__ import annotations

import json
from pathlib import Path

from ...shared import rank
from . import several_labels


def read_results(folder: Path) -> dict:
    """The run record, the per-class table and the first 100 misclassified messages of a model folder."""
    import pandas as pd

    from ....model.evaluate import record_figure

    record = json.loads((folder / "textfit.json").read_text())
    per_class = pd.read_csv(folder / "per_class.csv")
    misclassified = pd.read_csv(folder / "misclassified.csv", keep_default_na=False)
    return {
        "metrics": record.get("metrics"),
        "labels": record.get("labels"),
        "base_model": record.get("base_model"),
        "status": record.get("status"),
        "strategy": record.get("strategy"),
        "history": record.get("history"),
        "data": record.get("data"),
        "timings": record.get("timings"),
        "per_class": per_class.to_dict(orient="records"),
        "misclassified": misclassified.head(100).to_dict(orient="records"),
        "misclassified_total": int(len(misclassified)),
        "model_folder": str(folder),
        "figure": None if record.get("multi_label") else record_figure(record),
        "several_labels": several_labels.results_of(record),  # None: one label per text
    }


def figure_of(folder: Path) -> dict | None:
    """The run's accuracy with its size and 95 % range (evaluate.record_figure), as the run page and the
    labeling page show it; None where the model folder has no record (yet)."""
    from ....model.evaluate import record_figure

    try:
        record = json.loads((folder / "textfit.json").read_text())
    except (OSError, ValueError):
        return None
    return None if record.get("multi_label") else record_figure(record)  # its accuracy is the whole set's


def try_texts(classifier, texts: list[str], top_k: int, min_confidence: float | None) -> list[dict]:
    """The model's answer for each text: the label, its score and the `top_k` best (shared.rank); a model of
    several labels per text adds every label at or above its threshold and, with `min_confidence`, those it
    is not sure of apart (several_labels.py; its top label is never "not sure", as `textfit serve` answers)."""
    probabilities = classifier.predict_proba(texts)
    if classifier.multi_label:
        ranked = rank(probabilities, classifier.label_names, top_k, None)
        answers = several_labels.answers(classifier, probabilities, min_confidence)
        return [{**r, **a} for r, a in zip(ranked, answers)]
    return rank(probabilities, classifier.label_names, top_k, min_confidence)
