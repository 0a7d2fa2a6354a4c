"""Why this label: leave-one-word-out weights and the n-gram model's share, on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from textfit import Classifier, TextfitError, explain
from textfit.cli import app

TWEET = "Oil prices fall as OPEC agrees to raise output $XOM $CVX"


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    return Classifier.load(tiny_model_dir)


def test_one_weight_per_word_for_the_predicted_label(classifier):
    result = explain(classifier, TWEET)
    assert result.words == TWEET.split() and len(result.weights) == len(result.words) == len(result.lexical)
    assert result.label == classifier.predict(TWEET)[0]
    assert result.probability == pytest.approx(classifier.predict_proba(TWEET)[0].max(), abs=1e-5)
    assert classifier.explain(TWEET) == result


def test_leaving_out_the_top_word_lowers_the_probability_by_its_weight(classifier):
    result = explain(classifier, TWEET)
    top = int(np.argmax(result.weights))
    without = " ".join(w for i, w in enumerate(result.words) if i != top)
    column = classifier.label_names.index(result.label)
    assert classifier.predict_proba(without)[0, column] == pytest.approx(
        result.probability - result.weights[top], abs=1e-5
    )
    assert result.ranked()[0] == (result.words[top], result.weights[top])


def test_another_label_can_be_explained(classifier):
    other = next(name for name in classifier.label_names if name != classifier.predict(TWEET)[0])
    result = explain(classifier, TWEET, label=other)
    column = classifier.label_names.index(other)
    assert result.label == other and result.probability == pytest.approx(
        classifier.predict_proba(TWEET)[0, column], abs=1e-5
    )
    with pytest.raises(TextfitError, match="unknown label 'Weather'"):
        explain(classifier, TWEET, label="Weather")


def test_the_ngram_share_follows_the_labels_coefficients(classifier):
    """A word the n-gram model never saw has no share; the shares sum to the gradient-times-input
    of the whole text, computed here directly from the model's features."""
    result = explain(classifier, "ǂǂǂ " + TWEET)  # no n-gram of it in the vocabulary
    assert result.lexical[0] == 0
    model, column = classifier.lexical, classifier.label_names.index(result.label)
    assert any(abs(v) > 1e-4 for v in result.lexical)
    from textfit.model.lexical import hstack

    cleaned = model.normalize(result.text)
    features = hstack(model.words.transform([cleaned]), model.chars.transform([cleaned])).toarray()[0]
    gradient = model.coef_columns[:, column] - model.coef_columns @ np.exp(model.log_proba([result.text])[0])
    # word bigrams are not any one word's: leave them out of the total
    unigram = np.array(
        [" " not in name for name in model.words.get_feature_names_out()] + [True] * len(model.chars.idf_)
    )
    total = float((features * gradient)[unigram].sum()) * model.weight / classifier.calibration.temperature
    assert sum(result.lexical) == pytest.approx(total, rel=1e-3, abs=1e-5)


def test_empty_and_overlong_texts_are_refused(classifier):
    for text in ("", "   \n\t"):
        with pytest.raises(TextfitError, match="nothing to explain: the text is empty"):
            explain(classifier, text)
    with pytest.raises(TextfitError, match="at most 256 words"):
        explain(classifier, "word " * 300)


def test_cli_explain_prints_words_and_weights_literally(tiny_model_dir):
    runner = CliRunner()
    text = "[urgent] Oil falls"
    result = runner.invoke(app, ["explain", str(tiny_model_dir), text])
    assert result.exit_code == 0, result.output
    assert "[urgent]" in result.output and "probability" in result.output
    as_json = runner.invoke(app, ["explain", str(tiny_model_dir), text, "--json"])
    explanation = json.loads(as_json.output)
    assert explanation["words"] == ["[urgent]", "Oil", "falls"] and len(explanation["weights"]) == 3
    assert f"{explanation['weights'][0]:+.4f}" in result.output
    empty = runner.invoke(app, ["explain", str(tiny_model_dir), " "])
    assert empty.exit_code == 1 and "nothing to explain" in empty.output
