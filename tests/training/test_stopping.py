"""A Stop (Ctrl-C, the studio's SIGINT) ends the training, never the saving: whenever it comes after
the training loop began, the run still ends with a saved model that says what happened."""

from __future__ import annotations

import os
import signal

import pytest

from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS
from textfit.training.callbacks import Callback
from textfit.training.final_fit import STOPPED_BEFORE_FINAL_FIT, STOPPED_IN_FINAL_FIT
from textfit.training.stopping import held_stops


class StopAt(Callback):
    """Sends this process a SIGINT, as the studio's Stop does, at the first event `when` accepts."""

    def __init__(self, when):
        self.when, self.phase, self.sent = when, None, False

    def fire(self, event):
        if not self.sent and self.when(self.phase, event):
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)  # Python raises it in this thread before the next line

    def on_train_begin(self, info):
        self.phase = info.get("phase", info["strategy"])

    def on_step(self, step, total_steps, loss, epoch):
        self.fire("step")

    def on_evaluate(self, metrics):
        self.fire("evaluate")


def train_and_stop(config: TrainConfig, folder, stop: StopAt):
    try:
        return train(config, folder, callbacks=[stop])
    except KeyboardInterrupt:  # caught here, or it would end the whole pytest session
        pytest.fail("the Stop escaped the trainer: no model was saved")


@pytest.fixture
def sigint_raises(monkeypatch):
    """A process started from a background shell ignores SIGINT; the studio's worker sets it to
    raise KeyboardInterrupt, and so do these tests."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_held_stops_notes_a_stop_and_gives_the_handler_back(sigint_raises):
    try:
        with held_stops("saving") as stops:
            os.kill(os.getpid(), signal.SIGINT)
    except KeyboardInterrupt:
        pytest.fail("the stop was raised, not held")
    assert stops.requested
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an ignored signal stays ignored inside
    with held_stops("saving") as stops:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert not stops.requested


def test_a_stop_while_the_fewshot_head_is_fitted_and_scored_still_saves(tiny_bert, tmp_path, sigint_raises):
    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        train_size=40,
        test_size=16,
        epochs=1,
        strategy="fewshot",
    )
    result = train_and_stop(config, tmp_path / "m", StopAt(lambda phase, event: event == "evaluate"))
    assert result.record["strategy"] == "fewshot" and result.record["status"] == "completed"
    assert Classifier.load(result.folder).predict(["Acme Corp announces new CEO"])[0] in TOPIC_LABELS


def finetune_config(tiny_bert) -> TrainConfig:
    return TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=2,
        learning_rate=1e-3,
        final_fit=True,
    )


def test_a_stop_during_the_final_fit_keeps_the_hold_out_runs_model(tiny_bert, tmp_path, sigint_raises):
    stop = StopAt(lambda phase, event: phase == "final fit" and event == "step")
    result = train_and_stop(finetune_config(tiny_bert), tmp_path / "m", stop)
    assert stop.sent
    record = result.record
    assert record["status"] == "completed"  # the hold-out run was not stopped
    assert record["final_fit"] == {"done": False, "why": STOPPED_IN_FINAL_FIT}
    assert "saved model is the hold-out run's" in STOPPED_IN_FINAL_FIT
    assert "These figures are the hold-out run's" not in (result.folder / "README.md").read_text()
    assert Classifier.load(result.folder).predict(["Oil jumps as OPEC cuts output"])[0] in TOPIC_LABELS


def test_a_stop_during_the_hold_out_run_skips_the_final_fit(tiny_bert, tmp_path, sigint_raises):
    stop = StopAt(lambda phase, event: phase == "training" and event == "evaluate")
    result = train_and_stop(finetune_config(tiny_bert), tmp_path / "m", stop)
    assert result.record["status"] == "interrupted"
    assert result.record["final_fit"] == {"done": False, "why": STOPPED_BEFORE_FINAL_FIT}
    assert result.record["history"][-1]["epoch"] < 2  # of the 2 planned
