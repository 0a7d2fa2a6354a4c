"""The training loop works for several labels per text as for one: a killed run resumes from its
checkpoint and ends as an uninterrupted one, and a time budget ends training in time. What it does
differently: the sigmoid head starts at each label's base rate and learns at its own rate."""

from __future__ import annotations

import json

import pytest

from support.multilabel import write_joined
from textfit import TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, load_data
from textfit.model.base_models import output_layer
from textfit.training import checkpoint
from textfit.training.callbacks import Callback
from textfit.training.finetune import HEAD_LR_FACTOR_SEVERAL_LABELS, head_learning_rate
from textfit.training.loop import build_optimizer
from textfit.training.setup import new_model

STEPS_PER_EPOCH = 8  # 96 training texts (120, less the 20 % held out) in batches of 12


def tiny_config(tiny_bert, data, **overrides) -> TrainConfig:
    # fp32 (bf16 off) and a checkpoint after every step: runs that can be compared weight for weight
    values = dict(
        data=str(data),
        model=str(tiny_bert),
        strategy="finetune",
        epochs=2,
        learning_rate=1e-3,
        bf16=False,
        checkpoint_minutes=1e-5,
    )
    return TrainConfig(**{**values, **overrides})


class Crash(Exception):
    """Stands for kill -9: training stops where it is, nothing is saved on the way out."""


class CrashAtCheckpoint(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_checkpoint(self, info):
        if info["event"] == "saved" and info["step"] == self.step:
            raise Crash


def test_a_killed_multi_label_run_resumes_and_ends_as_an_uninterrupted_one(tiny_bert, tmp_path):
    import torch
    from safetensors.torch import load_file

    data = write_joined(tmp_path / "tickets.csv")
    whole = train(tiny_config(tiny_bert, data), tmp_path / "whole")
    assert whole.record["training"]["steps"] == 2 * STEPS_PER_EPOCH

    out, crash_step = tmp_path / "resumed", STEPS_PER_EPOCH + 3  # mid-epoch
    with pytest.raises(Crash):
        train(tiny_config(tiny_bert, data), out, callbacks=[CrashAtCheckpoint(crash_step)])
    saved = checkpoint.latest(out)
    assert saved["step"] == crash_step and saved["total_steps"] == 2 * STEPS_PER_EPOCH

    resumed = train(tiny_config(tiny_bert, data), out, resume=True)
    expected, got = load_file(str(whole.folder / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)
    assert resumed.record["metrics"] == whole.record["metrics"]
    assert resumed.record["multi_label"]["thresholds"] == whole.record["multi_label"]["thresholds"]
    assert [r["from_step"] for r in resumed.record["resumed"]] == [crash_step]
    assert json.loads((out / "config.json").read_text())["problem_type"] == "multi_label_classification"
    assert not checkpoint.folder_for(out).exists()


def test_a_time_budget_ends_multi_label_training_in_time(tiny_bert, tmp_path):
    data = write_joined(tmp_path / "tickets.csv", count=400)
    config = tiny_config(tiny_bert, data, epochs=50, time_budget=0.05, early_stopping_patience=100)
    record = train(config, tmp_path / "m").record
    assert record["timings"]["train_s"] + record["timings"]["eval_s"] < 0.05 * 60 + 5
    assert record["training"]["steps"] < 50 * 20  # 320 training texts in batches of 16: 20 steps an epoch
    assert record["multi_label"]["thresholds"] and record["metrics"]["micro_f1"] >= 0


def test_a_fresh_sigmoid_head_scores_each_label_at_its_base_rate(tiny_bert, tmp_path):
    import torch

    config = tiny_config(tiny_bert, write_joined(tmp_path / "tickets.csv"))
    data = load_data(config.data)
    model = new_model(config, data, mean_pooling=True)
    rates = data.label_matrix().mean(axis=0)
    assert 0.2 < rates.min() and rates.max() < 0.6  # the file's labels are not at 0.5, so the test can fail
    started_at = torch.sigmoid(output_layer(model).bias).detach().numpy()
    assert started_at == pytest.approx(rates, abs=0.01)


def test_the_sigmoid_head_learns_at_its_own_rate_and_a_softmax_head_at_the_encoder_s(tiny_bert, tmp_path):
    config = tiny_config(tiny_bert, write_joined(tmp_path / "tickets.csv"))
    several = load_data(config.data)
    model = new_model(config, several, mean_pooling=True)
    optimizer = build_optimizer(model, config, **head_learning_rate(model, several))
    head = {id(p) for p in output_layer(model).parameters()}
    (head_group,) = [g for g in optimizer.param_groups if {id(p) for p in g["params"]} & head]
    assert {id(p) for p in head_group["params"]} == head
    assert head_group["lr"] == pytest.approx(config.learning_rate * HEAD_LR_FACTOR_SEVERAL_LABELS)
    assert all(g["lr"] == config.learning_rate for g in optimizer.param_groups if g is not head_group)

    one = load_data(SAMPLE_DATA)
    assert head_learning_rate(new_model(config, one, mean_pooling=True), one) == {}
