"""Suggest a label for every text from the label names alone (and optional one-line descriptions).

1. Each label becomes a few sentences (the name itself and "This message is about {name}.", for
   each part of a name such as "Energy | Oil" too, and the description): their mean unit vector
   is the label's vector.
2. Cosine similarity of every text to every label.
3. Self-training: a logistic regression on the vectors, fitted to the most confident fifth of each
   label's suggestions, labels everything again (twice); it learns the clusters the names only
   point at, and gives real probabilities.

Measured on the finance topics (benchmarks/labeling.py; docs/benchmarks.md, "Label less"): bare names 0.24
held-out accuracy, self-trained 0.29; with descriptions 0.32. Matching the names' words in the texts, or
smoothing the suggestions over each text's nearest neighbours, gained 1-3 points: left out.
`suggest_with_teacher` (4,000 unlabeled texts beside 1,000 held-out ones; benchmarks/unlabeled.py), names
only / with descriptions: all-mpnet-base-v2's vectors 0.366 / 0.456, MiniLM's 0.284 / 0.353. Centring the
texts' vectors before the cosine (all texts share a "finance tweet" direction that says nothing of the
label) is worth +1.2 / +2.8 points on mpnet and -0.7 / +2.9 on MiniLM, so it is on wherever there are
texts enough. Tried and left out (2026-12-07, mpnet): balancing the labels' shares (Sinkhorn, -3), other
rounds or shares of self-training (within 2 points, mostly below), co-training a TF-IDF head on the
suggestions (unstable: 0.22-0.40), fine-tuning MiniLM on the 16 surest suggestions a label (0.29). Domain
words in the templates ("Stock market news: {name}.") reach 0.387: the names alone stop short of 0.40.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

TEMPLATES = ("{name}", "This message is about {name}.")
"""Measured on the finance topics (benchmarks/labeling.py): the bare name and one sentence, averaged."""
SELF_TRAIN_SHARE = 0.2
"""The most confident fifth of each label's suggestions teaches the self-trained head."""
SELF_TRAIN_ROUNDS = 2
TEMPERATURE = 0.05
"""Softmax temperature over cosine similarities (a topic's texts sit about 0.1 closer to its name)."""
STANDARDISED_TEMPERATURE = 0.5
"""The same over standardised similarities (units: standard deviations)."""
LARGER_MODEL = "all-mpnet-base-v2"
"""The teacher of `suggest_with_teacher` when it is downloaded."""


@dataclass
class Suggestions:
    """Per text: the suggested label, its confidence and the probability of every label."""

    label_names: list[str]
    label_ids: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray

    @property
    def labels(self) -> list[str]:
        return [self.label_names[i] for i in self.label_ids]

    def __len__(self) -> int:
        return len(self.label_ids)

    def to_records(self) -> list[dict]:
        return [
            {"label": self.label_names[i], "confidence": round(float(c), 4)}
            for i, c in zip(self.label_ids, self.confidence)
        ]


def label_sentences(name: str, description: str | None = None, templates: Sequence[str] = TEMPLATES) -> list[str]:
    """The sentences whose vectors stand for one label. "Energy | Oil" also gives "Energy" and "Oil"."""
    parts = [name] + ([p.strip() for p in name.split("|") if p.strip()] if "|" in name else [])
    sentences = [t.format(name=part) for part in parts for t in templates]
    if description and description.strip():
        sentences.append(description.strip())
    return list(dict.fromkeys(sentences))


def label_vectors(
    label_names: Sequence[str],
    descriptions: Sequence[str | None] | None = None,
    *,
    model: str | None = None,
    templates: Sequence[str] = TEMPLATES,
) -> np.ndarray:
    from .vectors import embed

    descriptions = list(descriptions) if descriptions is not None else [None] * len(label_names)
    rows = []
    for name, description in zip(label_names, descriptions):
        vectors = embed(label_sentences(name, description, templates), model, cache=False)
        mean = vectors.mean(0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows)


def check_labels(label_names: Sequence[str], descriptions) -> tuple[list[str], list[str | None] | None]:
    names = [str(n).strip() for n in label_names]
    if len(names) < 2:
        raise DataError(f'give at least two label names (got {len(names)}): e.g. --labels "billing,shipping,other"')
    if any(not n for n in names):
        raise DataError("a label name is empty: check for a doubled or trailing comma in the names")
    if len(set(names)) != len(names):
        raise DataError(f"label names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    if descriptions is not None:
        if isinstance(descriptions, dict):
            unknown = sorted(set(descriptions) - set(names))
            if unknown:
                raise DataError(
                    f"descriptions for unknown label(s) {', '.join(unknown)}; the labels are: {', '.join(names)}"
                )
            descriptions = [descriptions.get(n) for n in names]
        elif len(descriptions) != len(names):
            raise DataError(
                f"{len(descriptions)} descriptions for {len(names)} labels: give one per label, in the same order"
            )
        descriptions = list(descriptions)
    return names, descriptions


def similarity_scores(
    text_vectors: np.ndarray, names: np.ndarray, *, center: bool = False, standardise: bool = False
) -> np.ndarray:
    """Texts x labels cosine similarity. `center`: subtract the texts' mean vector first (all texts
    share a "tweet about finance" direction); `standardise`: each label's column over the texts."""
    x = text_vectors
    if center:
        x = x - x.mean(0)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    scores = x @ names.T
    if standardise and len(scores) > 1:
        scores = (scores - scores.mean(0)) / np.maximum(scores.std(0), 1e-8)
    return scores


def softmax(scores: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    z = scores / temperature
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def self_train(
    vectors: np.ndarray,
    probabilities: np.ndarray,
    *,
    share: float = SELF_TRAIN_SHARE,
    rounds: int = SELF_TRAIN_ROUNDS,
    seed: int = 0,
) -> np.ndarray:
    """Refit a linear head on the most confident `share` of each label's texts, `rounds` times."""
    from sklearn.linear_model import LogisticRegression

    k = probabilities.shape[1]
    for _ in range(rounds):
        guess, confidence = probabilities.argmax(1), probabilities.max(1)
        chosen = []
        for label in range(k):
            mine = np.flatnonzero(guess == label)
            take = max(1, round(share * len(mine))) if len(mine) else 0
            chosen.extend(mine[np.argsort(-confidence[mine])][:take])
        chosen = np.array(chosen, dtype=int)
        present = np.unique(guess[chosen])
        if len(present) < 2:
            break  # one label took everything: nothing to learn from
        head = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(vectors[chosen], guess[chosen])
        fitted = np.zeros_like(probabilities)
        fitted[:, head.classes_] = head.predict_proba(vectors)
        probabilities = fitted
    return probabilities


def suggest(
    texts: Sequence[str] | None,
    label_names: Sequence[str],
    descriptions=None,
    *,
    model: str | None = None,
    vectors: np.ndarray | None = None,
    self_training: bool = True,
    templates: Sequence[str] = TEMPLATES,
    progress=None,
) -> Suggestions:
    """A suggested label and a confidence for every text, from the label names (and descriptions:
    a list in the names' order, or a dict name -> description) alone.

    `vectors`: the texts' vectors when already at hand (`labeling.vectors.embed`); `texts` may then be None."""
    from .vectors import embed

    names, descriptions = check_labels(label_names, descriptions)
    if vectors is None:
        if texts is None:
            raise DataError("give the texts (or their vectors) to suggest labels for")
        vectors = embed(texts, model, progress=progress)
    enough = len(vectors) >= 5 * len(names)  # texts enough to learn from: their mean, a head of their own
    names_vectors = label_vectors(names, descriptions, model=model, templates=templates)
    scores = similarity_scores(vectors, names_vectors, center=enough)
    probabilities = softmax(scores, TEMPERATURE)
    if self_training and enough:
        probabilities = self_train(vectors, probabilities)
    return Suggestions(names, probabilities.argmax(1), probabilities.max(1), probabilities)


def zero_shot_model(teacher: str | None = "auto") -> str | None:
    """The encoder whose vectors the names are matched on: 'auto' takes all-mpnet-base-v2 when it is
    downloaded (`textfit download-model`), else the embedded MiniLM (None); 'none' the MiniLM; or a name."""
    from ..model.catalog import downloaded_folder, known_model

    choice = (teacher or "none").strip()
    if choice.lower() == "none":
        return None
    if choice.lower() == "auto":
        larger = known_model(LARGER_MODEL)
        return LARGER_MODEL if downloaded_folder(larger) else None
    return choice


def suggest_with_teacher(
    unlabeled: Sequence[str],
    texts: Sequence[str],
    label_names: Sequence[str],
    descriptions=None,
    *,
    teacher: str | None = "auto",
    progress=None,
) -> Suggestions:
    """Suggestions for `texts` from the names, learned with the `unlabeled` texts beside them: the
    self-trained head (`self_train`) sees them all, on the larger teacher's vectors where it is
    downloaded (`zero_shot_model`). Measured on the finance topics (benchmarks/unlabeled.py,
    docs/benchmarks.md): see the module docstring."""
    texts = list(texts)
    known = set(texts)
    together = texts + [t for t in dict.fromkeys(unlabeled) if t not in known]
    found = suggest(together, label_names, descriptions, model=zero_shot_model(teacher), progress=progress)
    n = len(texts)
    return Suggestions(found.label_names, found.label_ids[:n], found.confidence[:n], found.probabilities[:n])
