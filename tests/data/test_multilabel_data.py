"""Several labels per text in a data file: joined names (separator detected or asked for), one 0/1
column per label, JSON lists; rows with no label; single-label files read as before."""

from __future__ import annotations

import logging

import pytest

from support.multilabel import LABELS, rows, write_columns, write_joined, write_lists
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS, load_data, stratified_split
from textfit.errors import DataError


def expected_sets(count: int = 120) -> list[tuple[int, ...]]:
    names = sorted(LABELS)
    return [tuple(sorted(names.index(name) for name in labels)) for _, labels in rows(count)]


@pytest.mark.parametrize("separator", [";", ",", "|"])
def test_a_label_column_joining_names_reads_as_sets_and_says_its_separator(tmp_path, separator, caplog):
    with caplog.at_level(logging.INFO, logger="textfit"):
        data = load_data(write_joined(tmp_path / "tickets.csv", separator))
    assert data.multi_label and data.label_names == sorted(LABELS)
    assert data.labels == expected_sets()
    assert data.label_layout["separator"] == separator
    assert f"separated by '{separator}'" in caplog.text


def test_rows_without_a_label_are_kept_and_counted(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="textfit"):
        data = load_data(write_joined(tmp_path / "tickets.csv"))
    empty = sum(1 for _, labels in rows() if not labels)
    assert empty > 0 and len(data) == 120
    assert data.labels.count(()) == empty == data.label_layout["rows_without_label"]
    assert f"{empty} have none" in caplog.text


def test_one_zero_one_column_per_label_reads_as_sets(tmp_path):
    data = load_data(write_columns(tmp_path / "tickets.csv"))
    assert data.multi_label and data.label_layout["layout"] == "columns"
    assert data.label_names == list(LABELS)
    by_name = [tuple(sorted(LABELS[i] for i in labels)) for labels in data.labels]
    assert by_name == [tuple(sorted(labels)) for _, labels in rows()]


def test_json_lists_in_json_lines_read_as_sets(tmp_path):
    data = load_data(write_lists(tmp_path / "tickets.jsonl"))
    assert data.multi_label and data.label_layout["layout"] == "lists"
    assert data.labels == expected_sets()


def test_two_separators_that_both_join_labels_are_refused_with_advice(write):
    path = write("mixed.csv", 'text,labels\na,"x;y"\nb,"x,y"\nc,x\nd,y\ne,"y;z"\nf,"x,z"\n')
    with pytest.raises(DataError, match="separated by ';' or by ','.*--label-separator"):
        load_data(path)
    chosen = load_data(path, label_separator=";")
    assert chosen.label_names == ["x", "x,y", "x,z", "y", "z"]


def test_names_holding_a_separator_stay_one_label_each():
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    assert not data.multi_label and data.label_names == TOPIC_LABELS
    assert all(isinstance(label, int) for label in data.labels)


def test_label_separator_none_reads_one_label_per_row(tmp_path):
    data = load_data(write_joined(tmp_path / "tickets.csv"), label_separator="none", skip_bad_rows=True)
    assert not data.multi_label
    assert any(";" in name for name in data.label_names)


def test_a_single_label_file_with_an_empty_label_still_asks_to_fix_it(write):
    with pytest.raises(DataError, match="empty 'label'"):
        load_data(write("one.csv", "text,label\na,x\nb,\nc,y\n"))


def test_a_model_s_file_of_one_label_a_row_reads_as_sets_of_one(write):
    data = load_data(write("one.csv", "text,label\na,x\nb,y\nc,\n"), label_names=["x", "y", "z"], multi_label=True)
    assert data.labels == [(0,), (1,), ()] and data.label_names == ["x", "y", "z"]


def test_the_hold_out_of_sets_is_a_seeded_random_split(tmp_path):
    data = load_data(write_joined(tmp_path / "tickets.csv"))
    train, held_out = stratified_split(data, 0.2, seed=7)
    assert len(held_out) == 24 and len(train) == 96
    assert train.multi_label and held_out.multi_label
    assert set(train.texts).isdisjoint(held_out.texts)
    assert stratified_split(data, 0.2, seed=7)[1].texts == held_out.texts
