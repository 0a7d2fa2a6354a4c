"""Checkpoints and --resume: a run killed half-way continues where it was and ends as it would have."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.waiting import eventually
from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS
from textfit.errors import TextfitError
from textfit.training import checkpoint
from textfit.training.callbacks import Callback, JsonlLog

STEPS_PER_EPOCH = 8  # 96 examples in batches of 12 (batch size: min(16, 96 // 8))


def tiny_config(tiny_bert, **overrides) -> TrainConfig:
    # fp32 (bf16 off) and a checkpoint after every step (0.6 ms): runs that can be compared weight for weight
    values = dict(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=2,
        train_size=96,
        test_size=32,
        learning_rate=1e-3,
        bf16=False,
        checkpoint_minutes=1e-5,
    )
    return TrainConfig(**{**values, **overrides})


class Crash(Exception):
    """Stands for kill -9: training stops where it is, nothing is saved on the way out."""


class CrashAt(Callback):
    def __init__(self, event: str, step: int):
        self.event, self.step = event, step

    def on_step(self, step, total_steps, loss, epoch):
        if self.event == "step" and step == self.step:
            raise Crash

    def on_checkpoint(self, info):
        if self.event == "checkpoint" and info["event"] == "saved" and info["step"] == self.step:
            raise Crash


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def comparable(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in history]


@pytest.mark.parametrize("crash_step", [STEPS_PER_EPOCH, STEPS_PER_EPOCH + 3], ids=["at-epoch-end", "mid-epoch"])
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_bert, tmp_path, crash_step):
    import torch

    whole = train(tiny_config(tiny_bert), tmp_path / "whole")
    assert not checkpoint.folder_for(whole.folder).exists()  # removed once the model is saved
    assert whole.record["timings"]["checkpoint_s"] > 0 and "resumed" not in whole.record

    out, log = tmp_path / "resumed", tmp_path / "progress.jsonl"
    with pytest.raises(Crash):
        train(tiny_config(tiny_bert), out, callbacks=[JsonlLog(log), CrashAt("checkpoint", crash_step)])
    saved = checkpoint.latest(out)
    assert saved["step"] == crash_step and saved["total_steps"] == 2 * STEPS_PER_EPOCH
    kept = sorted(p.name for p in checkpoint.folder_for(out).iterdir())
    assert kept == ["lexical", "run.json", f"step-{crash_step:09d}"]  # the latest only: older ones removed
    assert {p.name for p in Path(saved["checkpoint"]).iterdir()} == {
        "weights.safetensors",
        "best.safetensors",
        "training.pt",
        "state.json",
    }

    resumed = train(tiny_config(tiny_bert), out, callbacks=[JsonlLog(log)], resume=True)
    # Every step after the checkpoint repeats the uninterrupted run's in fp32 on the same batches,
    # dropout masks and optimiser state, so the weights agree to rounding (they are in fact equal).
    expected, got = weights(whole.folder), weights(resumed.folder)
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)
    assert comparable(resumed.record["history"]) == comparable(whole.record["history"])
    assert resumed.record["metrics"] == whole.record["metrics"] and resumed.record["training"]["steps"] == 16
    assert [r["from_step"] for r in resumed.record["resumed"]] == [crash_step]
    assert resumed.record["resumed"][0]["checkpoint_saved"] == saved["saved"]
    assert "interrupted and resumed" in (out / "README.md").read_text()
    assert not checkpoint.folder_for(out).exists()
    events = [(e["event"], e.get("step", e.get("from_step"))) for e in map(json.loads, log.read_text().splitlines())]
    resumed_at = events.index(("resumed", crash_step))
    assert [e for e in events[:resumed_at] if e[0] == "checkpoint"][-1] == ("checkpoint", crash_step)
    assert events[resumed_at + 1][0] == "begin" and events[resumed_at + 2] == ("step", crash_step + 1)


def test_resume_refuses_what_it_cannot_continue(tiny_bert, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(TextfitError, match=r"nothing to resume in .*m\.checkpoints; start without --resume"):
        train(tiny_config(tiny_bert), out, resume=True)
    with pytest.raises(Crash):
        train(tiny_config(tiny_bert), out, callbacks=[CrashAt("checkpoint", 3)])
    with pytest.raises(TextfitError, match=r"learning_rate 0\.001 in the checkpoint, 0\.01 now"):
        train(tiny_config(tiny_bert, learning_rate=1e-2), out, resume=True)
    from textfit.data.labeled import load_train_eval

    train_data, eval_data = load_train_eval(tiny_config(tiny_bert))
    with pytest.raises(TextfitError, match="data differs"):
        train(tiny_config(tiny_bert), out, data=(train_data.subset(range(90)), eval_data), resume=True)
    with pytest.raises(TextfitError, match="unfinished run .* --resume, or delete"):
        train(tiny_config(tiny_bert), out)  # a plain run never deletes a resumable one
    # the interval may change on resume: it does not change the model
    assert train(tiny_config(tiny_bert, checkpoint_minutes=0), out, resume=True).record["resumed"][0]["from_step"] == 3


def test_runs_shorter_than_the_interval_write_no_checkpoint(tiny_bert, tmp_path):
    seen = []

    class Watch(Callback):
        def on_train_begin(self, info):
            seen.append(sorted(p.name for p in checkpoint.folder_for(tmp_path / "m").iterdir()))

        def on_checkpoint(self, info):
            seen.append(info)

    record = train(tiny_config(tiny_bert, checkpoint_minutes=5, epochs=1), tmp_path / "m", callbacks=[Watch()]).record
    assert seen == [["lexical", "run.json"]]  # resumable from the start, but no step was worth saving
    assert record["timings"]["checkpoint_s"] == 0 and not checkpoint.folder_for(tmp_path / "m").exists()
    train(tiny_config(tiny_bert, checkpoint_minutes=0, epochs=1), tmp_path / "off")
    assert not checkpoint.folder_for(tmp_path / "off").exists()


def test_an_interrupted_fewshot_run_starts_over_on_resume(tiny_bert, tmp_path):
    config = tiny_config(tiny_bert, strategy="fewshot", train_size=40, test_size=16)
    with pytest.raises(Crash):
        train(config, tmp_path / "m", callbacks=[CrashAt("step", 2)])
    assert checkpoint.latest(tmp_path / "m")["checkpoint"] is None
    record = train(config, tmp_path / "m", resume=True).record
    assert record["strategy"] == "fewshot" and record["status"] == "completed"
    assert record["resumed"][0]["from_step"] == 0 and "from the start" in record["resumed"][0]["note"]


class StopAt(Callback):
    """Ctrl-C (or the studio's Stop) at a step: the loop ends, the best model so far is saved."""

    def __init__(self, step: int):
        self.step = step

    def on_step(self, step, total_steps, loss, epoch):
        if step == self.step:
            raise KeyboardInterrupt


def test_a_stopped_run_keeps_its_checkpoints_to_train_on_and_a_new_run_replaces_them(tiny_bert, tmp_path, caplog):
    out, config = tmp_path / "m", tiny_config(tiny_bert, epochs=3, early_stopping_patience=100)
    stopped = train(config, out, callbacks=[StopAt(STEPS_PER_EPOCH + 3)])
    assert stopped.record["status"] == "interrupted" and Classifier.load(out).record["status"] == "interrupted"
    kept = checkpoint.latest(out)
    assert kept["stopped"] and kept["step"] == STEPS_PER_EPOCH + 2  # the last step it finished

    resumed = train(config, out, resume=True)  # the studio's Resume, `textfit train --resume`
    assert resumed.record["status"] == "completed" and resumed.record["training"]["steps"] == 3 * STEPS_PER_EPOCH
    assert resumed.record["resumed"][0]["from_step"] == kept["step"] and not checkpoint.folder_for(out).exists()

    train(config, out, callbacks=[StopAt(5)])
    assert checkpoint.latest(out)["stopped"]
    with caplog.at_level("INFO", logger="textfit"):
        fresh = train(config, out)  # no --resume: a deliberate stop does not block a new run, as a crash does
    assert "replacing the checkpoints of the run stopped at step 4" in caplog.text
    assert fresh.record["status"] == "completed" and "resumed" not in fresh.record
    assert not checkpoint.folder_for(out).exists()


def test_a_stopped_run_without_a_checkpoint_leaves_nothing_beside_its_model(tiny_bert, tmp_path):
    out = tmp_path / "m"
    train(tiny_config(tiny_bert, checkpoint_minutes=60), out, callbacks=[StopAt(5)])
    assert Classifier.load(out).record["status"] == "interrupted" and not checkpoint.folder_for(out).exists()


def test_checkpoint_writes_are_atomic(tmp_path):
    def half_written(tmp):
        (tmp / "a").write_text("x")
        raise Crash

    with pytest.raises(Crash):
        checkpoint.write_atomically(tmp_path / "step-1", half_written)
    assert not (tmp_path / "step-1").exists()  # a killed write leaves only a .tmp- folder, which resume ignores
    checkpoint.write_atomically(tmp_path / "step-1", lambda tmp: (tmp / "a").write_text("y"))
    assert (tmp_path / "step-1" / "a").read_text() == "y" and not (tmp_path / ".tmp-step-1").exists()


def start_training(how: str, out: Path, tiny_bert: Path, resume: bool, env: dict) -> subprocess.Popen:
    """The command line's `textfit train`, or the studio's worker (which trains RUN_DIR/settings.json into
    RUN_DIR/model)."""
    options = {
        "bf16": False,
        "early_stopping_patience": 100,
        "learning_rate": 1e-3,
        "checkpoint_minutes": 0.002,
        "data": str(SAMPLE_DATA),
        "model": str(tiny_bert),
        "label_names": TOPIC_LABELS,
        "strategy": "finetune",
        "epochs": 8,
        "max_windows": 1,  # one example a text (the longest 1 % would add windows): 22 steps an epoch
    }  # 8 epochs of 22 steps: time to catch a mid-epoch checkpoint
    settings = out.parent / "settings.json"
    settings.write_text(json.dumps(options))
    if how == "worker":
        command = [sys.executable, "-m", "textfit.server.studio.runs.worker", str(out.parent)] + ["--resume"] * resume
    elif resume:  # no data, no options: --resume takes them from the checkpoint
        command = [sys.executable, "-m", "textfit.cli", "train", "--out", str(out), "--resume"]
    else:
        command = [sys.executable, "-m", "textfit.cli", "train", "--out", str(out), "--config", str(settings)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("how", ["cli", "worker"])
def test_kill_9_mid_epoch_then_resume(tiny_bert, tmp_path, how):
    from transformers import pipeline

    from textfit.server.studio.runs.worker import MODEL, PROGRESS, RESULT

    out = tmp_path / MODEL  # the studio worker's layout: RUN_DIR/model
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    first = start_training(how, out, tiny_bert, resume=False, env=env)
    try:

        def mid_epoch_checkpoint():
            if first.poll() is not None:
                output = first.stdout.read() if first.stdout else ""
                pytest.fail(f"training ended before a mid-epoch checkpoint: rc {first.returncode}\n{output}")
            saved = checkpoint.latest(out)
            return saved is not None and saved["step"] > 22 and saved["step"] % 22 != 0

        eventually(mid_epoch_checkpoint, timeout=120, every=0.01, what="a mid-epoch checkpoint")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL and not out.exists()
    killed_at = checkpoint.latest(out)["step"]

    again = start_training(how, out, tiny_bert, resume=True, env=env)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    record = json.loads((out / "textfit.json").read_text())
    assert record["resumed"][0]["from_step"] == killed_at and record["training"]["steps"] == 8 * 22
    assert record["status"] == "completed" and len(record["history"]) == 8
    assert not checkpoint.folder_for(out).exists() and not out.with_name("model.partial").exists()
    assert Classifier.load(out).predict(["Oil prices fall"])[0] in TOPIC_LABELS
    assert pipeline("text-classification", model=str(out))("Oil prices fall")[0]["label"] in TOPIC_LABELS
    if how == "cli":
        assert f"resumed from step {killed_at}" in output
    else:
        assert json.loads((tmp_path / RESULT).read_text())["ok"] is True
        events = [json.loads(line) for line in (tmp_path / PROGRESS).read_text().splitlines()]
        assert {"event": "resumed", "from_step": killed_at} in [
            {k: e[k] for k in ("event", "from_step") if k in e} for e in events
        ]
