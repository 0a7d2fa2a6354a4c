"""Property-based tests of the loaders: whatever bytes or table a file holds, `load_data` returns
labeled texts that hold together or raises a `DataError`, never anything else; and a table written
by pandas in any format reads back as written."""

from __future__ import annotations

import io
import json
import string

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from textfit.data.labeled import FORMATS, LabeledTexts, load_data
from textfit.errors import DataError

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT_FORMATS = (".csv", ".tsv", ".json", ".jsonl")


def load_or_refuse(path, **options) -> LabeledTexts | None:
    """The property itself: a valid LabeledTexts, or a DataError; any other exception fails the test."""
    try:
        data = load_data(path, **options)
    except DataError as exc:
        assert str(exc).strip()
        return None
    assert len(data.texts) == len(data.labels) > 0
    assert all(isinstance(t, str) for t in data.texts)
    ids = {i for labels in data.labels for i in labels} if data.multi_label else set(data.labels)
    assert ids <= set(range(len(data.label_names)))
    assert len(set(data.label_names)) == len(data.label_names)
    return data


@SETTINGS
@given(content=st.binary(max_size=600), suffix=st.sampled_from(sorted(FORMATS)))
def test_random_bytes(tmp_path, content, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(content)
    load_or_refuse(path)


CSV_ALPHABET = st.sampled_from(list(",;\t|\"\n\r \\'") + list("ab1-.é€\x00\x07\ufeff") + ["label", "text", "\r\n"])


@SETTINGS
@given(
    pieces=st.lists(CSV_ALPHABET, max_size=80),
    encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]),
    suffix=st.sampled_from(TEXT_FORMATS),
)
def test_csv_ish_text(tmp_path, pieces, encoding, suffix):
    text = "text,label\n" + "".join(pieces)
    try:
        content = text.encode(encoding)
    except UnicodeEncodeError:
        content = text.encode("utf-8")
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    load_or_refuse(path)


CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["a", "A", " a", "1", "1.0", "", "NA", "两"]),
)


def write_table(frame: pd.DataFrame, path) -> None:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in frame.to_dict(orient="records")))
    elif suffix == ".json":
        path.write_text(json.dumps(frame.to_dict(orient="records"), default=str))
    elif suffix == ".parquet":
        frame.astype(str).to_parquet(path)  # mixed-type object columns cannot be Parquet
    else:
        frame.to_excel(path, index=False)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=8),
    suffix=st.sampled_from([".csv", ".tsv", ".json", ".jsonl", ".parquet", ".xlsx"]),
)
def test_random_tables_in_every_format(tmp_path, rows, suffix):
    frame = pd.DataFrame(rows, columns=["text", "label"])
    path = tmp_path / f"table{suffix}"
    try:
        write_table(frame, path)
    except (ValueError, TypeError):  # openpyxl refuses control characters, json some floats: not our reader
        assume(False)
    except Exception as exc:
        if type(exc).__name__ != "IllegalCharacterError":
            raise
        assume(False)
    load_or_refuse(path)


WORDS = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(WORDS.filter(str.strip), min_size=1, max_size=12),
    names=st.lists(
        st.sampled_from(["pos", "neg", "Über", "x y", "a,b", "c;d", 'q"t', "1", "10", "2"]), min_size=1, max_size=12
    ),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet"]),
    separator=st.sampled_from([",", ";", "\t", "|"]),
)
def test_a_written_table_reads_back_as_written(tmp_path, texts, names, suffix, separator):
    labels = (names * len(texts))[: len(texts)]
    frame = pd.DataFrame({"text": ["hello"] + texts, "label": [labels[0]] + labels})  # "hello": not a number column
    assume(len({name.casefold() for name in labels}) == len(set(labels)))
    path = tmp_path / f"table{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False, sep=separator)  # quoted where needed, as Excel and pandas write them
    else:
        write_table(frame, path)
    data = load_data(path)
    assert data.texts == frame.text.tolist()
    assert [data.label_names[i] for i in data.labels] == frame.label.tolist()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(
        st.text(alphabet=string.ascii_letters + " éèàüößç€’“”", min_size=1, max_size=20).filter(str.strip),
        min_size=2,
        max_size=6,
    )
)
def test_encodings_read_back(tmp_path, encoding, texts):
    frame = pd.DataFrame({"text": ["hello"] + texts, "label": (["a", "b"] * len(texts))[: len(texts) + 1]})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, sep=";")
    content = buffer.getvalue().encode(encoding)
    if encoding == "cp1252":  # plain ASCII is UTF-8 too; and some cp1252 pairs (ß€ = DF 80) are valid UTF-8
        try:
            content.decode("utf-8")
            assume(content.isascii())
            encoding = "utf-8"
        except UnicodeDecodeError:
            pass
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    data = load_data(path)
    assert data.texts == frame.text.tolist() and data.encoding == encoding
