"""What the benchmark scripts share: where the data sets are, the one split every accuracy is measured
on (stratified 80 / 20, seed 7), and samples of its 80 %.

The data sets live outside the repository, in ../shared/data (see its README.md); a script skips
the rows that need one when it is absent."""

from __future__ import annotations

import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TOPIC = SHARED / "twitter-financial-news-topic" / "train.csv"  # the finance topics: the default data
SENTIMENT = SHARED / "twitter-financial-news-sentiment" / "train.csv"
SENTIMENT_NAMES = ["Bearish", "Bullish", "Neutral"]  # the sentiment file's classes 0, 1, 2

HELD_OUT = 0.2
SEED = 7


def split_labeled(data):
    """`data` (LabeledTexts) as (the 80 % pool, the 20 % held out): the benchmark's split."""
    from textfit.data.labeled import stratified_split

    return stratified_split(data, HELD_OUT, seed=SEED)


@functools.cache
def split(data_path: str):
    """The file at `data_path` as (pool, held out); the finance topics' numbered classes get their names."""
    from textfit.data.labeled import TOPIC_LABELS, load_data

    data = load_data(data_path)
    if data.label_names == [str(i) for i in range(len(TOPIC_LABELS))]:
        data = load_data(data_path, label_names=TOPIC_LABELS)
    return split_labeled(data)


def training_set(pool, how: str, seed: int):
    """A sample of `pool`: "all", "random:N" (N at random) or "per_class:N" (N of each class)."""
    import numpy as np

    from textfit.data.labeled import sample

    if how == "all":
        return pool
    kind, _, size = how.partition(":")
    if kind == "random":
        return sample(pool, int(size), seed)
    if kind == "per_class":
        rng, labels = np.random.default_rng(seed), np.array(pool.labels)
        chosen = [
            int(i)
            for c in range(len(pool.label_names))
            for i in rng.permutation(np.flatnonzero(labels == c))[: int(size)]
        ]
        return pool.subset(sorted(chosen))
    raise ValueError(f"unknown training set '{how}': all, random:N or per_class:N")


def one_label_a_topic(labels, topics: int, seed: int) -> list[int]:
    """One pool row of each topic, at random: where the labeling benchmarks' simulated person starts."""
    import numpy as np

    rng, labels = np.random.default_rng(seed), np.asarray(labels)
    return [int(rng.choice(np.flatnonzero(labels == c))) for c in range(topics)]
