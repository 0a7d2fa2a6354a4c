"""Fine-tune a pretrained encoder into a text classifier: `train()`, the run's story.

The recipe, top to bottom:
 1. data: load, validate, split and sample (data/labeled.py); the strategy: fine-tuning, or
    few-shot when examples are scarce (setup.py, fewshot.py);
 2. tokenizer: the base model's, with URL/HTML cleaning baked in; `max_length` from the data;
 3. model: the base encoder with a fresh head sized and named for the labels, reading the mean
    of the token vectors (models.add_mean_pooling_layer);
 4. batches: grouped by length and padded per batch, never to 512 tokens (finetune.py);
 5. optimiser: AdamW, linear warm-up then decay, sized to the epochs or to a time budget;
 6. n-grams: a TF-IDF linear model of the same labels, blended with the encoder (lexical.py) at a
    weight chosen on the held-out answers, cross-fitted so the scores stay honest (blend.py);
 7. loop: evaluate each epoch (blended), keep the best weights by macro-F1 (among the evaluations
    that clearly beat the majority-class baseline, when any does: evaluate.improves_on), stop early
    when it stalls (judge.py); checkpoint the whole state every few minutes, so a killed run resumes
    (checkpoint.py);
 8. calibration: one temperature fitted on the held-out answers, for honest confidences (calibration.py);
    several labels per text: each label's threshold and its decisions' confidence, per label
    (thresholds.py, label_calibration.py);
 8b. final fit: with enough held-out examples, a fresh model trained on every example with the
    schedule the hold-out chose (its steps, the n-gram weight); the figures stay the hold-out run's
    (final_fit.py);
 9. save: weights, n-gram model, calibration, tokenizer, run record, evaluation report and model card
    (model/folder.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..data.boilerplate import boilerplate_record
from ..data.labeled import LabeledTexts, load_train_eval
from ..errors import TextfitError
from ..model.base_models import DEFAULT_ALIASES
from ..model.blend import HeldOutBlend
from ..model.calibration import calibrate
from ..model.classifier import Classifier
from ..model.evaluate import EvaluationReport, build_report, compute_metrics
from ..model.label_calibration import record_note
from ..model.lexical import fit_lexical, tokenizer_normalizer
from ..model.windows import windows_record
from . import checkpoint
from . import distributed as dist
from .callbacks import Callback
from .distill import learn_from_unlabeled
from .fewshot import fit_fewshot
from .final_fit import FinalFit, after_hold_out, hold_out_config, wants_final_fit
from .finetune import finetune
from .loop import LoopResult, attention_for_training
from .setup import (
    Run,
    agreement_facts,
    check_config,
    choose_strategy,
    find_run_boilerplate,
    new_model,
    prepare_model,
    refuse_fewshot_across_processes,
    token_lengths,
)
from .stopping import held_stops

__all__ = ["TrainResult", "new_model", "train"]  # new_model: benchmarks build models as a run does

log = logging.getLogger("textfit")

LARGER_MODEL_TIP = (
    "tip: with few examples a larger encoder pays: `textfit download-model all-mpnet-base-v2`, then "
    "--model all-mpnet-base-v2 (8 finance tweets per class, mean of 5 samples: 0.70 against 0.59; ~6x the "
    "training time)"
)


@dataclass
class TrainResult:
    folder: Path
    classifier: Classifier
    report: EvaluationReport
    record: dict


@dataclass
class NGrams:
    """The n-gram model (the main process's; None elsewhere or when it is off), the seconds its fit
    took, and the held-out blend that chooses its weight."""

    model: object
    fit_s: float
    blend: HeldOutBlend


@dist.partners_watched()
def train(
    config: TrainConfig,
    out_dir: str | Path,
    callbacks: list[Callback] = (),
    data: tuple[LabeledTexts, LabeledTexts] | None = None,
    resume: bool = False,
) -> TrainResult | None:
    """Train a classifier as `config` says and save it to `out_dir`. With `resume`, continue the
    interrupted run whose checkpoints lie beside `out_dir` (checkpoint.py) with the same config.

    Under torchrun or accelerate launch the processes train one model together (distributed.py):
    the main process saves it, fires `callbacks` and returns the result; the others return None."""
    from transformers import set_seed

    started = time.time()
    check_config(config)
    dist.start(config.distributed_timeout_minutes)
    callbacks = list(callbacks) if dist.is_main() else []  # one progress bar, one studio log
    if resume and dist.on_main(lambda: checkpoint.latest(out_dir) is None, share=True):  # said before the data is read
        raise TextfitError(f"nothing to resume in {checkpoint.folder_for(out_dir)}; start without --resume")
    train_data, eval_data = data or load_train_eval(config)
    if train_data.multi_label and config.unlabeled:
        raise TextfitError(
            "--unlabeled learns from a teacher's probabilities over one label per text; this data gives several "
            "labels per text: train without --unlabeled"
        )
    if dist.is_distributed():  # the processes agree on what they train before anything is written
        dist.check_agreement(agreement_facts(config, out_dir, train_data, eval_data))
    strategy = choose_strategy(config, train_data)
    if strategy == "fewshot":
        refuse_fewshot_across_processes()
    checkpoints, restored = open_checkpoints(config, out_dir, strategy, train_data, eval_data, resume, callbacks)
    if strategy == "fewshot" and config.model in DEFAULT_ALIASES:
        log.info(LARGER_MODEL_TIP)
    set_seed(config.seed)

    boilerplate = find_run_boilerplate(config, train_data)
    tokenizer, max_length, model, strategy = prepare_model(config, strategy, train_data, len(eval_data), boilerplate)
    run = Run(
        config, out_dir, strategy, train_data, eval_data, tokenizer, max_length, callbacks, checkpoints, boilerplate
    )
    final_fit, final_fit_why = wants_final_fit(config, strategy, eval_data)
    log.info("final fit on all %d examples: %s", len(train_data) + len(eval_data), final_fit_why)

    clock = time.perf_counter()  # training time counts from here: the n-gram model's fit included
    ngrams = fit_ngrams(run, resume)
    with attention_for_training(model):
        loop = train_encoder(run, model, ngrams, clock, restored, final_fit)
        if config.unlabeled:  # a teacher labels the texts nobody labeled; the model learns from both
            loop = learn_from_unlabeled(run, loop, clock)
    # From here a Stop waits until the model is saved (stopping.py); only the final fit can still be stopped.
    with held_stops("scoring the held-out examples") as after_training:
        encoder_probabilities, probabilities = score_held_out(run, loop, ngrams)
    final = after_hold_out(run, (final_fit, final_fit_why), after_training.requested, loop, ngrams.model, clock)
    with held_stops("saving the model"):
        # the main process's alone; the others wait for it
        return dist.on_main(
            lambda: report_and_save(run, loop, final, ngrams, encoder_probabilities, probabilities, started)
        )


def open_checkpoints(config, out_dir, strategy, train_data, eval_data, resume: bool, callbacks: list[Callback]):
    """(checkpoints, restored): the main process's checkpoints of this run (checkpoint.py; None on the
    others), and the checkpoint every process resumes from, if any."""
    checkpoints = dist.on_main(
        lambda: checkpoint.begin(
            out_dir, config, checkpoint.data_fingerprint(train_data, eval_data), strategy, resume, dist.world_size()
        )
    )
    restored = dist.on_main(lambda: checkpoints.restored if checkpoints else None, share=True)  # every process resumes
    if resume:
        step = checkpoints.run["resumed"][-1]["from_step"] if checkpoints else 0
        log.info(f"resuming from step {step}" if step else "resuming: no checkpoint had been written, so starting over")
        for callback in callbacks:
            callback.on_checkpoint({"event": "resumed", **checkpoints.run["resumed"][-1]})
    return checkpoints, restored


def fit_ngrams(run: Run, resume: bool) -> NGrams:
    """The n-gram model, fitted once, by the main process (the only one that scores evaluations);
    a resumed run takes the one its checkpoints kept. Several labels per text: none (MULTI_LABEL_NOTES)."""
    if run.train_data.multi_label:
        log.info("n-gram blend: off for several labels per text (%s)", MULTI_LABEL_NOTES["lexical"])
        return NGrams(None, 0.0, HeldOutBlend(None, [], [], choose=False))

    def fit():
        checkpoints = run.checkpoints
        saved = checkpoints.saved_lexical(tokenizer_normalizer(run.tokenizer)) if resume and checkpoints else None
        fitted, fit_s = saved or fit_lexical(run.train_data, run.tokenizer, run.config.lexical_weight)
        if fitted and checkpoints:
            checkpoints.keep_lexical(fitted, fit_s)
        return fitted, fit_s

    lexical, fit_s = dist.on_main(fit) or (None, 0.0)
    eval_data = run.eval_data
    blend = HeldOutBlend(lexical, eval_data.texts, eval_data.labels, choose=run.config.lexical_weight is None)
    if lexical:
        log.info(
            "n-gram model fitted in %.1f s; %s",
            fit_s,
            "its weight in the blend is chosen on the held-out answers"
            if blend.choose
            else f"blended with the encoder at weight {lexical.weight:g}",
        )
    return NGrams(lexical, fit_s, blend)


def train_encoder(run: Run, model, ngrams: NGrams, clock: float, restored: dict | None, final_fit: bool) -> LoopResult:
    """The strategy's training loop, evaluating on the held-out blend; a final fit to follow takes
    its share of a time budget."""
    config, data = run.config, (run.train_data, run.eval_data)
    if run.strategy == "fewshot":  # minutes at most: no checkpoints, a resumed run starts over
        return fit_fewshot(model, run.tokenizer, config, run.max_length, *data, run.callbacks, ngrams.blend, clock)
    return finetune(
        model,
        run.tokenizer,
        hold_out_config(config, final_fit),
        run.max_length,
        *data,
        run.callbacks,
        ngrams.blend,
        clock,
        run.checkpoints,
        restored,
        final_fit_examples=len(run.train_data) + len(run.eval_data) if final_fit else None,
    )


def score_held_out(run: Run, loop: LoopResult, ngrams: NGrams) -> tuple[np.ndarray, np.ndarray | None]:
    """(the encoder's held-out probabilities with the kept weights, the blended answers): the loop's
    scores where it kept them, else each process scores its share. The main process chooses the
    n-gram weight on them; the blended answers are its alone (None on the others)."""
    encoder_probabilities = loop.eval_encoder_probabilities
    if encoder_probabilities is None:
        classifier = Classifier(
            loop.model, run.tokenizer, run.train_data.label_names, max_length=run.max_length, windows=run.windows
        )
        encoder_probabilities = np.concatenate(dist.across_processes(classifier.encoder_proba, run.eval_data.texts))

    def choose_blend() -> np.ndarray:  # the main process's: it alone has the n-gram model
        answers = ngrams.blend.answers(encoder_probabilities)  # cross-fitted where the weight is chosen
        if ngrams.model:
            ngrams.model.weight = ngrams.blend.weight
            log.info(
                "n-gram weight %g%s",
                ngrams.model.weight,
                " (chosen on the held-out answers)" if ngrams.blend.choose else "",
            )
        return answers

    return encoder_probabilities, dist.on_main(choose_blend)


def report_and_save(
    run: Run,
    loop: LoopResult,
    final: FinalFit,
    ngrams: NGrams,
    encoder_probabilities: np.ndarray,
    probabilities: np.ndarray,
    started: float,
) -> TrainResult:
    """The saved model (the final fit's where it was done), calibrated on the held-out answers; its
    report, run record and folder; then the checkpoints kept for --resume or removed."""
    from ..model.folder import build_record, save_model

    model, lexical = (final.model, final.lexical) if final.done else (loop.model, ngrams.model)
    eval_data, train_data = run.eval_data, run.train_data
    classifier = Classifier(
        model,
        run.tokenizer,
        train_data.label_names,
        max_length=run.max_length,
        lexical=lexical if lexical and lexical.weight > 0 else None,
        windows=run.windows,
    )
    if train_data.multi_label:
        report = multi_label_report(classifier, train_data, eval_data, probabilities)
    else:
        # Fitted on the held-out answers after training (calibration.py says why that is acceptable);
        # it changes confidences, never the top label, so the report's metrics are the same either way.
        classifier.calibration = calibrate(probabilities, eval_data.labels)
        if classifier.calibration:
            probabilities = classifier.calibration.apply(probabilities)
        report = build_report(eval_data, probabilities, train_data.label_counts())
    loop_fields = {
        **loop.record_fields(),
        "calibration": classifier.calibration.to_dict() if classifier.calibration else None,
        "lexical": ngrams_record(ngrams, encoder_probabilities, eval_data.labels),
    }
    total_s = time.time() - started
    record = build_record(run.config, run.strategy, train_data, eval_data, run.max_length, loop_fields, report, total_s)
    record["final_fit"] = final.to_record()
    if train_data.multi_label:
        calibration = (
            classifier.label_calibration.to_dict(train_data.label_names) if classifier.label_calibration else None
        )
        record["multi_label"] = {
            **(train_data.label_layout or {}),
            "thresholds": dict(zip(train_data.label_names, map(float, classifier.thresholds))),
            "calibration": calibration,
            "notes": {**MULTI_LABEL_NOTES, "not_sure": record_note(calibration)},
        }
    if run.boilerplate:
        record["boilerplate"] = boilerplate_record(list(run.boilerplate), train_data)
    record["windows"] = windows_record(
        run.tokenizer,
        run.windows,
        run.max_length,
        {
            "train": token_lengths(run.tokenizer, train_data.texts),
            "eval": token_lengths(run.tokenizer, eval_data.texts),
        },
    )
    checkpoints = run.checkpoints
    if checkpoints and checkpoints.run["resumed"]:
        record["resumed"] = checkpoints.run["resumed"]
    folder = save_model(run.out_dir, classifier, record, report)
    kept = checkpoints.keep_for_resume() if checkpoints and loop.status == "interrupted" else None
    if kept:
        log.info(
            "checkpoints kept in %s: `textfit train --out %s --resume` trains on from step %d of %d "
            "(a new run into %s replaces them)",
            kept["folder"],
            run.out_dir,
            kept["step"],
            kept["total_steps"],
            run.out_dir,
        )
    elif checkpoints:
        checkpoints.remove()
    classifier.folder, classifier.record = folder, record
    for callback in run.callbacks:
        callback.on_train_end(record)
    return TrainResult(folder, classifier, report, record)


MULTI_LABEL_NOTES = {
    "lexical": "the n-gram model and its blend assume one label a text: the answers are the encoder's alone",
    "calibration": "each label's sigmoid score is used as it is against its threshold, chosen on the held-out "
    "part; the confidence of each decision is calibrated apart (not_sure)",
    "fewshot": "not for several labels per text: fine-tuning instead",
}
"""What a multi-label run does differently, said in its record."""


def multi_label_report(classifier: Classifier, train_data: LabeledTexts, eval_data: LabeledTexts, scores: np.ndarray):
    """Several labels per text: each label's threshold and the calibration of its decisions'
    confidence, fitted on the held-out scores (set on `classifier`), and the report of cross-fitted
    answers (model/thresholds.py and model/label_calibration.py say why)."""
    from ..model import thresholds
    from ..model.label_calibration import calibrate_labels
    from ..model.multilabel_report import build_multilabel_report

    targets = eval_data.label_matrix()
    classifier.thresholds = thresholds.choose(scores, targets)
    classifier.label_calibration = calibrate_labels(scores, targets)
    answers = thresholds.cross_fitted(scores, targets)
    return build_multilabel_report(eval_data, answers, scores, classifier.thresholds, train_data.labels)


def ngrams_record(ngrams: NGrams, encoder_probabilities: np.ndarray, labels: list[int]) -> dict | None:
    """The run record's `lexical`: the n-gram weight and how it was chosen, and what the encoder alone
    (plain `transformers.pipeline`) scores."""
    if not ngrams.model:
        return None
    return {
        "weight": ngrams.model.weight,
        "fit_s": round(ngrams.fit_s, 2),
        **(ngrams.blend.choice.to_dict() if ngrams.blend.choice else {"chosen_by": "given"}),
        "encoder_metrics": compute_metrics(labels, encoder_probabilities.argmax(axis=1)),
    }
