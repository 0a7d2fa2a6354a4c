"""The n-gram model blended with the encoder: what it learns, how it blends, how it is stored."""

from __future__ import annotations

import numpy as np
import pytest

from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_data, stratified_split
from textfit.errors import TextfitError
from textfit.model.base_models import load_tokenizer
from textfit.model.lexical import SETTINGS_FILE, WEIGHTS_FILE, LexicalModel, tokenizer_normalizer


@pytest.fixture(scope="module")
def sample_split():
    return stratified_split(load_data(SAMPLE_DATA, label_names=TOPIC_LABELS), 0.25, seed=7)


@pytest.fixture(scope="module")
def fitted(sample_split):
    train_data, _ = sample_split
    normalize = tokenizer_normalizer(load_tokenizer("default"))
    return LexicalModel.fit(train_data.texts, train_data.labels, len(TOPIC_LABELS), 0.5, normalize)


def test_it_learns_the_labels_from_words(fitted, sample_split):
    train_data, held_out = sample_split
    log_p = fitted.log_proba(held_out.texts)
    assert log_p.shape == (len(held_out), 20) and np.allclose(np.exp(log_p).sum(axis=1), 1, atol=1e-5)
    assert (fitted.log_proba(train_data.texts).argmax(axis=1) == train_data.labels).mean() > 0.9
    assert (log_p.argmax(axis=1) == held_out.labels).mean() > 3 / 20  # well above chance (1/20)


def test_it_reads_text_through_the_tokenizer_normalizer(fitted):
    # URLs carry nothing: with or without one, the same answer
    assert np.allclose(
        fitted.log_proba(["Oil jumps as OPEC cuts output https://t.co/x1y2z3"]),
        fitted.log_proba(["OIL jumps as OPEC cuts output"]),
        atol=1e-6,
    )


def test_blend_is_the_weighted_geometric_mean(fitted):
    texts = ["Fed holds rates steady", "Acme Corp announces new CEO"]
    rng = np.random.default_rng(0)
    encoder = rng.dirichlet(np.ones(20), size=2).astype(np.float32)
    expected = np.sqrt(encoder) * np.exp(fitted.log_proba(texts)) ** 0.5
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(fitted.blend(encoder, texts), expected, atol=1e-5)
    with np.errstate(divide="raise"):  # a confident encoder's exact zeros do not reach np.log
        assert np.isfinite(fitted.blend(np.eye(20, dtype=np.float32)[:2], texts)).all()
    off = LexicalModel(fitted.words, fitted.chars, fitted.coef, fitted.intercept, 0.0)
    assert off.blend(encoder, texts) is encoder


def test_labels_absent_from_training_stay_unlikely():
    texts = ["oil prices jump", "crude oil falls", "fed raises rates", "central bank holds rates"]
    model = LexicalModel.fit(texts, [0, 0, 1, 1], 3, 0.5)  # label 2 has no example
    p = np.exp(model.log_proba(["oil and rates"]))[0]
    assert p[2] < 1e-5 and p[:2].sum() == pytest.approx(1, abs=1e-5)
    assert model.log_proba(["crude oil prices"]).argmax() == 0  # binary: the second class against the first


def test_save_and_load_give_the_same_answers_without_pickles(fitted, sample_split, tmp_path):
    _, held_out = sample_split
    fitted.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([SETTINGS_FILE, WEIGHTS_FILE])
    loaded = LexicalModel.load(tmp_path, fitted.normalize)
    assert loaded.weight == 0.5
    assert np.allclose(loaded.log_proba(held_out.texts), fitted.log_proba(held_out.texts), atol=1e-6)
    assert LexicalModel.load(tmp_path / "nothing-here") is None


def test_weight_zero_trains_the_encoder_alone(tiny_bert, tmp_path):
    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=1,
        train_size=40,
        test_size=20,
        lexical_weight=0,
    )
    result = train(config, tmp_path / "m")
    assert not (result.folder / SETTINGS_FILE).exists() and result.record["lexical"] is None
    loaded = Classifier.load(result.folder)
    assert loaded.lexical is None
    texts = ["Acme Corp announces new CEO", "Oil prices fall"]
    encoder = loaded.encoder_proba(texts)
    assert loaded.blend(encoder, texts) is encoder  # answers are the encoder's, calibrated (calibration.py)
    assert np.allclose(loaded.predict_proba(texts), loaded.calibration.apply(encoder), atol=1e-6)


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_a_weight_outside_0_to_1_is_refused(tiny_bert, tmp_path, weight):
    config = TrainConfig(data=str(SAMPLE_DATA), label_names=TOPIC_LABELS, model=str(tiny_bert), lexical_weight=weight)
    with pytest.raises(TextfitError, match="lexical_weight"):
        train(config, tmp_path / "m")


def test_weight_shrinks_below_8_examples_per_class_and_names_join(sample_split):
    from textfit.model.lexical import fit_lexical

    train_data, _ = sample_split
    tokenizer = load_tokenizer("default")
    full, seconds = fit_lexical(train_data, tokenizer, 0.5)  # 330 examples, 16.5 per class
    assert full.weight == 0.5 and seconds > 0
    few = train_data.subset(list(range(40)))  # 2 per class on average
    model, _ = fit_lexical(few, tokenizer, 0.5)
    assert model.weight == pytest.approx(0.5 * 2 / 8)
    # a class without examples still learns from its name, so the n-grams do not veto it
    absent = sorted(set(range(20)) - set(few.labels))
    assert absent and np.exp(model.log_proba([TOPIC_LABELS[absent[0]]]))[0, absent[0]] > 0.05
    assert fit_lexical(train_data, tokenizer, 0.0) == (None, 0.0)


def test_no_word_of_two_letters_trains_without_ngrams():
    """sklearn finds no vocabulary in one-letter texts: the run goes on with the encoder alone."""
    from textfit.data.labeled import LabeledTexts
    from textfit.model.lexical import fit_lexical

    data = LabeledTexts(["a", "b", "c", "d"], [0, 0, 1, 1], ["1", "2"], "inline")
    model, seconds = fit_lexical(data, None, 0.5)
    assert model is None and seconds >= 0


def test_min_df_falls_back_to_every_ngram_when_none_is_in_that_many_texts():
    from textfit.model.lexical import LexicalModel

    model = LexicalModel.fit(["xy", "qz"], [0, 1], 2, 0.5, min_df=2)  # no n-gram is in two texts
    assert set(model.words.vocabulary_) == {"xy", "qz"}
    assert model.log_proba(["xy"]).argmax() == 0 and model.log_proba(["qz"]).argmax() == 1
