"""Fine-tune a pretrained encoder into a text classifier.

The recipe, top to bottom:
 1. data: load, validate, split and sample (data.py);
 2. tokenizer: the base model's, with URL/HTML cleaning baked in; `max_length` from the data;
 3. model: the base encoder with a fresh head sized and named for the labels, reading the mean
    of the token vectors (models.add_mean_pooling_layer);
 4. batches: grouped by length and padded per batch, never to 512 tokens;
 5. optimiser: AdamW, linear warm-up then decay, sized to the epochs or to a time budget;
 6. n-grams: a TF-IDF linear model of the same labels, blended with the encoder (lexical.py);
 7. loop: evaluate each epoch (blended), keep the best weights by macro-F1 (among the evaluations
    that clearly beat the majority-class baseline, when any does: evaluate.improves_on), stop early
    when it stalls; checkpoint the whole state every few minutes, so a killed run resumes (checkpoint.py);
 8. calibration: one temperature fitted on the held-out answers, for honest confidences (calibration.py);
 9. save: weights, n-gram model, calibration, tokenizer, run record, evaluation report and model card (save.py).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoint
from .calibration import calibrate
from .callbacks import Callback
from .classifier import Classifier
from .config import TrainConfig
from .data import LabeledTexts, load_train_eval
from .errors import TextfitError
from .evaluate import EvaluationReport, build_report, compute_metrics, improves_on, majority_baseline
from .fewshot import fit_fewshot, head_shape
from .lexical import fit_lexical, tokenizer_normalizer
from .loop import (LoopState, attention_for_training, build_optimizer, loop_result, steps_for_budget, trained_weights,
                   use_bf16, warmup_then_decay)
from .models import DEFAULT_ALIASES, add_mean_pooling_layer, build_classifier, load_tokenizer

log = logging.getLogger("textfit")


@dataclass
class TrainResult:
    folder: Path
    classifier: Classifier
    report: EvaluationReport
    record: dict


def train(config: TrainConfig, out_dir: str | Path, callbacks: list[Callback] = (),
          data: tuple[LabeledTexts, LabeledTexts] | None = None, resume: bool = False) -> TrainResult:
    """Train a classifier as `config` says and save it to `out_dir`. With `resume`, continue the
    interrupted run whose checkpoints lie beside `out_dir` (checkpoint.py) with the same config."""
    from transformers import set_seed

    from .save import build_record, save_model

    started = time.time()
    if config.pooling not in ("mean", "cls"):
        raise TextfitError(f"unknown pooling '{config.pooling}': choose mean or cls")
    if not 0 <= config.lexical_weight < 1:
        raise TextfitError(f"lexical_weight {config.lexical_weight} must be at least 0 (off) and below 1")
    if resume and checkpoint.latest(out_dir) is None:  # said before the data is read
        raise TextfitError(f"nothing to resume in {checkpoint.folder_for(out_dir)}; start without --resume")
    train_data, eval_data = data or load_train_eval(config)
    strategy = choose_strategy(config, train_data)
    checkpoints = checkpoint.begin(out_dir, config, checkpoint.data_fingerprint(train_data, eval_data), strategy, resume)
    if resume:
        step = checkpoints.run["resumed"][-1]["from_step"]
        log.info(f"resuming from step {step}" if step else "resuming: no checkpoint had been written, so starting over")
        for callback in callbacks:
            callback.on_checkpoint({"event": "resumed", **checkpoints.run["resumed"][-1]})
    if strategy == "fewshot" and config.model in DEFAULT_ALIASES:
        log.info("tip: with few examples a larger encoder pays: `textfit download-model all-mpnet-base-v2`, then "
                 "--model all-mpnet-base-v2 (8 finance tweets per class, one sample: 0.73 against 0.62; ~6x the training time)")
    set_seed(config.seed)

    tokenizer = load_tokenizer(config.model, strip_urls=config.strip_urls)
    lengths = token_lengths(tokenizer, train_data.texts)
    max_length = config.max_length or choose_max_length(lengths, config.max_length_cap)
    model = build_classifier(config.model, train_data.label_names)
    if (config.pooling == "mean" or strategy == "fewshot") and not add_mean_pooling_layer(model):
        log.info("%s is not a BERT-style model: its classifier reads [CLS], not the mean", config.model)
    if strategy == "fewshot" and head_shape(model) is None:
        log.warning("fewshot knows two heads (BERT's linear head over the pooler, and dense -> out_proj "
                    "over the first token as in MPNet); %s has neither, so fine-tuning it instead",
                    model.config.model_type)
        strategy = "finetune"
    log.info("%s: %d training / %d evaluation examples, %d labels, max_length %d",
             strategy, len(train_data), len(eval_data), len(train_data.label_names), max_length)

    clock = time.perf_counter()  # training time counts from here: the n-gram model's fit included
    saved_lexical = checkpoints.saved_lexical(tokenizer_normalizer(tokenizer)) if resume else None
    lexical, lexical_s = saved_lexical or fit_lexical(train_data, tokenizer, config.lexical_weight)
    if lexical:
        log.info("n-gram model fitted in %.1f s; blended with the encoder at weight %g", lexical_s, lexical.weight)
        if checkpoints:
            checkpoints.keep_lexical(lexical, lexical_s)
    with attention_for_training(model):
        if strategy == "fewshot":  # minutes at most: no checkpoints, a resumed run starts over
            loop = fit_fewshot(model, tokenizer, config, max_length, train_data, eval_data, callbacks, lexical, clock)
        else:
            loop = finetune(model, tokenizer, config, max_length, train_data, eval_data, callbacks, lexical, clock,
                            checkpoints)

    classifier = Classifier(loop["model"], tokenizer, train_data.label_names, max_length=max_length, lexical=lexical)
    encoder_probabilities = loop.pop("eval_encoder_probabilities", None)  # the loop's scores of the kept weights
    if encoder_probabilities is None:
        encoder_probabilities = classifier.encoder_proba(eval_data.texts)
    probabilities = classifier.blend(encoder_probabilities, eval_data.texts)
    # Fitted on the held-out answers after training (calibration.py says why that is acceptable);
    # it changes confidences, never the top label, so the report's metrics are the same either way.
    classifier.calibration = calibrate(probabilities, eval_data.labels)
    if classifier.calibration:
        loop["calibration"] = classifier.calibration.to_dict()
        probabilities = classifier.calibration.apply(probabilities)
    report = build_report(eval_data, probabilities, train_data.label_counts())
    if lexical:  # what the encoder alone (plain `transformers.pipeline`) scores, for the record
        loop["lexical"] = {"weight": lexical.weight, "fit_s": round(lexical_s, 2),
                           "encoder_metrics": compute_metrics(eval_data.labels, encoder_probabilities.argmax(axis=1))}
    record = build_record(config, strategy, train_data, eval_data, max_length, loop, report, time.time() - started)
    if checkpoints and checkpoints.run["resumed"]:
        record["resumed"] = checkpoints.run["resumed"]
    folder = save_model(out_dir, classifier, record, report)
    if checkpoints:
        checkpoints.remove()
    classifier.folder, classifier.record = folder, record
    for callback in callbacks:
        callback.on_train_end(record)
    return TrainResult(folder, classifier, report, record)


def choose_strategy(config: TrainConfig, data: LabeledTexts) -> str:
    """'fewshot' when examples are scarce (fewer per class than `config.fewshot_below`), else
    'finetune'; an explicit `config.strategy` wins. Logs which one and why."""
    if config.strategy not in ("auto", "finetune", "fewshot"):
        raise TextfitError(f"unknown strategy '{config.strategy}': choose auto, finetune or fewshot")
    per_class = len(data) / max(1, len(data.label_names))
    if config.strategy != "auto":
        log.info("strategy %s (chosen with --strategy; %.1f training examples per class)", config.strategy, per_class)
        return config.strategy
    strategy = "fewshot" if per_class < config.fewshot_below else "finetune"
    log.info("strategy %s (auto): %.1f training examples per class is %s the few-shot threshold of %g",
             strategy, per_class, "below" if strategy == "fewshot" else "at or above", config.fewshot_below)
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


def finetune(model, tokenizer, config: TrainConfig, max_length: int, train_data: LabeledTexts,
             eval_data: LabeledTexts, callbacks: list[Callback], lexical=None, clock: float | None = None,
             checkpoints: checkpoint.Checkpoints | None = None) -> dict:
    """Full fine-tuning with Accelerate: the same loop runs on a laptop CPU or on GPUs.

    Evaluations blend in `lexical` (the n-gram model) where given; elapsed time, the time budget
    and `train_s` count from `clock` (default: now), so work done before the loop is counted.
    With `checkpoints`, the loop saves its state when one is due, and starts from the one they
    restored, if any, rather than from the beginning."""
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    # Autocast by hand, not Accelerator(mixed_precision=...): Accelerate keeps one state per
    # process and refuses a second run with another precision (the Python API, tests, sweeps).
    accelerator = Accelerator()
    bf16 = use_bf16(config)

    def autocast():
        return torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16)

    encoded = tokenizer(train_data.texts, truncation=True, max_length=max_length)
    examples = [{"input_ids": ids, "attention_mask": mask, "labels": label}
                for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], train_data.labels)]
    batch_size = min(config.batch_size, max(8, len(examples) // 8))
    generator = torch.Generator().manual_seed(config.seed)
    sampler = LengthGroupedSampler(batch_size, lengths=[len(e["input_ids"]) for e in examples], generator=generator)
    # The loader draws from `generator` too (not from torch's global one): an epoch's batches then
    # follow from the generator's state at its start, which a checkpoint keeps.
    loader = DataLoader(examples, batch_size=batch_size, sampler=sampler, generator=generator,
                        collate_fn=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8))

    epochs = config.epochs or (budget_epochs(len(examples)) if config.time_budget else default_epochs(len(examples)))
    steps_per_epoch = len(loader)
    eval_every = max(1, steps_per_epoch // max(1, config.evals_per_epoch))
    restored = checkpoints.restored if checkpoints else None
    # planned_steps shrinks once a time budget's pace is known; the schedule reads it as it goes
    state = restored["state"] if restored else LoopState(planned_steps=epochs * steps_per_epoch)
    best_state = restored["best_weights"] if restored else None
    epoch_start = restored["training"]["epoch_start"] if restored else generator.get_state()

    optimizer = build_optimizer(model, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_then_decay(s, state.planned_steps, config.warmup_ratio))
    if restored:
        model.load_state_dict(restored["weights"], strict=False)
    model, optimizer, loader, schedule = accelerator.prepare(model, optimizer, loader, schedule)
    if restored:
        optimizer.load_state_dict(restored["training"]["optimizer"])
        schedule.load_state_dict(restored["training"]["schedule"])

    info = {"strategy": "finetune", "total_steps": state.planned_steps, "epochs": epochs, "examples": len(examples),
            "batch_size": batch_size, "max_length": max_length, "labels": train_data.label_names}
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

    def evaluate_now() -> dict:
        classifier = Classifier(accelerator.unwrap_model(model), tokenizer, train_data.label_names,
                                max_length=max_length, lexical=lexical)
        with autocast():
            probabilities = classifier.predict_proba(eval_data.texts)
        model.train()
        return compute_metrics(eval_data.labels, probabilities.argmax(axis=1))

    def save_checkpoint() -> None:
        state.elapsed_s = time.perf_counter() - started
        saved = checkpoints.save(state, trained_weights(accelerator.unwrap_model(model), copy=False), best_state,
                                 {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                  "epoch_start": epoch_start})
        for callback in callbacks:
            callback.on_checkpoint({**saved, "epoch": round(state.step / steps_per_epoch, 3)})

    baseline = majority_baseline(train_data.label_counts(), eval_data.labels, train_data.label_names)
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
    try:
        for batch in batches():
            with autocast():
                loss = model(**batch).loss
            accelerator.backward(loss)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.batches_done += 1
            state.tokens_seen += int(batch["attention_mask"].sum())
            state.examples_seen += len(batch["labels"])
            state.losses.append(loss.item())
            for callback in callbacks:
                callback.on_step(state.step, state.planned_steps, float(np.mean(state.losses[-20:])),
                                 state.step / steps_per_epoch)

            elapsed = time.perf_counter() - started
            # The pace is measured after the first few steps: the longest batch comes first and
            # the first steps pay one-off costs, so they would make the plan too short.
            if budget_s and state.step == probe[0]:
                state.probe_start = elapsed - state.eval_s
            if budget_s and state.step == probe[1]:
                step_s = (elapsed - state.eval_s - state.probe_start) / (probe[1] - probe[0])
                state.planned_steps = steps_for_budget(budget_s - elapsed, step_s, state.planned_steps, state.step,
                                                       eval_every=eval_every, eval_examples=len(eval_data),
                                                       batch_size=batch_size)
                log.info("time budget %.1f min: planning %d steps (%.2f epochs)", config.time_budget,
                         state.planned_steps, state.planned_steps / steps_per_epoch)
            last_step = state.step >= state.planned_steps or bool(budget_s and elapsed > budget_s)
            if state.step % eval_every == 0 or last_step:
                tick = time.perf_counter()
                metrics = evaluate_now()
                state.eval_s += time.perf_counter() - tick
                improved = improves_on(metrics, state.best, baseline)
                entry = {"epoch": round(state.step / steps_per_epoch, 3), "step": state.step,
                         "loss": float(np.mean(state.losses[-eval_every:])), **metrics,
                         "elapsed_s": round(time.perf_counter() - started, 1), "best": improved}
                state.history.append(entry)
                for callback in callbacks:
                    callback.on_evaluate(entry)
                if improved:  # keep the best weights in memory; restored at the end
                    state.best, state.stale = entry, 0
                    best_state = trained_weights(accelerator.unwrap_model(model))
                else:
                    state.stale += 1
                if state.stale >= config.early_stopping_patience:
                    status = "stopped early"
                    break
                if last_step:
                    break
            if checkpoints and checkpoints.due(time.perf_counter() - started, state.batches_done == steps_per_epoch):
                save_checkpoint()
    except KeyboardInterrupt:
        status = "interrupted"  # keep the best weights so far: nothing is lost
        log.warning("interrupted: saving the best model so far")
    train_s = time.perf_counter() - started - state.eval_s
    model = accelerator.unwrap_model(model)
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    return loop_result(model, state, status, batch_size, epochs, train_s, bf16)
