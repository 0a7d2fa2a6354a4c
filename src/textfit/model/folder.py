"""Write a trained model folder: weights and tokenizer (loadable by plain `transformers.pipeline`),
the n-gram model textfit blends in (lexical.py), the calibration of its confidences
(calibration.py), the run record `textfit.json`, the evaluation report, and a README.md model card.

The folder is written beside its destination (OUT.partial), fsynced, and moved into place at the
end (folders.replace_folder): a failure at any point leaves a complete model, new or old."""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..atomic import replace_folder
from ..config import TrainConfig
from ..data.labeled import LabeledTexts, classes_not_evaluated
from .base_models import display_name, save_tokenizer
from .calibration import MIN_EXAMPLES as MIN_CALIBRATION_EXAMPLES
from .classifier import RUN_RECORD, Classifier
from .evaluate import BASELINE_HINT, EvaluationReport

# In a run over several processes: the peak memory is the main process's, these add the rest.
DISTRIBUTED_KEYS = ("batch_size_per_process", "peak_rss_mb_by_process", "peak_gpu_mb", "gradient_mb_per_step")
LIBRARIES = ("textfit", "torch", "transformers", "accelerate", "tokenizers", "datasets", "scikit-learn", "onnxruntime")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def build_record(
    config: TrainConfig,
    strategy: str,
    train_data: LabeledTexts,
    eval_data: LabeledTexts,
    max_length: int,
    loop: dict,
    report: EvaluationReport,
    total_s: float,
) -> dict:
    eval_source = (
        eval_data.source
        if config.eval_data
        else (
            f"{'random' if train_data.multi_label else 'stratified'} {config.eval_split:.0%} hold-out of the "
            f"training data (seed {config.seed})"
        )
    )
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "status": loop["status"],
        "strategy": strategy,
        "base_model": display_name(config.model),
        "labels": train_data.label_names,
        "max_length": max_length,
        "data": {
            "source": train_data.source,
            "fingerprint": train_data.fingerprint,
            "train_examples": len(train_data),
            "eval_source": eval_source,
            "eval_examples": len(eval_data),
            "train_label_counts": train_data.label_counts(),
            "skipped_rows": {reason: len(rows) for reason, rows in train_data.skipped_rows.items()},
            "encoding": train_data.encoding,
            "classes_not_evaluated": classes_not_evaluated(train_data, eval_data),
        },
        "config": config.to_dict(),
        # batch_size is global: examples per optimiser step, over all the processes (distributed.py)
        "training": {
            k: loop.get(k)
            for k in ("steps", "batch_size", "epochs_planned", "precision", "peak_rss_mb", "processes", "backend")
            + DISTRIBUTED_KEYS
            if k in loop
        },
        "history": loop["history"],
        "best": loop["best"],
        "metrics": report.metrics,
        # the yardstick: what always answering the most common training label scores
        "baseline": report.baseline,
        "beats_baseline": report.beats_baseline,
        "baseline_hint": BASELINE_HINT if report.beats_baseline is False else None,
        "calibration": loop.get("calibration"),
        "coverage": report.coverage,
        "lexical": loop.get("lexical"),
        "unlabeled": loop.get("unlabeled"),
        "timings": {**loop["timings"], "total_s": round(total_s, 2)},
        "versions": library_versions(),
    }


def save_model(out_dir: str | Path, classifier: Classifier, record: dict, report: EvaluationReport) -> Path:
    """Write the model folder `out_dir`, replacing any model there only once the new one is complete."""
    folder = Path(out_dir)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    classifier.model.save_pretrained(staging)
    save_tokenizer(classifier.tokenizer, staging, record["max_length"])
    if classifier.lexical:
        classifier.lexical.save(staging)
    if classifier.calibration:
        classifier.calibration.save(staging)
    if classifier.multi_label:
        from . import thresholds

        thresholds.save(staging, classifier.thresholds, classifier.label_names, record["data"]["eval_examples"])
        if classifier.label_calibration:
            classifier.label_calibration.save(staging, classifier.label_names)
    (staging / RUN_RECORD).write_text(json.dumps(record, indent=2, default=str))
    report.save(staging)
    (staging / "README.md").write_text(model_card(record, report))
    replace_folder(staging, folder)
    return folder


def table_cell(text) -> str:
    """Text safe inside a Markdown table cell: "Fed | Central Banks" would split the row in two."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def shown_source(source: str) -> str:
    """A data source as the card shows it: a local file by its name (its folder says nothing to the
    card's readers, and the studio's is internal), a hub id as it is."""
    path = Path(source)
    return path.name if path.is_absolute() or path.exists() else source


def model_card(record: dict, report: EvaluationReport) -> str:
    """The folder's README.md: what the model is, how good (on the held-out examples), how to use it."""
    data, timings = record["data"], record["timings"]
    labels = ", ".join(f"{i} {name}" for i, name in enumerate(record["labels"]))
    notes = final_fit_note(record) + unevaluated_note(data) + blend_note(record.get("lexical")) + unlabeled_note(record)
    notes += short_categories_note(record)
    multi_label = bool(record.get("multi_label"))
    kind = "multi-label (several labels per text)" if multi_label else f"{len(record['labels'])}-class"
    quality = multi_label_quality(record, report, notes) if multi_label else single_label_quality(record, report, notes)
    pipeline_options = ", top_k=None" if multi_label else ""
    return f"""---
library_name: transformers
pipeline_tag: text-classification
base_model: {record["base_model"].replace(" (embedded)", "")}
tags: [textfit, text-classification]
---

# Text classifier trained with textfit

A {kind} text classifier fine-tuned from **{record["base_model"]}**
on {data["train_examples"]} examples from `{shown_source(data["source"])}` ({record["strategy"]}, {record["status"]}).

## How good is it?

Measured on {data["eval_examples"]} examples not used for training ({shown_source(data["eval_source"])}):

{quality}
### Training history

| epoch | loss | accuracy | macro-F1 | seconds |
|---|---|---|---|---|
{history_rows(record["history"])}

Training took {timings["train_s"]:.0f} s ({timings.get("examples_per_s") or "-"} examples/s),
{timings["total_s"]:.0f} s in all.{resumed_note(record)}

## Use it

```bash
textfit predict {{this folder}} "Acme Corp announces new CEO"
```

```python
from transformers import pipeline
classify = pipeline("text-classification", model="path/to/this/folder"{pipeline_options})
classify("Acme Corp announces new CEO")
```

Labels: {labels}.

URLs are removed and HTML entities decoded by the tokenizer itself (`tokenizer.json`), so every
runtime sees text the way the model was trained on it.{boilerplate_note(record)}
{windows_note(record)}
## Reproduce

`textfit.json` holds the full run record: the config (`textfit train --config textfit.json`
repeats the run), the data fingerprint, per-epoch metrics, timings and library versions.
"""


def single_label_quality(record: dict, report: EvaluationReport, notes: str) -> str:
    """The card's figures for one label per text: the metrics, the yardstick, confidences, per class."""
    metrics = record["metrics"]
    return f"""| metric | value |
|---|---|
| accuracy | {metrics["accuracy"]:.4f} |
| macro-F1 (every class counts equally) | {metrics["macro_f1"]:.4f} |
| weighted-F1 | {metrics["weighted_f1"]:.4f} |
{figure_note(record)}
Accuracy is the share of messages labelled correctly. Macro-F1 averages the F1 of every class, so
it drops when rare classes are missed even if the common ones are right.
{yardstick_note(report)}{notes}
{confidence_section(record)}
### Per class

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{per_class_rows(report)}

The confusion matrix is in `confusion_matrix.txt` (drawn in `confusion_matrix.png` where the folder has it);
the messages it got wrong are in `misclassified.csv`.
"""


def figure_note(record: dict) -> str:
    """The accuracy with its size and 95 % range, and beside a labeling session's estimate whether the
    two agree (evaluate.record_figure: the figure the CLI and the studio show)."""
    from .evaluate import record_figure

    figure = record_figure(record)
    if not figure:
        return ""
    agreement = f" {figure['agreement']}" if figure["agreement"] else ""
    return f"\nAccuracy: {figure['text']} (95 % range).{agreement}\n"


def multi_label_quality(record: dict, report, notes: str) -> str:
    """The card's figures for several labels per text (multilabel_report.py), in plain words, and
    what "not sure" means for each label (label_calibration.py)."""
    from .label_calibration import record_note
    from .multilabel_report import card_section

    calibration = record["multi_label"].get("calibration")
    note = record_note(calibration)
    not_sure = f"""
### "Not sure" per label

{note[0].upper() + note[1:]}. Such a label is listed apart (`not_sure`), neither given nor denied:
`predict --min-confidence 0.8`, `serve --min-confidence 0.8`, `Classifier.label_sets(texts, min_confidence=0.8)`.
"""
    return card_section(report) + not_sure + notes


def per_class_rows(report: EvaluationReport) -> str:
    return "\n".join(
        f"| {table_cell(label)} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {int(r['support'])} |"
        for label, r in report.per_class.iterrows()
    )


def history_rows(history: list[dict]) -> str:
    return (
        "\n".join(
            f"| {h['epoch']:.2f} | {h['loss']:.4f} | {h['accuracy']:.4f} | {h['macro_f1']:.4f} | {h['elapsed_s']:.0f} |"
            for h in history
        )
        or "| - | - | - | - | - |"
    )


def resumed_note(record: dict) -> str:
    resumes = record.get("resumed") or []
    if not resumes:
        return ""
    return (
        f" The run was interrupted and resumed from its checkpoints (at step "
        f"{', '.join(str(r['from_step']) for r in resumes)}; `resumed` in `textfit.json`)."
    )


def short_categories_note(record: dict) -> str:
    """The categories named for the task that the model cannot answer (left out of training: the
    studio's "Train without them") or learned from too few examples (named by `--label-names`)."""
    from ..data.coverage import LEFT_OUT, MIN_EXAMPLES, described, short_categories

    left_out = ((record.get("config") or {}).get("extra") or {}).get(LEFT_OUT) or {}
    named = bool((record.get("config") or {}).get("label_names"))
    few = short_categories(record["data"].get("train_label_counts") or {}) if named else {}
    note = ""
    if left_out:
        note += (
            f"\nThe model cannot answer {len(left_out)} categor{'y' if len(left_out) == 1 else 'ies'} named for "
            f"this task: it was trained without them (fewer than {MIN_EXAMPLES} examples): {described(left_out)}.\n"
        )
    if few:
        note += (
            f"\n{len(few)} named categor{'y was' if len(few) == 1 else 'ies were'} learned from fewer than "
            f"{MIN_EXAMPLES} examples, so expect the model to miss them and these figures not to measure "
            f"them: {described(few)}.\n"
        )
    return note


def unevaluated_note(data: dict) -> str:
    unchecked = data.get("classes_not_evaluated") or []
    if not unchecked:
        return ""
    return (
        f"\n{len(unchecked)} class(es) had a single example, used for training, so these figures do not "
        f"measure them: {', '.join(unchecked)}.\n"
    )


def blend_note(lexical: dict | None) -> str:
    """What the card says of the n-gram model blended in (lexical.py), if one was fitted."""
    if not lexical:
        return ""
    chosen = (
        " (chosen on the held-out answers; the figures above are cross-fitted, so the choice does not flatter them)"
        if lexical.get("accuracy_by_weight")
        else ""
    )
    if not lexical["weight"]:
        return f"""
A word and character n-gram model was fitted too, and blending it in did not help on the held-out
examples{chosen}: the answers are the fine-tuned encoder's alone, as plain `transformers.pipeline` gives them.
"""
    return f"""
These answers blend the fine-tuned encoder with a word and character n-gram model stored beside it
(`lexical.json`, `lexical.safetensors`; weight {lexical["weight"]}{chosen}). textfit (`predict`, `serve`, the
Python API, every backend) uses both. Plain `transformers.pipeline` reads the encoder alone, which
scores accuracy {lexical["encoder_metrics"]["accuracy"]:.4f} and macro-F1
{lexical["encoder_metrics"]["macro_f1"]:.4f} on the same examples.
"""


def unlabeled_note(record: dict) -> str:
    """What the card says of the unlabeled texts the model learned from (training/distill.py), if any."""
    unlabeled = record.get("unlabeled")
    if not unlabeled or not unlabeled["texts_used"]:
        return ""
    alone, both = unlabeled["labels_alone_metrics"], unlabeled["with_unlabeled_metrics"]
    teacher = unlabeled["teacher_metrics"] or {}
    sampled = f" ({unlabeled['sampled']})" if unlabeled.get("sampled") else ""
    return f"""
**Unlabeled texts.** The model also learned from {unlabeled["texts_used"]} texts nobody labeled{sampled}
(`{shown_source(unlabeled["source"])}`), labeled with probabilities by a teacher, {unlabeled["teacher"]},
trained on the same labels (its held-out accuracy: {teacher.get("accuracy", float("nan")):.4f}).
{teacher_round_note(unlabeled.get("teacher_round"))}On the same held-out human labels, the model's encoder scored
accuracy {alone["accuracy"]:.4f} (macro-F1 {alone["macro_f1"]:.4f}) from the labels alone and
{both["accuracy"]:.4f} (macro-F1 {both["macro_f1"]:.4f}) with the unlabeled texts; the saved model is the one
trained {unlabeled["kept"]}. No teacher label is ever scored.
"""


def teacher_round_note(teacher_round: dict | None) -> str:
    """The card's words for the teacher's second round (training/distill.py's teach_again), if any."""
    if not teacher_round:
        return ""
    if "skipped" in teacher_round:
        return f"The teacher took no second round: {teacher_round['skipped']}. "
    first = teacher_round["first_round_metrics"]["accuracy"]
    return (
        f"Before teaching, it was trained again with its {teacher_round['answers_added']} surest answers among "
        f"{teacher_round['texts_read']} of the texts beside the labels (held-out accuracy before that: {first:.4f}). "
    )


def final_fit_note(record: dict) -> str:
    data, final = record["data"], record.get("final_fit") or {}
    if not final.get("done"):
        return ""
    return f"""
**These figures are the hold-out run's.** That run trained on {data["train_examples"]} examples and chose its
schedule (steps, n-gram weight) on the {data["eval_examples"]} held out; the saved model was then trained afresh
on all {final["examples"]} examples, the held-out ones included ({final["steps"]} steps). Its own accuracy cannot
be measured on examples it learned from: likely a little higher than above, not measured.
"""


def yardstick_note(report: EvaluationReport) -> str:
    yardstick = report.baseline_sentence()
    if yardstick and not report.beats_baseline:
        yardstick = f"**This run does not clearly beat the majority-class baseline.** {yardstick}"
    return f"\n{yardstick}\n" if yardstick else ""


def confidence_section(record: dict) -> str:
    """The model card's account of its confidences: calibration, its caveat, the coverage curve."""
    calibration, coverage = record.get("calibration"), record.get("coverage") or []
    if calibration:
        how = f"""Confidences are calibrated by temperature scaling (`calibration.json`: temperature
{calibration["temperature"]:g}, fitted on the {calibration["examples"]} held-out examples; expected calibration error
{calibration["ece_before"]:.3f} before, {calibration["ece_after"]:.3f} after), so that a score of 0.8 should be right
about 8 times in 10. textfit (`predict`, `serve`, the studio, `Classifier`) applies it; plain `transformers.pipeline`
gives the encoder's raw scores. The one temperature was fitted on the same held-out messages the
figures here are measured on: a one-parameter fit, so little optimism, but some; `textfit evaluate`
on new labelled messages measures it afresh."""
    else:
        how = (
            f"Confidences are not calibrated: calibration needs at least {MIN_CALIBRATION_EXAMPLES} held-out "
            "examples, and this run had fewer."
        )
    tenths = [c for c in coverage if round(10 * c["threshold"], 6).is_integer()]  # the card: every tenth
    rows = "\n".join(
        f"| {c['threshold']:.1f} | {100 * c['answered']:.1f} % | {percent(c['accuracy'])} |" for c in tenths
    )
    return f"""### Confidence and "not sure"

{how}

Below a confidence threshold textfit can answer "not sure" instead (`predict(..., min_confidence=0.5)`).
What each threshold costs on the held-out messages:

| confidence at least | messages answered | accuracy of those answered |
|---|---|---|
{rows}
"""


def boilerplate_note(record: dict) -> str:
    """What the card says of the lines the tokenizer removes (data/boilerplate.py)."""
    found = record.get("boilerplate")
    if not found:
        return ""
    shown = "\n".join(f"> {line}" for line in found["lines"])
    return f"""
It also removes {found["lines_removed"]} line(s) found in {found["train_texts_with_them"]} of the training texts
under every label alike (headers, disclaimers: they say nothing of the label), for example:

{shown}
"""


def windows_note(record: dict) -> str:
    """What the card says of texts longer than the model reads (windows.py)."""
    windows, max_length = record.get("windows"), record["max_length"]
    if not windows:
        return ""
    read = (
        f"textfit (`predict`, `serve`, the studio, `Classifier`, every backend) reads a longer text in up to "
        f"{windows['max_windows']} overlapping windows of {max_length} tokens and averages their answers"
        if windows["max_windows"] > 1
        else f"textfit cuts a longer text at {max_length} tokens (max_windows 1)"
    )
    return f"""
Texts longer than {max_length} tokens: {windows["train_texts_longer_than_one_window"]} of the training texts and
{windows["eval_texts_longer_than_one_window"]} of the held-out ones were. {read}. Plain `transformers.pipeline`
does not read windows: call it with `truncation=True` and it reads the first {max_length} tokens of each text
(without it, a text is read whole in one pass, longer than the model was trained on, and one longer than the
base model's positions fails).
"""


def percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f} %"
