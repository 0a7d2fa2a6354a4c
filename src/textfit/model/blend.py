"""How much the n-gram model's answers count: the blend, and its weight chosen from the data.

The blend is a weighted geometric mean of two probability vectors, renormalised:

    log p = (1 - w) * log p_encoder + w * log p_ngrams + const

No fixed w suits every data set. On 13,592 finance tweets w = 0.5 adds a point of accuracy; on a
few hundred messages the n-gram model is weak and confidently wrong, and the same w cost 5-13
points in the studio's runs. So w is chosen from held-out answers, among WEIGHTS (0 included: the
encoder alone), by accuracy, ties going to the smaller weight, and a weight above 0 only where it
clearly helps: it must get right more of the messages the two disagree on than it gets wrong, by
at least the square root of their number (one standard deviation of that count if blending made
no difference, as in McNemar's test). A gain of 2 messages out of 60 is noise; on 300 sentiment
tweets it chose weights that cost points on the messages it had not seen.

Honest figures: the weight is chosen on the held-out messages the run is scored on, so scoring
the chosen weight there would flatter it. `choose_weight` cross-fits instead: the messages are cut
into folds, and each fold is answered with the weight chosen on the other folds. The reported
accuracy therefore never used a message's own label to pick how that message is answered; the
saved model keeps the weight chosen on all of them. (Cross-validation on the training part would
need the encoder's answers on messages it was not trained on: one more fine-tuning per fold.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
FOLDS = 5
MIN_HELD_OUT = 20  # fewer held-out answers than this cannot tell weights apart: the encoder answers alone
LOG_FLOOR = float(np.log(1e-7))  # keeps log(0) out of the blend


def encoder_log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probabilities, np.exp(LOG_FLOOR)))  # float32 softmax can underflow to 0


def mix(encoder_probabilities: np.ndarray, ngram_log_probabilities: np.ndarray, weight: float) -> np.ndarray:
    """The blended probabilities (module docstring)."""
    if weight <= 0:
        return encoder_probabilities
    mixed = (1 - weight) * encoder_log(encoder_probabilities) + weight * ngram_log_probabilities
    mixed = np.exp(mixed - mixed.max(axis=1, keepdims=True))
    return (mixed / mixed.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class WeightChoice:
    weight: float  # chosen on all the held-out messages: the one the saved model uses
    probabilities: np.ndarray  # cross-fitted: each message answered with a weight chosen without it
    accuracy_by_weight: dict[float, float]  # on all the held-out messages, for the record

    def to_dict(self) -> dict:
        return {
            "weight": self.weight,
            "chosen_by": f"accuracy, cross-fitted over {FOLDS} folds of the held-out messages",
            "accuracy_by_weight": {str(w): round(a, 4) for w, a in self.accuracy_by_weight.items()},
        }


def best_weight(
    encoder_probabilities: np.ndarray, ngram_log_probabilities: np.ndarray, labels: np.ndarray, weights=WEIGHTS
) -> tuple[float, dict[float, float]]:
    """The most accurate weight on these messages among 0 and those that clearly beat it (module
    docstring), the smallest among equals; and every weight's accuracy."""
    alone = encoder_probabilities.argmax(axis=1) == labels
    accuracy, clearly_better = {}, {0.0}
    for w in weights:
        right = mix(encoder_probabilities, ngram_log_probabilities, w).argmax(axis=1) == labels
        accuracy[w] = float(np.mean(right))
        gained, lost = int(np.sum(right & ~alone)), int(np.sum(alone & ~right))
        if gained - lost > 0 and gained - lost >= np.sqrt(gained + lost):
            clearly_better.add(w)
    top = max(accuracy[w] for w in clearly_better)
    return min(w for w in clearly_better if accuracy[w] >= top - 1e-12), accuracy


def choose_weight(
    encoder_probabilities: np.ndarray, ngram_log_probabilities: np.ndarray, labels, seed: int = 0, weights=WEIGHTS
) -> WeightChoice:
    """The n-gram weight for these held-out answers, and cross-fitted blended answers to score it by."""
    labels = np.asarray(labels)
    if len(labels) < MIN_HELD_OUT:
        return WeightChoice(0.0, encoder_probabilities, {})
    weight, accuracy = best_weight(encoder_probabilities, ngram_log_probabilities, labels, weights)
    folds = np.random.default_rng(seed).permutation(len(labels)) % FOLDS
    probabilities = np.empty_like(encoder_probabilities, dtype=np.float32)
    for fold in range(FOLDS):
        inside, outside = folds == fold, folds != fold
        fold_weight, _ = best_weight(
            encoder_probabilities[outside], ngram_log_probabilities[outside], labels[outside], weights
        )
        probabilities[inside] = mix(encoder_probabilities[inside], ngram_log_probabilities[inside], fold_weight)
    return WeightChoice(weight, probabilities, accuracy)


class HeldOutBlend:
    """The held-out messages' answers as a run scores them: the encoder's, blended with the n-gram
    model's (whose log-probabilities are computed once), at the model's weight or, with `choose`,
    cross-fitted while the weight is chosen (`choice` then holds it)."""

    def __init__(self, lexical, texts, labels, choose: bool):
        self.lexical, self.labels, self.choose = lexical, np.asarray(labels), choose
        self.ngram_log = lexical.log_proba(texts) if lexical is not None and len(texts) else None
        self.choice: WeightChoice | None = None

    def answers(self, encoder_probabilities: np.ndarray) -> np.ndarray:
        if self.ngram_log is None:
            return encoder_probabilities
        if not self.choose:
            return mix(encoder_probabilities, self.ngram_log, self.lexical.weight)
        self.choice = choose_weight(encoder_probabilities, self.ngram_log, self.labels)
        return self.choice.probabilities

    @property
    def weight(self) -> float | None:
        """The weight the saved model will use (None: no n-gram model)."""
        if self.lexical is None:
            return None
        if not self.choose:
            return self.lexical.weight
        return self.choice.weight if self.choice else 0.0  # no held-out messages to choose on
