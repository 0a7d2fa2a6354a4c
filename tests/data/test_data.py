"""Loading, label handling, splitting, and every bad-input case a user can hit with a data file."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pandas as pd
import pytest

from textfit.config import TrainConfig
from textfit.data.labeled import (
    SAMPLE_DATA,
    TOPIC_LABELS,
    check_trainable,
    classes_not_evaluated,
    load_data,
    load_train_eval,
    parse_label_names,
    sample,
    stratified_split,
)
from textfit.data.readers import guess_separator
from textfit.data.texts import read_texts
from textfit.errors import DataError


def test_embedded_sample_is_balanced_and_named():
    data = load_data(SAMPLE_DATA, label_names=TOPIC_LABELS)
    assert len(TOPIC_LABELS) == 20 and TOPIC_LABELS[17] == "Personnel Change"
    assert set(data.label_counts().values()) == {22}
    assert len(set(data.texts)) == len(data.texts)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".xlsx"])
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
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
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


@pytest.mark.parametrize(
    "values, names, ids",
    [
        ([0, 1, 2, 1], ["0", "1", "2"], [0, 1, 2, 1]),  # exactly 0..N-1: ids
        ([1, 2, 3, 4, 5, 5], ["1", "2", "3", "4", "5"], [0, 1, 2, 3, 4, 4]),  # star ratings: no empty class "0"
        ([1001, 2002, 1001], ["1001", "2002"], [0, 1, 0]),  # product codes: two classes, not 2003
        ([0, 1, 3], ["0", "1", "3"], [0, 1, 2]),  # a gap: categories named by their number
        ([-1, 0, 1, 10, 2], ["-1", "0", "1", "2", "10"], [0, 1, 2, 4, 3]),  # numeric order, not text order
    ],
)
def test_whole_number_labels_are_ids_only_when_exactly_0_to_n_minus_1(write, values, names, ids):
    for content in (
        "text,label\n" + "".join(f"t{i},{v}\n" for i, v in enumerate(values)),  # ints
        "text,label\n" + "".join(f't{i},"{v}"\n' for i, v in enumerate(values)),
    ):  # digit strings
        data = load_data(write("d.csv", content))
        assert (data.label_names, data.labels) == (names, ids)
    data = load_data(
        write("d.jsonl", "".join(json.dumps({"text": f"t{i}", "label": float(v)}) + "\n" for i, v in enumerate(values)))
    )
    assert (data.label_names, data.labels) == (names, ids)  # 2.0 is the class "2"


def test_star_ratings_with_label_names_are_ids_into_the_names(write):
    path = write("d.csv", "text,label\na,1\nb,0\n")
    assert load_data(path, label_names="bad,good").labels == [1, 0]
    with pytest.raises(DataError, match=r"label id\(s\) 5 .* outside the 2 known labels"):
        load_data(write("e.csv", "text,label\na,5\nb,0\n"), label_names="bad,good")
    with pytest.raises(DataError, match=r"outside the 2 known labels .* look counted from 1: .* \(bad is 0\)"):
        load_data(write("f.csv", "text,label\na,1\nb,2\n"), label_names="bad,good")


def test_evaluation_labels_follow_a_numbered_models_names(write):
    ratings = ["1", "2", "3", "4", "5"]
    assert load_data(write("d.csv", "text,label\na,5\nb,1\n"), label_names=ratings).labels == [4, 0]
    with pytest.raises(
        DataError, match=r"label\(s\) '6' in column 'label' \(rows 2\) are not among the known labels: 1, 2"
    ):
        load_data(write("e.csv", "text,label\na,5\nb,6\n"), label_names=ratings)


def test_labels_differing_in_case_or_spaces_are_reported_with_rows(write):
    path = write("d.csv", "text,label\na,Positive\nb,positive \nc,negative\nd,POSITIVE\ne,Positive\n")
    with pytest.raises(
        DataError,
        match=r"differ only in capitals or surrounding spaces: 'POSITIVE' \(rows 4\), "
        r"'Positive' \(rows 1, 5\), 'positive ' \(rows 2\)",
    ):
        load_data(path)
    # the same stray space on every copy of a label merges nothing: it is trimmed
    assert load_data(write("e.csv", "text,label\na,spam \nb,ham\n")).label_names == ["ham", "spam"]


def test_a_label_column_with_hundreds_of_distinct_values_is_refused(write):
    def rows(n_rows, n_labels):
        return "text,label\n" + "".join(f"message {i},l{i % n_labels}\n" for i in range(n_rows))

    with pytest.raises(DataError, match=r"column 'label' has 201 different values in 300 rows: that looks like a text"):
        load_data(write("a.csv", rows(300, 201)))
    assert len(load_data(write("b.csv", rows(500, 201))).label_names) == 201  # 2.5 examples a class: allowed
    assert len(load_data(write("c.csv", rows(200, 200))).label_names) == 200  # at the limit: allowed
    assert len(load_data(write("d.csv", rows(300, 201)), label_names=[f"l{i}" for i in range(201)])) == 300


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
        ("data.doc", "whatever", r"unknown format '\.doc'. Supported: .*\.csv.*\.xlsx"),
        ("data.xlsx", "whatever", r"data\.xlsx: is not a readable Excel workbook .*looks like a text file"),
        (
            "data.xls",
            b"\xd0\xcf\x11\xe0",
            r"old Excel format \(\.xls.*save it as an Excel Workbook \(\.xlsx\) or as CSV",
        ),
        ("cols.csv", "title,tag,extra\na,b,c\n", r"cannot tell which column holds the texts.*'title', 'tag', 'extra'"),
        (
            "junk.csv",
            b"text,label\nok,1\n\x81\x8d,2\n",
            r"junk\.csv: line 3 has bytes that are not valid UTF-8.*nor cp1252",
        ),
        ("nul.csv", b"text,label\nok,1\nn\x00,2\n", r"nul\.csv: line 3 contains a NUL byte"),
        ("emptytext.csv", "text,label\nfine,a\n ,b\nok,a\n", r"1 row\(s\) have an empty 'text' \(rows 2\)"),
        ("nolabel.csv", "text,label\nfine,a\nno label,\nok,b\n", r"empty 'label' \(rows 2\)"),
        ("badjson.jsonl", '{"text": "a", "label": 1}\n{broken\n', r"badjson\.jsonl: line 2 cannot be parsed as JSON"),
        ("floats.csv", "text,label\na,0.5\nb,1\n", r"column 'label' holds numbers that are not whole \(0\.5; rows 1\)"),
        ("short.csv", "text;label\nfine\nok;a\n", r"short\.csv: 1 row\(s\) have an empty 'label' \(rows 1\)"),
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


def test_a_single_class_or_only_single_examples_are_refused(write):
    with pytest.raises(DataError, match="all examples have the same label"):
        check_trainable(load_data(write("one.csv", "text,label\na,x\nb,x\n")))
    with pytest.raises(DataError, match=r"every class has a single example \(3 classes in 3 rows\)"):
        check_trainable(load_data(write("singles.csv", "text,label\na,x\nb,y\nc,z\n")))


def test_a_single_example_class_trains_and_is_left_out_of_evaluation(write, caplog):
    path = write("d.csv", "text,label\n" + "".join(f"x{i},x\ny{i},y\n" for i in range(5)) + "the only z,z\n")
    data = load_data(path)
    check_trainable(data)  # no error
    for seed in range(5):
        train, held_out = stratified_split(data, 0.2, seed)
        assert "the only z" in train.texts and data.label_names.index("z") not in held_out.labels
        assert len(train) + len(held_out) == len(data) and set(held_out.labels) == {0, 1}
    with caplog.at_level(logging.WARNING, logger="textfit"):
        train, held_out = load_train_eval(TrainConfig(data=str(path)))
    assert (
        "1 class(es) have a single example, used for training only and left out of the evaluation: 'z' (row 11)"
        in caplog.text
    )
    assert classes_not_evaluated(train, held_out) == ["z"]


def test_the_run_record_names_the_encoding_and_the_classes_not_evaluated(write):
    from textfit.model.folder import build_record

    path = write(
        "d.csv",
        b"text;label\n"
        + "".join(f"caf\u00e9 {i};a\nth\u00e9 {i};b\n" for i in range(4)).encode("cp1252")
        + b"lonely;c\n",
    )
    config = TrainConfig(data=str(path))
    train, held_out = load_train_eval(config)
    loop = {"status": "completed", "history": [], "best": None, "timings": {}}
    record = build_record(
        config,
        "finetune",
        train,
        held_out,
        64,
        loop,
        SimpleNamespace(metrics={}, baseline=None, beats_baseline=None, coverage=None),
        1.0,
    )
    assert record["data"]["encoding"] == "cp1252" and record["data"]["classes_not_evaluated"] == ["c"]
    assert train.texts[0] == "caf\u00e9 0"


def test_cp1252_is_read_with_a_note_and_a_bom_is_not_part_of_a_column_name(write, caplog):
    with caplog.at_level(logging.WARNING, logger="textfit"):
        data = load_data(write("w.csv", "text,label\nPrice \u20ac 5,money\nna\u00efve,word\n".encode("cp1252")))
    assert data.texts == ["Price \u20ac 5", "na\u00efve"] and data.encoding == "cp1252"
    assert "w.csv is not UTF-8 (line 2 has byte 0x80); read it as cp1252" in caplog.text
    data = load_data(write("b.csv", "\ufefftext,label\nok,a\n".encode("utf-8")))
    assert data.encoding == "utf-8-sig" and data.texts == ["ok"]  # 'text' found: the BOM is gone
    assert load_data(write("u.tsv", "text\tlabel\nok\ta\n".encode("utf-16"))).encoding == "utf-16"


@pytest.mark.parametrize(
    "text, separator",
    [
        ("Headline;Sentiment\nGood, really good;positive\nBad;negative\n", ";"),
        ("text,label\nhello; world,a\nbye,b\n", ","),
        ("text\tlabel\nhello, world; again\ta\n", "\t"),
        ("text|label\na, b; c|x\n", "|"),
        ('text,label\n"a;b;c;d",x\n"e;f",y\n', ","),  # separators inside quotes do not count
        ("a;b,c\n1;2,3\n4;5,6\n7;8\n", ";"),  # ';' keeps every line two fields wide; ',' does not
        ("text\nhello\n", ","),  # one column: the default
    ],
)
def test_separator_detection(text, separator):
    assert guess_separator(text) == separator


def test_a_1mb_text_is_one_cell_in_every_separated_format(write):
    for name, separator in (("long.tsv", "\t"), ("long.csv", ";")):
        data = load_data(write(name, f"text{separator}label\n{'x' * 1_000_000}{separator}a\nshort{separator}b\n"))
        assert [len(t) for t in data.texts] == [1_000_000, 5]


def test_excel_sheets_by_name_or_position(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["read me"]}).to_excel(writer, sheet_name="About", index=False)
        pd.DataFrame({"text": ["a", "b"], "label": [1, 2]}).to_excel(writer, sheet_name="Data", index=False)
    assert load_data(path, sheet="Data").label_names == ["1", "2"]
    assert load_data(path, sheet=2).texts == ["a", "b"]
    with pytest.raises(DataError, match="the label column is missing"):
        load_data(path)  # the first sheet
    with pytest.raises(DataError, match=r"no sheet '3'. The sheets are: 'About', 'Data'"):
        load_data(path, sheet="3")
    assert read_texts(path, sheet="Data") == ["a", "b"]


def test_texts_to_predict_from_cp1252_txt_and_excel(tmp_path):
    txt = tmp_path / "in.txt"
    txt.write_bytes("caf\u00e9\n\nna\u00efve\n".encode("cp1252"))
    assert read_texts(txt) == ["caf\u00e9", "na\u00efve"]
    book = tmp_path / "in.xlsx"
    pd.DataFrame({"id": [1, 2], "message": ["one", "two"]}).to_excel(book, index=False)
    assert read_texts(book) == ["one", "two"]


def test_duplicate_label_names_are_refused():
    with pytest.raises(DataError, match="label names repeat: a"):
        parse_label_names("a,b,a")


def test_offline_hub_id_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from textfit import hub

    hub.hub_reachable.cache_clear()
    with pytest.raises(DataError, match="hub cannot be reached.*local CSV"):
        load_data("someone/some-dataset")


@pytest.mark.parametrize("strategy", ["finetune", "fewshot"])
def test_training_with_a_single_example_class_records_it(write, tiny_bert, tmp_path, strategy):
    from textfit import train

    path = write("d.csv", "text,label\n" + "".join(f"up {i},up\ndown {i},down\n" for i in range(8)) + "alone,lonely\n")
    result = train(TrainConfig(data=str(path), model=str(tiny_bert), strategy=strategy, epochs=1), tmp_path / "m")
    saved = json.loads((result.folder / "textfit.json").read_text())
    assert saved["labels"] == ["down", "lonely", "up"] and saved["data"]["classes_not_evaluated"] == ["lonely"]
    assert saved["data"]["encoding"] == "utf-8"
    card = (result.folder / "README.md").read_text()
    assert (
        "1 class(es) had a single example, used for training, so these figures do not measure them: lonely."
        in " ".join(card.split())
    )
