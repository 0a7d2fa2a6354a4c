"""Learning from unlabeled texts (--unlabeled): the teacher, the record, the model card, the time
budget, and scores that stay on held-out human labels."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from textfit import TrainConfig, train
from textfit.cli import app
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_data
from textfit.training.distill import (
    LARGER_TEACHER,
    ROUND_MIN_TEXTS,
    Teacher,
    choose_teacher,
    fit_to_budget,
    read_unlabeled,
    surest_answers,
    teach_again,
    unseen,
    why_no_second_round,
)


def tiny_config(model, **overrides) -> TrainConfig:
    values = dict(
        data=str(SAMPLE_DATA), label_names=TOPIC_LABELS, model=str(model), train_size=40, test_size=16, epochs=1
    )
    return TrainConfig(**{**values, **overrides})


def unlabeled_file(folder, count: int = 60, extra: list[str] = ()) -> str:
    """Texts of the sample data without their labels, one a line."""
    texts = load_data(SAMPLE_DATA).texts[-count:] + list(extra)
    path = folder / "unlabeled.txt"
    path.write_text("\n".join(t.replace("\n", " ") for t in texts), encoding="utf-8")
    return str(path)


def test_a_run_with_unlabeled_texts_records_the_teacher_the_texts_and_the_gain_against_the_labels_alone(
    tiny_bert, tmp_path
):
    config = tiny_config(tiny_bert, unlabeled=unlabeled_file(tmp_path), teacher="none")
    result = train(config, tmp_path / "m")
    unlabeled = result.record["unlabeled"]
    assert unlabeled["teacher"] == "the served model" and unlabeled["rounds"] == 1
    assert 0 < unlabeled["texts_used"] <= 60 and unlabeled["sampled"] is None
    assert set(unlabeled["labels_alone_metrics"]) >= {"accuracy", "macro_f1"}
    assert unlabeled["accuracy_gain"] == pytest.approx(
        unlabeled["with_unlabeled_metrics"]["accuracy"] - unlabeled["labels_alone_metrics"]["accuracy"], abs=1e-4
    )
    saved = json.loads((result.folder / "textfit.json").read_text())
    assert (
        saved["config"]["unlabeled"] == config.unlabeled and saved["unlabeled"]["texts_used"] == unlabeled["texts_used"]
    )
    card = (result.folder / "README.md").read_text()
    assert "**Unlabeled texts.**" in card and f"{unlabeled['texts_used']} texts nobody labeled" in card
    assert result.record["final_fit"]["done"] is False


def test_the_held_out_part_holds_human_labels_only_and_its_texts_never_teach(tiny_bert, tmp_path, monkeypatch):
    from textfit.data.labeled import load_train_eval
    from textfit.training import distill

    taught = []
    real_distil = distill.distil

    def spy(model, tokenizer, max_length, train_data, texts, soft_labels, config):
        taught.extend(texts)
        return real_distil(model, tokenizer, max_length, train_data, texts, soft_labels, config)

    monkeypatch.setattr(distill, "distil", spy)
    config = tiny_config(tiny_bert, teacher="none")
    train_data, eval_data = load_train_eval(config)
    path = unlabeled_file(tmp_path, count=30, extra=eval_data.texts + train_data.texts[:5])
    result = train(config.override(unlabeled=path), tmp_path / "with")
    unlabeled = result.record["unlabeled"]
    assert taught and not set(taught) & set(eval_data.texts) and not set(taught) & set(train_data.texts)
    assert unlabeled["left_out_as_repeats_or_labeled"] >= len(set(eval_data.texts))
    assert result.record["data"]["eval_examples"] == len(eval_data) == result.report.examples
    assert unlabeled["scored_on"].startswith("the held-out human labels only")


def test_unseen_drops_repeats_and_every_labeled_text():
    assert unseen(["a", "c", "d", "d", "e"], ["a", "b", " c "]) == ["d", "e"]


def test_a_named_teacher_is_trained_on_the_labels_then_again_with_its_surest_answers(
    tiny_bert, tiny_mpnet, tmp_path, monkeypatch
):
    from textfit.data.labeled import load_train_eval
    from textfit.training import distill

    trained_on = []
    real_fit = distill.fit_teacher

    def spy(run, name, train_data):
        trained_on.append(train_data)
        return real_fit(run, name, train_data)

    monkeypatch.setattr(distill, "fit_teacher", spy)
    monkeypatch.setattr(distill, "SURE_A_CATEGORY", 2)
    monkeypatch.setattr(distill, "ROUND_MIN_TEXTS", 20)  # 10,000 unlabeled texts would take minutes here
    config = tiny_config(tiny_bert, unlabeled=unlabeled_file(tmp_path, count=30), teacher=str(tiny_mpnet))
    result = train(config, tmp_path / "m")
    unlabeled = result.record["unlabeled"]
    assert unlabeled["teacher"] == str(tiny_mpnet) and unlabeled["rounds"] == 2
    assert 0 <= unlabeled["teacher_metrics"]["accuracy"] <= 1 and unlabeled["seconds"]["teacher_training"] > 0
    first, second = trained_on
    round_two = unlabeled["teacher_round"]
    assert round_two["texts_read"] == unlabeled["texts_used"] > 0 and round_two["seconds"] > 0  # all: < 2,000
    assert 0 < round_two["answers_added"] <= 2 * len(TOPIC_LABELS)
    # the human labels, then the same labels with the teacher's answers after them, none of them held out
    assert second.texts[: len(first)] == first.texts and second.labels[: len(first)] == first.labels
    assert len(second) == len(first) + round_two["answers_added"]
    _, eval_data = load_train_eval(config)
    assert not set(second.texts) & set(eval_data.texts) and len(set(second.texts)) == len(second)
    assert set(round_two["first_round_metrics"]) >= {"accuracy", "macro_f1"}
    card = (result.folder / "README.md").read_text()
    among = f"{round_two['answers_added']} surest answers among {round_two['texts_read']} of the texts"
    assert f"trained again with its {among}" in " ".join(card.split())


def test_the_surest_answers_are_the_most_probable_few_of_each_category_answered():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05], [0.45, 0.55]])
    assert surest_answers(probabilities, 2) == [0, 2, 3, 4]
    assert surest_answers(probabilities, 1) == [2, 3]


def test_the_teacher_s_second_round_is_left_out_where_the_time_budget_has_no_room_and_the_record_says_why(
    monkeypatch,
):
    from textfit.training import distill

    monkeypatch.setattr(distill, "ROUND_MIN_TEXTS", 1)
    teacher = Teacher("all-mpnet-base-v2", classifier=None, metrics={"accuracy": 0.7}, train_s=200.0)

    class Run:
        config = TrainConfig(time_budget=10)

    kept, round_two = teach_again(Run(), teacher, ["a text"], clock=time.perf_counter() - 60)
    assert kept is teacher and round_two["skipped"].startswith("--time-budget 10 min leaves 540 s")
    itself = Teacher("the served model", classifier=None, metrics={}, train_s=0.0)
    assert teach_again(Run(), itself, ["a text"], clock=time.perf_counter()) == (itself, None)


def test_a_larger_teacher_takes_no_second_round_with_fewer_texts_than_it_was_measured_to_pay_for():
    teacher = Teacher("all-mpnet-base-v2", classifier=None, metrics={"accuracy": 0.7}, train_s=200.0)

    class Run:
        config = TrainConfig()  # no time budget: only the count of texts stands in the way

    texts = [f"text {i}" for i in range(ROUND_MIN_TEXTS - 1)]
    kept, round_two = teach_again(Run(), teacher, texts, clock=time.perf_counter())
    assert kept is teacher and round_two["skipped"].startswith(
        f"{len(texts):,} unlabeled texts, fewer than the {ROUND_MIN_TEXTS:,}"
    )
    assert why_no_second_round(ROUND_MIN_TEXTS, math.inf, 200.0, None) is None  # as many: it pays, it runs


def test_auto_takes_the_larger_model_for_few_labels_when_it_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTFIT_MODELS", str(tmp_path))
    assert choose_teacher("auto", "default", "fewshot") is None  # not downloaded: the model teaches itself
    folder = tmp_path / LARGER_TEACHER
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    assert choose_teacher("auto", "default", "fewshot") == LARGER_TEACHER
    assert choose_teacher("auto", "default", "finetune") is None  # many labels: the model itself
    assert choose_teacher("auto", LARGER_TEACHER, "fewshot") is None
    assert choose_teacher("none", "default", "fewshot") is None
    assert choose_teacher("some/model", "default", "finetune") == "some/model"


class Slow:
    """A stand-in classifier that takes `seconds` a text."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def encoder_proba(self, texts):
        time.sleep(self.seconds * len(texts))


def test_more_texts_than_the_time_budget_allows_are_sampled_and_the_record_says_so():
    class Run:
        config = TrainConfig(time_budget=0.01)  # 0.6 s

    texts = [f"text {i}" for i in range(500)]
    teacher = type("Teacher", (), {"classifier": Slow(0.001)})()
    kept, note = fit_to_budget(texts, Run(), teacher, Slow(0.001), time.perf_counter(), seed=0)
    assert len(kept) < len(texts) and set(kept) <= set(texts)
    assert note.startswith(f"{len(kept)} of the 500 unlabeled texts, sampled at random to fit --time-budget")
    assert fit_to_budget(texts, type("Run", (), {"config": TrainConfig()})(), teacher, Slow(0), 0.0, 0) == (texts, None)


def test_unlabeled_texts_come_from_a_table_s_text_column_blanks_left_out(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("id,message\n1,Oil jumps\n2,\n3,Fed holds rates\n", encoding="utf-8")
    assert read_unlabeled(path) == ["Oil jumps", "Fed holds rates"]


def test_the_cli_trains_with_unlabeled_texts_and_a_teacher(tiny_bert, tmp_path):
    out = tmp_path / "m"
    args = ["train", str(SAMPLE_DATA), "--out", str(out), "--model", str(tiny_bert), "--label-names"]
    args += [",".join(TOPIC_LABELS), "--train-size", "40", "--test-size", "16", "--epochs", "1"]
    args += ["--unlabeled", unlabeled_file(tmp_path, count=20), "--teacher", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "textfit.json").read_text())
    assert record["config"]["teacher"] == "none" and record["unlabeled"]["texts_used"] > 0
