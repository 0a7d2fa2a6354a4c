"""Find labels that are probably wrong: confident learning on out-of-fold probabilities, plus
near-duplicate messages that carry different labels. Written here (cleanlab is AGPL).

1. Out-of-fold probabilities (10-fold): every row is scored by a fast head (frozen vectors +
   logistic regression) that never saw it, so a wrong label cannot vouch for itself.
2. Confident learning (Northcutt et al., 2021): a label's threshold is the mean probability the
   rows given that label get for it. A row is "confidently" of label j when its probability of j
   reaches j's threshold; a row confidently of another label than the one it was given is a likely
   label error. Per-label thresholds matter: a hard label's rows are never very sure of it, and a
   single global cut would flag them all.
3. Ranking: by the out-of-fold probability of the given label, lowest first ("self-confidence").
   Measured (benchmarks/labeling.py, 10 % of 2,000 finance labels flipped), precision of the top
   200 (5 folds): 0.54 ranked by the margin (best other label's probability - the given one's),
   0.69 with the confident-learning flags first, 0.78 by self-confidence alone; 0.80 with 10
   folds; 0.83 with textfit's n-gram model (lexical.py) judging each row too, out of fold, blended
   in as the trained models blend it (blend.mix, weight 0.4; 0.2: 0.815, 0.3: 0.823, 0.5: 0.827;
   mean of 3 seeds; 0.825 with the n-grams of a single text dropped, as shipped, 5x faster):
   exact words catch labels the sentence vectors blur. Other rankings tried and
   left out: each label's probability over its class threshold (0.70), agreement of the 10 nearest
   neighbours (0.59; averaged with self-confidence 0.76), a second pass without the 10-15 % most
   suspicious rows (0.77-0.79). A right label the head gets wrong is usually among its first
   choices, a random wrong label rarely is. The flag stays a column (`flagged`): "the model is
   confident of another label", where confident learning says so and the other label is
   CONFIDENT_RATIO times likelier; the ranking is what to read.
4. Near-duplicates (cosine >= 0.95) with different labels: at least one of the two is wrong, or the
   labels overlap; both rows are flagged and name each other.
5. Whether it can judge at all (`reliability`): the judges' out-of-fold accuracy on the labels given.
   A judge that gets most right labels wrong "confidently" disagrees with correct labels as often as
   with wrong ones: on 60 correct finance labels (3 a category) its out-of-fold accuracy is 0.07 and
   it flagged 56 of them. Below RELIABLE_ACCURACY nothing is flagged and the report says "too few
   examples to check: about K per category needed" (RELIABLE_PER_CATEGORY, where the judges reached
   RELIABLE_ACCURACY on the finance sample); the ranking stays, for whoever wants it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.labeled import LabeledTexts, load_data
from ..errors import DataError
from . import head as fast_head
from .select import DUPLICATE

log = logging.getLogger("textfit")

FOLDS = 10
"""Each row is judged by a head fitted on the other 90 %: closer to the head on all rows than 5 folds
(precision of the top 200 in the benchmark +1.5 points; 3 repeats of 5 folds: +1.2, at 1.5x the cost)."""
C = 3.0
"""The audit head's regularisation: it learns from labels of which some are wrong, and C=3 ranked the
flipped labels better than the session's C=10 (0.80 vs 0.76 precision of the top 200) or C=1 (0.79)."""
RELIABLE_ACCURACY = 0.5
"""The judges' out-of-fold accuracy on the labels given, from which the audit flags rows: see
`reliability`. Measured on the finance sample (20 categories, correct labels): 0.07 at 3 a category,
0.18-0.29 at 5, 0.36-0.38 at 8, 0.54-0.61 at 12, 0.65-0.67 at 22."""
RELIABLE_PER_CATEGORY = 12
"""Examples a category from which the judges reached RELIABLE_ACCURACY on the finance sample: the K of
"about K per category needed" while the median category has fewer (twice the median beyond it)."""
CONFIDENT_RATIO = 5.0
"""A row is flagged only where its suggested label is at least this many times likelier than the given
one (out of fold), beside the confident-learning rule: that rule alone flagged 135 of the 440 finance
sample rows with 44 labels flipped (a quarter of them flipped); with the ratio, 34 (0.74 flipped,
finding 57 % of the flips; ratio 3: 60 flagged, 0.50; 2: 88, 0.38). Seed 7; the ranking is unchanged."""
NGRAM_WEIGHT = 0.4
"""The n-gram model's share in each row's out-of-fold judgement (module docstring, 3.). Its fits
are the audit's cost: 42 s for 2,000 messages on a busy 2-core machine, against 1.3 s without."""


@dataclass
class AuditReport:
    """Per row (in the data's order): given and suggested label ids, the out-of-fold probability of
    the given label, the suspicion score, whether it is flagged and why; `order` is most suspicious first."""

    label_names: list[str]
    given: np.ndarray
    suggested: np.ndarray
    given_probability: np.ndarray
    suspicion: np.ndarray
    """1 - the out-of-fold probability of the given label: 0..1."""
    flagged: np.ndarray
    duplicate_of: np.ndarray
    """Index of a near-duplicate row with a different label, else -1."""
    order: np.ndarray
    probabilities: np.ndarray | None = None
    """(rows, labels) out-of-fold probabilities."""
    reliability: dict | None = None
    """How far the audit can judge these labels (`reliability()`): where it cannot, nothing is
    flagged but near-duplicates, and `refusal` says so."""

    @property
    def refusal(self) -> str | None:
        """Why the audit flags no label as likely wrong here, in plain words; None where it can judge."""
        return None if self.reliability is None or self.reliability["can_judge"] else self.reliability["verdict"]

    def reason(self, i: int) -> str:
        parts = []
        sure = self.probabilities is None or (
            self.probabilities[i, self.suggested[i]] >= CONFIDENT_RATIO * self.given_probability[i]
        )
        if self.refusal is None and self.flagged[i] and self.suggested[i] != self.given[i] and sure:
            parts.append(f"the model is confident it is '{self.label_names[self.suggested[i]]}'")
        if self.duplicate_of[i] >= 0:
            j = int(self.duplicate_of[i])
            parts.append(f"near-duplicate of row {j + 1}, labeled '{self.label_names[self.given[j]]}'")
        return "; ".join(parts)

    def to_records(self, limit: int | None = None) -> list[dict]:
        """Most suspicious first, as JSON-ready dicts (index: position in the data, 0-based)."""
        return [
            {
                "index": int(i),
                "label": self.label_names[self.given[i]],
                "suggested_label": self.label_names[self.suggested[i]],
                "label_probability": round(float(self.given_probability[i]), 4),
                "suspicion": round(float(self.suspicion[i]), 4),
                "likely_mislabeled": bool(self.flagged[i]),
                "reason": self.reason(int(i)),
            }
            for i in self.order[:limit]
        ]


def confident_errors(probabilities: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Rows confidently of another label than the given one (the confident joint's off-diagonal)."""
    k = probabilities.shape[1]
    thresholds = np.array([probabilities[given == j, j].mean() if (given == j).any() else 1.0 for j in range(k)])
    confident = probabilities >= thresholds  # (n, k): which labels each row reaches the threshold of
    masked = np.where(confident, probabilities, -1.0)
    best = masked.argmax(1)
    return confident.any(1) & (best != given)


def reliability(probabilities: np.ndarray, given: np.ndarray) -> dict:
    """Whether the judges can tell a wrong label here: their out-of-fold accuracy on the labels given,
    with its 95 % interval, against RELIABLE_ACCURACY (module docstring, 5.); `verdict` in plain words
    and, when they cannot, `needed_per_category` (the K of "about K per category needed")."""
    from ..model.evaluate import proportion_interval

    correct = int((probabilities.argmax(1) == given).sum())
    low, high = proportion_interval(correct, len(given))
    accuracy = correct / len(given)
    counts = np.bincount(given, minlength=probabilities.shape[1])
    per_category = int(np.median(counts[counts > 0]))
    can_judge = accuracy >= RELIABLE_ACCURACY
    needed = None if can_judge else max(RELIABLE_PER_CATEGORY, 2 * per_category)
    measured = (
        f"a model learning from them gets {100 * accuracy:.0f} % ({100 * low:.0f}-{100 * high:.0f} %) of them right"
    )
    if can_judge:
        verdict = f"the check can judge these labels: {measured} when it has not seen them"
    elif per_category < RELIABLE_PER_CATEGORY:
        verdict = (
            f"too few examples to check: about {needed} per category needed (the median category has "
            f"{per_category}); {measured} when it has not seen them, so its disagreement says little"
        )
    else:
        verdict = (
            f"the check cannot judge these labels: {measured} when it has not seen them, so its disagreement "
            f"says little; about {needed} examples per category may do, or categories easier to tell apart"
        )
    return {
        "accuracy": round(accuracy, 4),
        "low": round(low, 4),
        "high": round(high, 4),
        "examples": int(len(given)),
        "per_category": per_category,
        "can_judge": bool(can_judge),
        "needed_per_category": needed,
        "verdict": verdict,
    }


def near_duplicate_conflicts(vectors: np.ndarray, given: np.ndarray, threshold: float = DUPLICATE) -> np.ndarray:
    """For each row, the most similar other row with a different label when at least `threshold` similar; else -1."""
    result = np.full(len(vectors), -1)
    for start in range(0, len(vectors), 2048):
        sims = vectors[start : start + 2048] @ vectors.T
        rows = np.arange(start, min(start + 2048, len(vectors)))
        sims[rows - start, rows] = -1  # not itself
        sims[given[rows][:, None] == given[None, :]] = -1  # same label: no conflict
        nearest = sims.argmax(1)
        hit = sims[np.arange(len(rows)), nearest] >= threshold
        result[rows[hit]] = nearest[hit]
    return result


def as_labeled(data, labels: Sequence | None = None) -> LabeledTexts:
    if isinstance(data, LabeledTexts):
        return data
    if isinstance(data, (str, Path)):
        return load_data(data)
    if labels is None:
        raise DataError("give labeled data: a LabeledTexts, a data file, or texts with labels=")
    texts, labels = [str(t) for t in data], [str(v) for v in labels]
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels: give one label per text")
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    return LabeledTexts(texts, [index[v] for v in labels], names, "texts given")


def ngram_out_of_fold(texts: Sequence[str], labels: np.ndarray, num_labels: int, splits) -> np.ndarray:
    """Each row's log-probabilities from textfit's n-gram model fitted on the other folds."""
    from ..model.lexical import LexicalModel

    result = np.zeros((len(labels), num_labels), np.float32)
    for train, test in splits:
        # n-grams in one text only are dropped: a fifth of the features, 5x faster on 1,800 texts
        model = LexicalModel.fit([texts[i] for i in train], labels[train], num_labels, NGRAM_WEIGHT, min_df=2)
        result[test] = model.log_proba([texts[i] for i in test])
    return result


def audit(
    data,
    labels: Sequence | None = None,
    *,
    model: str | None = None,
    vectors: np.ndarray | None = None,
    folds: int = FOLDS,
    seed: int = 0,
    ngrams: bool = True,
    progress=None,
) -> AuditReport:
    """Rank the rows of labeled `data` (a LabeledTexts, a data file, or texts with `labels=`) by how
    likely their label is wrong. `vectors`: the texts' vectors when at hand (else embedded, cached).
    `ngrams`: the n-gram model judges each row too (module docstring, 3.; the slower part)."""
    from ..model.blend import mix
    from .vectors import embed

    data = as_labeled(data, labels)
    given = np.asarray(data.labels, int)
    k = len(data.label_names)
    if len(np.unique(given)) < 2:
        raise DataError(
            f"{data.source}: every row has the same label; an audit compares labels, so it needs at least two"
        )
    if vectors is None:
        vectors = embed(data.texts, model, progress=progress)
    vectors = np.asarray(vectors, np.float32)
    if len(vectors) != len(given):
        raise DataError(f"{len(vectors)} vectors for {len(given)} rows: give one vector per row")
    splits = fast_head.fold_splits(given, k, folds, seed)
    probabilities = fast_head.out_of_fold(vectors, given, k, seed=seed, c=C, splits=splits)
    if ngrams:
        try:
            probabilities = mix(probabilities, ngram_out_of_fold(data.texts, given, k, splits), NGRAM_WEIGHT)
        except ValueError as exc:  # sklearn: "empty vocabulary" when no text has a word of 2+ characters
            if "empty vocabulary" not in str(exc):
                raise
            log.warning("the n-gram model has no words to read in these texts: the sentence vectors judge alone")
    given_p = probabilities[np.arange(len(given)), given]
    duplicate_of = near_duplicate_conflicts(vectors, given)
    judged = reliability(probabilities, given)
    if not judged["can_judge"]:
        log.warning("%s: %s", data.source, judged["verdict"])
    suggested = probabilities.argmax(1)
    likelier = probabilities[np.arange(len(given)), suggested] >= CONFIDENT_RATIO * given_p
    confident = confident_errors(probabilities, given) & likelier if judged["can_judge"] else np.zeros(len(given), bool)
    flagged = confident | (duplicate_of >= 0)
    order = np.argsort(given_p, kind="stable")  # the given label's probability, lowest first
    return AuditReport(
        data.label_names,
        given,
        suggested,
        given_p,
        1 - given_p,
        flagged,
        duplicate_of,
        order,
        probabilities,
        judged,
    )
