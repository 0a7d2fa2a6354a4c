"""The n-gram weight chosen from held-out answers (blend.py): 0 when the n-grams only add noise, large
when they know what the encoder does not, and cross-fitted answers that never used their own label."""

from __future__ import annotations

import numpy as np
import pytest

from textfit.model.blend import MIN_HELD_OUT, HeldOutBlend, best_weight, choose_weight, mix


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def answers(labels: np.ndarray, right: float, rng, n_labels: int = 4, strength: float = 3.0) -> np.ndarray:
    """Probabilities that put the true label on top for about `right` of the messages."""
    logits = rng.normal(size=(len(labels), n_labels))
    hits = rng.random(len(labels)) < right
    logits[np.arange(len(labels)), labels] += np.where(hits, strength, -strength)
    return softmax(logits)


@pytest.fixture
def labels():
    return np.random.default_rng(1).integers(0, 4, size=400)


def test_noise_from_the_ngrams_gets_weight_zero(labels):
    rng = np.random.default_rng(2)
    encoder = answers(labels, 0.85, rng)
    noise = np.log(softmax(rng.normal(scale=4.0, size=encoder.shape)))  # confident and unrelated to the labels
    choice = choose_weight(encoder, noise, labels)
    assert choice.weight == 0.0
    assert choice.accuracy_by_weight[0.0] > choice.accuracy_by_weight[0.5]
    encoder_accuracy = np.mean(encoder.argmax(1) == labels)
    assert np.mean(choice.probabilities.argmax(1) == labels) >= encoder_accuracy - 0.01


def test_ngrams_that_know_more_get_a_large_weight(labels):
    rng = np.random.default_rng(3)
    encoder = answers(labels, 0.55, rng, strength=1.0)  # unsure and often wrong
    ngrams = np.log(answers(labels, 0.95, rng))
    choice = choose_weight(encoder, ngrams, labels)
    assert choice.weight >= 0.5
    assert np.mean(choice.probabilities.argmax(1) == labels) > np.mean(encoder.argmax(1) == labels) + 0.2


def test_cross_fitted_answers_do_not_use_their_own_label(labels):
    """Change the labels of one fold only: the other folds' answers (chosen without that fold in
    their own fold, but with it among the others) may change; that fold's answers depend only on the
    other folds' labels, so keeping those fixed keeps its answers fixed."""
    rng = np.random.default_rng(4)
    encoder, ngrams = answers(labels, 0.7, rng), np.log(answers(labels, 0.7, rng))
    first = choose_weight(encoder, ngrams, labels, seed=0)
    folds = np.random.default_rng(0).permutation(len(labels)) % 5
    relabelled = labels.copy()
    relabelled[folds == 0] = (labels[folds == 0] + 1) % 4  # every label of fold 0 wrong now
    second = choose_weight(encoder, ngrams, relabelled, seed=0)
    np.testing.assert_array_equal(first.probabilities[folds == 0], second.probabilities[folds == 0])


def test_ties_go_to_the_smaller_weight():
    labels = np.array([0, 1] * 20)
    encoder = np.eye(2, dtype=np.float32)[labels] * 0.9 + 0.05  # always right
    weight, accuracy = best_weight(encoder, np.log(encoder), labels)  # the n-grams agree: every weight ties
    assert set(accuracy.values()) == {1.0} and weight == 0.0


def test_too_few_held_out_answers_keep_the_encoder_alone():
    labels = np.arange(MIN_HELD_OUT - 1) % 2
    encoder = np.full((len(labels), 2), 0.5, dtype=np.float32)
    choice = choose_weight(encoder, np.log(encoder), labels)
    assert choice.weight == 0.0 and choice.probabilities is encoder


def test_mix_is_the_encoder_at_zero_and_a_normalised_geometric_mean_otherwise():
    p = np.array([[0.7, 0.3]], dtype=np.float32)
    q = np.array([[0.2, 0.8]])
    assert mix(p, np.log(q), 0.0) is p
    half = np.sqrt(p * q) / np.sqrt(p * q).sum()
    np.testing.assert_allclose(mix(p, np.log(q), 0.5), half, rtol=1e-5)


class FixedNgrams:
    def __init__(self, log_p, weight=0.5):
        self.log_p, self.weight = log_p, weight

    def log_proba(self, texts):
        return self.log_p


def test_held_out_blend_uses_a_given_weight_or_chooses(labels):
    rng = np.random.default_rng(5)
    encoder, ngrams = answers(labels, 0.8, rng), np.log(answers(labels, 0.8, rng))
    texts = ["x"] * len(labels)
    given = HeldOutBlend(FixedNgrams(ngrams, 0.3), texts, labels, choose=False)
    np.testing.assert_allclose(given.answers(encoder), mix(encoder, ngrams, 0.3))
    assert given.weight == 0.3
    chosen = HeldOutBlend(FixedNgrams(ngrams), texts, labels, choose=True)
    assert chosen.weight == 0.0  # nothing chosen yet: no blend
    chosen.answers(encoder)
    assert chosen.weight == chosen.choice.weight
    assert HeldOutBlend(None, texts, labels, choose=True).answers(encoder) is encoder


def test_a_weight_must_clearly_beat_the_encoder_alone():
    """Blending that wins 3 of the messages the two disagree on and loses 2 (net +1, under sqrt(5))
    is noise: the encoder stays alone. Winning 6 and losing 1 (net 5 >= sqrt(7)) is kept."""
    labels = np.zeros(100, dtype=int)

    def case(gained: int, lost: int):
        encoder = np.tile(np.array([[0.9, 0.1]], dtype=np.float32), (100, 1))
        encoder[:gained] = [0.49, 0.51]  # the encoder is just wrong here; the n-grams will fix it
        encoder[gained : gained + lost] = [0.51, 0.49]  # and just right here
        ngrams = np.log(np.tile(np.array([[0.5, 0.5]]), (100, 1)))
        ngrams[:gained] = np.log([0.9, 0.1])
        ngrams[gained : gained + lost] = np.log([1e-6, 1 - 1e-6])  # and here they break a right answer
        return best_weight(encoder, ngrams, labels)

    weight, accuracy = case(gained=3, lost=2)
    assert weight == 0.0 and max(accuracy.values()) > accuracy[0.0]
    weight, accuracy = case(gained=6, lost=1)
    assert weight > 0 and accuracy[weight] == max(accuracy.values())
