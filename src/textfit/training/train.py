"""Fine-tune a pretrained encoder into a text classifier.

The recipe, top to bottom:
 1. data: load, validate, split and sample (data.py);
 2. tokenizer: the base model's, with URL/HTML cleaning baked in; `max_length` from the data;
 3. model: the base encoder with a fresh head sized and named for the labels, reading the mean
    of the token vectors (models.add_mean_pooling_layer);
 4. batches: grouped by length and padded per batch, never to 512 tokens;
 5. optimiser: AdamW, linear warm-up then decay, sized to the epochs or to a time budget;
 6. n-grams: a TF-IDF linear model of the same labels, blended with the encoder (lexical.py) at a
    weight chosen on the held-out answers, cross-fitted so the scores stay honest (blend.py);
 7. loop: evaluate each epoch (blended), keep the best weights by macro-F1 (among the evaluations
    that clearly beat the majority-class baseline, when any does: evaluate.improves_on), stop early
    when it stalls; checkpoint the whole state every few minutes, so a killed run resumes (checkpoint.py);
 8. calibration: one temperature fitted on the held-out answers, for honest confidences (calibration.py);
 8b. final fit: with enough held-out examples, a fresh model trained on every example with the
    schedule the hold-out chose (its steps, the n-gram weight); the figures stay the hold-out run's;
 9. save: weights, n-gram model, calibration, tokenizer, run record, evaluation report and model card (save.py).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..data.labeled import LabeledTexts, load_train_eval
from ..errors import TextfitError
from ..model.base_models import DEFAULT_ALIASES, add_mean_pooling_layer, build_classifier, load_tokenizer
from ..model.blend import HeldOutBlend
from ..model.calibration import calibrate
from ..model.classifier import Classifier
from ..model.evaluate import EvaluationReport, build_report, compute_metrics, improves_on, majority_baseline
from ..model.lexical import fit_lexical, tokenizer_normalizer
from . import checkpoint
from . import distributed as dist
from .callbacks import Callback
from .fewshot import fit_fewshot, head_shape
from .loop import (
    LoopState,
    attention_for_training,
    build_optimizer,
    loop_result,
    steps_for_budget,
    trained_weights,
    use_bf16,
    warmup_then_decay,
)
from .stopping import held_stops

log = logging.getLogger("textfit")


@dataclass
class TrainResult:
    folder: Path
    classifier: Classifier
    report: EvaluationReport
    record: dict


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
    if config.pooling not in ("mean", "cls"):
        raise TextfitError(f"unknown pooling '{config.pooling}': choose mean or cls")
    if config.lexical_weight is not None and not 0 <= config.lexical_weight < 1:
        raise TextfitError(f"lexical_weight {config.lexical_weight} must be at least 0 (off) and below 1")
    if config.strategy == "fewshot":
        refuse_fewshot_across_processes()
    dist.start(config.distributed_timeout_minutes)
    callbacks = list(callbacks) if dist.is_main() else []  # one progress bar, one studio log
    if resume and dist.on_main(lambda: checkpoint.latest(out_dir) is None, share=True):  # said before the data is read
        raise TextfitError(f"nothing to resume in {checkpoint.folder_for(out_dir)}; start without --resume")
    train_data, eval_data = data or load_train_eval(config)
    strategy = choose_strategy(config, train_data)
    if strategy == "fewshot":
        refuse_fewshot_across_processes()
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
    if strategy == "fewshot" and config.model in DEFAULT_ALIASES:
        log.info(
            "tip: with few examples a larger encoder pays: `textfit download-model all-mpnet-base-v2`, then "
            "--model all-mpnet-base-v2 (8 finance tweets per class, one sample: 0.73 against 0.62; ~6x the training time)"
        )
    set_seed(config.seed)

    tokenizer = load_tokenizer(config.model, strip_urls=config.strip_urls)
    lengths = token_lengths(tokenizer, train_data.texts)
    max_length = config.max_length or choose_max_length(lengths, config.max_length_cap)
    model = new_model(config, train_data.label_names, mean_pooling=config.pooling == "mean" or strategy == "fewshot")
    if strategy == "fewshot" and head_shape(model) is None:
        log.warning(
            "fewshot knows two heads (BERT's linear head over the pooler, and dense -> out_proj "
            "over the first token as in MPNet); %s has neither, so fine-tuning it instead",
            model.config.model_type,
        )
        strategy = "finetune"
    log.info(
        "%s: %d training / %d evaluation examples, %d labels, max_length %d",
        strategy,
        len(train_data),
        len(eval_data),
        len(train_data.label_names),
        max_length,
    )
    final_fit, final_fit_why = wants_final_fit(config, strategy, eval_data)
    log.info("final fit on all %d examples: %s", len(train_data) + len(eval_data), final_fit_why)
    # A time budget covers both fits: the hold-out run takes its share, the final fit the rest.
    hold_out_config = (
        replace(config, time_budget=config.time_budget * HOLD_OUT_SHARE) if final_fit and config.time_budget else config
    )

    clock = time.perf_counter()  # training time counts from here: the n-gram model's fit included

    def fit_ngrams():  # once, by the main process: the only one that scores evaluations
        saved = checkpoints.saved_lexical(tokenizer_normalizer(tokenizer)) if resume and checkpoints else None
        fitted, fit_s = saved or fit_lexical(train_data, tokenizer, config.lexical_weight)
        if fitted and checkpoints:
            checkpoints.keep_lexical(fitted, fit_s)
        return fitted, fit_s

    lexical, lexical_s = dist.on_main(fit_ngrams) or (None, 0.0)
    held_out = HeldOutBlend(lexical, eval_data.texts, eval_data.labels, choose=config.lexical_weight is None)
    if lexical:
        log.info(
            "n-gram model fitted in %.1f s; %s",
            lexical_s,
            "its weight in the blend is chosen on the held-out answers"
            if held_out.choose
            else f"blended with the encoder at weight {lexical.weight:g}",
        )
    with attention_for_training(model):
        if strategy == "fewshot":  # minutes at most: no checkpoints, a resumed run starts over
            loop = fit_fewshot(model, tokenizer, config, max_length, train_data, eval_data, callbacks, held_out, clock)
        else:
            loop = finetune(
                model,
                tokenizer,
                hold_out_config,
                max_length,
                train_data,
                eval_data,
                callbacks,
                held_out,
                clock,
                checkpoints,
                restored,
                final_fit_examples=len(train_data) + len(eval_data) if final_fit else None,
            )

    def choose_blend() -> np.ndarray:  # the main process's: it alone has the n-gram model
        answers = held_out.answers(encoder_probabilities)  # cross-fitted where the weight is chosen
        if lexical:
            lexical.weight = held_out.weight
            log.info(
                "n-gram weight %g%s", lexical.weight, " (chosen on the held-out answers)" if held_out.choose else ""
            )
        return answers

    # From here a Stop waits until the model is saved (stopping.py); only the final fit can still be stopped.
    with held_stops("scoring the held-out examples") as after_training:
        encoder_probabilities = loop.pop("eval_encoder_probabilities", None)  # the loop's scores of the kept weights
        if encoder_probabilities is None:  # each process scores its share of the held-out texts
            classifier = Classifier(loop["model"], tokenizer, train_data.label_names, max_length=max_length)
            encoder_probabilities = np.concatenate(dist.across_processes(classifier.encoder_proba, eval_data.texts))
        probabilities = dist.on_main(choose_blend)
    final = None
    if final_fit and (after_training.requested or loop["status"] == "interrupted"):
        final = {"done": False, "why": STOPPED_BEFORE_FINAL_FIT}
        log.warning("final fit skipped: %s", STOPPED_BEFORE_FINAL_FIT)
    elif final_fit:
        budget_left_s = config.time_budget * 60 - (time.perf_counter() - clock) if config.time_budget else None
        try:
            final = fit_final_model(
                config, tokenizer, max_length, train_data, eval_data, loop, lexical, callbacks, budget_left_s
            )
        except KeyboardInterrupt:  # a Stop before or after the final fit's loop: the same outcome as during it
            if dist.world_size() > 1:
                raise
            final = {"done": False, "why": STOPPED_IN_FINAL_FIT}
            log.warning("final fit stopped: %s", STOPPED_IN_FINAL_FIT)

    def report_and_save() -> TrainResult:  # the main process's alone; the others wait for it
        from ..model.folder import build_record, save_model

        nonlocal probabilities
        model, kept_lexical = (
            (final["model"], final["lexical"]) if final and "model" in final else (loop["model"], lexical)
        )
        classifier = Classifier(
            model,
            tokenizer,
            train_data.label_names,
            max_length=max_length,
            lexical=kept_lexical if kept_lexical and kept_lexical.weight > 0 else None,
        )
        # Fitted on the held-out answers after training (calibration.py says why that is acceptable);
        # it changes confidences, never the top label, so the report's metrics are the same either way.
        classifier.calibration = calibrate(probabilities, eval_data.labels)
        if classifier.calibration:
            loop["calibration"] = classifier.calibration.to_dict()
            probabilities = classifier.calibration.apply(probabilities)
        report = build_report(eval_data, probabilities, train_data.label_counts())
        if lexical:  # what the encoder alone (plain `transformers.pipeline`) scores, for the record
            loop["lexical"] = {
                "weight": lexical.weight,
                "fit_s": round(lexical_s, 2),
                **(held_out.choice.to_dict() if held_out.choice else {"chosen_by": "given"}),
                "encoder_metrics": compute_metrics(eval_data.labels, encoder_probabilities.argmax(axis=1)),
            }
        record = build_record(config, strategy, train_data, eval_data, max_length, loop, report, time.time() - started)
        record["final_fit"] = (
            {k: v for k, v in final.items() if k not in ("model", "lexical")}
            if final
            else {"done": False, "why": final_fit_why}
        )
        if checkpoints and checkpoints.run["resumed"]:
            record["resumed"] = checkpoints.run["resumed"]
        folder = save_model(out_dir, classifier, record, report)
        kept = checkpoints.keep_for_resume() if checkpoints and loop["status"] == "interrupted" else None
        if kept:
            log.info(
                "checkpoints kept in %s: `textfit train --out %s --resume` trains on from step %d of %d "
                "(a new run into %s replaces them)",
                kept["folder"],
                out_dir,
                kept["step"],
                kept["total_steps"],
                out_dir,
            )
        elif checkpoints:
            checkpoints.remove()
        classifier.folder, classifier.record = folder, record
        for callback in callbacks:
            callback.on_train_end(record)
        return TrainResult(folder, classifier, report, record)

    with held_stops("saving the model"):
        return dist.on_main(report_and_save)


STOPPED_BEFORE_FINAL_FIT = "stopped before the final fit: the saved model is the hold-out run's"
STOPPED_IN_FINAL_FIT = "stopped during the final fit: the saved model is the hold-out run's"
HOLD_OUT_SHARE = 0.45
"""Of a time budget, the hold-out run's share when a final fit follows: the final fit trains on
1.25x the examples for the steps the hold-out chose, with no evaluations to pay for."""
FINAL_FIT_MIN_HELD_OUT = 100
"""Held-out examples from which the final fit is on by default: fewer add little to learn from."""


def new_model(config: TrainConfig, label_names: list[str], mean_pooling: bool):
    """The base encoder with a fresh head sized and named for the labels."""
    model = build_classifier(config.model, label_names)
    if mean_pooling and not add_mean_pooling_layer(model):
        log.info("%s is not a BERT-style model: its classifier reads [CLS], not the mean", config.model)
    return model


def wants_final_fit(config: TrainConfig, strategy: str, eval_data: LabeledTexts) -> tuple[bool, str]:
    """Whether the saved model is trained again on every example once the hold-out run has chosen
    its schedule, and why (for the log and the run record)."""
    if config.final_fit is False:
        return False, "off (--no-final-fit): the saved model is the hold-out run's"
    if strategy != "finetune":
        return False, "not for few-shot runs: the saved model is the hold-out run's"
    if config.eval_data:
        return False, "the evaluation data is a file of its own (--eval-data), not training data to learn from"
    if config.train_size or config.test_size:
        return False, "--train-size / --test-size sample the data on purpose"
    if config.final_fit is None and len(eval_data) < FINAL_FIT_MIN_HELD_OUT:
        return False, (
            f"off: {len(eval_data)} held-out examples add little (on from {FINAL_FIT_MIN_HELD_OUT}; "
            "--final-fit forces it)"
        )
    return True, "on: the hold-out run chooses the schedule, then a fresh model learns from every example"


def fit_final_model(
    config: TrainConfig,
    tokenizer,
    max_length: int,
    train_data: LabeledTexts,
    eval_data: LabeledTexts,
    loop: dict,
    lexical,
    callbacks: list[Callback],
    budget_left_s: float | None,
) -> dict:
    """A fresh model trained on the training and held-out examples together, for the steps the
    hold-out run kept (scaled to the larger data), its n-gram model refitted at the chosen weight.
    Returns the model and what the record says of it; without a model when the time budget left
    cannot pay for half of those steps."""
    from transformers import set_seed

    everything = LabeledTexts(
        train_data.texts + eval_data.texts,
        train_data.labels + eval_data.labels,
        train_data.label_names,
        train_data.source,
        train_data.fingerprint,
        train_data.skipped_rows,
        train_data.encoding,
    )
    kept = loop["best"] or loop["history"][-1]
    steps = max(1, round(kept["step"] * len(everything) / len(train_data)))
    if budget_left_s is not None:
        step_s = loop["timings"]["train_s"] / max(1, loop["steps"])
        affordable = int(budget_left_s / step_s)
        if affordable < steps // 2:
            log.warning(
                "final fit skipped: the time budget left (%.0f s) pays for %d of its %d steps; the saved "
                "model is the hold-out run's",
                budget_left_s,
                affordable,
                steps,
            )
            return {"done": False, "why": f"the time budget left paid for {affordable} of {steps} steps"}
        steps = min(steps, affordable)
    log.info(
        "final fit: %d examples, %d steps (the hold-out run kept step %d of %d examples)",
        len(everything),
        steps,
        kept["step"],
        len(train_data),
    )
    started = time.perf_counter()
    set_seed(config.seed)
    model = new_model(config, everything.label_names, mean_pooling=config.pooling == "mean")
    with attention_for_training(model):
        result = finetune(
            model, tokenizer, replace(config, time_budget=None), max_length, everything, None, callbacks, steps=steps
        )
    if result["status"] == "interrupted":  # half a final fit is worse than the hold-out run's model
        log.warning("final fit stopped: %s", STOPPED_IN_FINAL_FIT)
        return {"done": False, "why": STOPPED_IN_FINAL_FIT}

    def refit_ngrams():
        if not lexical or lexical.weight <= 0:
            return None
        refitted, _ = fit_lexical(everything, tokenizer, lexical.weight)
        if refitted:
            refitted.weight = lexical.weight  # the chosen weight, unshrunk
        return refitted

    final_lexical = dist.on_main(refit_ngrams)
    return {
        "done": True,
        "model": result["model"],
        "lexical": final_lexical,
        "examples": len(everything),
        "steps": steps,
        "epochs": round(steps / math.ceil(len(everything) / result["batch_size"]), 2),
        "status": result["status"],
        "train_s": round(time.perf_counter() - started, 1),
    }


def refuse_fewshot_across_processes() -> None:
    """Few-shot training is minutes in one process, and its contrastive batches would need the
    other processes' vectors: it is refused before any work rather than run half-right."""
    if dist.is_distributed():
        raise TextfitError(
            f"few-shot training runs in one process, not across {dist.world_size()}: start the same `textfit train` "
            "without torchrun / accelerate launch (with so few examples it takes minutes), or, with enough "
            "examples per class, spread full fine-tuning with --strategy finetune"
        )


def choose_strategy(config: TrainConfig, data: LabeledTexts) -> str:
    """'fewshot' when examples are scarce (the median class has fewer than `config.fewshot_below`),
    else 'finetune'; an explicit `config.strategy` wins. Logs which one and why.

    The median, because 320 random finance tweets in 20 topics (16 a class on average; the median
    class 11, the rarest none) fine-tuned to 0.518 held-out accuracy, few-shot to 0.681: fine-tuning
    from a random head fails the rare classes (benchmarks/labeling.py; docs/guide/few-examples.md)."""
    if config.strategy not in ("auto", "finetune", "fewshot"):
        raise TextfitError(f"unknown strategy '{config.strategy}': choose auto, finetune or fewshot")
    per_class = float(np.median(np.bincount(data.labels, minlength=len(data.label_names)))) if len(data) else 0.0
    if config.strategy != "auto":
        log.info(
            "strategy %s (chosen with --strategy; the median class has %g training examples)",
            config.strategy,
            per_class,
        )
        return config.strategy
    strategy = "fewshot" if per_class < config.fewshot_below else "finetune"
    log.info(
        "strategy %s (auto): the median class has %g training examples, %s the few-shot threshold of %g",
        strategy,
        per_class,
        "below" if strategy == "fewshot" else "at or above",
        config.fewshot_below,
    )
    return strategy


def token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    return np.array([len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]])


def choose_max_length(lengths: np.ndarray, cap: int) -> int:
    """The 99th percentile of the data's token lengths, rounded up to a multiple of 8, capped."""
    p99 = int(np.percentile(lengths, 99)) if len(lengths) else cap
    return int(min(cap, max(16, math.ceil(p99 / 8) * 8)))


def default_epochs(examples: int) -> int:
    """Small data needs more passes to take enough optimiser steps; early stopping trims the rest."""
    return int(min(20, max(3, math.ceil(4000 / max(1, examples)))))


def budget_epochs(examples: int) -> int:
    """The most epochs a time budget plans for: past ~8 passes accuracy stops rising (finance
    topics: 0.883 after 5 epochs, 0.897 after 8, 0.891 after 12), so a generous budget ends early."""
    return max(8, default_epochs(examples))


def finetune(
    model,
    tokenizer,
    config: TrainConfig,
    max_length: int,
    train_data: LabeledTexts,
    eval_data: LabeledTexts,
    callbacks: list[Callback],
    held_out: HeldOutBlend | None = None,
    clock: float | None = None,
    checkpoints: checkpoint.Checkpoints | None = None,
    restored: dict | None = None,
    steps: int | None = None,
    final_fit_examples: int | None = None,
) -> dict:
    """Full fine-tuning with Accelerate: the same loop runs on a laptop CPU, on GPUs, or on several
    processes together (distributed.py: each trains on its share of every batch).

    Evaluations score `held_out`'s answers (the n-gram blend, blend.py) where given; elapsed time, the time budget
    and `train_s` count from `clock` (default: now), so work done before the loop is counted.
    With `checkpoints`, the loop saves its state when one is due; it starts from `restored` (the
    checkpoint they loaded, default theirs), if any, rather than from the beginning. With `steps`
    (the final fit: `eval_data` None), it takes exactly that many steps and evaluates nothing.
    `final_fit_examples`: the examples a final fit will train on after this run; told to the
    callbacks, so a time-left estimate can count it."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    # Autocast by hand, not Accelerator(mixed_precision=...): Accelerate keeps one state per
    # process and refuses a second run with another precision (the Python API, tests, sweeps).
    accelerator = dist.accelerator()
    bf16 = use_bf16(config)
    processes = dist.world_size()
    if restored is None and checkpoints:
        restored = checkpoints.restored

    def autocast():
        return torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16)

    encoded = tokenizer(train_data.texts, truncation=True, max_length=max_length)
    examples = [
        {"input_ids": ids, "attention_mask": mask, "labels": label}
        for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], train_data.labels)
    ]
    # The batch size is global: examples per optimiser step, split evenly between the processes.
    batch_size = min(config.batch_size, max(8, len(examples) // 8))
    batch_size = math.ceil(batch_size / processes) * processes
    generator = torch.Generator().manual_seed(config.seed)
    sampler = LengthGroupedSampler(batch_size, lengths=[len(e["input_ids"]) for e in examples], generator=generator)
    # The loader draws from `generator` too (not from torch's global one): an epoch's batches then
    # follow from the generator's state at its start, which a checkpoint keeps. Every process draws
    # the same batches; Accelerate hands each its slice of every one (split_batches), completing an
    # epoch's short last batch from its first so that all take the same steps.
    loader = accelerator.prepare(
        DataLoader(
            examples,
            batch_size=batch_size,
            sampler=sampler,
            generator=generator,
            collate_fn=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
        )
    )

    epochs = config.epochs or (budget_epochs(len(examples)) if config.time_budget else default_epochs(len(examples)))
    if steps:
        epochs = math.ceil(steps / len(loader))
    steps_per_epoch = len(loader)  # planned on the sharded loader: one step takes one slice on every process
    eval_every = max(1, steps_per_epoch // max(1, config.evals_per_epoch))
    # planned_steps shrinks once a time budget's pace is known; the schedule reads it as it goes
    state = restored["state"] if restored else LoopState(planned_steps=steps or epochs * steps_per_epoch)
    best_state = restored["best_weights"] if restored else None
    epoch_start = restored["training"]["epoch_start"] if restored else generator.get_state()

    optimizer = build_optimizer(model, config)
    # Stepped once per optimiser step: Accelerate steps a prepared schedule once per process
    # unless batches are split (split_batches), which they are here.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_then_decay(s, state.planned_steps, config.warmup_ratio)
    )
    if restored:
        model.load_state_dict(restored["weights"], strict=False)
    model, optimizer, schedule = accelerator.prepare(model, optimizer, schedule)
    if restored:
        optimizer.load_state_dict(restored["training"]["optimizer"])
        schedule.load_state_dict(restored["training"]["schedule"])
    if processes > 1:
        log.info(
            "%d processes (%s): batches of %d, %d per process; throughput figures count all of them",
            processes,
            dist.description()["backend"],
            batch_size,
            batch_size // processes,
        )

    info = {
        "strategy": "finetune",
        "phase": "final fit" if steps else "training",
        "total_steps": state.planned_steps,
        "epochs": epochs,
        "examples": len(examples),
        "batch_size": batch_size,
        "max_length": max_length,
        "labels": train_data.label_names,
        "processes": processes,
    }
    if final_fit_examples:  # a final fit follows this run: the studio's time left counts it too
        info["final_fit_examples"] = final_fit_examples
    for callback in callbacks:
        callback.on_train_begin(info)

    def batches():
        """From where `state` stands to the end of the last epoch: an epoch a checkpoint had started
        replays its batch order and skips the batches it had done."""
        nonlocal epoch_start
        for epoch in range(state.epoch, epochs):
            if state.batches_done:
                generator.set_state(epoch_start)
                yield from accelerator.skip_first_batches(loader, state.batches_done)
            else:
                epoch_start = generator.get_state()
                yield from loader
            state.epoch, state.batches_done = epoch + 1, 0

    def evaluate_now() -> np.ndarray | None:
        """The encoder's held-out probabilities (each process scores a slice); None off the main process."""
        classifier = Classifier(
            accelerator.unwrap_model(model), tokenizer, train_data.label_names, max_length=max_length
        )
        with autocast():
            parts = dist.across_processes(classifier.encoder_proba, eval_data.texts)
        model.train()
        return np.concatenate(parts) if dist.is_main() else None

    def judge(probabilities: np.ndarray, last_step: bool) -> tuple[bool, str | None]:
        """Main process: record the evaluation; (whether it is the best so far, why the loop ends or None)."""
        if held_out:
            probabilities = held_out.answers(probabilities)
        metrics = compute_metrics(eval_data.labels, probabilities.argmax(axis=1))
        if held_out and held_out.weight is not None:
            metrics["lexical_weight"] = held_out.weight
        improved = improves_on(metrics, state.best, baseline)
        entry = {
            "epoch": round(state.step / steps_per_epoch, 3),
            "step": state.step,
            "loss": float(np.mean(state.losses[-eval_every:])),
            **metrics,
            "elapsed_s": round(time.perf_counter() - started, 1),
            "best": improved,
        }
        state.history.append(entry)
        for callback in callbacks:
            callback.on_evaluate(entry)
        if improved:
            state.best, state.stale = entry, 0
        else:
            state.stale += 1
        if state.stale >= config.early_stopping_patience:
            return improved, "stopped early"
        if last_step:
            # The budget ended the run: it ran out, or its plan ended before the epochs did.
            elapsed = time.perf_counter() - started
            if budget_s and (elapsed > budget_s or state.planned_steps < epochs * steps_per_epoch):
                return improved, "time budget reached"
            return improved, "completed"
        return improved, None

    def plan_after_step() -> tuple[int, bool]:
        """Main process, by its clock: (planned steps, whether this step is the last)."""
        elapsed = time.perf_counter() - started
        # The pace is measured after the first few steps: the longest batch comes first and
        # the first steps pay one-off costs, so they would make the plan too short.
        if budget_s and state.step == probe[0]:
            state.probe_start = elapsed - state.eval_s
        if budget_s and state.step == probe[1]:
            step_s = (elapsed - state.eval_s - state.probe_start) / (probe[1] - probe[0])
            state.planned_steps = steps_for_budget(
                budget_s - elapsed,
                step_s,
                state.planned_steps,
                state.step,
                eval_every=eval_every,
                eval_examples=math.ceil(len(eval_data) / processes),
                batch_size=batch_size,
            )
            log.info(
                "time budget %.1f min: planning %d steps (%.2f epochs)",
                config.time_budget,
                state.planned_steps,
                state.planned_steps / steps_per_epoch,
            )
        return state.planned_steps, state.step >= state.planned_steps or bool(budget_s and elapsed > budget_s)

    def checkpoint_due() -> bool:
        return bool(checkpoints) and checkpoints.due(
            time.perf_counter() - started, state.batches_done == steps_per_epoch
        )

    def save_checkpoint(rng_by_process: list) -> None:
        state.elapsed_s = time.perf_counter() - started
        saved = checkpoints.save(
            state,
            trained_weights(accelerator.unwrap_model(model), copy=False),
            best_state,
            {
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "epoch_start": epoch_start,
                "processes": processes,
                "torch_rng_by_process": rng_by_process,
            },
        )
        for callback in callbacks:
            callback.on_checkpoint({**saved, "epoch": round(state.step / steps_per_epoch, 3)})

    baseline = (
        majority_baseline(train_data.label_counts(), eval_data.labels, train_data.label_names) if eval_data else None
    )
    budget_s = config.time_budget * 60 if config.time_budget else None
    probe = (min(10, state.planned_steps // 20 + 1), min(50, state.planned_steps // 10 + 2))  # steps that time the pace
    status = "completed"
    loop_start = time.perf_counter()
    started = (clock if clock is not None else loop_start) - state.elapsed_s  # a resumed run counts its past
    if not restored:
        state.prep_s = loop_start - started
    model.train()
    if restored:  # last, just before the first step: dropout draws continue where they stopped
        checkpoint.restore_random_states(restored)
        if processes > 1:  # each process its own dropout draws
            torch.set_rng_state(restored["training"]["torch_rng_by_process"][dist.rank()])
    try:
        for batch in batches():
            with autocast():
                loss = model(**batch).loss
            accelerator.backward(loss)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            # Summed over the processes: the global batch's loss and throughput, as one process would count them.
            examples_now = len(batch["labels"])
            loss_sum, examples_now, tokens_now = accelerator.reduce(
                torch.tensor(
                    [loss.item() * examples_now, examples_now, int(batch["attention_mask"].sum())],
                    dtype=torch.float64,
                    device=accelerator.device,
                ),
                "sum",
            ).tolist()
            state.step += 1
            state.batches_done += 1
            state.tokens_seen += int(tokens_now)
            state.examples_seen += int(examples_now)
            state.losses.append(loss_sum / examples_now)
            for callback in callbacks:
                callback.on_step(
                    state.step, state.planned_steps, float(np.mean(state.losses[-20:])), state.step / steps_per_epoch
                )

            # Decided by the main process's clock, followed by all: every process leaves at the same step.
            state.planned_steps, last_step = dist.on_main(plan_after_step, share=True)
            if eval_data is None and last_step:  # the final fit: nothing to evaluate
                break
            if eval_data is not None and (state.step % eval_every == 0 or last_step):
                tick = time.perf_counter()
                probabilities = evaluate_now()
                state.eval_s += time.perf_counter() - tick
                improved, ending = dist.on_main(lambda: judge(probabilities, last_step), share=True)
                if improved:  # keep the best weights in memory (every process: each ends with them)
                    best_state = trained_weights(accelerator.unwrap_model(model))
                if ending:
                    status = ending
                    break
            if config.checkpoint_minutes and dist.on_main(checkpoint_due, share=True):
                rng_by_process = dist.gather(torch.get_rng_state())
                dist.on_main(lambda: save_checkpoint(rng_by_process))
    except KeyboardInterrupt:
        if processes > 1:  # the others may be mid-step: stop all; the checkpoints remain for --resume
            raise
        status = "interrupted"  # keep the best weights so far: nothing is lost
        log.warning("interrupted: saving the best model so far")
    train_s = time.perf_counter() - started - state.eval_s
    model = accelerator.unwrap_model(model)
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    result = loop_result(model, state, status, batch_size, epochs, train_s, bf16)
    if processes > 1:
        gradient_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        result.update(
            batch_size_per_process=batch_size // processes,
            peak_rss_mb_by_process=dist.gather(result["peak_rss_mb"]),
            gradient_mb_per_step=round(gradient_bytes / 1e6, 1),
        )  # what each process all-reduces a step
    return result
