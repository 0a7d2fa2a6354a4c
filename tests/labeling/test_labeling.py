"""Label less (textfit.labeling): zero-shot suggestions, the active-learning session, the label
audit and their CLI commands. The encoder is the tiny random BERT (fast, meaningless vectors), so
behaviour that needs meaningful vectors is tested on vectors given directly."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from textfit import DataError, LabelingSession, audit, suggest
from textfit.cli import app
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_data
from textfit.labeling import select

runner = CliRunner()


@pytest.fixture(autouse=True)
def vector_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def sample():
    return load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)


def clusters(per_cluster: int = 60, k: int = 3, dim: int = 16, seed: int = 0):
    """k well-separated unit-vector clusters: the easy case where every method must be right."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:k] * 4
    labels = np.repeat(np.arange(k), per_cluster)
    vectors = centres[labels] + rng.normal(size=(len(labels), dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), labels


def test_suggest_gives_every_text_a_label_and_a_confidence(sample, tiny_bert, vector_cache):
    result = suggest(sample.texts, TOPIC_LABELS, model=str(tiny_bert))
    assert len(result) == len(sample.texts) and len(result.labels) == len(sample.texts)
    assert set(result.labels) <= set(TOPIC_LABELS)
    assert np.all((result.confidence > 0) & (result.confidence <= 1))
    assert np.allclose(result.probabilities.sum(1), 1)
    assert np.allclose(result.confidence, result.probabilities.max(1))
    assert list(vector_cache.glob("vectors/*.npy")), "the texts' vectors are cached on disk"
    again = suggest(sample.texts, TOPIC_LABELS, {TOPIC_LABELS[0]: "an analyst changes a rating"}, model=str(tiny_bert))
    assert len(again) == len(sample.texts)


def test_a_direction_every_text_shares_does_not_decide_the_suggestion(monkeypatch):
    from textfit.labeling import zeroshot

    # Every text leans on a third axis, and so does the name "rates": on raw cosines all are "rates".
    names = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])
    monkeypatch.setattr(zeroshot, "label_vectors", lambda *a, **k: names / np.linalg.norm(names, axis=1, keepdims=True))
    truth = np.repeat([0, 1], 10)
    rng = np.random.default_rng(0)
    vectors = np.eye(3)[truth] * 0.3 + np.array([0.0, 0.0, 1.0]) + rng.normal(scale=0.02, size=(20, 3))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    raw = zeroshot.similarity_scores(vectors, names / np.linalg.norm(names, axis=1, keepdims=True)).argmax(1)
    assert set(raw) == {0}, "the case needs the shared direction to win without centring"
    found = suggest(None, ["rates", "oil"], vectors=vectors, self_training=False)
    assert list(found.label_ids) == list(truth)
    one = suggest(None, ["rates", "oil"], vectors=vectors[10:11], self_training=False)  # too few texts for a mean
    assert one.labels == ["rates"]


def test_suggest_refuses_unusable_label_names(tiny_bert):
    with pytest.raises(DataError, match="at least two"):
        suggest(["a text"], ["only"], model=str(tiny_bert))
    with pytest.raises(DataError, match="repeat"):
        suggest(["a text"], ["a", "a"], model=str(tiny_bert))
    with pytest.raises(DataError, match="one per label"):
        suggest(["a text"], ["a", "b"], ["just one"], model=str(tiny_bert))


def test_session_never_repeats_a_message_and_refits(tmp_path):
    vectors, truth = clusters()
    texts = [f"message {i}" for i in range(len(truth))]
    session = LabelingSession(
        tmp_path / "s.sqlite", texts, ["a", "b", "c"], vectors=vectors, zero_shot=False, refit_every=4
    )
    seen, fitted = [], []
    while batch := session.next_batch(7):
        assert {"index", "text", "suggestion", "confidence", "top"} <= set(batch[0])
        for item in batch:
            assert item["text"] == texts[item["index"]]
            if item["index"] % 9 == 0:
                session.skip(item["index"])
            else:
                session.add_label(item["index"], ["a", "b", "c"][truth[item["index"]]])
        seen += [item["index"] for item in batch]
        fitted.append(session.status()["head_fitted_on"])
    assert len(seen) == len(set(seen)), "a message was offered twice"
    status = session.status()
    assert status["labeled"] + status["skipped"] + status["remaining"] == len(texts)
    assert fitted == sorted(fitted) and fitted[-1] > fitted[0], "the head was refitted as labels came"
    assert len(seen) == len(texts), "every message is offered in the end (near-duplicates last)"
    suggestions = session.suggestions()
    assert np.mean([s["label"] == "abc"[t] for s, t in zip(suggestions, truth)]) > 0.95


def test_session_batch_is_uncertain_and_diverse():
    vectors, truth = clusters(per_cluster=100)
    # a head that is sure of everything except cluster 2, where it cannot choose between b and c
    probabilities = np.eye(3)[truth] * 0.98 + 0.01
    probabilities[truth == 2] = [0.02, 0.49, 0.49]
    score = select.scores(probabilities, select.density(vectors))
    picked = select.pick(vectors, score, 10, exclude=[200, 201])
    assert len(set(picked)) == 10 and not {200, 201} & set(picked)
    assert all(truth[i] == 2 for i in picked[:5])
    duplicated = np.vstack([vectors, vectors[:1]])  # row 300 copies row 0
    picked = select.pick(duplicated, np.ones(301), 301)
    assert not {0, 300} <= set(picked), "two near-duplicates in one batch"


def test_session_labels_survive_a_reopen_and_a_second_object(tmp_path):
    vectors, truth = clusters()
    texts = [f"message {i}" for i in range(len(truth))]
    path = tmp_path / "s.sqlite"
    first = LabelingSession(path, texts, ["a", "b", "c"], vectors=vectors, zero_shot=False)
    first.add_label(3, "a")
    first.add_label(70, 1)
    second = LabelingSession(path, vectors=vectors, zero_shot=False)  # reopened: texts and names from the file
    assert second.texts == texts and second.label_names == ["a", "b", "c"]
    assert second.labels() == {3: "a", 70: "b"}
    second.add_label(130, "c")
    second.add_label(3, "b")  # a correction, in place
    assert first.labels() == {3: "b", 70: "b", 130: "c"}
    one, two = first.next_batch(5), second.next_batch(5)  # two tabs at once get different messages
    assert not {i["index"] for i in one} & {i["index"] for i in two}
    with pytest.raises(DataError, match="other texts"):
        LabelingSession(path, texts[::-1], vectors=vectors, zero_shot=False)
    with pytest.raises(DataError, match="unknown label"):
        first.add_label(5, "d")
    with pytest.raises(DataError, match="no message"):
        first.skip(len(texts))


def test_concurrent_labels_are_all_stored(tmp_path):
    vectors, truth = clusters()
    path = tmp_path / "s.sqlite"
    sessions = [
        LabelingSession(path, [str(i) for i in range(len(truth))], ["a", "b", "c"], vectors=vectors, zero_shot=False)
        for _ in range(2)
    ]
    threads = [
        threading.Thread(target=lambda s=s, part=part: [s.add_label(i, int(truth[i])) for i in part])
        for s, part in zip(sessions, (range(0, 180, 2), range(1, 180, 2)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sessions[0].labels()) == 180


def test_estimate_has_an_interval_and_the_curve_a_verdict(tmp_path):
    vectors, truth = clusters()
    session = LabelingSession(
        tmp_path / "s.sqlite", [str(i) for i in range(len(truth))], ["a", "b", "c"], vectors=vectors, zero_shot=False
    )
    assert session.estimate()["accuracy"] is None  # too few labels to say
    for i in np.random.default_rng(0).permutation(len(truth))[:90]:
        session.add_label(int(i), int(truth[i]))
    estimate = session.estimate()
    assert estimate["labels"] == 90
    assert estimate["low"] <= estimate["accuracy"] <= estimate["high"] and estimate["high"] - estimate["low"] > 0.01
    assert estimate["accuracy"] > 0.9
    curve = session.learning_curve()
    assert [p["labels"] for p in curve["points"]] == [20, 40, 80, 90]
    assert curve["flattened"] is True and "flattened" in curve["verdict"]  # separable: 20 labels were enough


def test_a_flat_start_with_many_classes_is_too_early_to_call():
    """20 labels then 40 for 20 classes, the estimate 25 % then 20 %: noise, not a plateau; from 5
    labels a class on, the same flat stretch does say stop."""
    from textfit.labeling.session import verdict

    early = verdict([{"labels": 20, "accuracy": 0.25}, {"labels": 40, "accuracy": 0.20}], classes=20)
    assert early["flattened"] is False and early["verdict"].startswith("Too early to tell")
    late = verdict([{"labels": 100, "accuracy": 0.60}, {"labels": 200, "accuracy": 0.61}], classes=20)
    assert late["flattened"] is True and "from 60 % to 61 %" in late["verdict"]
    rising = verdict([{"labels": 100, "accuracy": 0.50}, {"labels": 200, "accuracy": 0.60}], classes=20)
    assert rising["flattened"] is False and rising["verdict"].startswith("Still rising")


def test_session_with_the_encoder_and_zero_shot_start(sample, tiny_bert, tmp_path):
    names = TOPIC_LABELS[:5]
    session = LabelingSession(tmp_path / "s.sqlite", sample.texts[:120], names, model=str(tiny_bert))
    batch = session.next_batch(4)
    assert len(batch) == 4 and all(item["suggestion"] in names for item in batch)
    session.add_label(batch[0]["index"], batch[0]["suggestion"])
    reopened = LabelingSession(tmp_path / "s.sqlite", model=str(tiny_bert))  # vectors from the disk cache
    assert reopened.labels() == {batch[0]["index"]: batch[0]["suggestion"]}


def test_audit_ranks_flipped_labels_first():
    vectors, truth = clusters(per_cluster=100)
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(truth), 15, replace=False)
    given = truth.copy()
    given[flipped] = (truth[flipped] + rng.integers(1, 3, 15)) % 3
    report = audit([f"t{i}" for i in range(len(given))], [str(g) for g in given], vectors=vectors)
    top = set(report.order[:15].tolist())
    assert len(top & set(flipped.tolist())) >= 14
    assert report.flagged[flipped].sum() >= 13
    assert report.flagged.sum() <= 20
    assert (report.suggested[flipped] == truth[flipped]).all()
    records = report.to_records(3)
    assert records[0]["likely_mislabeled"] and records[0]["suspicion"] > 0.5 and "confident" in records[0]["reason"]


def test_audit_reads_the_words_too():
    """Vectors that say nothing (noise) but words that do: the n-gram model, judging each row out of
    fold beside the vector head, finds the flipped labels; the vectors alone cannot."""
    rng = np.random.default_rng(2)
    words = {0: "refund invoice charge", 1: "parcel courier delivery", 2: "password login account"}
    truth = np.repeat([0, 1, 2], 60)
    texts = [f"{rng.choice(words[t].split())} please help ticket {i}" for i, t in enumerate(truth)]
    vectors = rng.normal(size=(len(truth), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flipped = rng.choice(len(truth), 12, replace=False)
    given = truth.copy()
    given[flipped] = (truth[flipped] + 1) % 3
    labels = [str(g) for g in given]
    with_words = set(audit(texts, labels, vectors=vectors).order[:12].tolist())
    vectors_only = set(audit(texts, labels, vectors=vectors, ngrams=False).order[:12].tolist())
    assert len(with_words & set(flipped.tolist())) >= 10
    assert len(vectors_only & set(flipped.tolist())) <= 5


def test_audit_of_texts_without_words_leaves_the_ngrams_out():
    vectors, truth = clusters(per_cluster=20)
    given = [str(t) for t in truth]
    report = audit(["!" for _ in given], given, vectors=vectors)  # no word of 2+ letters for the n-grams
    assert np.allclose(
        report.probabilities, audit(["!" for _ in given], given, vectors=vectors, ngrams=False).probabilities
    )


def test_audit_points_at_near_duplicates_with_different_labels():
    vectors, truth = clusters(per_cluster=50)
    vectors = np.vstack([vectors, vectors[10:11]])  # row 150 repeats row 10 ...
    labels = [str(t) for t in truth] + ["0"]
    labels[10] = "1"  # ... and the two disagree
    report = audit([f"t{i}" for i in range(151)], labels, vectors=vectors)
    assert report.duplicate_of[150] == 10 and report.duplicate_of[10] == 150
    assert "near-duplicate of row 11" in report.reason(150)
    assert (report.duplicate_of >= 0).sum() == 2


def test_cli_suggest_keeps_every_row_and_column(tmp_path, tiny_bert, sample):
    frame = pd.DataFrame({"id": range(30), "text": sample.texts[:30], "source": "twitter"})
    frame.loc[4, "text"] = ""  # kept, without a suggestion
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = runner.invoke(
        app,
        [
            "suggest",
            str(tmp_path / "in.csv"),
            "--labels",
            "Earnings,Dividend,IPO",
            "--output",
            str(tmp_path / "out.csv"),
            "--model",
            str(tiny_bert),
        ],
    )
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(out.columns) == ["id", "text", "source", "suggested_label", "confidence", "label_next"]
    assert out["id"].tolist() == list(range(30)) and (out["source"] == "twitter").all()
    assert out.loc[4, "suggested_label"] == "" and out.loc[4, "label_next"] == ""
    rest = out.drop(index=4)
    assert set(rest["suggested_label"]) <= {"Earnings", "Dividend", "IPO"}
    assert sorted(rest["label_next"].astype(int)) == list(range(1, 30))


def test_cli_audit_keeps_every_row_and_column(tmp_path, tiny_bert, sample):
    frame = pd.DataFrame(
        {
            "text": sample.texts[:60],
            "label": [TOPIC_LABELS[i] for i in sample.labels[:60]],
            "note": [f"n{i}" for i in range(60)],
        }
    )
    frame.loc[7, "label"] = None  # unlabeled: kept at the end, unscored
    frame.to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    result = runner.invoke(
        app, ["audit", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.csv"), "--model", str(tiny_bert)]
    )
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns)[:3] == ["text", "label", "note"]
    assert {"suggested_label", "suspicion", "likely_mislabeled", "reason", "row"} <= set(out.columns)
    assert sorted(out["row"]) == list(range(1, 61)) and out["row"].iloc[-1] == 8
    assert (out["note"] == "n" + (out["row"] - 1).astype(str)).all(), "rows kept whole"
    suspicion = out["suspicion"].iloc[:-1]
    assert suspicion.is_monotonic_decreasing and suspicion.between(0, 1).all(), "most suspicious first"
    assert pd.isna(out["suspicion"].iloc[-1])


def test_cli_audit_and_suggest_fail_cleanly(tmp_path):
    (tmp_path / "in.csv").write_text("text,label\nhello,a\n")
    result = runner.invoke(app, ["audit", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.doc")])
    assert result.exit_code == 1 and "--output must end in" in result.output
    result = runner.invoke(
        app, ["suggest", str(tmp_path / "in.csv"), "--labels", "a", "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 1 and "at least two" in " ".join(result.output.split())


def test_descriptions_file(tmp_path):
    from textfit.labeling.files import read_descriptions

    path = tmp_path / "d.txt"
    path.write_text("Fed | Central Banks: rates and central banks\n\nIPO: a company lists its shares\n")
    assert read_descriptions(path, ["IPO", "Fed | Central Banks"]) == {
        "Fed | Central Banks": "rates and central banks",
        "IPO": "a company lists its shares",
    }
    path.write_text("Crypto: coins\n")
    with pytest.raises(DataError, match="line 1"):
        read_descriptions(path, ["IPO", "Fed | Central Banks"])
