"""Why this label: the words that pushed an answer.

Leave-one-word-out: the text is split into whitespace words, and each word's weight is how much
the label's probability drops when that word alone is left out (negative: the label gains without
it, so the word pushed against it). The text and its len(words) variants go through the model as
one `predict_proba` call, so a tweet costs one small batch (about 0.1 s on the default MiniLM, 2
cores). It measures the whole answer textfit gives (encoder, n-gram blend and calibration), with
any backend, and needs nothing from the model's internals.

Where the folder has an n-gram model (lexical.py), `lexical` adds its share per word: for each
of the word's own features (its word unigram and its character n-grams), the feature's TF-IDF
value times how much it raises the label's log-probability in that model (the label's
coefficient minus the probability-weighted mean of all labels' coefficients: the exact gradient),
scaled by the blend weight. A character n-gram that several words share is split between them in
proportion; word bigrams belong to two words and are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import TextfitError

MAX_WORDS = 256  # leave-one-out runs the model once per word: a page of text would take minutes


@dataclass
class Explanation:
    text: str
    label: str
    probability: float  # of `label`, for the whole text
    words: list[str]
    weights: list[float]  # per word: the drop in `probability` when the word is left out
    lexical: list[float] | None  # per word: the n-gram model's push toward `label` (log-probability)

    def to_dict(self) -> dict:
        return asdict(self)

    def ranked(self) -> list[tuple[str, float]]:
        """(word, weight) pairs, strongest push toward the label first."""
        return sorted(zip(self.words, self.weights), key=lambda pair: -pair[1])


def leave_one_out(words: list[str]) -> list[str]:
    return [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]


def explain(classifier, text: str, label: str | None = None) -> Explanation:
    """Per-word weights for `label` (default: the label `classifier` answers) on `text`."""
    words = str(text).split()
    if not words:
        raise TextfitError("nothing to explain: the text is empty")
    if len(words) > MAX_WORDS:
        raise TextfitError(
            f"explain reads at most {MAX_WORDS} words (the model runs once per word); this text has "
            f"{len(words)}: explain a shorter passage"
        )
    if label is not None and label not in classifier.label_names:
        raise TextfitError(f"unknown label '{label}'; the model's labels: {', '.join(classifier.label_names)}")
    text = " ".join(words)
    probabilities = classifier.predict_proba([text, *leave_one_out(words)])
    column = probabilities[0].argmax() if label is None else classifier.label_names.index(label)
    full = probabilities[0, column]
    weights = [round(float(full - p), 6) for p in probabilities[1:, column]]
    lexical = lexical_contributions(classifier, words, int(column)) if classifier.lexical else None
    return Explanation(text, classifier.label_names[column], round(float(full), 6), words, weights, lexical)


def lexical_contributions(classifier, words: list[str], column: int) -> list[float]:
    """The n-gram model's push toward label `column`, word by word (module docstring)."""
    model = classifier.lexical
    text = " ".join(words)
    cleaned = model.normalize(text) if model.normalize else text
    gradient = model.coef_columns[:, column] - model.coef_columns @ np.exp(model.log_proba([text])[0])
    scale = model.weight / (classifier.calibration.temperature if classifier.calibration else 1.0)
    per_word = np.zeros(len(words))
    for vectorizer, analyze in ((model.words, unigrams(model.words)), (model.chars, model.chars.build_analyzer())):
        offset = 0 if vectorizer is model.words else len(model.words.idf_)  # chars follow words in the features
        values = vectorizer.transform([cleaned]).toarray()[0]
        features = [
            [vectorizer.vocabulary_[f] for f in analyze(clean(model, word)) if f in vectorizer.vocabulary_]
            for word in words
        ]
        shares = np.zeros(len(values))  # how many of the words' features are each column
        for found in features:
            np.add.at(shares, found, 1)
        for i, found in enumerate(features):
            for f in found:
                per_word[i] += values[f] * gradient[offset + f] / shares[f]
    return [round(float(v) * scale, 6) for v in per_word]


def unigrams(vectorizer):
    """The word analyzer's single words, without its bigrams."""
    preprocess, tokenize = vectorizer.build_preprocessor(), vectorizer.build_tokenizer()
    return lambda text: tokenize(preprocess(text))


def clean(model, word: str) -> str:
    return model.normalize(word) if model.normalize else word
