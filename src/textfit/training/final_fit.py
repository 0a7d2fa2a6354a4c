"""The final fit: with enough held-out examples, once the hold-out run has chosen the schedule (its
steps, the n-gram weight), a fresh model learns from every example, the held-out ones included. The
figures stay the hold-out run's: the final model's own accuracy cannot be measured on examples it
learned from."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

from ..config import TrainConfig
from ..data.labeled import LabeledTexts
from ..model.lexical import fit_lexical
from . import distributed as dist
from .callbacks import Callback
from .finetune import finetune
from .loop import LoopResult, attention_for_training
from .setup import Run, new_model

log = logging.getLogger("textfit")

STOPPED_BEFORE_FINAL_FIT = "stopped before the final fit: the saved model is the hold-out run's"
STOPPED_IN_FINAL_FIT = "stopped during the final fit: the saved model is the hold-out run's"
HOLD_OUT_SHARE = 0.45
"""Of a time budget, the hold-out run's share when a final fit follows: the final fit trains on
1.25x the examples for the steps the hold-out chose, with no evaluations to pay for."""
FINAL_FIT_MIN_HELD_OUT = 100
"""Held-out examples from which the final fit is on by default: fewer add little to learn from."""


@dataclass
class FinalFit:
    """A final fit's outcome: with `done`, the model (and its n-gram model) to save; else why not."""

    done: bool
    why: str | None = None
    model: Any = None
    lexical: Any = None
    examples: int = 0
    steps: int = 0
    epochs: float = 0.0
    status: str = ""
    train_s: float = 0.0

    @classmethod
    def skipped(cls, why: str) -> FinalFit:
        return cls(done=False, why=why)

    def to_record(self) -> dict:
        """What the run record's `final_fit` says of it."""
        if not self.done:
            return {"done": False, "why": self.why}
        return {
            "done": True,
            "examples": self.examples,
            "steps": self.steps,
            "epochs": self.epochs,
            "status": self.status,
            "train_s": self.train_s,
        }


def wants_final_fit(config: TrainConfig, strategy: str, eval_data: LabeledTexts) -> tuple[bool, str]:
    """Whether the saved model is trained again on every example once the hold-out run has chosen
    its schedule, and why (for the log and the run record)."""
    if config.final_fit is False:
        return False, "off (--no-final-fit): the saved model is the hold-out run's"
    if config.unlabeled:
        return False, "not with --unlabeled: the saved model is the one that learned from the unlabeled texts"
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


def hold_out_config(config: TrainConfig, final_fit: bool) -> TrainConfig:
    """A time budget covers both fits: the hold-out run takes its share, the final fit the rest."""
    if final_fit and config.time_budget:
        return replace(config, time_budget=config.time_budget * HOLD_OUT_SHARE)
    return config


def after_hold_out(
    run: Run, wanted: tuple[bool, str], stopped: bool, loop: LoopResult, lexical, clock: float
) -> FinalFit:
    """The final fit where `wanted` (wants_final_fit) and the run was not `stopped` meanwhile (a
    Stop noted after training, or the hold-out run interrupted); a Stop during it keeps the hold-out
    run's model. The time budget left counts from `clock`, the training clock."""
    final_fit, why = wanted
    if not final_fit:
        return FinalFit.skipped(why)
    if stopped or loop.status == "interrupted":
        log.warning("final fit skipped: %s", STOPPED_BEFORE_FINAL_FIT)
        return FinalFit.skipped(STOPPED_BEFORE_FINAL_FIT)
    config = run.config
    budget_left_s = config.time_budget * 60 - (time.perf_counter() - clock) if config.time_budget else None
    try:
        return fit_final_model(
            config,
            run.tokenizer,
            run.max_length,
            run.train_data,
            run.eval_data,
            loop,
            lexical,
            run.callbacks,
            budget_left_s,
        )
    except KeyboardInterrupt:  # a Stop before or after the final fit's loop: the same outcome as during it
        if dist.world_size() > 1:
            raise
        log.warning("final fit stopped: %s", STOPPED_IN_FINAL_FIT)
        return FinalFit.skipped(STOPPED_IN_FINAL_FIT)


def fit_final_model(
    config: TrainConfig,
    tokenizer,
    max_length: int,
    train_data: LabeledTexts,
    eval_data: LabeledTexts,
    loop: LoopResult,
    lexical,
    callbacks: list[Callback],
    budget_left_s: float | None,
) -> FinalFit:
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
        train_data.multi_label,
        train_data.label_layout,
    )
    kept = loop.best or loop.history[-1]
    steps = max(1, round(kept["step"] * len(everything) / len(train_data)))
    if budget_left_s is not None:
        step_s = loop.timings["train_s"] / max(1, loop.steps)
        affordable = int(budget_left_s / step_s)
        if affordable < steps // 2:
            log.warning(
                "final fit skipped: the time budget left (%.0f s) pays for %d of its %d steps; the saved "
                "model is the hold-out run's",
                budget_left_s,
                affordable,
                steps,
            )
            return FinalFit.skipped(f"the time budget left paid for {affordable} of {steps} steps")
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
    model = new_model(config, everything, mean_pooling=config.pooling == "mean")
    with attention_for_training(model):
        result = finetune(
            model, tokenizer, replace(config, time_budget=None), max_length, everything, None, callbacks, steps=steps
        )
    if result.status == "interrupted":  # half a final fit is worse than the hold-out run's model
        log.warning("final fit stopped: %s", STOPPED_IN_FINAL_FIT)
        return FinalFit.skipped(STOPPED_IN_FINAL_FIT)
    return FinalFit(
        done=True,
        model=result.model,
        lexical=dist.on_main(lambda: refit_ngrams(lexical, everything, tokenizer)),
        examples=len(everything),
        steps=steps,
        epochs=round(steps / math.ceil(len(everything) / result.batch_size), 2),
        status=result.status,
        train_s=round(time.perf_counter() - started, 1),
    )


def refit_ngrams(lexical, everything: LabeledTexts, tokenizer):
    """The n-gram model fitted again on every example, at the weight the hold-out run chose (unshrunk)."""
    if not lexical or lexical.weight <= 0:
        return None
    refitted, _ = fit_lexical(everything, tokenizer, lexical.weight)
    if refitted:
        refitted.weight = lexical.weight
    return refitted
