"""A word and character n-gram model of the same labels, blended with the encoder's answers.

A fine-tuned sentence encoder and a TF-IDF linear model make different mistakes: the encoder
reads meaning, the n-grams see exact strings (tickers, cashtags, names, fixed phrases) that a
6-layer encoder blurs. On enough data blending the two is cheap and better (finance topics,
held-out 20 %, benchmarks/benchmark.py: encoder 0.890 after 3 epochs and 0.895 after 8; n-gram
model alone 0.84; blended at weight 0.5, 0.901 and 0.902); on a few hundred messages it can hurt.
How the two are blended, and how the weight is chosen from held-out answers, is blend.py.

The model sees text as the encoder does: through the saved tokenizer's normalizer (URLs removed,
HTML entities decoded, lower-cased for uncased models). It is stored beside the encoder as
`lexical.json` (settings and vocabularies) and `lexical.safetensors` (weights): no pickles, so
loading a model folder never runs code from it. Plain `transformers.pipeline` ignores both files
and gives the encoder's answers alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..data.labeled import with_label_names
from .blend import LOG_FLOOR, mix

SETTINGS_FILE = "lexical.json"
WEIGHTS_FILE = "lexical.safetensors"
log = logging.getLogger("textfit")

# Word uni- and bigrams plus character 2-5-grams inside word boundaries, sublinear TF-IDF.
WORDS = {"ngram_range": (1, 2), "sublinear_tf": True}
CHARS = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True}
# Logistic regression rather than a linear SVM: its probabilities blend better (with the 8-epoch
# encoder: 0.903 against 0.900 for a calibrated SVM). C=20 (10/20/50 within 0.1 point); tol 1e-3
# halves the fit at the same accuracy (20 s on 13,592 tweets, 2 cores, with min_df 2 below).
REGRESSION = {"C": 20.0, "tol": 1e-3, "max_iter": 2000}
FULL_WEIGHT_PER_CLASS = 8  # examples per class from which a weight given gets its whole value
UNCHOSEN_WEIGHT = 0.5  # a model's weight before blend.choose_weight sets it


class LexicalModel:
    def __init__(
        self,
        words,
        chars,
        coef: np.ndarray,
        intercept: np.ndarray,
        weight: float,
        normalize: Callable[[str], str] | None = None,
    ):
        self.words, self.chars = words, chars
        self.intercept = intercept
        # Kept as one contiguous (features, labels) array and scored against float32 features: a
        # transposed view, or float64 features, would make scipy copy all the weights on every
        # call (3 ms a message).
        self.coef_columns = np.ascontiguousarray(coef.T, dtype=np.float32)
        self.weight = weight
        self.normalize = normalize

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        n_labels: int,
        weight: float,
        normalize: Callable[[str], str] | None = None,
        min_df: int | None = None,
    ) -> LexicalModel:
        """`min_df`: the fewest texts an n-gram must be in (default: 2 from 2,000 texts, else 1); where
        no n-gram is in that many texts, every n-gram is kept (min_df 1)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = clean(texts, normalize)
        if min_df is None:
            min_df = 2 if len(texts) >= 2000 else 1  # on large data, n-grams seen once are mostly noise

        def vectorize(min_df: int):
            words, chars = TfidfVectorizer(**WORDS, min_df=min_df), TfidfVectorizer(**CHARS, min_df=min_df)
            return words, chars, hstack(words.fit_transform(texts), chars.fit_transform(texts))

        try:
            words, chars, features = vectorize(min_df)
        except ValueError as exc:  # sklearn: "no terms remain" when no n-gram is in min_df texts
            if min_df == 1 or "no terms remain" not in str(exc):
                raise
            words, chars, features = vectorize(1)
        labels = np.asarray(labels)
        coef = np.zeros((n_labels, features.shape[1]), dtype=np.float32)
        intercept = np.full(n_labels, LOG_FLOOR, dtype=np.float32)  # a label never seen stays unlikely
        present = np.unique(labels)
        if len(present) == 1:
            intercept[present[0]] = 0.0
        else:
            regression = LogisticRegression(**REGRESSION).fit(features, labels)
            if len(present) == 2:  # sklearn keeps one row, the second class against the first
                coef[present[1]], intercept[present[1]] = regression.coef_[0], regression.intercept_[0]
                intercept[present[0]] = 0.0
            else:
                coef[regression.classes_], intercept[regression.classes_] = regression.coef_, regression.intercept_
        return cls(words, chars, coef, intercept, weight, normalize)

    @property
    def coef(self) -> np.ndarray:
        """One row per label, every label (a view)."""
        return self.coef_columns.T

    def log_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = clean(texts, self.normalize)
        scores = hstack(self.words.transform(texts), self.chars.transform(texts), dtype=np.float32) @ self.coef_columns
        scores = np.asarray(scores) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    def blend(self, probabilities: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The encoder's probabilities for `texts`, blended with this model's at `self.weight` (blend.py)."""
        if not len(texts) or self.weight <= 0:
            return probabilities
        return mix(probabilities, self.log_proba(texts), self.weight)

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        settings = {
            "weight": self.weight,
            "words": {**self.words.get_params(), "vocabulary": vocabulary_list(self.words)},
            "chars": {**self.chars.get_params(), "vocabulary": vocabulary_list(self.chars)},
        }
        for part in ("words", "chars"):
            settings[part] = {k: v for k, v in settings[part].items() if k in KEPT_PARAMS}
        Path(folder, SETTINGS_FILE).write_text(json.dumps(settings))
        save_file(
            {
                "coef": np.ascontiguousarray(self.coef),
                "intercept": self.intercept,
                "words_idf": self.words.idf_.astype(np.float64),
                "chars_idf": self.chars.idf_.astype(np.float64),
            },
            str(Path(folder, WEIGHTS_FILE)),
        )

    @classmethod
    def load(cls, folder: str | Path, normalize: Callable[[str], str] | None = None) -> LexicalModel | None:
        """The folder's n-gram model, or None when it has none."""
        from safetensors.numpy import load_file
        from sklearn.feature_extraction.text import TfidfVectorizer

        folder = Path(folder)
        if not (folder / SETTINGS_FILE).is_file():
            return None
        settings = json.loads((folder / SETTINGS_FILE).read_text())
        weights = load_file(str(folder / WEIGHTS_FILE))
        vectorizers = []
        for part in ("words", "chars"):
            params = {k: tuple(v) if k == "ngram_range" else v for k, v in settings[part].items()}
            vectorizer = TfidfVectorizer(**params)
            vectorizer.idf_ = weights[f"{part}_idf"]  # sklearn's setter: a fitted vectorizer, vocabulary given
            vectorizers.append(vectorizer)
        return cls(*vectorizers, weights["coef"], weights["intercept"], settings["weight"], normalize)


# The TfidfVectorizer parameters a saved model keeps (the rest are defaults).
KEPT_PARAMS = ("analyzer", "ngram_range", "sublinear_tf", "min_df", "lowercase", "vocabulary")


def vocabulary_list(vectorizer) -> list[str]:
    """The fitted vocabulary in column order: a list, which sklearn accepts back as `vocabulary`."""
    return vectorizer.get_feature_names_out().tolist()


def clean(texts: Sequence[str], normalize: Callable[[str], str] | None) -> list[str]:
    return [normalize(t) for t in texts] if normalize else list(texts)


def hstack(*matrices, dtype=None):
    from scipy.sparse import hstack as sparse_hstack

    return sparse_hstack(matrices, format="csr", dtype=dtype)


def tokenizer_normalizer(tokenizer) -> Callable[[str], str] | None:
    """The tokenizer's own text cleaning (URLs, HTML entities, case), for the n-gram model."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    return normalizer.normalize_str if normalizer is not None else None


def fit_lexical(train_data, tokenizer, weight: float | None) -> tuple[LexicalModel | None, float]:
    """The n-gram model for `train_data` and the seconds it took; None when `weight` is 0.

    Each label name joins the texts as one example of its class, as in few-shot training: with a
    few random examples some classes have none, and the name keeps the n-grams from vetoing them.
    `weight` None: chosen later from held-out answers (blend.py; the model says 0.5 until then).
    A weight given is used as it is, shrunk in proportion below FULL_WEIGHT_PER_CLASS examples per
    class (n-grams need examples to count)."""
    if weight is not None and weight <= 0:
        return None, 0.0
    started = time.perf_counter()
    n_labels = len(train_data.label_names)
    if weight is None:
        weight = UNCHOSEN_WEIGHT
    else:
        weight *= min(1.0, len(train_data) / n_labels / FULL_WEIGHT_PER_CLASS)
    texts, labels = with_label_names(train_data)
    try:
        model = LexicalModel.fit(texts, labels, n_labels, round(weight, 4), tokenizer_normalizer(tokenizer))
    except ValueError as exc:  # sklearn: "empty vocabulary" when no text has a word of 2+ characters
        if "empty vocabulary" not in str(exc):
            raise
        log.warning("no n-gram model: no text has a word of two or more letters; the encoder answers alone")
        return None, time.perf_counter() - started
    return model, time.perf_counter() - started
