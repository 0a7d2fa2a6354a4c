"""Texts longer than the model reads: windows, their pooling and cap, in training and on every backend."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from support.long_texts import PREAMBLE, long_text
from support.models import build_tiny_bert
from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import LabeledTexts
from textfit.model.base_models import load_tokenizer
from textfit.model.windows import Windows, capped_rows, encode, pool, window_counts

# Short training texts: the same preamble words in both labels (so they say nothing), one telling sentence.
TELLING = {
    "metals": ["gold silver copper prices", "copper gold metals rally", "silver metals gold climb"],
    "sport": ["football tennis match team", "team striker football win", "tennis match striker final"],
}
LABELS = list(TELLING)


def short_texts(repeats: int = 8) -> LabeledTexts:
    """Each telling sentence after 0 to 20 words of preamble: all shorter than the 32-token window."""
    words = (PREAMBLE.split() * 2)[:20]
    texts, labels = [], []
    for repeat in range(repeats):
        for label, sentences in enumerate(TELLING.values()):
            for number, sentence in enumerate(sentences):
                start = (7 * repeat + 5 * number + label) % 21
                texts.append(" ".join(words[start:] + [sentence]))
                labels.append(label)
    return LabeledTexts(texts, labels, LABELS, "short texts")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("default")


@pytest.fixture(scope="module")
def trained_on_short_texts(tmp_path_factory):
    """A tiny model trained on short texts only (n-grams off: the encoder is what is tested), with
    32-token windows, exported to ONNX and int8 so every backend can read it."""
    pytest.importorskip("onnxruntime")
    import torch

    from textfit.export.onnx import export_onnx

    torch.manual_seed(0)  # this test's own tiny encoder, the same in every session
    tiny_bert = build_tiny_bert(tmp_path_factory.mktemp("windows-bert"))

    config = TrainConfig(
        data="unused",
        model=str(tiny_bert),
        strategy="finetune",
        epochs=10,
        learning_rate=3e-3,
        batch_size=8,
        max_length=32,
        lexical_weight=0,
        final_fit=False,
        early_stopping_patience=100,
    )
    # Held out: other long texts, so the epoch kept is one that reads long texts (a tiny random model
    # fits its short texts within an epoch or two, long before it generalises to a sentence at a window's end).
    held_out = LabeledTexts(
        [long_text(s) for s in TELLING["metals"] + TELLING["sport"]], [0, 0, 0, 1, 1, 1], LABELS, "long"
    )
    folder = train(config, tmp_path_factory.mktemp("windows") / "model", data=(short_texts(16), held_out)).folder
    export_onnx(folder, quantize="int8")
    return folder


def test_window_counts_match_what_the_tokenizer_makes(tokenizer):
    texts = [" ".join(["word"] * n) for n in (1, 20, 29, 30, 31, 60, 200, 1000)]
    made = tokenizer(texts, truncation=True, max_length=32, stride=7, return_overflowing_tokens=True)
    made = np.bincount(made["overflow_to_sample_mapping"], minlength=len(texts))
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    assert list(window_counts(tokenizer, lengths, 32)) == list(made)
    assert made[0] == 1 and made[-1] > 30


def test_windows_are_pooled_by_their_mean_or_maximum():
    logits = np.array([[1.0, 0.0], [3.0, -2.0], [0.0, 5.0]], dtype=np.float32)
    owner = np.array([0, 0, 1])
    assert np.allclose(pool(logits, owner, 2, "mean"), [[2.0, -1.0], [0.0, 5.0]])
    assert np.allclose(pool(logits, owner, 2, "max"), [[3.0, 0.0], [0.0, 5.0]])
    assert pool(logits, np.arange(3), 3) is logits  # every text one window: untouched


def test_the_cap_keeps_each_texts_first_windows_and_names_the_texts_cut():
    keep, capped = capped_rows(np.array([0, 0, 0, 1, 2, 2, 2, 2]), max_windows=2)
    assert list(keep) == [True, True, False, True, True, True, False, False]
    assert capped == [0, 2]


def test_a_short_text_is_one_window_exactly_as_truncation_gives_it(tokenizer):
    texts = ["gold prices rose", "the team won the final match of the season"]
    windowed = encode(tokenizer, texts, 32, Windows())
    truncated = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="np")
    assert list(windowed.owner) == [0, 1] and windowed.capped == []
    for name, value in windowed.inputs.items():
        assert np.array_equal(value, truncated[name])


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_a_sentence_in_a_long_texts_last_window_decides_its_label_on_every_backend(trained_on_short_texts, backend):
    classifier = Classifier.load(trained_on_short_texts, backend=backend)
    assert classifier.max_length == 32 and classifier.windows == Windows()
    texts = [long_text("metals copper silver gold"), long_text("striker team tennis football")]
    assert classifier.encoder_proba(texts).argmax(axis=1).tolist() == [0, 1]
    assert classifier.predict(texts) == ["metals", "sport"]
    classifier.windows = Windows(max_windows=1)  # cut at max_length: both texts read as the same preamble
    truncated = classifier.encoder_proba(texts)
    assert np.allclose(truncated[0], truncated[1])


def test_short_texts_answer_the_same_with_windows_or_without(trained_on_short_texts):
    classifier = Classifier.load(trained_on_short_texts)
    texts = [sentence for sentences in TELLING.values() for sentence in sentences]
    windowed = classifier.predict_proba(texts)
    classifier.windows = Windows(max_windows=1)
    assert np.array_equal(windowed, classifier.predict_proba(texts))


def test_a_text_past_the_cap_is_read_up_to_it_with_a_warning(trained_on_short_texts, caplog):
    classifier = Classifier.load(trained_on_short_texts)
    classifier.windows = Windows(max_windows=2)
    with caplog.at_level(logging.WARNING, logger="textfit"):
        classifier.predict_proba([long_text("copper prices rose", 6), "gold prices rose"])
    assert classifier.capped_texts == 1
    assert "1 text(s) longer than 2 windows of 32 tokens: read only their first 2 windows" in caplog.text


def test_the_run_record_says_how_texts_were_read_and_an_older_folder_keeps_cutting(trained_on_short_texts, tmp_path):
    record = json.loads((trained_on_short_texts / "textfit.json").read_text())
    windows = record["windows"]
    assert windows["max_windows"] == 16 and windows["pooling"] == "mean" and windows["stride_tokens"] == 7
    assert windows["train_texts_longer_than_one_window"] == 0 and windows["eval_texts_capped"] == 0
    assert "windows" in (trained_on_short_texts / "README.md").read_text()
    older = tmp_path / "older"
    shutil.copytree(trained_on_short_texts, older)
    del record["windows"]
    (older / "textfit.json").write_text(json.dumps(record))
    assert Classifier.load(older).windows == Windows(max_windows=1)  # as it was trained and measured


def test_a_run_with_long_texts_counts_them_in_its_record(tiny_bert, tmp_path):
    config = TrainConfig(
        data="unused", model=str(tiny_bert), strategy="finetune", epochs=1, max_length=32, max_windows=3
    )
    data = short_texts(2)
    long = LabeledTexts(
        data.texts + [long_text("gold prices rose", 20)] * 4, data.labels + [0] * 4, LABELS, "with long texts"
    )
    record = train(config, tmp_path / "model", data=(long, short_texts(1))).record
    assert record["windows"]["train_texts_longer_than_one_window"] == 4
    assert record["windows"]["train_texts_capped"] == 4 and record["windows"]["max_windows"] == 3
