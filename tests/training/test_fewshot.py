"""The few-shot strategy: chosen by itself for scarce data, overridable, saved as a plain model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from textfit import TrainConfig, train
from textfit.data.labeled import (
    SAMPLE_DATA,
    TOPIC_LABELS,
    LabeledTexts,
    label_name_examples,
    load_data,
    stratified_split,
    with_label_names,
)
from textfit.errors import TextfitError
from textfit.model.base_models import add_mean_pooling_layer
from textfit.training.callbacks import Callback
from textfit.training.setup import choose_strategy


def tiny_config(tiny_bert, **overrides) -> TrainConfig:
    values = dict(
        data=str(SAMPLE_DATA), label_names=TOPIC_LABELS, model=str(tiny_bert), train_size=40, test_size=16, epochs=1
    )
    return TrainConfig(**{**values, **overrides})


def test_auto_picks_fewshot_for_scarce_data_and_finetune_otherwise(caplog):
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)  # 440 examples, 20 labels: 22 per class
    with caplog.at_level(logging.INFO, logger="textfit"):
        assert choose_strategy(TrainConfig(), data.subset(range(50))) == "fewshot"
        assert "fewshot (auto)" in caplog.text and "the median class has 2 training examples" in caplog.text
        assert choose_strategy(TrainConfig(), data) == "finetune"
        assert choose_strategy(TrainConfig(fewshot_below=30), data) == "fewshot"
        # a file of 20 a class: 16 each to learn from after the hold-out, few-shot (0.681 against 0.528 fine-tuned)
        labels = [c for c in range(20) for _ in range(16)]
        balanced = LabeledTexts([f"t{i}" for i in range(len(labels))], labels, list(data.label_names), "x")
        assert choose_strategy(TrainConfig(), balanced) == "fewshot"
        # 17 a class on average, but unbalanced: half the classes have 5, half 29 -> the median is 17 ...
        labels = [c for c in range(20) for _ in range(5 if c % 2 else 29)]
        unbalanced = LabeledTexts([f"t{i}" for i in range(len(labels))], labels, list(data.label_names), "x")
        assert choose_strategy(TrainConfig(), unbalanced) == "finetune"
        # ... with 12 classes of 5 and 8 of 35 (also 17 on average) the median class has 5: few-shot
        labels = [c for c in range(20) for _ in range(5 if c < 12 else 35)]
        unbalanced = LabeledTexts([f"t{i}" for i in range(len(labels))], labels, list(data.label_names), "x")
        assert len(unbalanced) / 20 == 17.0 and choose_strategy(TrainConfig(), unbalanced) == "fewshot"
    assert choose_strategy(TrainConfig(strategy="finetune"), data.subset(range(50))) == "finetune"
    assert choose_strategy(TrainConfig(strategy="fewshot"), data) == "fewshot"
    with pytest.raises(TextfitError, match="choose auto, finetune or fewshot"):
        choose_strategy(TrainConfig(strategy="magic"), data)


def test_label_names_become_examples_unless_they_are_numbers():
    assert label_name_examples(["Fed | Central Banks", "M&A | Investments", "IPO"]) == (
        ["Fed, Central Banks", "M&A, Investments", "IPO"],
        [0, 1, 2],
    )
    assert label_name_examples(["0", "1"]) == ([], [])


def test_mean_pooling_layer_makes_cls_read_the_mean(tiny_bert):
    import torch

    from textfit.model.base_models import build_classifier, load_tokenizer

    model = build_classifier(str(tiny_bert), ["a", "b"]).eval()
    tokenizer = load_tokenizer(str(tiny_bert))
    batch = tokenizer(["a short one", "a somewhat longer text about oil prices"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.bert(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        mean = torch.nn.functional.layer_norm((hidden * mask).sum(1) / mask.sum(1), hidden.shape[-1:])
        assert add_mean_pooling_layer(model) and model.config.num_hidden_layers == 3
        cls = model.bert(**batch).last_hidden_state[:, 0]
    assert torch.allclose(cls, mean, atol=0.05)  # padding ignored: the short text's mean is its own


def test_fewshot_trains_saves_a_plain_model_and_fires_callbacks(tiny_bert, tmp_path, caplog):
    from transformers import pipeline

    events = []

    class Recorder(Callback):
        def on_train_begin(self, info):
            events.append(("begin", info["strategy"], info["total_steps"]))

        def on_step(self, step, total_steps, loss, epoch):
            events.append(("step", step))

        def on_evaluate(self, metrics):
            events.append(("evaluate", metrics["accuracy"]))

        def on_train_end(self, record):
            events.append(("end", record["strategy"]))

    with caplog.at_level(logging.INFO, logger="textfit"):
        result = train(tiny_config(tiny_bert, epochs=2), tmp_path / "m", callbacks=[Recorder()])
    assert "strategy fewshot (auto)" in caplog.text
    record = result.record
    assert record["strategy"] == "fewshot" and record["status"] == "completed"
    steps = [e[1] for e in events if e[0] == "step"]
    assert events[0] == ("begin", "fewshot", len(steps)) and steps == list(range(1, len(steps) + 1))
    assert [e[0] for e in events].count("evaluate") == 1 and events[-1] == ("end", "fewshot")
    assert record["timings"]["train_s"] > 0 and len(record["history"]) == 1
    saved = json.loads((result.folder / "config.json").read_text())
    assert saved["architectures"] == ["BertForSequenceClassification"] and saved["num_hidden_layers"] == 3

    classify = pipeline("text-classification", model=str(result.folder))
    answers = classify(["Acme Corp announces new CEO", "Oil jumps as OPEC cuts output"])
    assert all(a["label"] in TOPIC_LABELS for a in answers)
    encoder = result.classifier.encoder_proba(["Acme Corp announces new CEO"])[0]
    assert TOPIC_LABELS[encoder.argmax()] == answers[0]["label"]
    assert encoder.max() == pytest.approx(answers[0]["score"], abs=1e-4)


def test_fewshot_on_a_first_token_head_fills_out_proj_and_loads_in_a_plain_pipeline(tiny_mpnet, tmp_path, caplog):
    """MPNet's head is dense -> tanh -> out_proj over <s>: dense becomes the identity and the
    logistic regression goes into out_proj, so the saved model scores as the regression does."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import pipeline

    from textfit.training.fewshot import HEAD_C, features

    train_data, eval_data = stratified_split(load_data(SAMPLE_DATA, label_names=TOPIC_LABELS), 0.5, 7)
    config = TrainConfig(
        label_names=TOPIC_LABELS, model=str(tiny_mpnet), strategy="fewshot", epochs=2, lexical_weight=0
    )
    with caplog.at_level(logging.INFO, logger="textfit"):
        result = train(config, tmp_path / "m", data=(train_data, eval_data))
    assert "fine-tuning it instead" not in caplog.text
    assert result.record["strategy"] == "fewshot"
    model = result.classifier.model
    assert torch.equal(model.classifier.dense.weight, torch.eye(32))
    assert json.loads((result.folder / "config.json").read_text())["architectures"] == [
        "MPNetForSequenceClassification"
    ]

    # The head is the regression: refit it on the same vectors and compare probabilities.
    texts, labels = with_label_names(train_data)
    tokenizer = result.classifier.tokenizer
    vectors = features(
        model, [tokenizer(texts[s : s + 64], padding=True, return_tensors="pt") for s in range(0, len(texts), 64)]
    )
    expected = LogisticRegression(C=HEAD_C, max_iter=3000).fit(vectors, labels).predict_proba(vectors[:5])
    assert np.allclose(result.classifier.encoder_proba(texts[:5]), expected, atol=1e-3)

    answers = pipeline("text-classification", model=str(result.folder))(texts[:5])
    assert [a["label"] for a in answers] == [TOPIC_LABELS[i] for i in expected.argmax(axis=1)]


def test_strategy_flag_overrides_auto(tiny_bert, tmp_path):
    assert train(tiny_config(tiny_bert, strategy="finetune"), tmp_path / "f").record["strategy"] == "finetune"
    record = train(tiny_config(tiny_bert, train_size=None, test_size=40, strategy="fewshot"), tmp_path / "s").record
    assert record["strategy"] == "fewshot" and record["data"]["train_examples"] == 352


@pytest.mark.slow
def test_fewshot_on_the_embedded_model_is_far_above_chance(tmp_path):
    """8 examples per class from the embedded sample, the real MiniLM; chance is 0.05."""
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    pool, held_out = stratified_split(data, 0.5, 7)
    rng = np.random.default_rng(7)
    labels = np.array(pool.labels)
    chosen = [int(i) for c in range(len(TOPIC_LABELS)) for i in rng.permutation(np.flatnonzero(labels == c))[:8]]
    config = TrainConfig(label_names=TOPIC_LABELS, epochs=8)  # 8 of the default 12 epochs, to keep it quick
    record = train(config, tmp_path / "m", data=(pool.subset(chosen), held_out)).record
    assert record["strategy"] == "fewshot"
    assert record["metrics"]["accuracy"] >= 0.5, record["history"]


def test_contrastive_batches_are_equal_sized_and_cover_every_text_once():
    from textfit.training.fewshot import contrastive_batches

    rng = np.random.default_rng(0)
    batches = contrastive_batches(70, 32, rng)
    assert [len(b) for b in batches] == [24, 23, 23]  # not 32 + 32 + 6
    assert sorted(np.concatenate(batches).tolist()) == list(range(70))
    assert not np.array_equal(np.concatenate(batches), np.concatenate(contrastive_batches(70, 32, rng)))  # reshuffled
