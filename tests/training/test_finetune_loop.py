"""The fine-tuning loop in its parts (finetune.py), on a tiny BERT and 64 examples: one step, one
epoch, the whole loop and its typed result; and the bookkeeping every loop shares (loop.py)."""

from __future__ import annotations

import pytest

from textfit import TrainConfig
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_train_eval
from textfit.model.base_models import load_tokenizer
from textfit.training.callbacks import Callback
from textfit.training.finetune import FineTuning, finetune
from textfit.training.loop import LoopResult, LoopState, evaluation_done, start_clock, step_done
from textfit.training.setup import new_model


class Heard(Callback):
    def __init__(self):
        self.steps, self.evaluations = [], []

    def on_step(self, step, total_steps, loss, epoch):
        self.steps.append((step, total_steps, loss, epoch))

    def on_evaluate(self, metrics):
        self.evaluations.append(metrics)


@pytest.fixture
def setting(tiny_bert):
    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=2,
        evals_per_epoch=2,
        train_size=64,
        test_size=32,
        learning_rate=1e-3,
    )
    train_data, eval_data = load_train_eval(config)
    return config, load_tokenizer(config.model), train_data, eval_data


def started_run(setting, heard: Heard) -> FineTuning:
    config, tokenizer, train_data, eval_data = setting
    model = new_model(config, train_data, mean_pooling=True)
    run = FineTuning.start(model, tokenizer, config, 32, train_data, eval_data, [heard], None, None, None, None)
    run.started = start_clock(run.state, None, fresh=True)
    run.model.train()
    return run


def test_one_train_step_counts_the_step_and_tells_the_callbacks(setting):
    heard = Heard()
    run = started_run(setting, heard)
    assert (run.plan.batch_size, run.plan.steps_per_epoch, run.plan.eval_every) == (8, 8, 4)
    batch = next(iter(run.loader))
    run.train_step(batch)
    state = run.state
    assert (state.step, state.batches_done, state.examples_seen) == (1, 1, 8)
    assert state.tokens_seen == int(batch["attention_mask"].sum()) and len(state.losses) == 1
    assert heard.steps == [(1, 16, state.losses[0], 1 / 8)]


def test_one_epoch_takes_every_batch_and_evaluates_on_schedule(setting):
    heard = Heard()
    run = started_run(setting, heard)
    assert run.run_single_epoch(0) is None  # the epoch ended, the run goes on
    state = run.state
    assert (state.step, state.epoch, state.batches_done) == (8, 1, 0)
    assert [e["step"] for e in state.history] == [4, 8] and heard.evaluations == state.history
    assert state.best in state.history and run.best_weights is not None
    assert [e["epoch"] for e in state.history] == [0.5, 1.0]


def test_the_loop_returns_a_typed_result_with_its_record_fields(setting):
    config, tokenizer, train_data, eval_data = setting
    heard = Heard()
    model = new_model(config, train_data, mean_pooling=True)
    patient = config.override(early_stopping_patience=10)
    result = finetune(model, tokenizer, patient, 32, train_data, eval_data, [heard])
    assert isinstance(result, LoopResult)
    assert (result.status, result.steps, result.epochs_planned, result.batch_size) == ("completed", 16, 2, 8)
    assert len(result.history) == 4 and result.best["best"] and not result.model.training
    fields = result.record_fields()
    assert {"history", "best", "status", "steps", "timings", "precision", "processes", "backend"} <= set(fields)
    assert "peak_gpu_mb" not in fields or result.peak_gpu_mb is not None
    assert [s[0] for s in heard.steps] == list(range(1, 17))


def test_the_final_fit_takes_exactly_its_steps_and_evaluates_nothing(setting):
    config, tokenizer, train_data, _ = setting
    heard = Heard()
    model = new_model(config, train_data, mean_pooling=True)
    result = finetune(model, tokenizer, config, 32, train_data, None, [heard], steps=11)
    assert (result.status, result.steps, result.history, result.best) == ("completed", 11, [], None)
    assert heard.evaluations == [] and heard.steps[-1][:2] == (11, 11)


def test_every_loop_keeps_the_same_books_after_a_step_and_an_evaluation():
    heard = Heard()
    state = LoopState(planned_steps=10)
    for loss in (3.0, 2.0, 1.0):
        step_done(state, [heard], 4, loss=loss, examples=8, tokens=100)
    assert (state.step, state.examples_seen, state.tokens_seen, state.losses) == (3, 24, 300, [3.0, 2.0, 1.0])
    assert heard.steps[-1] == (3, 10, 2.0, 0.75)  # the loss heard: the mean of the last 20 steps
    state.end_epoch(0)
    assert (state.epoch, state.batches_done) == (1, 0)
    entry = state.evaluation(
        {"accuracy": 0.5, "macro_f1": 0.4}, loss_over=2, elapsed_s=12.34, best=True, steps_per_epoch=4
    )
    assert entry == {
        "epoch": 0.75,
        "step": 3,
        "loss": 1.5,
        "accuracy": 0.5,
        "macro_f1": 0.4,
        "elapsed_s": 12.3,
        "best": True,
    }
    evaluation_done(state, [heard], entry)
    assert state.history == [entry] and heard.evaluations == [entry]


def test_the_training_clock_counts_a_resumed_runs_past_and_a_fresh_runs_preparation():
    fresh = LoopState()
    started = start_clock(fresh, clock=100.0, fresh=True)
    assert started == 100.0 and fresh.prep_s > 0
    resumed = LoopState(elapsed_s=30.0, prep_s=2.0)
    assert start_clock(resumed, clock=100.0, fresh=False) == 70.0 and resumed.prep_s == 2.0
