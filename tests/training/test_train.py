"""Training end to end on a tiny BERT: the saved folder, the run record, plain `pipeline`, predict."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS
from textfit.training.callbacks import Callback, JsonlLog
from textfit.training.finetune import budget_epochs, default_epochs
from textfit.training.loop import build_optimizer, steps_for_budget, trained_weights
from textfit.training.setup import choose_max_length, token_lengths


def test_saved_folder_has_everything(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "textfit.json",
        "README.md",
        "metrics.json",
        "per_class.csv",
        "confusion_matrix.png",
        "confusion_matrix.txt",
        "misclassified.csv",
        "lexical.json",
        "lexical.safetensors",
    } <= names
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in tiny_model_dir.iterdir())
    record = json.loads((tiny_model_dir / "textfit.json").read_text())
    assert record["labels"] == TOPIC_LABELS
    assert len(record["data"]["fingerprint"]) == 64
    assert [h["epoch"] for h in record["history"]] == [1.0, 2.0]
    assert record["config"]["epochs"] == 2 and record["versions"]["torch"].startswith("2.13")
    assert record["timings"]["train_s"] > 0 and record["training"]["peak_rss_mb"] > 0
    assert record["data"]["eval_examples"] == 88  # stratified 20% of 440
    # the blended answers are the metrics; the encoder alone (what plain pipeline gives) is on record
    # the n-gram weight is chosen on the held-out answers: the most accurate there, the smallest among equals
    lexical = record["lexical"]
    accuracy = {float(w): a for w, a in lexical["accuracy_by_weight"].items()}
    assert (
        lexical["weight"] == min(w for w, a in accuracy.items() if a == max(accuracy.values()))
        and lexical["fit_s"] >= 0
    )
    assert lexical["weight"] > 0  # the tiny random encoder knows little: the n-grams help it
    assert set(record["lexical"]["encoder_metrics"]) == {"accuracy", "macro_f1", "weighted_f1"}
    card = (tiny_model_dir / "README.md").read_text()
    assert "| accuracy |" in card and "Personnel Change" in card
    assert "Plain `transformers.pipeline` reads the encoder alone" in card
    # a label with "|" stays in its cell, and the data is named by its file, not its folder
    assert "\n| Fed \\| Central Banks | " in card and f"from `{SAMPLE_DATA.name}`" in card
    assert str(SAMPLE_DATA.parent) not in card
    per_class = card[card.index("### Per class") : card.index("The confusion matrix")]
    assert all(line.replace("\\|", "").count("|") == 6 for line in per_class.splitlines() if line.startswith("|"))


def test_plain_pipeline_answers_with_label_names(tiny_model_dir):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(tiny_model_dir))
    answer = classify("Acme Corp announces new CEO")[0]
    assert answer["label"] in TOPIC_LABELS
    classifier = Classifier.load(tiny_model_dir)
    encoder = classifier.encoder_proba(["Acme Corp announces new CEO"])[0]
    assert TOPIC_LABELS[encoder.argmax()] == answer["label"] and encoder.max() == pytest.approx(
        answer["score"], abs=1e-5
    )
    # textfit's own answers blend in the n-gram model saved beside the encoder, then calibrate the blend
    assert classifier.lexical is not None and classifier.calibration is not None
    blended = classifier.lexical.blend(encoder[None], ["Acme Corp announces new CEO"])
    assert np.allclose(
        classifier.predict_proba("Acme Corp announces new CEO"), classifier.calibration.apply(blended), atol=1e-6
    )


def test_classifier_surface(tiny_model_dir):
    classifier = Classifier.load(tiny_model_dir)
    texts = ["short", "a much longer message about oil prices and OPEC output cuts " * 3, "Fed holds rates"]
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (3, 20) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert classifier.predict(texts) == [TOPIC_LABELS[i] for i in probabilities.argmax(axis=1)]
    # batching and length-sorting must not change any answer
    one_by_one = np.vstack([classifier.predict_proba(t) for t in texts])
    assert np.allclose(one_by_one, probabilities, atol=1e-5)
    ranked = classifier.top_k(texts, k=3)
    assert [len(r) for r in ranked] == [3, 3, 3]
    assert ranked[0][0]["score"] >= ranked[0][1]["score"] >= ranked[0][2]["score"]


def test_callbacks_see_every_step_and_evaluation(tiny_bert, tmp_path):
    events = []

    class Recorder(Callback):
        def on_train_begin(self, info):
            events.append(("begin", info["total_steps"]))

        def on_step(self, step, total_steps, loss, epoch):
            events.append(("step", step))

        def on_evaluate(self, metrics):
            events.append(("evaluate", metrics["epoch"]))

        def on_train_end(self, record):
            events.append(("end", record["status"]))

    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=1,
        train_size=64,
        test_size=16,
    )
    log = tmp_path / "log.jsonl"
    train(config, tmp_path / "m", callbacks=[Recorder(), JsonlLog(log)])
    steps = [e[1] for e in events if e[0] == "step"]
    assert events[0] == ("begin", len(steps)) and steps == list(range(1, len(steps) + 1))
    assert ("evaluate", 1.0) in events and events[-1] == ("end", "completed")
    kinds = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert kinds[0] == "begin" and "evaluate" in kinds and kinds[-1] == "end"


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_choice_shapes_the_saved_model(tiny_bert, tmp_path, pooling):
    from transformers import AutoConfig, pipeline

    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=1,
        train_size=40,
        test_size=20,
        pooling=pooling,
    )
    result = train(config, tmp_path / "m")
    base_layers = AutoConfig.from_pretrained(tiny_bert).num_hidden_layers
    saved = AutoConfig.from_pretrained(result.folder)
    # mean: one extra frozen layer makes [CLS] read the mean; it is saved and plain transformers loads it
    assert saved.num_hidden_layers == base_layers + (pooling == "mean")
    assert getattr(saved, "textfit_pooling", None) == ("mean" if pooling == "mean" else None)
    assert result.record["config"]["pooling"] == pooling
    texts = ["Acme Corp announces new CEO", "Oil prices fall"]
    answers = pipeline("text-classification", model=str(result.folder))(texts)
    encoder = Classifier.load(result.folder).encoder_proba(texts)
    assert [a["label"] for a in answers] == [TOPIC_LABELS[i] for i in encoder.argmax(axis=1)]
    assert [a["score"] for a in answers] == pytest.approx(list(encoder.max(axis=1)), abs=1e-5)


def test_unknown_pooling_is_refused(tiny_bert, tmp_path):
    from textfit.errors import TextfitError

    config = TrainConfig(data=str(SAMPLE_DATA), label_names=TOPIC_LABELS, model=str(tiny_bert), pooling="max")
    with pytest.raises(TextfitError, match="unknown pooling 'max'"):
        train(config, tmp_path / "m")


def test_early_stopping_and_best_epoch_kept(tiny_bert, tmp_path):
    # A zero learning rate never improves: training must stop after `patience` stale evaluations.
    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=10,
        learning_rate=1e-12,
        early_stopping_patience=2,
        train_size=64,
        test_size=32,
    )
    record = train(config, tmp_path / "m").record
    assert record["status"] == "stopped early" and len(record["history"]) == 3
    assert record["best"]["epoch"] == 1.0


def test_time_budget_ends_training_in_time(tiny_bert, tmp_path):
    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=50,
        time_budget=0.05,
        early_stopping_patience=100,
    )
    record = train(config, tmp_path / "m").record
    # A 3 s budget; the margin covers a step and the last evaluation on a busy machine. The step
    # count shows that the budget, not the 50 epochs, ended the run.
    assert record["timings"]["train_s"] + record["timings"]["eval_s"] < 0.05 * 60 + 10
    assert record["training"]["steps"] < 50 * 11


def test_time_budget_plan_counts_evaluations_once_each():
    # 10 minutes at 0.35 s/step, 3,398 evaluation messages every 212 steps: ~3.4 epochs of 425 steps.
    steps = steps_for_budget(590, 0.35, planned=8500, done=20, eval_every=212, eval_examples=3398, batch_size=32)
    assert 1300 < steps < 1500
    assert steps_for_budget(600, 0.35, planned=500, done=20, eval_every=212, eval_examples=3398, batch_size=32) == 500
    assert steps_for_budget(1, 5.0, planned=500, done=20, eval_every=212, eval_examples=3398, batch_size=32) == 21


def test_retraining_replaces_the_folder_atomically(tiny_bert, tmp_path):
    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=1,
        train_size=40,
        test_size=20,
    )
    out = tmp_path / "m"
    (out).mkdir()
    (out / "stale.txt").write_text("old")
    train(config, out)
    assert not (out / "stale.txt").exists() and (out / "textfit.json").exists()
    assert not (tmp_path / "m.partial").exists()


@pytest.mark.parametrize("crash", ["moving the old model aside", "moving the new one in", "deleting the old one"])
def test_a_save_killed_between_its_steps_leaves_a_loadable_model(tiny_model_dir, tmp_path, monkeypatch, crash):
    import os
    import shutil

    from textfit import evaluate
    from textfit.atomic import recover_model_folder
    from textfit.data.labeled import load_data
    from textfit.model.folder import save_model

    out = tmp_path / "m"
    shutil.copytree(tiny_model_dir, out)
    classifier = Classifier.load(out)
    new_record = {**classifier.record, "status": "the new one"}
    report = evaluate(classifier, load_data(SAMPLE_DATA, label_names=TOPIC_LABELS).subset(range(20)))
    renames, real_replace, real_rmtree = [], os.replace, shutil.rmtree

    class Killed(Exception):
        pass

    def replace(source, target):
        renames.append(target)
        if (crash, len(renames)) in (("moving the old model aside", 1), ("moving the new one in", 2)):
            raise Killed
        real_replace(source, target)

    def rmtree(path, *args, **kwargs):
        if crash == "deleting the old one" and str(path).endswith(".previous"):
            raise Killed
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    with pytest.raises(Killed):
        save_model(out, classifier, new_record, report)
    monkeypatch.undo()
    if crash == "moving the new one in":  # the one moment without a model at `out`: the old one waits beside it
        assert not out.exists() and Classifier.load(out.with_name("m.previous")).record["status"] == "completed"
        # and loading `out` meanwhile (a server, a studio page) reads it, changing nothing on disk
        assert Classifier.load(out).record["status"] == "completed" and not out.exists()

    recover_model_folder(out)  # what the next save (or training run) does first
    assert not out.with_name("m.previous").exists()
    expected = "the new one" if crash == "deleting the old one" else "completed"
    assert Classifier.load(out).record["status"] == expected
    assert Classifier.load(out).predict(["Oil prices fall"]) == classifier.predict(["Oil prices fall"])
    save_model(out, classifier, new_record, report)  # and the next save completes, leaving nothing beside it
    assert Classifier.load(out).record["status"] == "the new one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_defaults_scale_with_the_data():
    assert choose_max_length(np.array([10] * 50 + [500] * 50), cap=256) == 256
    assert choose_max_length(np.array([10] * 99 + [500]), cap=256) == 16  # one outlier does not set the length
    assert choose_max_length(np.array([10, 12, 20, 21]), cap=256) == 24
    assert default_epochs(50) == 20 and default_epochs(13_000) == 3
    assert budget_epochs(13_000) == 8 and budget_epochs(50) == 20  # a time budget never plans fewer
    assert default_epochs(13_000, multi_label=True) == 6 and default_epochs(50, multi_label=True) == 20


def test_counting_a_long_texts_tokens_warns_of_no_indexing_errors(caplog):
    # transformers warns that a text past the model's 512 positions "will result in indexing errors":
    # untrue of a count, and of textfit, which reads such a text in windows
    from textfit.model.base_models import load_tokenizer

    with caplog.at_level(logging.WARNING):
        lengths = token_lengths(load_tokenizer("default"), ["word " * 600, "short"])
    assert lengths[0] > 512 and lengths[1] < 8
    assert "indexing errors" not in caplog.text


def test_best_weights_copy_skips_frozen_embeddings_and_restores(tiny_bert):
    import torch

    from textfit.model.base_models import build_classifier

    model = build_classifier(str(tiny_bert), ["a", "b"])
    optimizer = build_optimizer(model, TrainConfig())
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(model.get_input_embeddings().weight) not in trained  # frozen by default
    saved = trained_weights(model)
    assert "bert.embeddings.word_embeddings.weight" not in saved and "classifier.weight" in saved
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    model.load_state_dict(saved, strict=False)
    assert torch.equal(model.classifier.weight, saved["classifier.weight"])


def test_cpu_training_uses_eager_attention_and_gives_the_model_back_as_it_was(tiny_bert):
    import torch

    from textfit.model.base_models import build_classifier

    if torch.cuda.is_available():
        pytest.skip("GPUs keep fused attention")
    from textfit.training.loop import attention_for_training

    model = build_classifier(str(tiny_bert), ["a", "b"])
    assert model.config._attn_implementation == "sdpa"
    with attention_for_training(model):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == "sdpa"


def test_majority_baseline_and_its_margin():
    from textfit.model.evaluate import baseline_sentence, beats_baseline, majority_baseline

    # 300 tweets, 60 held out, 38 of them Neutral: the example
    labels = [0] * 38 + [1] * 12 + [2] * 10
    baseline = majority_baseline(
        {"Bearish": 40, "Bullish": 50, "Neutral": 150},
        [{0: 2, 1: 1, 2: 0}[i] for i in labels],
        ["Bearish", "Bullish", "Neutral"],
    )
    assert baseline["label"] == "Neutral" and baseline["accuracy"] == 0.6333 and baseline["examples"] == 60
    assert baseline["macro_f1"] == pytest.approx((2 * 0.6333 / 1.6333) / 3, abs=1e-3)  # F1 of Neutral; 0 for the others
    assert baseline["margin"] == pytest.approx(
        (0.6333 * 0.3667 / 60) ** 0.5, abs=1e-4
    )  # 6.2 points: one standard error
    assert not beats_baseline(0.6667, baseline) and beats_baseline(0.70, baseline)
    sentence = baseline_sentence(0.6667, baseline)
    assert sentence.startswith(
        "Always answering 'Neutral' would score 63.3 %; this model scores 66.7 %, 3.3 points more."
    )
    assert "does not clearly beat it" in sentence and "more examples per class" in sentence
    assert "does not" not in baseline_sentence(0.75, baseline)
    # ties go to the label listed first; on thousands of examples the margin is the 2-point floor
    tied = majority_baseline({"a": 5, "b": 5}, [1] * 3000 + [0] * 1000, ["a", "b"])
    assert tied["label"] == "a" and tied["accuracy"] == 0.25 and tied["margin"] == 0.02


def test_kept_epoch_beats_the_baseline_when_any_epoch_does():
    from textfit.model.evaluate import improves_on

    baseline = {"label": "Neutral", "accuracy": 0.6333, "macro_f1": 0.26, "examples": 60, "margin": 0.0622}

    def kept(history):
        best = None
        for entry in history:
            if improves_on(entry, best, baseline):
                best = entry
        return history.index(best)

    history = [
        {"accuracy": 0.64, "macro_f1": 0.50},  # not clearly above 63.3 % (needs 69.6 %)
        {"accuracy": 0.72, "macro_f1": 0.45},  # clearly above: wins despite a lower macro-F1
        {"accuracy": 0.667, "macro_f1": 0.60},  # the best macro-F1, but no better than answering Neutral
        {"accuracy": 0.75, "macro_f1": 0.47},  # clearly above, and better than epoch 2
        {"accuracy": 0.74, "macro_f1": 0.46},
    ]
    assert kept(history) == 3
    assert (
        kept([{"accuracy": a, "macro_f1": f} for a, f in [(0.60, 0.3), (0.65, 0.5), (0.62, 0.4)]]) == 1
    )  # none does: macro-F1
    assert (
        kept([{"accuracy": a, "macro_f1": f} for a, f in [(0.70, 0.3), (0.80, 0.5), (0.71, 0.6)]]) == 2
    )  # all do: macro-F1


def test_record_card_and_metrics_carry_the_yardstick(tiny_model_dir):
    record = json.loads((tiny_model_dir / "textfit.json").read_text())
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    counts = record["data"]["train_label_counts"]
    baseline = record["baseline"]
    assert baseline["label"] == max(counts, key=counts.get) and baseline["source"] == "training data"
    support = {row["label"]: row["support"] for row in metrics["per_class"]}
    assert baseline["accuracy"] == pytest.approx(support.get(baseline["label"], 0) / 88, abs=1e-4)
    assert metrics["baseline"] == baseline and metrics["beats_baseline"] == record["beats_baseline"]
    assert record["beats_baseline"] == (record["metrics"]["accuracy"] >= baseline["accuracy"] + baseline["margin"])
    card = (tiny_model_dir / "README.md").read_text()
    assert f"Always answering '{baseline['label']}' would score {100 * baseline['accuracy']:.1f} %" in card
    # the coverage curve: every message answered at threshold 0, at the measured accuracy
    assert [c["threshold"] for c in record["coverage"]] == [round(0.05 * i, 2) for i in range(20)]
    assert record["coverage"][0] == {
        "threshold": 0.0,
        "answered": 1.0,
        "accuracy": round(record["metrics"]["accuracy"], 4),
    }
    assert metrics["coverage"] == record["coverage"]
    assert "| confidence at least | messages answered |" in card and "calibration.json" in card
    coverage_rows = [
        line.split(" | ")[0] for line in card.splitlines() if re.fullmatch(r"\| 0\.\d \| [\d.]+ % \| .* \|", line)
    ]
    assert coverage_rows == [f"| 0.{i}" for i in range(10)]  # the card lists every tenth of the curve
    assert "fitted on the same held-out messages" in card and "plain `transformers.pipeline`" in card


def test_a_run_that_does_not_beat_the_baseline_says_so(tiny_bert, tmp_path, write, capsys):
    from textfit.cli import print_training_summary

    rows = ["text,label"] + [
        f"message number {i} about {'markets' if i % 3 else 'rates'},{'alarm' if i % 5 == 0 else 'calm'}"
        for i in range(100)
    ]
    config = TrainConfig(
        data=str(write("skewed.csv", "\n".join(rows))),
        model=str(tiny_bert),
        strategy="finetune",
        epochs=1,
        learning_rate=1e-12,
        lexical_weight=0,
    )  # learns nothing
    result = train(config, tmp_path / "m")
    record = result.record
    assert record["baseline"]["label"] == "calm" and record["baseline"]["accuracy"] == 0.8
    assert record["beats_baseline"] is False and "more examples per class" in record["baseline_hint"]
    card = (result.folder / "README.md").read_text()
    assert (
        "**This run does not clearly beat the majority-class baseline.** Always answering 'calm' would score 80.0 %"
        in card
    )
    print_training_summary(result)
    out = capsys.readouterr().out
    assert "Always answering 'calm' would score 80.0 %" in out and "does not clearly beat it" in out
