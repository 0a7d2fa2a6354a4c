"""What the page shows of an uploaded data file before training: its columns, first rows, the
columns found for texts and labels, and the examples per label."""

from __future__ import annotations

from pathlib import Path

from ..errors import StudioError, naming_the_upload
from .several_labels import label_columns, several_labels

PREVIEW_ROWS = 10
PREVIEW_CHARS = 300


def read_upload(path: Path, display: str):
    """The uploaded file as read (`data.read_source`), its column names as text; errors name `display`."""
    from ....data.labeled import DataError, read_source

    try:
        table = read_source(path)
    except DataError as exc:
        raise naming_the_upload(exc, path, display) from None
    table.frame.columns = [str(c) for c in table.frame.columns]
    return table


def preview_file(
    path: Path,
    display: str,
    text_column: str | None = None,
    label_column: str | None = None,
    label_separator: str | None = None,
) -> dict:
    """What the page shows of a data file: columns, first rows, the detected or chosen columns and
    the examples per label (of each label, where a row gives several: several_labels.py, with the
    separator `label_separator` where the page was asked). With no label column chosen, a file of one 0/1
    column per label reads as the library reads it: those columns are the labels (`label_column` None).
    Errors name `display` (the user's file name), never the studio's folders."""
    from ....data.labeled import TOPIC_LABELS, DataError, detect_columns, sample_fingerprint

    table = read_upload(path, display)
    frame, fingerprint = table.frame, table.fingerprint
    columns = list(frame.columns)
    detected, problem = {"text": None, "label": None}, None
    try:
        detected["text"], detected["label"] = detect_columns(frame.copy(), display, None, None)
    except DataError as exc:
        problem = _for_the_page(exc)
    for given in (text_column, label_column):
        if given is not None and given not in columns:
            raise StudioError(f"'{display}' has no column '{given}'. The columns are: {', '.join(columns)}")
    by_columns = None
    if label_column is None:
        try:
            by_columns = label_columns(frame, display, text_column)
        except DataError as exc:  # 0/1 columns, but which column is the text is unclear: the pickers say
            problem = _for_the_page(exc)
    if by_columns:
        detected, problem = {"text": by_columns["text_column"], "label": None}, None
        text_column = by_columns["text_column"]
    text_column = text_column or detected["text"]
    label_column = label_column or detected["label"]
    label_names = None
    if fingerprint == sample_fingerprint():
        label_names = list(TOPIC_LABELS)  # the embedded sample's ids have names
    head = frame.head(PREVIEW_ROWS)
    rows = [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)]
    labels = several = None
    if by_columns:
        several = by_columns
        labels = {
            "column": None,
            "distinct": several["labels"],
            "missing": 0,  # a row without a label is valid here
            "counts": several["counts"],
            "single": [c["value"] for c in several["counts"] if c["count"] < 2][:20],
        }
    elif label_column:
        several = several_labels(frame, display, label_column, label_separator)
        values = frame[label_column].dropna().astype(str).str.strip()
        counts = values[values != ""].value_counts()
        named = (
            label_names
            if label_names and all(v.isdigit() and int(v) < len(label_names) for v in counts.index)
            else None
        )
        labels = {
            "column": label_column,
            "distinct": int(len(counts)),
            "missing": int(len(frame) - len(values[values != ""])),
            "counts": [
                {"value": value, "name": named[int(value)] if named else None, "count": int(count)}
                for value, count in counts.head(100).items()
            ],
            "single": [value for value, count in counts.items() if count < 2][:20],
        }
        if several and not several["question"]:  # each label's examples; a row without one is valid here
            labels.update(
                distinct=several["labels"],
                missing=0,
                counts=several["counts"],
                single=[c["value"] for c in several["counts"] if c["count"] < 2][:20],
            )
    texts = None
    if text_column:
        lengths = frame[text_column].fillna("").astype(str).str.len()
        texts = {
            "column": text_column,
            "empty": int((lengths == 0).sum()),
            "mean_chars": round(float(lengths.mean()), 1),
            "max_chars": int(lengths.max()),
        }
    return {
        "rows": int(len(frame)),
        "columns": columns,
        "preview": rows,
        "detected": detected,
        "text_column": text_column,
        "label_column": label_column,
        "labels": labels,
        "several_labels": several,
        "texts": texts,
        "label_names": label_names,
        "problem": problem,
        "encoding_note": table.note.replace(str(path), f"'{display}'") if table.note else None,
    }


def _for_the_page(exc: Exception) -> str:
    return str(exc).replace("--text-column", "the column pickers").replace("--label-column", "the column pickers")


def _cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
