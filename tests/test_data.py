"""Loading, label handling, splitting, and every bad-input case a user can hit with a data file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from textfit.config import TrainConfig
from textfit.data import (
    SAMPLE_DATA, TOPIC_LABELS, check_trainable, load_data, load_train_eval, parse_label_names, sample,
    stratified_split,
)
from textfit.errors import DataError


def test_embedded_sample_is_balanced_and_named():
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    assert len(TOPIC_LABELS) == 20 and TOPIC_LABELS[17] == "Personnel Change"
    assert set(data.label_counts().values()) == {22}
    assert len(set(data.texts)) == len(data.texts)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_every_format_loads_the_same(tmp_path, suffix):
    frame = pd.DataFrame({"message": ["up 5%", "down 3%", "flat", "up big"], "category": ["up", "down", "flat", "up"]})
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        path.write_text(json.dumps(frame.to_dict(orient="records")))
    else:
        frame.to_parquet(path)
    data = load_data(path)
    assert data.texts == frame.message.tolist()
    assert data.label_names == ["down", "flat", "up"]  # string labels: sorted names
    assert data.labels == [2, 0, 1, 2]
    assert len(data.fingerprint) == 64


def test_integer_labels_take_names_in_id_order(write):
    path = write("d.csv", "text,label\na,1\nb,0\nc,2\n")
    assert load_data(path, label_names="zero,one,two").label_names == ["zero", "one", "two"]
    assert load_data(path, label_names="zero,one,two").labels == [1, 0, 2]
    names_file = write("names.txt", "zero\none\ntwo\n")
    assert load_data(path, label_names=str(names_file)).label_names == ["zero", "one", "two"]
    assert load_data(path).label_names == ["0", "1", "2"]


def test_string_labels_follow_given_names(write):
    path = write("d.csv", "text,label\na,cat\nb,dog\n")
    assert load_data(path, label_names=["dog", "cat"]).labels == [1, 0]


def test_explicit_columns_beat_detection(write):
    path = write("d.csv", "id,body,text,label\n1,long body,short,x\n2,other,b,y\n")
    data = load_data(path, text_column="body", label_column="label")
    assert data.texts == ["long body", "other"]


def test_stratified_split_keeps_every_class_and_is_seeded():
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    train, test = stratified_split(data, 0.2, seed=7)
    assert len(train) + len(test) == len(data)
    assert set(test.labels) == set(range(20))
    assert not set(train.texts) & set(test.texts)
    again, _ = stratified_split(data, 0.2, seed=7)
    assert again.texts == train.texts


def test_sample_is_seeded_and_bounded():
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    assert sample(data, 50, 7).texts == sample(data, 50, 7).texts
    assert sample(data, 50, 7).texts != sample(data, 50, 8).texts
    assert len(sample(data, 10_000, 7)) == len(data)


def test_load_train_eval_applies_article_sampling():
    config = TrainConfig(data=str(SAMPLE_DATA), label_names=TOPIC_LABELS, train_size=50, test_size=10)
    train, evaluation = load_train_eval(config)
    assert (len(train), len(evaluation)) == (50, 10)
    assert not set(train.texts) & set(evaluation.texts)


def test_separate_eval_file_with_unseen_label_is_refused(write):
    train = write("train.csv", "text,label\na,x\nb,x\nc,y\nd,y\n")
    evaluation = write("eval.csv", "text,label\ne,x\nf,z\n")
    with pytest.raises(DataError, match=r"'z'.*row.* 2.*not among the known labels: x, y"):
        load_train_eval(TrainConfig(data=str(train), eval_data=str(evaluation)))


# --- bad input: one clear message naming the file, row or column ------------------------------

@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", "", r"empty\.csv: the file is empty"),
        ("header.csv", "text,label\n", r"header\.csv: has a header but no data rows"),
        ("data.xlsx", "whatever", r"unknown format '\.xlsx'. Supported: .*\.csv"),
        ("cols.csv", "title,tag,extra\na,b,c\n", r"cannot tell which column holds the texts.*'title', 'tag', 'extra'"),
        ("latin1.csv", b"text,label\nok,1\ncaf\xe9,2\n", r"latin1\.csv: line 3 has bytes that are not valid UTF-8"),
        ("emptytext.csv", "text,label\nfine,a\n ,b\nok,a\n", r"1 row\(s\) have an empty 'text' \(rows 2\)"),
        ("nolabel.csv", "text,label\nfine,a\nno label,\nok,b\n", r"empty 'label' \(rows 2\)"),
        ("badjson.jsonl", '{"text": "a", "label": 1}\n{broken\n', r"badjson\.jsonl: cannot be parsed as JSONL"),
        ("floats.csv", "text,label\na,0.5\nb,1\n", r"column 'label' .* not label ids .*rows 1"),
    ],
)
def test_bad_files_name_the_problem(write, name, content, message):
    with pytest.raises(DataError, match=message):
        load_data(write(name, content))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        load_data(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder"):
        load_data(tmp_path)


def test_missing_named_column_lists_the_columns(write):
    with pytest.raises(DataError, match=r"no text column 'tweet'. The columns are: 'text', 'label'"):
        load_data(write("d.csv", "text,label\na,b\n"), text_column="tweet")


def test_skip_bad_rows_counts_and_names_them(write):
    data = load_data(write("d.csv", "text,label\nfine,a\n,b\nok,\nyes,b\n"), skip_bad_rows=True)
    assert data.texts == ["fine", "yes"]
    assert data.skipped_rows == {"empty 'text'": [2], "empty 'label'": [3]}


def test_rows_are_numbered_in_the_original_file_after_skipping(write):
    path = write("d.csv", "text,label\n,0\nb,1\nc,9\n")
    with pytest.raises(DataError, match=r"label id\(s\) 9 .*rows 3"):
        load_data(path, label_names="a,b", skip_bad_rows=True)


def test_label_id_outside_names(write):
    with pytest.raises(DataError, match=r"label id\(s\) 5 in column 'label' \(rows 2\) are outside the 2 known labels"):
        load_data(write("d.csv", "text,label\na,0\nb,5\n"), label_names="x,y")


def test_single_class_and_single_example_class_are_refused(write):
    with pytest.raises(DataError, match="all examples have the same label"):
        check_trainable(load_data(write("one.csv", "text,label\na,x\nb,x\n")))
    with pytest.raises(DataError, match=r"single example: 'y' \(row 3\)"):
        check_trainable(load_data(write("single.csv", "text,label\na,x\nb,x\nc,y\n")))


def test_duplicate_label_names_are_refused():
    with pytest.raises(DataError, match="label names repeat: a"):
        parse_label_names("a,b,a")


def test_offline_hub_id_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from textfit import hub

    hub.hub_reachable.cache_clear()
    with pytest.raises(DataError, match="hub cannot be reached.*local CSV"):
        load_data("someone/some-dataset")
