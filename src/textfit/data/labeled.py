"""Load, validate, split and sample labeled text data.

Everything a user can get wrong with a data file ends here in a `DataError` that names the file,
the row or the column. Rows are counted from 1 = the first data row (after any header)."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..hub import hub_reachable, looks_like_hub_id, offline_hint
from . import multilabel
from .coverage import warn_short
from .readers import FORMATS, Table, read_file  # noqa: F401  (FORMATS: the studio's accepted uploads)

TEXT_COLUMN_NAMES = ("text", "sentence", "content", "message", "tweet", "review", "document", "body", "utterance")
LABEL_COLUMN_NAMES = ("label", "labels", "category", "class", "target", "topic", "intent", "sentiment")
MAX_DISTINCT_LABELS = 200
"""A label column with more distinct values than this, and more than half of its rows distinct, is
taken for a text or id column picked by mistake: 200 classes already ask for thousands of rows."""
WHOLE_NUMBER = re.compile(r"[+-]?\d+")

SAMPLE_DIR = files("textfit.data") / "sample"
SAMPLE_DATA = Path(str(SAMPLE_DIR / "finance_topics.csv"))
TOPIC_HUB_ID = "zeroshot/twitter-financial-news-topic"
log = logging.getLogger("textfit")
TOPIC_LABELS = (SAMPLE_DIR / "finance_topics_labels.txt").read_text(encoding="utf-8").splitlines()


@dataclass
class LabeledTexts:
    """Texts with integer labels in `0..len(label_names)-1`; with `multi_label`, each label is a
    sorted tuple of such ids (several labels per text, possibly none: data/multilabel.py)."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    source: str
    fingerprint: str = ""
    skipped_rows: dict[str, list[int]] = field(default_factory=dict)
    """Why rows were skipped -> their row numbers; reported, never silent."""
    encoding: str | None = None
    """What a text file was decoded as (utf-8, utf-8-sig, utf-16, cp1252); None for Excel, Parquet, the hub."""
    multi_label: bool = False
    label_layout: dict | None = None
    """Several labels per text: how the file gave them (layout, separator) and how many rows have none."""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> LabeledTexts:
        return replace(self, texts=[self.texts[i] for i in indices], labels=[self.labels[i] for i in indices])

    def label_counts(self) -> dict[str, int]:
        """Examples per label (with several labels per text, a text counts once for each of its labels)."""
        counts = Counter(i for labels in self.labels for i in labels) if self.multi_label else Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}

    def present_labels(self) -> set[int]:
        """The label ids some example has."""
        return {i for labels in self.labels for i in labels} if self.multi_label else set(self.labels)

    def label_matrix(self) -> np.ndarray:
        """Several labels per text as a 0/1 matrix, shape (texts, labels)."""
        matrix = np.zeros((len(self.labels), len(self.label_names)), dtype=np.float32)
        for row, labels in enumerate(self.labels):
            matrix[row, list(labels)] = 1.0
        return matrix


def _as_rows(positions) -> str:
    rows = [str(int(p) + 1) for p in positions]
    return ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def sample_fingerprint() -> str:
    """The embedded sample's SHA-256, to recognise an upload of it (read once per process)."""
    return file_sha256(SAMPLE_DATA)


def read_source(
    source: str | Path, *, split: str | None = None, config: str | None = None, sheet: str | int | None = None
) -> Table:
    """A local file (readers.py) or a hub data set, as a `Table`."""
    path = Path(source)
    if not path.exists() and looks_like_hub_id(str(source)):
        return _read_hub(str(source), split=split, config=config)
    return read_file(path, sheet)


def read_table(
    source: str | Path, *, split: str | None = None, config: str | None = None, sheet: str | int | None = None
):
    """Read a file or a hub data set into a DataFrame.

    Returns (frame, fingerprint, class_label_names or None)."""
    table = read_source(source, split=split, config=config, sheet=sheet)
    return table.frame, table.fingerprint, table.class_names


def _read_hub(name: str, *, split: str | None, config: str | None):
    if not hub_reachable():
        raise DataError(offline_hint(name) + " Give a local CSV, Excel, JSON Lines or Parquet file instead.")
    import datasets

    try:
        dataset = datasets.load_dataset(name, config, split=split or "train")
    except Exception as exc:
        raise DataError(f"could not load '{name}' (split {split or 'train'}) from the hub: {exc}") from None
    class_names = None
    for feature in dataset.features.values():
        if isinstance(feature, datasets.ClassLabel):
            class_names = list(feature.names)
    fingerprint = f"hub:{name}:{config or ''}:{split or 'train'}:{dataset._fingerprint}"
    return Table(dataset.to_pandas(), fingerprint, class_names=class_names)


def is_text_column(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values) or values.dtype == object


def detect_columns(frame: pd.DataFrame, source: str, text_column: str | None, label_column: str | None):
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    listing = ", ".join(f"'{c}'" for c in columns)
    if len(columns) == 1 and text_column is None and label_column is None:
        raise DataError(
            f"{source}: the label column is missing: the file has a single column ({listing}). A labeled file "
            "needs a text column and a label column. If it has both, its separator was not recognised: "
            "use ',', ';', tab or '|' between fields."
        )
    for given, role in ((text_column, "text"), (label_column, "label")):
        if given is not None and given not in columns:
            raise DataError(f"{source}: no {role} column '{given}'. The columns are: {listing}")

    def by_name(names, exclude):
        lowered = {c.lower(): c for c in columns if c != exclude}
        return next((lowered[n] for n in names if n in lowered), None)

    label_column = label_column or by_name(LABEL_COLUMN_NAMES, text_column)
    text_column = text_column or by_name(TEXT_COLUMN_NAMES, label_column)
    if text_column is None:  # the only string-valued column left is the text
        candidates = [c for c in columns if c != label_column and is_text_column(frame[c])]
        text_column = candidates[0] if len(candidates) == 1 else None
    if label_column is None and len(columns) == 2 and text_column in columns:
        label_column = next(c for c in columns if c != text_column)
    if text_column is None or label_column is None:
        role = "text" if text_column is None else "label"
        raise DataError(
            f"{source}: cannot tell which column holds the {role}s. The columns are: {listing}. "
            f"Name it with --{role}-column."
        )
    return text_column, label_column


def parse_label_names(value: str | list[str] | None) -> list[str] | None:
    """A list, a comma-separated string, or a file with one name per line."""
    if value is None or isinstance(value, list):
        return value
    if os.path.isfile(value):
        names = [line.strip() for line in Path(value).read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        names = [part.strip() for part in value.split(",") if part.strip()]
    if len(set(names)) != len(names):
        duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
        raise DataError(f"label names repeat: {', '.join(duplicates)}")
    if not names:
        raise DataError(f"no label names found in {value!r}")
    return names


def _label_text(value) -> str:
    """A label value as the text that names its class: 2.0 (a whole number read as a float) -> '2'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _natural(name: str):
    """Sort key: whole numbers in numeric order ('2' before '10'), then the rest alphabetically."""
    return (0, int(name), name) if WHOLE_NUMBER.fullmatch(name) else (1, 0, name)


def _check_variants(raw: pd.Series, source: str, column: str) -> None:
    """Labels that differ only in capitals or surrounding spaces are reported, never merged: they
    may be typos of one class, or meant apart; only the user knows."""
    groups: dict[str, list[str]] = {}
    for value in raw.unique():
        groups.setdefault(value.strip().casefold(), []).append(value)
    clashes = [sorted(variants) for variants in groups.values() if len(variants) > 1]
    if clashes:
        described = "; ".join(
            ", ".join(f"{v!r} (rows {_as_rows(raw.index[raw == v])})" for v in variants) for variants in clashes[:5]
        )
        more = f" and {len(clashes) - 5} more such groups" if len(clashes) > 5 else ""
        raise DataError(
            f"{source}: labels in column '{column}' differ only in capitals or surrounding spaces: {described}{more}. "
            "textfit does not merge them for you: write each label the same way everywhere in the file."
        )


def _label_ids(values: pd.Series, source: str, column: str, names: list[str] | None):
    """Map raw label values to ids; return (ids, label_names).

    Whole numbers are ids only when they are exactly 0..N-1 or `names` are given; otherwise every
    label is a category named by its own text ('1'..'5' for star ratings), in natural order."""
    fractional = values.map(lambda v: isinstance(v, (float, np.floating)) and not float(v).is_integer())
    if fractional.any():
        shown = ", ".join(map(str, values[fractional].unique()[:5]))
        raise DataError(
            f"{source}: column '{column}' holds numbers that are not whole "
            f"({shown}; rows {_as_rows(values.index[fractional])}). "
            "textfit learns categories: a column of scores or measurements cannot be the label column."
        )
    raw = values.map(_label_text).astype(str)
    _check_variants(raw, source, column)
    text = raw.str.strip()
    whole = bool(text.str.fullmatch(WHOLE_NUMBER).all())
    numbered_names = bool(names) and all(WHOLE_NUMBER.fullmatch(n) for n in names)  # e.g. a ratings model's
    if names and whole and not numbered_names and not set(text) <= set(names):
        ids = text.map(int)  # Python ints: a 20-digit code must not overflow
        outside = ids[(ids < 0) | (ids >= len(names))]
        if len(outside):
            counted_from_one = set(ids) <= set(range(1, len(names) + 1))
            hint = (
                (
                    f". They look counted from 1: textfit counts ids from 0 ({names[0]} is 0), so subtract 1 from "
                    "the column, or write the names themselves in it"
                )
                if counted_from_one
                else ""
            )
            raise DataError(
                f"{source}: label id(s) {', '.join(map(str, sorted(set(outside))[:10]))} in column '{column}' "
                f"(rows {_as_rows(outside.index)}) are outside the {len(names)} known labels "
                f"(ids 0..{len(names) - 1}: {', '.join(names)}){hint}"
            )
        return ids.tolist(), list(names)
    if not names:
        distinct = text.nunique()
        if distinct > MAX_DISTINCT_LABELS and distinct > len(text) / 2:
            raise DataError(
                f"{source}: column '{column}' has {distinct} different values in {len(text)} rows: that looks like a "
                f"text or id column picked as the label column by mistake (textfit refuses more than "
                f"{MAX_DISTINCT_LABELS} labels when most rows have one of their own). Name the label column "
                "with --label-column."
            )
        if whole and set(numbers := text.map(int)) == set(range(distinct)):
            return numbers.tolist(), [str(i) for i in range(distinct)]
    vocabulary = list(names) if names else sorted(set(text), key=_natural)
    index = {name: i for i, name in enumerate(vocabulary)}
    unknown = text[~text.isin(index)]
    if len(unknown):
        raise DataError(
            f"{source}: label(s) {', '.join(repr(v) for v in sorted(set(unknown))[:10])} in column "
            f"'{column}' (rows {_as_rows(unknown.index)}) are not among the known labels: "
            f"{', '.join(vocabulary)}"
        )
    return text.map(index).tolist(), vocabulary


def load_data(
    source: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: list[str] | str | None = None,
    split: str | None = None,
    config: str | None = None,
    skip_bad_rows: bool = False,
    sheet: str | int | None = None,
    multi_label: bool | None = None,
    label_separator: str | None = None,
) -> LabeledTexts:
    """Load labeled texts from a file or a hub id, with labels mapped to ids and names.

    Label names come from `label_names` (in id order), else the data set's ClassLabel feature,
    else the labels' own text in natural order. Whole-number labels are ids only when they are
    exactly 0..N-1; star ratings 1-5 are the five classes '1'..'5'. `sheet` picks an Excel
    workbook's sheet, by name or by position counted from 1 (default: the first).

    Several labels per text (data/multilabel.py) are detected where `multi_label` is None, read
    as such where True (a multi-label model's file), never where False; `label_separator` settles
    the separator (`none`: one label per row)."""
    source = str(source)
    table = read_source(source, split=split, config=config, sheet=sheet)
    if table.note:
        log.warning(table.note)
    frame = table.frame
    names = parse_label_names(label_names) or table.class_names
    if multi_label is not False and label_separator != multilabel.NO_SEPARATOR:
        found = _several_labels(frame, source, text_column, label_column, names, multi_label, label_separator)
        if found:
            return _multi_label_data(frame, table, source, *found, skip_bad_rows)
    text_column, label_column = detect_columns(frame, source, text_column, label_column)

    texts = frame[text_column]
    empty_text = texts.isna() | (texts.astype(str).str.strip() == "")
    empty_label = frame[label_column].isna() | (frame[label_column].astype(str).str.strip() == "")
    skipped: dict[str, list[int]] = {}
    for mask, column in ((empty_text, text_column), (empty_label, label_column)):
        if mask.any():
            reason = f"empty '{column}'"
            if not skip_bad_rows:
                raise DataError(
                    f"{source}: {int(mask.sum())} row(s) have an empty '{column}' "
                    f"(rows {_as_rows(np.flatnonzero(mask))}). "
                    "Fix them, or pass --skip-bad-rows to skip such rows."
                )
            skipped[reason] = [int(i) + 1 for i in np.flatnonzero(mask)]
    keep = ~(empty_text | empty_label)
    if not keep.any():
        raise DataError(f"{source}: no row has both a text and a label")
    frame = frame[keep]  # keeps the original index, so later errors still name the right rows
    ids, names = _label_ids(frame[label_column], source, label_column, names)
    return LabeledTexts(
        texts=frame[text_column].astype(str).tolist(),
        labels=ids,
        label_names=names,
        source=source,
        fingerprint=table.fingerprint,
        skipped_rows=skipped,
        encoding=table.encoding,
    )


def _several_labels(frame, source, text_column, label_column, names, multi_label, label_separator):
    """(text column, a reader of the kept rows' `LabelSets`) where the file gives several labels per
    text (or `multi_label` says it does), else None: the file reads as one label per row."""
    if label_column is None:
        found = label_columns(frame, source, text_column)
        if found:
            text_column, columns = found
            known = names if multi_label else None
            return text_column, functools.partial(multilabel.from_columns, columns=columns, names=known, source=source)
    text_column, label_column = detect_columns(frame, source, text_column, label_column)
    values = frame[label_column]
    known = names if multi_label else None
    if multilabel.holds_lists(values):
        return text_column, lambda kept: multilabel.from_lists(
            kept[label_column], names, source, label_column, _natural
        )
    separator = multilabel.choose_separator(values, source, label_column, known, label_separator)
    if separator is None and multi_label:
        separator = multilabel.SEPARATORS[0]  # a multi-label model's file with one label a row
    if separator is None:
        return None
    return text_column, lambda kept: multilabel.from_separated(
        kept[label_column], separator, names, source, label_column, _natural
    )


def label_columns(frame, source: str, text_column: str | None = None) -> tuple[str, list[str]] | None:
    """(text column, the 0/1 label columns) where a file gives one 0/1 column per label, as `load_data` reads
    it when no label column is named: no column named like a label column, and two or more columns (other
    than the text) holding only 0 and 1, every one of them a label. None otherwise; a DataError where the
    text column beside them is unclear."""
    lowered = {str(c).lower() for c in frame.columns}
    if any(name in lowered for name in LABEL_COLUMN_NAMES):
        return None
    columns = multilabel.indicator_columns(frame, {text_column} if text_column else set())
    if len(columns) < 2:
        return None
    return _text_column_beside(frame, source, text_column, columns), columns


def _text_column_beside(frame, source: str, text_column: str | None, label_columns: list[str]) -> str:
    """The text column of a file with one 0/1 column per label: given, named like one, or the only text."""
    if text_column:
        if text_column not in frame.columns:
            raise DataError(f"{source}: no text column '{text_column}'")
        return text_column
    others = [str(c) for c in frame.columns if c not in label_columns]
    lowered = {c.lower(): c for c in others}
    named = next((lowered[n] for n in TEXT_COLUMN_NAMES if n in lowered), None)
    candidates = [named] if named else [c for c in others if is_text_column(frame[c])]
    if len(candidates) != 1:
        raise DataError(
            f"{source}: cannot tell which column holds the texts beside the 0/1 label columns "
            f"({', '.join(label_columns)}). Name it with --text-column."
        )
    return candidates[0]


def _multi_label_data(frame, table: Table, source: str, text_column: str, read, skip_bad_rows: bool) -> LabeledTexts:
    """Several labels per text: rows without a text are refused (or skipped), rows without a label kept."""
    texts = frame[text_column]
    empty_text = texts.isna() | (texts.astype(str).str.strip() == "")
    skipped: dict[str, list[int]] = {}
    if empty_text.any():
        if not skip_bad_rows:
            raise DataError(
                f"{source}: {int(empty_text.sum())} row(s) have an empty '{text_column}' "
                f"(rows {_as_rows(np.flatnonzero(empty_text))}). Fix them, or pass --skip-bad-rows to skip such rows."
            )
        skipped[f"empty '{text_column}'"] = [int(i) + 1 for i in np.flatnonzero(empty_text)]
    kept = frame[~empty_text]
    if not len(kept):
        raise DataError(f"{source}: no row has a text")
    sets = read(kept)
    if not sets.names:
        raise DataError(f"{source}: no row has a label")
    sizes = np.array([len(labels) for labels in sets.sets])
    layout = {
        "layout": sets.layout,
        "separator": sets.separator,
        "rows_without_label": int((sizes == 0).sum()),
        "rows_with_several": int((sizes > 1).sum()),
    }
    log.info(
        "%s: %s; %d row(s) have more than one label, %d have none (valid: such a text belongs to no label)",
        source,
        sets.describe(),
        layout["rows_with_several"],
        layout["rows_without_label"],
    )
    return LabeledTexts(
        texts=kept[text_column].astype(str).tolist(),
        labels=sets.sets,
        label_names=sets.names,
        source=source,
        fingerprint=table.fingerprint,
        skipped_rows=skipped,
        encoding=table.encoding,
        multi_label=True,
        label_layout=layout,
    )


def log_skipped(data: LabeledTexts) -> None:
    """Say which rows `--skip-bad-rows` skipped: never silently."""
    for reason, rows in data.skipped_rows.items():
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        log.warning("%s: skipped %d row(s) with %s (rows %s)", data.source, len(rows), reason, shown)


def sample(data: LabeledTexts, size: int, seed: int) -> LabeledTexts:
    """A random sample of `size` examples (all of them, shuffled, when fewer exist)."""
    order = np.random.default_rng(seed).permutation(len(data))
    return data.subset(order[:size].tolist())


def label_name_examples(label_names: list[str]) -> tuple[list[str], list[int]]:
    """Each label name as a training text for its class, unless the names are bare numbers."""
    texts, labels = [], []
    for i, name in enumerate(label_names):
        text = " ".join(name.replace("|", ",").replace("_", " ").split()).replace(" ,", ",")
        if any(ch.isalpha() for ch in text):
            texts.append(text)
            labels.append(i)
    return texts, labels


def with_label_names(data: LabeledTexts) -> tuple[list[str], list[int]]:
    """The data's texts and labels, each label name added as one more example of its class."""
    names, name_labels = label_name_examples(data.label_names)
    return list(data.texts) + names, list(data.labels) + name_labels


def stratified_split(data: LabeledTexts, test_fraction: float, seed: int) -> tuple[LabeledTexts, LabeledTexts]:
    """Hold out `test_fraction` of each class; a class with a single example stays in training
    (and so is left out of the evaluation)."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise DataError(f"eval split must be between 0 and 1, got {test_fraction}")
    if data.multi_label:  # sets of labels have no classes to stratify by: a seeded random split
        if len(data) < 2:
            raise DataError(f"{data.source}: a single example cannot be split into training and evaluation")
        n_test = min(max(1, round(test_fraction * len(data))), len(data) - 1)
        train_idx, test_idx = train_test_split(list(range(len(data))), test_size=n_test, random_state=seed)
        return data.subset(sorted(train_idx)), data.subset(sorted(test_idx))
    counts = Counter(data.labels)
    splittable = [i for i, label in enumerate(data.labels) if counts[label] >= 2]
    singletons = [i for i, label in enumerate(data.labels) if counts[label] < 2]
    if not splittable:
        raise DataError(f"{data.source}: no class has two examples, so none can be held out for evaluation")
    n_test = min(max(1, round(test_fraction * len(splittable))), len(splittable) - 1)
    classes = len({data.labels[i] for i in splittable})
    can_stratify = n_test >= classes and len(splittable) - n_test >= classes
    stratify = [data.labels[i] for i in splittable] if can_stratify else None
    train_idx, test_idx = train_test_split(splittable, test_size=n_test, random_state=seed, stratify=stratify)
    return data.subset(sorted(train_idx) + singletons), data.subset(sorted(test_idx))


def single_example_classes(data: LabeledTexts) -> dict[str, int]:
    """Classes with one example -> the row it is on (counted in `data`, from 1)."""
    if data.multi_label:  # a random split: such a label may land on either side
        return {}
    counts = Counter(data.labels)
    return {data.label_names[label]: data.labels.index(label) + 1 for label, count in counts.items() if count == 1}


def check_trainable(data: LabeledTexts) -> None:
    """Refuse data that cannot train a classifier, saying why. Classes with a single example are
    fine (they train, and `stratified_split` leaves them out of the evaluation); data where every
    class has one is not: nothing in it shows what a class has in common."""
    if data.multi_label:
        counts = {name: n for name, n in data.label_counts().items() if n}
        if not counts:
            raise DataError(f"{data.source}: no row has a label; a classifier needs labeled examples")
        if max(counts.values()) < 2:
            raise DataError(
                f"{data.source}: every label has a single example ({len(counts)} labels in {len(data)} rows): "
                "give each label at least two."
            )
        return
    counts = Counter(data.labels)
    if len(counts) < 2:
        only = data.label_names[next(iter(counts))] if counts else "none"
        raise DataError(
            f"{data.source}: all examples have the same label ('{only}'); a classifier needs at least two classes"
        )
    if max(counts.values()) < 2:
        raise DataError(
            f"{data.source}: every class has a single example ({len(counts)} classes in {len(data)} rows): "
            "give each class at least two, or check that the label column is the right one."
        )


def check_eval_labels(train: LabeledTexts, evaluation: LabeledTexts) -> list[str]:
    """Names of evaluation classes that have no training example (the model cannot get them right)."""
    seen = train.present_labels()
    return [evaluation.label_names[label] for label in sorted(evaluation.present_labels() - seen)]


def classes_not_evaluated(train: LabeledTexts, evaluation: LabeledTexts) -> list[str]:
    """Names of training classes without an evaluation example: the metrics say nothing about them."""
    return [train.label_names[label] for label in sorted(train.present_labels() - evaluation.present_labels())]


def load_train_eval(config) -> tuple[LabeledTexts, LabeledTexts]:
    """The training and evaluation sets a `TrainConfig` asks for, validated and sampled."""
    if not config.data:
        raise DataError("no training data given")
    options = dict(
        text_column=config.text_column,
        label_column=config.label_column,
        skip_bad_rows=config.skip_bad_rows,
        label_separator=config.label_separator,
    )
    data = load_data(
        config.data,
        label_names=config.label_names,
        split=config.split,
        config=config.data_config,
        sheet=config.sheet,
        **options,
    )
    log_skipped(data)
    check_trainable(data)
    warn_short(data.label_counts(), named=bool(config.label_names))  # named for the task, with too few examples
    if config.eval_data:
        evaluation = load_data(
            config.eval_data,
            label_names=data.label_names,
            config=config.data_config,
            split=config.eval_data_split or "validation",
            sheet=config.eval_sheet,
            multi_label=data.multi_label,
            **options,
        )
        train = data
    else:
        train, evaluation = stratified_split(data, config.eval_split, config.seed)
        if singles := single_example_classes(data):
            log.warning(
                "%d class(es) have a single example, used for training only and left out of the evaluation: %s",
                len(singles),
                ", ".join(f"'{name}' (row {row})" for name, row in singles.items()),
            )
    for name, subset, size in (("train", train, config.train_size), ("test", evaluation, config.test_size)):
        if size is not None and size > len(subset):
            log.warning(
                "--%s-size %d is more than the %d examples available; using all of them", name, size, len(subset)
            )
    if config.train_size:
        train = sample(train, config.train_size, config.seed)
    if config.test_size:
        evaluation = sample(evaluation, config.test_size, config.seed)
    if not train.multi_label and len(set(train.labels)) < 2:
        raise DataError(f"the training sample has a single class; use a larger --train-size than {config.train_size}")
    unseen = check_eval_labels(train, evaluation)
    if unseen:
        log.warning("%d evaluation class(es) have no training example: %s", len(unseen), ", ".join(unseen))
    return train, evaluation
