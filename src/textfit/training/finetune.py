"""Full fine-tuning with Accelerate: the same loop runs on a laptop CPU, on GPUs, or on several
processes together (distributed.py: each trains on its share of every batch).

Read top to bottom: `finetune` sets a run up and returns its `LoopResult`; `FineTuning.fit_loop`
runs the epochs, `run_single_epoch` the batches of one, `train_step` one optimiser step, and
`after_step` what follows a step: the time budget's plan, an evaluation and its verdict (judge.py),
a checkpoint. The progress lives in `state` (loop.LoopState, what a checkpoint saves)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..data.labeled import LabeledTexts
from ..model.base_models import output_layer
from ..model.blend import HeldOutBlend
from ..model.classifier import Classifier
from ..model.evaluate import compute_metrics, majority_baseline
from ..model.windows import Windows
from . import checkpoint
from . import distributed as dist
from .callbacks import Callback
from .judge import Plan, TimeBudget, judge, pace_after_step
from .loop import (
    LoopResult,
    LoopState,
    build_optimizer,
    evaluation_done,
    loop_result,
    start_clock,
    step_done,
    train_begins,
    trained_weights,
    use_bf16,
    warmup_then_decay,
)
from .whole_texts import WholeTextCollator, parts, pooled_loss, text_examples, tokens_in

log = logging.getLogger("textfit")


def default_epochs(examples: int, multi_label: bool = False) -> int:
    """Small data needs more passes to take enough optimiser steps; early stopping trims the rest.
    Several labels a text take twice as many: each label learns from its own few positive texts
    (GoEmotions, 28 labels, 6,400 rows: macro-F1 0.410 after 3 epochs, 0.443 after 6)."""
    one_label = int(min(20, max(3, math.ceil(4000 / max(1, examples)))))
    return min(20, 2 * one_label) if multi_label else one_label


HEAD_LR_FACTOR_SEVERAL_LABELS = 10.0
"""A sigmoid head over several labels a text learns at 10x the encoder's learning rate: each label's
weights see few positive examples, and at the encoder's rate the rare labels are never given
(GoEmotions, 28 labels, 6,400 rows, 3 epochs, base-rate start: macro-F1 0.365 at 1x, 0.410 at 10x)."""


def head_learning_rate(model, train_data: LabeledTexts) -> dict:
    """build_optimizer's arguments for the head: its own rate for several labels a text; one label a
    text keeps one rate for every weight, as its recipe was measured."""
    if not train_data.multi_label:
        return {}
    return {"head": list(output_layer(model).parameters()), "head_lr_factor": HEAD_LR_FACTOR_SEVERAL_LABELS}


def budget_epochs(examples: int, multi_label: bool = False) -> int:
    """The most epochs a time budget plans for: past ~8 passes accuracy stops rising (finance
    topics: 0.883 after 5 epochs, 0.897 after 8, 0.891 after 12), so a generous budget ends early."""
    return max(8, default_epochs(examples, multi_label))


def finetune(
    model,
    tokenizer,
    config: TrainConfig,
    max_length: int,
    train_data: LabeledTexts,
    eval_data: LabeledTexts | None,
    callbacks: list[Callback],
    held_out: HeldOutBlend | None = None,
    clock: float | None = None,
    checkpoints: checkpoint.Checkpoints | None = None,
    restored: dict | None = None,
    steps: int | None = None,
    final_fit_examples: int | None = None,
) -> LoopResult:
    """Fine-tune `model` on `train_data`, evaluating on `eval_data` (module docstring).

    Evaluations score `held_out`'s answers (the n-gram blend, blend.py) where given; elapsed time, the time budget
    and `train_s` count from `clock` (default: now), so work done before the loop is counted.
    With `checkpoints`, the loop saves its state when one is due; it starts from `restored` (the
    checkpoint they loaded, default theirs), if any, rather than from the beginning. With `steps`
    (the final fit: `eval_data` None), it takes exactly that many steps and evaluates nothing.
    `final_fit_examples`: the examples a final fit will train on after this run; told to the
    callbacks, so a time-left estimate can count it."""
    if restored is None and checkpoints:
        restored = checkpoints.restored
    run = FineTuning.start(
        model, tokenizer, config, max_length, train_data, eval_data, callbacks, held_out, checkpoints, restored, steps
    )
    train_begins(callbacks, run.begin_info(final_fit_examples))
    run.started = start_clock(run.state, clock, fresh=not restored)
    run.model.train()
    if restored:  # last, just before the first step: dropout draws continue where they stopped
        checkpoint.restore_random_states(restored)
        if run.processes > 1:  # each process its own dropout draws
            import torch

            torch.set_rng_state(restored["training"]["torch_rng_by_process"][dist.rank()])
    return run.result(run.fit_loop())


@dataclass
class FineTuning:
    """One fine-tuning run: what it trains with (set up by `start`), and where it stands."""

    config: TrainConfig
    accelerator: Any
    model: Any
    """Prepared by Accelerate (wrapped across processes; `accelerator.unwrap_model` gives the model)."""
    optimizer: Any
    schedule: Any
    """The learning rate's: it reads `state.planned_steps` as it goes, so a time budget's plan reshapes it."""
    loader: Any
    generator: Any
    """Draws the batch order (not torch's global generator): an epoch's batches follow from its state
    at the epoch's start, which a checkpoint keeps (`epoch_start`)."""
    tokenizer: Any
    max_length: int
    train_data: LabeledTexts
    eval_data: LabeledTexts | None
    callbacks: list[Callback]
    plan: Plan
    state: LoopState
    best_weights: dict | None
    epoch_start: Any
    bf16: bool
    budget: TimeBudget | None = None
    baseline: dict | None = None
    held_out: HeldOutBlend | None = None
    checkpoints: checkpoint.Checkpoints | None = None
    started: float = 0.0
    """The training clock's start (loop.start_clock)."""

    @classmethod
    def start(
        cls,
        model,
        tokenizer,
        config,
        max_length,
        train_data,
        eval_data,
        callbacks,
        held_out,
        checkpoints,
        restored,
        steps,
    ) -> FineTuning:
        """The batches, the plan, the optimiser and its schedule, restored from `restored` if given."""
        import torch

        # Autocast by hand, not Accelerator(mixed_precision=...): Accelerate keeps one state per
        # process and refuses a second run with another precision (the Python API, tests, sweeps).
        accelerator = dist.accelerator()
        loader, generator, batch_size = training_batches(tokenizer, train_data, max_length, config, accelerator)
        examples = len(train_data)
        planned = budget_epochs if config.time_budget else default_epochs
        epochs = config.epochs or planned(examples, train_data.multi_label)
        if steps:
            epochs = math.ceil(steps / len(loader))
        plan = Plan(
            epochs=epochs,
            steps_per_epoch=len(loader),
            eval_every=max(1, len(loader) // max(1, config.evals_per_epoch)),
            batch_size=batch_size,
            eval_examples=math.ceil(len(eval_data) / dist.world_size()) if eval_data is not None else 0,
        )
        # planned_steps shrinks once a time budget's pace is known; the schedule reads it as it goes
        state = restored["state"] if restored else LoopState(planned_steps=steps or plan.all_steps)
        optimizer = build_optimizer(model, config, **head_learning_rate(model, train_data))
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
        if dist.world_size() > 1:
            log.info(
                "%d processes (%s): batches of %d, %d per process; throughput figures count all of them",
                dist.world_size(),
                dist.description()["backend"],
                batch_size,
                batch_size // dist.world_size(),
            )
        return cls(
            config=config,
            accelerator=accelerator,
            model=model,
            optimizer=optimizer,
            schedule=schedule,
            loader=loader,
            generator=generator,
            tokenizer=tokenizer,
            max_length=max_length,
            train_data=train_data,
            eval_data=eval_data,
            callbacks=callbacks,
            plan=plan,
            state=state,
            best_weights=restored["best_weights"] if restored else None,
            epoch_start=restored["training"]["epoch_start"] if restored else generator.get_state(),
            bf16=use_bf16(config),
            budget=TimeBudget.of(config.time_budget, state.planned_steps),
            # several labels per text: evaluations are kept by macro-F1 alone (the report has its yardstick)
            baseline=majority_baseline(train_data.label_counts(), eval_data.labels, train_data.label_names)
            if eval_data and not train_data.multi_label
            else None,
            held_out=held_out,
            checkpoints=checkpoints,
        )

    @property
    def processes(self) -> int:
        return dist.world_size()

    def begin_info(self, final_fit_examples: int | None) -> dict:
        """What the callbacks hear as training begins."""
        info = {
            "strategy": "finetune",
            "phase": "training" if self.eval_data is not None else "final fit",
            "total_steps": self.state.planned_steps,
            "epochs": self.plan.epochs,
            "examples": len(self.train_data),
            "batch_size": self.plan.batch_size,
            "max_length": self.max_length,
            "labels": self.train_data.label_names,
            "processes": self.processes,
        }
        if final_fit_examples:  # a final fit follows this run: the studio's time left counts it too
            info["final_fit_examples"] = final_fit_examples
        return info

    def autocast(self):
        import torch

        return torch.autocast(self.accelerator.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def fit_loop(self) -> str:
        """The epochs from where `state` stands; returns the run's status."""
        try:
            for epoch in range(self.state.epoch, self.plan.epochs):
                ending = self.run_single_epoch(epoch)
                if ending:
                    return ending
        except KeyboardInterrupt:
            if self.processes > 1:  # the others may be mid-step: stop all; the checkpoints remain for --resume
                raise
            log.warning("interrupted: saving the best model so far")
            return "interrupted"  # keep the best weights so far: nothing is lost
        return "completed"

    def run_single_epoch(self, epoch: int) -> str | None:
        """An epoch's batches; an epoch a checkpoint had started replays its batch order and skips
        the batches it had done. Returns why training ends, or None when the epoch ends."""
        if self.state.batches_done:
            self.generator.set_state(self.epoch_start)
            batches = self.accelerator.skip_first_batches(self.loader, self.state.batches_done)
        else:
            self.epoch_start = self.generator.get_state()
            batches = self.loader
        for batch in batches:
            self.train_step(batch)
            ending = self.after_step()
            if ending:
                return ending
        self.state.end_epoch(epoch)
        return None

    def train_step(self, batch) -> None:
        """One optimiser step on `batch`. A batch of long texts is run in parts of whole texts
        (whole_texts.parts), their gradients summed; processes synchronise on the last part only."""
        import contextlib

        import torch

        batch_parts = parts(batch, max_rows=self.plan.batch_size)
        loss = 0.0
        for index, (part, share) in enumerate(batch_parts):
            last = index == len(batch_parts) - 1
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                with self.autocast():
                    part_loss = pooled_loss(self.model, part, self.train_data.multi_label) * share
                self.accelerator.backward(part_loss)
            loss += part_loss.detach()
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        # Summed over the processes: the global batch's loss and throughput, as one process would count them.
        examples = len(batch["labels"])
        loss_sum, examples, tokens = self.accelerator.reduce(
            torch.tensor(
                [loss.item() * examples, examples, int(batch["attention_mask"].sum())],
                dtype=torch.float64,
                device=self.accelerator.device,
            ),
            "sum",
        ).tolist()
        step_done(
            self.state,
            self.callbacks,
            self.plan.steps_per_epoch,
            loss=loss_sum / examples,
            examples=int(examples),
            tokens=int(tokens),
        )

    def after_step(self) -> str | None:
        """Plan, evaluate, checkpoint; returns why training ends here, or None to go on."""
        # Decided by the main process's clock, followed by all: every process leaves at the same step.
        self.state.planned_steps, last_step = dist.on_main(self.pace, share=True)
        if self.eval_data is None:  # the final fit: nothing to evaluate
            if last_step:
                return "completed"
        elif self.state.step % self.plan.eval_every == 0 or last_step:
            ending = self.evaluate(last_step)
            if ending:
                return ending
        if self.config.checkpoint_minutes and dist.on_main(self.checkpoint_due, share=True):
            import torch

            rng_by_process = dist.gather(torch.get_rng_state())
            dist.on_main(lambda: self.save_checkpoint(rng_by_process))
        return None

    def pace(self) -> tuple[int, bool]:
        """Main process, by its clock: (planned steps, whether this step is the last)."""
        pace = pace_after_step(self.state, self.elapsed(), self.budget, self.plan)
        self.state.probe_start = pace.probe_start
        if pace.replanned:
            log.info(
                "time budget %.1f min: planning %d steps (%.2f epochs)",
                self.config.time_budget,
                pace.planned_steps,
                pace.planned_steps / self.plan.steps_per_epoch,
            )
        return pace.planned_steps, pace.last_step

    def evaluate(self, last_step: bool) -> str | None:
        """Score the held-out examples (each process a slice), judge on the main process; every
        process keeps the best weights in memory, so each ends with them. Returns the ending."""
        tick = time.perf_counter()
        classifier = Classifier(
            self.accelerator.unwrap_model(self.model),
            self.tokenizer,
            self.train_data.label_names,
            max_length=self.max_length,
            windows=Windows(self.config.max_windows),
        )
        with self.autocast():
            parts = dist.across_processes(classifier.encoder_proba, self.eval_data.texts)
        self.model.train()
        self.state.eval_s += time.perf_counter() - tick
        best, ending = dist.on_main(lambda: self.judge(np.concatenate(parts), last_step), share=True)
        if best:
            self.best_weights = trained_weights(self.accelerator.unwrap_model(self.model))
        return ending

    def judge(self, encoder_probabilities: np.ndarray, last_step: bool) -> tuple[bool, str | None]:
        """Main process: record the evaluation; (whether it is the best so far, why the loop ends or None)."""
        probabilities = self.held_out.answers(encoder_probabilities) if self.held_out else encoder_probabilities
        metrics = held_out_metrics(self.eval_data, probabilities)
        if self.held_out and self.held_out.weight is not None:
            metrics["lexical_weight"] = self.held_out.weight
        elapsed_s = self.elapsed()
        verdict = judge(
            metrics,
            self.state,
            baseline=self.baseline,
            patience=self.config.early_stopping_patience,
            last_step=last_step,
            elapsed_s=elapsed_s,
            budget=self.budget,
            plan=self.plan,
        )
        entry = self.state.evaluation(
            metrics,
            loss_over=self.plan.eval_every,
            elapsed_s=elapsed_s,
            best=verdict.best,
            steps_per_epoch=self.plan.steps_per_epoch,
        )
        evaluation_done(self.state, self.callbacks, entry)
        self.state.stale = verdict.stale
        if verdict.best:
            self.state.best = entry
        if verdict.ending:
            log.debug("training ends at step %d: %s", self.state.step, verdict.why)
        return verdict.best, verdict.ending

    def checkpoint_due(self) -> bool:
        return bool(self.checkpoints) and self.checkpoints.due(
            self.elapsed(), self.state.batches_done == self.plan.steps_per_epoch
        )

    def save_checkpoint(self, rng_by_process: list) -> None:
        self.state.elapsed_s = self.elapsed()
        saved = self.checkpoints.save(
            self.state,
            trained_weights(self.accelerator.unwrap_model(self.model), copy=False),
            self.best_weights,
            {
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "epoch_start": self.epoch_start,
                "processes": self.processes,
                "torch_rng_by_process": rng_by_process,
            },
        )
        for callback in self.callbacks:
            callback.on_checkpoint({**saved, "epoch": round(self.state.step / self.plan.steps_per_epoch, 3)})

    def result(self, status: str) -> LoopResult:
        """The model with the best weights kept, and what the run record says of the loop."""
        train_s = self.elapsed() - self.state.eval_s
        model = self.accelerator.unwrap_model(self.model)
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights, strict=False)
        model.eval()
        result = loop_result(model, self.state, status, self.plan.batch_size, self.plan.epochs, train_s, self.bf16)
        if self.processes > 1:  # what each process all-reduces a step
            gradient_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
            result.per_process = {
                "batch_size_per_process": self.plan.batch_size // self.processes,
                "peak_rss_mb_by_process": dist.gather(result.peak_rss_mb),
                "gradient_mb_per_step": round(gradient_bytes / 1e6, 1),
            }
        return result


def held_out_metrics(eval_data: LabeledTexts, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy and F1 on the held-out texts; with several labels per text, at thresholds chosen per
    label and cross-fitted (model/thresholds.py), so the kept evaluation is judged as the model will answer."""
    if not eval_data.multi_label:
        return compute_metrics(eval_data.labels, probabilities.argmax(axis=1))
    from ..model import thresholds
    from ..model.multilabel_report import multilabel_metrics

    targets = eval_data.label_matrix()
    return multilabel_metrics(targets, thresholds.cross_fitted(probabilities, targets))


def training_batches(tokenizer, train_data: LabeledTexts, max_length: int, config: TrainConfig, accelerator):
    """(loader, its generator, the global batch size): batches of texts grouped by length, padded per
    batch. A text longer than `max_length` is one example of several windows (whole_texts.py)."""
    import torch
    from torch.utils.data import DataLoader
    from transformers.trainer_pt_utils import LengthGroupedSampler

    # several labels per text: a 0/1 float per label, which the sigmoid head's BCE loss reads
    labels = train_data.label_matrix().tolist() if train_data.multi_label else train_data.labels
    examples = text_examples(tokenizer, train_data.texts, labels, max_length, Windows(config.max_windows))
    # The batch size is global: examples per optimiser step, split evenly between the processes.
    processes = dist.world_size()
    batch_size = min(config.batch_size, max(8, len(examples) // 8))
    batch_size = math.ceil(batch_size / processes) * processes
    generator = torch.Generator().manual_seed(config.seed)
    sampler = LengthGroupedSampler(batch_size, lengths=[tokens_in(e) for e in examples], generator=generator)
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
            collate_fn=WholeTextCollator(tokenizer, pad_to_multiple_of=8),
        )
    )
    return loader, generator, batch_size
