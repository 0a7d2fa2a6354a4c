"""An audit that knows when it cannot judge (labeling/audit.py `reliability`): it measures how well
models that never saw a label get it right, and below RELIABLE_ACCURACY it flags nothing and says
how many examples a category it needs, instead of calling correct labels wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from textfit import audit
from textfit.cli import app
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_data
from textfit.labeling.audit import RELIABLE_ACCURACY, RELIABLE_PER_CATEGORY, reliability

runner = CliRunner()


def clusters(per_cluster: int, k: int, spread: float, seed: int = 0):
    """k unit-vector clusters; `spread` the noise around each centre (large: they overlap)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(max(16, k))[:k] * 4
    labels = np.repeat(np.arange(k), per_cluster)
    vectors = centres[labels] + spread * rng.normal(size=(len(labels), centres.shape[1]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), labels


@pytest.fixture(autouse=True)
def vector_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))


def test_reliability_is_the_judges_out_of_fold_accuracy_with_its_interval():
    given = np.repeat(np.arange(4), 25)
    probabilities = np.eye(4)[np.where(np.arange(100) < 80, given, (given + 1) % 4)]  # 80 of 100 right
    judged = reliability(probabilities, given)
    assert judged["accuracy"] == 0.8 and judged["low"] < 0.8 < judged["high"] and judged["examples"] == 100
    assert judged["can_judge"] and judged["needed_per_category"] is None and judged["per_category"] == 25
    assert judged["verdict"].startswith("the check can judge these labels")


def test_correct_labels_too_few_to_judge_are_not_flagged_and_the_audit_says_how_many_it_needs():
    vectors, truth = clusters(per_cluster=3, k=20, spread=2.0)  # 60 correct labels, 3 a category, blurred
    report = audit([f"t{i}" for i in range(60)], [str(t) for t in truth], vectors=vectors, ngrams=False)
    assert report.reliability["accuracy"] < RELIABLE_ACCURACY and not report.reliability["can_judge"]
    assert report.flagged.sum() == 0, "no correct label called wrong"
    assert report.refusal.startswith(f"too few examples to check: about {RELIABLE_PER_CATEGORY} per category needed")
    assert "the median category has 3" in report.refusal
    assert len(report.order) == 60  # the ranking stays, for whoever wants it
    assert not any("confident" in record["reason"] for record in report.to_records())


def test_with_enough_examples_it_judges_and_finds_the_flipped_labels():
    vectors, truth = clusters(per_cluster=60, k=3, spread=1.0)
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(truth), 12, replace=False)
    given = truth.copy()
    given[flipped] = (truth[flipped] + 1) % 3
    report = audit([f"t{i}" for i in range(len(given))], [str(g) for g in given], vectors=vectors, ngrams=False)
    assert report.reliability["can_judge"] and report.refusal is None
    assert report.flagged[flipped].sum() >= 10
    assert "the model is confident it is" in report.to_records(1)[0]["reason"]


def test_many_examples_of_categories_it_cannot_tell_apart_get_no_flags_either():
    vectors, truth = clusters(per_cluster=40, k=4, spread=20.0)  # as good as noise
    report = audit([f"t{i}" for i in range(len(truth))], [str(t) for t in truth], vectors=vectors, ngrams=False)
    assert report.reliability["per_category"] == 40 and report.flagged.sum() == 0
    assert report.refusal.startswith("the check cannot judge these labels")
    assert "about 80 examples per category" in report.refusal


def test_near_duplicates_labeled_differently_are_still_named_when_it_cannot_judge():
    vectors, truth = clusters(per_cluster=3, k=20, spread=2.0)
    vectors = np.vstack([vectors, vectors[:1]])
    labels = [str(t) for t in truth] + ["19"]  # the same message as row 1, another label
    report = audit([f"t{i}" for i in range(61)], labels, vectors=vectors, ngrams=False)
    assert report.refusal and report.flagged.sum() == 2 and report.flagged[[0, 60]].all()
    assert report.reason(60) == "near-duplicate of row 1, labeled '0'"


def test_cli_audit_of_a_few_correct_finance_labels_refuses_rather_than_flags(tmp_path):
    """The issue's case: 60 correct labels over 20 categories, 3 each, through `textfit audit`, with the
    embedded MiniLM (the tiny random BERT makes every message a near-duplicate of every other)."""
    sample = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    rows = [i for c in range(20) for i in np.flatnonzero(np.array(sample.labels) == c)[:3]]
    frame = pd.DataFrame(
        {"text": [sample.texts[i] for i in rows], "label": [TOPIC_LABELS[sample.labels[i]] for i in rows]}
    )
    frame.to_csv(tmp_path / "few.csv", index=False)
    result = runner.invoke(app, ["audit", str(tmp_path / "few.csv"), "--output", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "0 of 60 look mislabeled" in said
    assert "Too few examples to check: about 12 per category needed" in said
    out = pd.read_csv(tmp_path / "out.csv")
    assert not out["likely_mislabeled"].any()
