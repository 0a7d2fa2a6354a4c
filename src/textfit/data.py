"""Load, validate, split and sample labeled text data.

Everything a user can get wrong with a data file ends here in a `DataError` that names the file,
the row or the column. Rows are counted from 1 = the first data row (after any header)."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import logging

import numpy as np
import pandas as pd

from .errors import DataError
from .hub import hub_reachable, looks_like_hub_id, offline_hint

FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "json", ".parquet": "parquet", ".pq": "parquet",
}
TEXT_COLUMN_NAMES = ("text", "sentence", "content", "message", "tweet", "review", "document", "body", "utterance")
LABEL_COLUMN_NAMES = ("label", "labels", "category", "class", "target", "topic", "intent", "sentiment")

SAMPLE_DIR = files("textfit") / "sample_data"
SAMPLE_DATA = Path(str(SAMPLE_DIR / "finance_topics.csv"))
TOPIC_HUB_ID = "zeroshot/twitter-financial-news-topic"
log = logging.getLogger("textfit")
TOPIC_LABELS = (SAMPLE_DIR / "finance_topics_labels.txt").read_text(encoding="utf-8").splitlines()


@dataclass
class LabeledTexts:
    """Texts with integer labels in `0..len(label_names)-1`."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    source: str
    fingerprint: str = ""
    skipped_rows: dict[str, list[int]] = field(default_factory=dict)
    """Why rows were skipped -> their row numbers; reported, never silent."""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> LabeledTexts:
        return LabeledTexts(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices],
            self.label_names, self.source, self.fingerprint, self.skipped_rows,
        )

    def label_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}


def _as_rows(positions) -> str:
    rows = [str(int(p) + 1) for p in positions]
    return ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def sample_fingerprint() -> str:
    """The embedded sample's SHA-256, to recognise an upload of it (read once per process)."""
    return file_sha256(SAMPLE_DATA)


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} has bytes that are not valid UTF-8 (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}). Save the file as UTF-8 and try again."
        ) from None


def read_table(source: str | Path, *, split: str | None = None, config: str | None = None):
    """Read a file or a hub data set into a DataFrame.

    Returns (frame, fingerprint, class_label_names or None)."""
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file (CSV, TSV, JSON Lines or Parquet)")
    if not path.exists():
        if looks_like_hub_id(str(source)):
            return _read_hub(str(source), split=split, config=config)
        raise DataError(f"data file not found: {path}")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unknown format '{path.suffix or '(no extension)'}'. "
            f"Supported: {', '.join(sorted(FORMATS))}"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(
                io.StringIO(_decode(path)), sep="\t" if kind == "tsv" else ",",
                keep_default_na=False, na_values=[""],
            )
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            text = _decode(path)
            lines = kind == "jsonl" or not text.lstrip().startswith("[")
            frame = pd.read_json(io.StringIO(text), lines=lines, dtype=False)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as {kind.upper()}: {str(exc).strip()}") from None
    except Exception as exc:  # pyarrow and friends raise their own types
        raise DataError(f"{path}: cannot be read as {kind}: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows")
    return frame, file_sha256(path), None


def _read_hub(name: str, *, split: str | None, config: str | None):
    if not hub_reachable():
        raise DataError(offline_hint(name) + " Give a local CSV/TSV/JSONL/Parquet file instead.")
    import datasets

    try:
        dataset = datasets.load_dataset(name, config, split=split or "train")
    except Exception as exc:
        raise DataError(f"could not load '{name}' (split {split or 'train'}) from the hub: {exc}") from None
    class_names = None
    for feature in dataset.features.values():
        if isinstance(feature, datasets.ClassLabel):
            class_names = list(feature.names)
    return dataset.to_pandas(), f"hub:{name}:{config or ''}:{split or 'train'}:{dataset._fingerprint}", class_names


def is_text_column(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values) or values.dtype == object


def detect_columns(frame: pd.DataFrame, source: str, text_column: str | None, label_column: str | None):
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    listing = ", ".join(f"'{c}'" for c in columns)
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


def _label_ids(values: pd.Series, source: str, column: str, names: list[str] | None):
    """Map raw label values to ids; return (ids, label_names)."""
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(str)
    if pd.api.types.is_numeric_dtype(values):
        if not np.all(np.mod(values.to_numpy(dtype=float), 1) == 0) or (values < 0).any():
            bad = values.index[(np.mod(values.to_numpy(dtype=float), 1) != 0) | (values < 0).to_numpy()]
            raise DataError(
                f"{source}: column '{column}' mixes numbers that are not label ids (whole numbers >= 0), "
                f"rows {_as_rows(bad)}"
            )
        ids = values.astype(int)
    else:
        as_text = values.astype(str).str.strip()
        if as_text.str.fullmatch(r"\d+").all() and not (names and set(as_text) <= set(names)):
            ids = as_text.astype(int)
        else:
            vocabulary = names or sorted(set(as_text))
            index = {name: i for i, name in enumerate(vocabulary)}
            unknown = as_text[~as_text.isin(index)]
            if len(unknown):
                raise DataError(
                    f"{source}: label(s) {', '.join(repr(v) for v in sorted(set(unknown))[:10])} in column "
                    f"'{column}' (rows {_as_rows(unknown.index)}) are not among the known labels: "
                    f"{', '.join(vocabulary)}"
                )
            return as_text.map(index).tolist(), list(vocabulary)
    names = names or [str(i) for i in range(int(ids.max()) + 1)]
    too_big = ids[ids >= len(names)]
    if len(too_big):
        raise DataError(
            f"{source}: label id(s) {', '.join(map(str, sorted(set(too_big))[:10]))} in column '{column}' "
            f"(rows {_as_rows(too_big.index)}) are outside the {len(names)} known labels "
            f"(ids 0..{len(names) - 1}: {', '.join(names)})"
        )
    return ids.tolist(), list(names)


def load_data(
    source: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: list[str] | str | None = None,
    split: str | None = None,
    config: str | None = None,
    skip_bad_rows: bool = False,
) -> LabeledTexts:
    """Load labeled texts from a file or a hub id, with labels mapped to ids and names.

    Label names come from `label_names` (in id order), else the data set's ClassLabel feature,
    else the sorted string labels; integer labels without names are named by their number."""
    source = str(source)
    frame, fingerprint, class_names = read_table(source, split=split, config=config)
    text_column, label_column = detect_columns(frame, source, text_column, label_column)
    names = parse_label_names(label_names) or class_names

    texts = frame[text_column]
    empty_text = texts.isna() | (texts.astype(str).str.strip() == "")
    empty_label = frame[label_column].isna() | (frame[label_column].astype(str).str.strip() == "")
    skipped: dict[str, list[int]] = {}
    for mask, column in ((empty_text, text_column), (empty_label, label_column)):
        if mask.any():
            reason = f"empty '{column}'"
            if not skip_bad_rows:
                raise DataError(
                    f"{source}: {int(mask.sum())} row(s) have an empty '{column}' (rows {_as_rows(np.flatnonzero(mask))}). "
                    "Fix them, or pass --skip-bad-rows to skip such rows."
                )
            skipped[reason] = [int(i) + 1 for i in np.flatnonzero(mask)]
    keep = ~(empty_text | empty_label)
    if not keep.any():
        raise DataError(f"{source}: no row has both a text and a label")
    frame = frame[keep]  # keeps the original index, so later errors still name the right rows
    ids, names = _label_ids(frame[label_column], source, label_column, names)
    return LabeledTexts(
        texts=frame[text_column].astype(str).tolist(), labels=ids, label_names=names,
        source=source, fingerprint=fingerprint, skipped_rows=skipped,
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
    """Hold out `test_fraction` of each class; classes too small to split stay in training."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise DataError(f"eval split must be between 0 and 1, got {test_fraction}")
    counts = Counter(data.labels)
    splittable = [i for i, label in enumerate(data.labels) if counts[label] >= 2]
    singletons = [i for i, label in enumerate(data.labels) if counts[label] < 2]
    n_test = max(1, round(test_fraction * len(splittable)))
    stratify = [data.labels[i] for i in splittable] if n_test >= len(set(data.labels)) else None
    train_idx, test_idx = train_test_split(splittable, test_size=n_test, random_state=seed, stratify=stratify)
    return data.subset(sorted(train_idx) + singletons), data.subset(sorted(test_idx))


def check_trainable(data: LabeledTexts) -> None:
    """Refuse data that cannot train a classifier, saying why."""
    counts = Counter(data.labels)
    if len(counts) < 2:
        only = data.label_names[next(iter(counts))] if counts else "none"
        raise DataError(f"{data.source}: all examples have the same label ('{only}'); a classifier needs at least two classes")
    singles = [label for label, count in counts.items() if count == 1]
    if singles:
        rows = [data.labels.index(label) + 1 for label in singles]
        described = ", ".join(f"'{data.label_names[label]}' (row {row})" for label, row in zip(singles, rows))
        raise DataError(
            f"{data.source}: class(es) with a single example: {described}. Each class needs at least two "
            "examples (one to learn from, one to check); add examples or remove the class."
        )


def check_eval_labels(train: LabeledTexts, evaluation: LabeledTexts) -> list[str]:
    """Names of evaluation classes that have no training example (the model cannot get them right)."""
    seen = set(train.labels)
    return [evaluation.label_names[label] for label in sorted(set(evaluation.labels) - seen)]


def load_train_eval(config) -> tuple[LabeledTexts, LabeledTexts]:
    """The training and evaluation sets a `TrainConfig` asks for, validated and sampled."""
    if not config.data:
        raise DataError("no training data given")
    options = dict(text_column=config.text_column, label_column=config.label_column, skip_bad_rows=config.skip_bad_rows)
    data = load_data(config.data, label_names=config.label_names, split=config.split, config=config.data_config, **options)
    log_skipped(data)
    check_trainable(data)
    if config.eval_data:
        evaluation = load_data(config.eval_data, label_names=data.label_names, config=config.data_config,
                               split=config.eval_data_split or "validation", **options)
        train = data
    else:
        train, evaluation = stratified_split(data, config.eval_split, config.seed)
    for name, subset, size in (("train", train, config.train_size), ("test", evaluation, config.test_size)):
        if size is not None and size > len(subset):
            log.warning("--%s-size %d is more than the %d examples available; using all of them", name, size, len(subset))
    if config.train_size:
        train = sample(train, config.train_size, config.seed)
    if config.test_size:
        evaluation = sample(evaluation, config.test_size, config.seed)
    if len(set(train.labels)) < 2:
        raise DataError(f"the training sample has a single class; use a larger --train-size than {config.train_size}")
    unseen = check_eval_labels(train, evaluation)
    if unseen:
        log.warning("%d evaluation class(es) have no training example: %s", len(unseen), ", ".join(unseen))
    return train, evaluation
