"""The one honest figure (model/evaluate.py): every accuracy with how many messages it rests on and a
95 % interval; below a few dozen test messages, no bare percentage."""

import numpy as np
import pytest

from textfit.data.labeled import LabeledTexts
from textfit.model.evaluate import (
    CROSS_VALIDATED,
    SMALL_HOLD_OUT,
    accuracy_figure,
    bootstrap_interval,
    build_report,
    proportion_interval,
    record_figure,
)


def test_the_interval_of_a_share_is_wilsons():
    low, high = proportion_interval(7, 9)  # the "78 % on its test messages", which were 9
    assert (round(low, 3), round(high, 3)) == (0.453, 0.937)
    assert proportion_interval(0, 0) == (0.0, 1.0)  # nothing measured: anything is possible
    low, high = proportion_interval(0, 20)
    assert low == 0.0 and 0 < high < 0.2  # never below 0 or above 1, unlike p ± 2 s.e.
    assert proportion_interval(20, 20)[1] == 1.0


def test_the_interval_narrows_as_the_messages_grow():
    widths = [np.subtract(*proportion_interval(round(0.7 * n), n)[::-1]) for n in (10, 100, 1000)]
    assert widths[0] > widths[1] > widths[2] and widths[2] < 0.06


def test_a_figure_that_is_not_a_share_gets_a_bootstrap_interval():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    predictions = np.where(rng.random(200) < 0.8, labels, (labels + 1) % 3)

    def accuracy(y, p):
        return float((y == p).mean())

    low, high = bootstrap_interval(labels, predictions, accuracy, rounds=500)
    assert low < accuracy(labels, predictions) < high
    assert (low, high) == bootstrap_interval(labels, predictions, accuracy, rounds=500)  # seeded: the same twice
    wilson = proportion_interval(int((labels == predictions).sum()), 200)
    assert abs(low - wilson[0]) < 0.03 and abs(high - wilson[1]) < 0.03  # agrees with Wilson on a plain share


def test_enough_test_messages_give_the_accuracy_with_its_size_and_range():
    figure = accuracy_figure(0.8, 120)
    assert figure["source"] == "held-out" and figure["enough"]
    assert figure["examples"] == 120 and figure["low"] < 0.8 < figure["high"]
    assert figure["text"] == f"80 % ({100 * figure['low']:.0f}-{100 * figure['high']:.0f} %) on 120 test messages"


def test_a_few_test_messages_give_no_bare_percentage():
    figure = accuracy_figure(7 / 9, 9)
    assert not figure["enough"] and SMALL_HOLD_OUT > 9
    assert figure["text"].startswith("between 45 % and 94 % on only 9 test messages: too few for one figure")


def test_beside_a_labeling_estimate_a_few_test_messages_give_way_to_it():
    estimate = {"accuracy": 0.36, "low": 0.24, "high": 0.5, "labels": 50}
    figure = accuracy_figure(7 / 9, 9, estimate)
    assert figure["source"] == "cross-validated" and figure["accuracy"] == 0.36 and figure["examples"] == 50
    assert figure["text"].startswith("about 36 % (24-50 %), cross-validated on 50 examples; the 9 test messages")
    assert figure["agreement"].endswith("agree within their ranges.")  # 45-94 % and 24-50 % overlap


def test_a_disagreement_beyond_both_ranges_says_why():
    figure = accuracy_figure(0.9, 200, {"accuracy": 0.5, "low": 0.4, "high": 0.6, "labels": 60})
    assert figure["source"] == "held-out"  # enough test messages: theirs is the figure
    assert "do not agree" in figure["agreement"] and "errs low" in figure["agreement"]


def test_a_run_record_gives_its_figure_with_the_estimate_it_was_trained_with():
    record = {
        "metrics": {"accuracy": 0.7},
        "data": {"eval_examples": 10},
        "config": {"extra": {CROSS_VALIDATED: {"accuracy": 0.6, "low": 0.45, "high": 0.73, "labels": 50}}},
    }
    assert record_figure(record)["source"] == "cross-validated"
    assert record_figure({"metrics": {}, "data": {"eval_examples": 0}}) is None


def test_the_report_summary_carries_both_intervals():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60).tolist()
    probabilities = np.eye(3)[[(y if rng.random() < 0.7 else (y + 1) % 3) for y in labels]]
    report = build_report(LabeledTexts([f"t{i}" for i in range(60)], labels, ["a", "b", "c"], "x"), probabilities)
    summary = report.summary()
    low, high = summary["accuracy_interval"]
    assert low < summary["accuracy"] < high
    low, high = summary["macro_f1_interval"]
    assert low <= summary["macro_f1"] <= high
    assert summary["macro_f1"] == pytest.approx(report.metrics["macro_f1"])


def test_the_model_card_gives_the_figure_with_its_size_and_range():
    from textfit.model.folder import figure_note

    note = figure_note({"metrics": {"accuracy": 7 / 9}, "data": {"eval_examples": 9}, "config": {}})
    assert "Accuracy: between 45 % and 94 % on only 9 test messages: too few for one figure" in note
    assert figure_note({"metrics": {}, "data": {"eval_examples": 0}}) == ""
