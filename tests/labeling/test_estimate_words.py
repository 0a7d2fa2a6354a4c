"""The labeling session's estimate in plain words (labeling/session.py): no figure before there is
something to measure ("About 0 % (0-28 %)" from a dozen examples of a dozen categories), "examples"
for labeled messages and "categories" for label names."""

from __future__ import annotations

import numpy as np

from textfit import LabelingSession
from textfit.labeling.session import MIN_ESTIMATE, verdict


def session_over(tmp_path, names: int, texts: int = 200) -> LabelingSession:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(texts, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return LabelingSession(
        tmp_path / "s.sqlite",
        [f"message {i}" for i in range(texts)],
        [f"category {k}" for k in range(names)],
        vectors=vectors,
        zero_shot=False,
    )


def test_a_dozen_examples_of_a_dozen_categories_give_no_figure(tmp_path):
    session = session_over(tmp_path, 20)
    session.add_labels({i: i for i in range(12)})  # one example in each of 12 categories
    estimate = session.estimate()
    assert estimate["accuracy"] is None and estimate["examples"] == 12
    assert estimate["note"].startswith(f"give at least {MIN_ESTIMATE} examples, two or more in each")


def test_an_estimate_comes_once_categories_have_two_examples_or_more(tmp_path):
    session = session_over(tmp_path, 3)
    session.add_labels({i: i % 3 for i in range(9)})  # 3 a category, but 9 in all: not yet
    assert session.estimate()["accuracy"] is None
    session.add_label(9, 0)
    estimate = session.estimate()
    assert estimate["accuracy"] is not None and estimate["examples"] == estimate["labels"] == 10
    assert estimate["low"] <= estimate["accuracy"] <= estimate["high"]
    assert "examples" in estimate["note"] and "95 % range" in estimate["note"]


def test_the_verdict_says_examples_for_messages_and_categories_for_names():
    points = [{"labels": 20, "accuracy": 0.25}, {"labels": 40, "accuracy": 0.2}]
    said = verdict(points, classes=20)["verdict"]
    assert said == (
        "Too early to tell: from 20 to 40 examples the estimate went from 25 % to 20 %, but with 20 categories "
        "the estimate settles from about 200 examples. Keep going."
    )
    assert "examples" in verdict(points[:1], classes=20)["verdict"]
