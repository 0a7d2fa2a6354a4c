"""What the studio's run page says about a trained model beyond its score: the yardstick (what
always answering the most common label would score, and whether the model clearly beats it), the
coverage curve behind the "not sure" threshold, and why a message got its label.

Everything is read from the run's model folder as the library wrote it (the run record's
`baseline`, `beats_baseline`, `calibration` and `coverage`; evaluate.py, calibration.py) or computed
by the library (explain.py): nothing is measured again here, and the page says what the CLI and the
model card say."""

from __future__ import annotations

import json
import time

from ....model.evaluate import baseline_sentence, beats_baseline
from ..errors import StudioError

# The page's advice when a run does not clearly beat the yardstick: the CLI's hint
# (evaluate.BASELINE_HINT) in the studio's words, without command-line options.
STUDIO_HINT = (
    "What to try: more examples for each label (a few dozen each at least), a longer training "
    "(more passes over the examples, or more minutes), a look at the labels in the file (are they "
    "right and consistent?), or a larger model such as all-mpnet-base-v2."
)


def percent(share: float) -> str:
    return f"{100 * share:.1f}%"  # as the page writes percentages (app.js pct)


def run_insight(record: dict) -> dict:
    """The yardstick, the verdict on every evaluation and the coverage curve of a run record, with
    the sentences the page shows. `beats` is the record's own verdict (evaluate.beats_baseline at
    training time); a record from before the yardstick has none, and the page then shows none."""
    accuracy = (record.get("metrics") or {}).get("accuracy")
    baseline = record.get("baseline")
    yardstick = evaluations = None
    if baseline and accuracy is not None and not record.get("multi_label"):  # several labels: runs/several_labels.py
        beats = record.get("beats_baseline")
        rule = f"always answering \u2018{baseline['label']}\u2019"
        points = 100 * (accuracy - baseline["accuracy"])
        difference = f"{abs(points):.1f} points {'more' if points >= 0 else 'less'}"
        sentence = (
            f"A{rule[1:]} would score {percent(baseline['accuracy'])}; this model scores "
            f"{percent(accuracy)}, {difference}."
        )
        if beats is False:
            sentence = (
                f"This model does not clearly beat {rule}: that would score {percent(baseline['accuracy'])}, "
                f"this model scores {percent(accuracy)} ({difference}; on {baseline['examples']} test "
                f"messages it takes {percent(baseline['accuracy'] + baseline['margin'])} to be clearly better)."
            )
        yardstick = {
            **baseline,
            "needed": round(baseline["accuracy"] + baseline["margin"], 4),
            "beats": beats,
            "short": f"{rule} would score {percent(baseline['accuracy'])}",
            "sentence": sentence,
            "hint": STUDIO_HINT if beats is False else None,
            "library_sentence": baseline_sentence(accuracy, baseline),
        }  # the CLI's and the card's words
        evaluations = [
            {
                "epoch": entry.get("epoch"),
                "step": entry.get("step"),
                "accuracy": entry["accuracy"],
                "beats": beats_baseline(entry["accuracy"], baseline),
            }
            for entry in record.get("history") or []
            if entry.get("accuracy") is not None
        ]
        yardstick["evaluations_note"] = evaluations_note(evaluations, rule, baseline)
    return {
        "accuracy": accuracy,
        "yardstick": yardstick,
        "evaluations": evaluations or [],
        "calibration": record.get("calibration"),
        "coverage": record.get("coverage") or [],  # one label a text only: a multi-label record has none
        # several labels a text: "not sure" is decided per label (model/label_calibration.py), and its
        # calibration, if any, is the record's `multi_label.calibration`
        "several_labels": bool(record.get("multi_label")),
        "label_calibration": (record.get("multi_label") or {}).get("calibration"),
        "explains_lexical": bool(record.get("lexical")),
    }


def evaluations_note(evaluations: list[dict], rule: str, baseline: dict) -> str:
    """One line under the page's table of scores after each epoch."""
    note = (
        f"For comparison, {rule} would score {percent(baseline['accuracy'])}; an epoch needs "
        f"{percent(baseline['accuracy'] + baseline['margin'])} to clearly beat that."
    )
    behind = [f"{entry['epoch']:.2f}" for entry in evaluations if not entry["beats"] and entry["epoch"] is not None]
    if not evaluations:
        return note
    if not behind:
        return f"{note} Every epoch did."
    if len(behind) == len(evaluations):
        return f"{note} No epoch did."
    return f"{note} Not clearly: epoch {', '.join(behind)}."


def read_record(models, run_id: str) -> dict:
    path = models.folder(run_id) / "textfit.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StudioError(f"this run's record (textfit.json) cannot be read: {exc}", 500) from None


def explain_text(models, run_id: str, text: str, label: str | None) -> dict:
    """explain.explain on the run's loaded classifier, with the time it took."""
    from ....model.explain import explain

    classifier = models.classifier(run_id)
    started = time.perf_counter()
    explanation = explain(classifier, text, label)
    return {**explanation.to_dict(), "seconds": round(time.perf_counter() - started, 3)}
