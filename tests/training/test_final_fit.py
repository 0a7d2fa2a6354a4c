"""The final fit: once the hold-out run has chosen the schedule, the saved model is trained afresh on
every example; the figures stay the hold-out run's and say so."""

from __future__ import annotations

import json

import pytest

from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_train_eval
from textfit.training.final_fit import FINAL_FIT_MIN_HELD_OUT, fit_final_model, wants_final_fit
from textfit.training.loop import LoopResult


def config_for(model, **values) -> TrainConfig:
    return TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(model),
        strategy="finetune",
        epochs=2,
        learning_rate=1e-3,
        **values,
    )


@pytest.fixture(scope="module")
def both_runs(tiny_bert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("final")
    hold_out = train(config_for(tiny_bert, final_fit=False), folder / "hold-out")
    final = train(config_for(tiny_bert, final_fit=True), folder / "final")
    return hold_out, final


def test_the_saved_model_learns_from_every_example_and_reports_the_hold_out_run(both_runs):
    hold_out, final = both_runs
    record = final.record
    assert record["final_fit"]["done"] and record["final_fit"]["examples"] == 440  # 352 trained + 88 held out
    kept_step = record["best"]["step"]
    assert record["final_fit"]["steps"] == round(kept_step * 440 / 352)

    # the figures are the hold-out run's: the same seed and settings give the same metrics and history
    def scores(history):
        return [{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in history]

    assert record["metrics"] == hold_out.record["metrics"]
    assert scores(record["history"]) == scores(hold_out.record["history"])
    assert hold_out.record["final_fit"] == {
        "done": False,
        "why": "off (--no-final-fit): the saved model is the hold-out run's",
    }
    card = (final.folder / "README.md").read_text()
    assert "These figures are the hold-out run's" in card and "all 440 examples" in card
    assert "These figures are the hold-out run's" not in (hold_out.folder / "README.md").read_text()
    on_disk = json.loads((final.folder / "textfit.json").read_text())
    assert on_disk["final_fit"]["steps"] == record["final_fit"]["steps"]


def test_the_final_model_differs_and_its_ngrams_know_words_only_the_held_out_examples_have(both_runs, tiny_bert):
    hold_out, final = both_runs
    train_data, eval_data = load_train_eval(config_for(tiny_bert))
    final_ngrams, hold_out_ngrams = Classifier.load(final.folder).lexical, Classifier.load(hold_out.folder).lexical
    words = final_ngrams.words.build_analyzer()  # the n-gram model's own reading of a text
    seen = {w for t in train_data.texts + TOPIC_LABELS for w in words(final_ngrams.normalize(t))}
    only_held_out = {w for t in eval_data.texts for w in words(final_ngrams.normalize(t))} - seen
    assert len(only_held_out) > 20
    assert only_held_out <= set(final_ngrams.words.vocabulary_)
    assert not only_held_out & set(hold_out_ngrams.words.vocabulary_)
    a, b = Classifier.load(hold_out.folder), Classifier.load(final.folder)
    texts = eval_data.texts[:8]
    assert not (a.encoder_proba(texts) == b.encoder_proba(texts)).all()
    assert b.predict(["Acme Corp announces new CEO"])[0] in TOPIC_LABELS


def test_when_the_final_fit_is_on_by_default(tiny_bert):
    config = config_for(tiny_bert)
    train_data, eval_data = load_train_eval(config)
    assert len(eval_data) < FINAL_FIT_MIN_HELD_OUT
    assert wants_final_fit(config, "finetune", eval_data)[0] is False  # 88 held out: little to add
    assert wants_final_fit(config.override(final_fit=True), "finetune", eval_data)[0] is True
    bigger = eval_data.subset(list(range(len(eval_data))) * 2)
    assert wants_final_fit(config, "finetune", bigger)[0] is True
    assert wants_final_fit(config, "fewshot", bigger)[0] is False
    assert wants_final_fit(config.override(eval_data="other.csv"), "finetune", bigger)[0] is False
    assert wants_final_fit(config.override(train_size=50), "finetune", bigger)[0] is False


def test_no_final_fit_when_the_time_budget_left_cannot_pay_for_it(both_runs, tiny_bert):
    hold_out, _ = both_runs
    train_data, eval_data = load_train_eval(config_for(tiny_bert))
    record = hold_out.record
    loop = LoopResult(
        model=None,
        status=record["status"],
        history=record["history"],
        best=record["best"],
        steps=record["training"]["steps"],
        batch_size=record["training"]["batch_size"],
        epochs_planned=record["training"]["epochs_planned"],
        timings=record["timings"],
        precision=record["training"]["precision"],
        peak_rss_mb=record["training"]["peak_rss_mb"],
    )
    final = fit_final_model(config_for(tiny_bert), None, 64, train_data, eval_data, loop, None, [], budget_left_s=0.0)
    assert final.done is False and "time budget" in final.why
    assert final.to_record() == {"done": False, "why": final.why}
