"""One training over two processes (torchrun, gloo on the CPU): the same model as one process,
saved once; a process that dies or a time budget ends them all, never a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from support.models import build_tiny_bert
from support.waiting import eventually
from textfit import TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS
from textfit.errors import TextfitError
from textfit.training import checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def tiny_bert_without_dropout(tmp_path_factory) -> Path:
    """The tiny BERT, dropout off: one process and two then compute the same function, so their
    runs can be compared weight for weight (with dropout they differ by their random masks)."""
    folder = build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-no-dropout"))
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def settings(folder: Path, model: Path, **overrides) -> Path:
    values = dict(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(model),
        strategy="finetune",
        epochs=2,
        train_size=96,
        test_size=32,
        learning_rate=1e-3,
        bf16=False,
        checkpoint_minutes=0,
        distributed_timeout_minutes=0.5,
    )  # a process left waiting fails in 30 s, not 10 min
    path = folder / "settings.json"
    path.write_text(json.dumps({**values, **overrides}))
    return path


def torchrun(*args: str, program: tuple[str, ...] = ("-m", "textfit", "train"), stdout=subprocess.PIPE, **popen):
    """`textfit train ARGS` (or another `program`) in 2 processes under torchrun; --standalone: a free
    port for the rendezvous (other runs may share the machine)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *program, *args]
    return subprocess.Popen(command, env=ENV, stdout=stdout, stderr=subprocess.STDOUT, text=True, **popen)


def finish(process: subprocess.Popen, timeout_s: float) -> str:
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the processes did not end within {timeout_s} s:\n{process.communicate()[0]}")
    return output


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_two_processes_train_the_model_one_process_trains_and_save_it_once(tiny_bert_without_dropout, tmp_path):
    # 96 examples in global batches of 12 (6 a process): 8 full steps an epoch, as in one process.
    config = settings(tmp_path, tiny_bert_without_dropout, checkpoint_minutes=1e-5)  # a checkpoint every step
    one = train(TrainConfig.from_file(config), tmp_path / "one").record

    output = finish(torchrun("--config", str(config), "--out", str(tmp_path / "two"), cwd=tmp_path), 240)
    assert "textfit FAILED" not in output, output
    record = json.loads((tmp_path / "two" / "textfit.json").read_text())
    # Saved once, by the main process: one summary, one line per evaluation, nothing left beside it.
    assert output.count("saved ") == 1 and output.count("epoch  1.00") == 1, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "settings.json", "two"]
    assert not checkpoint.folder_for(tmp_path / "two").exists()  # written every step by rank 0, removed at the end
    training = record["training"]
    assert training["processes"] == 2 and training["backend"] == "gloo"
    assert training["batch_size"] == one["training"]["batch_size"] == 12 and training["batch_size_per_process"] == 6
    assert training["steps"] == one["training"]["steps"] == 16
    assert len(training["peak_rss_mb_by_process"]) == 2
    # Every example trained on once an epoch and every evaluation message scored once (tokens are
    # summed over both processes; the metrics would differ if the gathered answers were out of order).
    assert record["timings"]["tokens_trained"] == one["timings"]["tokens_trained"]
    assert record["data"]["eval_examples"] == one["data"]["eval_examples"] == 32
    # Tolerance: both runs take the same steps on the same examples in fp32; only the order of
    # floating-point sums differs (two half-batch mean gradients averaged by gloo against one mean
    # over the whole batch), ~1e-7 relative a step. Over 16 AdamW steps at lr 1e-3 the weights
    # stay within 1e-4 (measured: 2e-7), far below what would move an answer on 32 messages.
    for mine, theirs in zip(record["history"], one["history"]):
        assert mine["accuracy"] == theirs["accuracy"] and mine["macro_f1"] == theirs["macro_f1"]
        assert mine["loss"] == pytest.approx(theirs["loss"], abs=1e-4)
    assert record["metrics"]["accuracy"] == one["metrics"]["accuracy"]
    assert record["metrics"]["macro_f1"] == one["metrics"]["macro_f1"]
    ours, theirs = weights(tmp_path / "two"), weights(tmp_path / "one")
    assert ours.keys() == theirs.keys()
    assert max(float((ours[k] - theirs[k]).abs().max()) for k in ours) < 1e-4


def test_a_run_killed_mid_epoch_resumes_on_two_processes(tiny_bert_without_dropout, tmp_path):
    import psutil

    # 6 epochs of 8 steps, a checkpoint after every step (written by rank 0 alone).
    config = settings(
        tmp_path, tiny_bert_without_dropout, epochs=6, early_stopping_patience=100, checkpoint_minutes=1e-5
    )
    one = train(TrainConfig.from_file(config), tmp_path / "one").record
    out = tmp_path / "two"
    first = torchrun("--config", str(config), "--out", str(out))

    def mid_epoch_checkpoint():
        assert first.poll() is None, first.communicate()[0]
        return (saved := checkpoint.latest(out)) and saved["step"] > 8 and saved["step"] % 8

    try:
        eventually(mid_epoch_checkpoint, timeout=120, every=0.005, what="a mid-epoch checkpoint")
        rank_0 = next(p for p in psutil.Process(first.pid).children(recursive=True) if p.environ().get("RANK") == "0")
        rank_0.send_signal(signal.SIGKILL)  # torchrun then stops rank 1
        first.wait(60)
    finally:
        first.kill()
    killed_at = checkpoint.latest(out)["step"]
    assert first.returncode != 0 and not out.exists() and killed_at < 48
    with pytest.raises(TextfitError, match="checkpointed with 2 process\\(es\\): resume it with as many"):
        train(TrainConfig.from_file(config), out, resume=True)  # one process cannot continue two's random draws

    output = finish(torchrun("--out", str(out), "--resume"), 240)
    assert "textfit FAILED" not in output and f"resumed from step {killed_at}" in output, output
    record = json.loads((out / "textfit.json").read_text())
    assert record["resumed"][0]["from_step"] == killed_at and record["training"]["steps"] == 48
    assert [h["accuracy"] for h in record["history"]] == [h["accuracy"] for h in one["history"]]
    ours, theirs = weights(out), weights(tmp_path / "one")  # same tolerance as above
    assert max(float((ours[k] - theirs[k]).abs().max()) for k in ours) < 1e-4
    assert not checkpoint.folder_for(out).exists()


def test_a_killed_process_ends_the_other_with_the_cause(tiny_bert, tmp_path):
    import psutil

    config = settings(tmp_path, tiny_bert, epochs=50, train_size=None, test_size=None, early_stopping_patience=100)
    log = tmp_path / "output.txt"
    with log.open("w") as sink:
        process = torchrun("--config", str(config), "--out", str(tmp_path / "m"), stdout=sink)

        def both_training():
            assert process.poll() is None, log.read_text()
            return "processes (gloo)" in log.read_text()

        try:
            eventually(both_training, timeout=120, every=0.2, what="both processes to train", details=log.read_text)
            time.sleep(1)
            rank_1 = next(
                p for p in psutil.Process(process.pid).children(recursive=True) if p.environ().get("RANK") == "1"
            )
            rank_1.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            process.wait(timeout=60)
            ended_s = time.monotonic() - killed
        finally:
            process.kill()
    output = log.read_text()
    # torchrun's agent sees rank 1 die and stops rank 0 (SIGTERM) at once; it names the cause.
    assert process.returncode != 0 and ended_s < 30, output
    assert "Root Cause" in output and "Signal 9 (SIGKILL) received" in output, output
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()


def test_the_time_budget_ends_every_process_at_the_same_step(tiny_bert, tmp_path):
    # 440 messages, 50 epochs: far more than 6 seconds. Were the processes to leave the loop at
    # different steps, one would wait for the other in an all-reduce and fail after the 30 s timeout.
    config = settings(
        tmp_path, tiny_bert, epochs=50, train_size=None, test_size=None, early_stopping_patience=100, time_budget=0.1
    )
    started = time.monotonic()
    output = finish(torchrun("--config", str(config), "--out", str(tmp_path / "m"), cwd=tmp_path), 180)
    assert "textfit FAILED" not in output and output.count("saved ") == 1, output
    record = json.loads((tmp_path / "m" / "textfit.json").read_text())
    assert record["status"] == "time budget reached" and record["training"]["processes"] == 2
    assert record["training"]["steps"] < 50 * 22
    assert record["timings"]["train_s"] + record["timings"]["eval_s"] < 0.1 * 60 + 5
    assert time.monotonic() - started < 120


def test_fewshot_across_processes_is_refused_before_any_work(tiny_bert, tmp_path):
    config = settings(tmp_path, tiny_bert, strategy="fewshot")
    output = finish(torchrun("--config", str(config), "--out", str(tmp_path / "m"), cwd=tmp_path), 120)
    assert "few-shot training runs in one process, not across 2" in output
    assert "without torchrun" in output and "n-gram model fitted" not in output
    assert not (tmp_path / "m").exists() and not checkpoint.folder_for(tmp_path / "m").exists()


def test_one_process_records_one_process(tiny_bert, tmp_path):
    config = TrainConfig.from_file(settings(tmp_path, tiny_bert, epochs=1))
    training = train(config, tmp_path / "m").record["training"]
    assert training["processes"] == 1 and training["backend"] is None and "batch_size_per_process" not in training


def test_a_lost_partner_becomes_one_clear_error_and_one_process_needs_no_group():
    from textfit.errors import TextfitError
    from textfit.training import distributed

    assert distributed.world_size() == 1 and distributed.on_main(lambda: 3, share=True) == 3
    with pytest.raises(TextfitError, match="lost contact with the others \\(Timed out waiting 15000ms"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(distributed, "is_distributed", lambda: True)
            patch.setattr(distributed, "rank", lambda: 0)
            with distributed.partners_watched():
                raise RuntimeError("[gloo/transport/tcp/unbound_buffer.cc:78]\nTimed out waiting 15000ms for recv")
    with pytest.raises(ValueError):  # other errors pass unchanged
        with distributed.partners_watched():
            raise ValueError("not a partner's")
    assert np.array_equal(np.concatenate(distributed.across_processes(np.asarray, [1, 2, 3])), [1, 2, 3])


# Runs `textfit train` under torchrun with "{rank}" in any argument replaced by the process's rank:
# nodes started with different data, settings or --out, on one machine.
PER_RANK = """import os, sys
from textfit.cli import app
sys.argv = ["textfit", "train", *(a.replace("{rank}", os.environ["RANK"]) for a in sys.argv[1:])]
app()
"""


def test_processes_started_on_different_data_settings_or_out_all_stop_before_writing(tiny_bert, tmp_path):
    for rank, seed in ((0, 7), (1, 8)):  # another seed samples other examples: different data of the same size
        folder = tmp_path / f"settings-{rank}"
        folder.mkdir()
        settings(folder, tiny_bert, seed=seed)
    script = tmp_path / "per_rank.py"
    script.write_text(PER_RANK)
    settings_of_rank, out_of_rank = tmp_path / "settings-{rank}" / "settings.json", tmp_path / "m-{rank}"
    process = torchrun("--config", str(settings_of_rank), "--out", str(out_of_rank), program=(str(script),))
    output = " ".join(finish(process, 180).split())
    assert process.returncode != 0, output
    for what in ("the data (texts and labels)", "the settings", "the output folder (--out)"):
        assert f"{what} on process 1 " in output, output
    assert "Start every node with the same command, data, model and --out" in output
    assert "n-gram model fitted" not in output and "broadcast together" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["per_rank.py", "settings-0", "settings-1"]  # nothing written


def test_a_process_that_stops_answering_ends_the_other_within_the_timeout(tiny_bert, tmp_path):
    import psutil

    # A partner frozen without closing its sockets (SIGSTOP: a lost node, a partition) ends the run
    # after distributed_timeout_minutes, here 15 s, with a whole message and no C++ stack dump.
    config = settings(
        tmp_path,
        tiny_bert,
        epochs=50,
        train_size=None,
        test_size=None,
        early_stopping_patience=100,
        distributed_timeout_minutes=0.25,
    )
    log = tmp_path / "output.txt"
    with log.open("w") as sink:
        process = torchrun("--config", str(config), "--out", str(tmp_path / "m"), stdout=sink)
        rank_1 = None
        try:
            eventually(
                lambda: process.poll() is None and "processes (gloo)" in log.read_text(),
                timeout=120,
                what="both processes to train",
                details=log.read_text,
            )
            time.sleep(1)
            children = psutil.Process(process.pid).children(recursive=True)
            rank_0, rank_1 = (next(p for p in children if p.environ().get("RANK") == r) for r in ("0", "1"))
            rank_1.send_signal(signal.SIGSTOP)
            frozen = time.monotonic()
            eventually(
                lambda: "stopped answering" in " ".join(log.read_text().split()),
                timeout=90,
                what="rank 0 to give up",
                details=log.read_text,
            )
            noticed_s = time.monotonic() - frozen
            rank_0.wait(timeout=60)
            # torchrun's agent would end the frozen one too, after a 30 s grace for its SIGTERM (which a
            # stopped process never handles): a frozen node elsewhere is not ours to kill, this one is.
            rank_1.kill()
            process.wait(timeout=60)
        finally:
            if rank_1 is not None and rank_1.is_running():
                rank_1.kill()
            process.kill()
    output = log.read_text()
    assert process.returncode != 0 and noticed_s < 15 + 20, (noticed_s, output)
    flowing = " ".join(output.split())  # the console wraps long lines
    assert (
        "lost contact with the others" in flowing and "resume with --resume and the same number of processes" in flowing
    )
    assert "frame #" not in output and "Exception raised from" not in output, output
    assert not (tmp_path / "m").exists()


def test_two_processes_train_long_multi_label_texts_as_one_process_does(tiny_bert_without_dropout, tmp_path):
    # Several labels a text, a third of the texts longer than their 32-token window: each process
    # runs its half of a batch in parts of whole texts and synchronises once a step (whole_texts.py).
    from support.multilabel import rows

    preamble = "please find the weekly notes from our office attached below for your records " * 3
    lines = ["text,labels"] + [
        f'{preamble if i % 3 == 0 else ""}{text},"{";".join(labels)}"' for i, (text, labels) in enumerate(rows(120))
    ]
    data = tmp_path / "tickets.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = settings(
        tmp_path, tiny_bert_without_dropout, data=str(data), label_names=None, max_length=32, test_size=24
    )  # 96 to train: global batches of 12, as in the first test
    one = train(TrainConfig.from_file(config), tmp_path / "one").record
    assert one["windows"]["train_texts_longer_than_one_window"] > 0 and "micro_f1" in one["metrics"]

    output = finish(torchrun("--config", str(config), "--out", str(tmp_path / "two"), cwd=tmp_path), 240)
    assert "textfit FAILED" not in output, output
    record = json.loads((tmp_path / "two" / "textfit.json").read_text())
    assert record["training"]["processes"] == 2 and record["training"]["steps"] == one["training"]["steps"]
    assert record["metrics"]["micro_f1"] == one["metrics"]["micro_f1"]
    ours, theirs = weights(tmp_path / "two"), weights(tmp_path / "one")
    assert max(float((ours[k] - theirs[k]).abs().max()) for k in ours) < 1e-4
