"""Several labels per text: how a file says so, read into sets of label ids.

Three ways a file can give a text several labels:
- a label column whose values join names with `;`, `,` or `|` ("Billing;Urgent");
- one 0/1 column per label (no column named like a label column);
- JSON lists in JSON Lines (`{"text": ..., "labels": ["Billing", "Urgent"]}`).

A separator is only taken for one when the file shows it joins labels: at least half of the names it
splits off also stand alone in some row, or appear in more than one combination. A single-label file
whose names happen to hold `|` ("Fed | Central Banks") splits off parts that never stand alone, so it
reads as it always did. Where two separators both look like joiners, the user is asked which.
A row with no label at all is valid here: the text belongs to none of the labels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

SEPARATORS = (";", ",", "|")
NO_SEPARATOR = "none"
"""`--label-separator none`: one label per row, whatever the names hold."""
INDICATOR_VALUES = {0, 1}


@dataclass
class LabelSets:
    """Each row's label ids (sorted, possibly none), the names in id order, and how the file said it."""

    sets: list[tuple[int, ...]]
    names: list[str]
    layout: str
    """'separator' | 'columns' | 'lists'."""
    separator: str | None = None

    def describe(self) -> str:
        if self.layout == "separator":
            return f"several labels per row, separated by '{self.separator}'"
        if self.layout == "columns":
            return f"several labels per row, one 0/1 column per label ({len(self.names)} columns)"
        return "several labels per row, as JSON lists"


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _is_empty(value) -> bool:
    if _is_list(value):
        return False
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def holds_lists(values: pd.Series) -> bool:
    """Whether a column holds lists (JSON Lines' `"labels": ["a", "b"]`)."""
    return any(_is_list(v) for v in values)


def indicator_columns(frame: pd.DataFrame, exclude: set[str]) -> list[str]:
    """The columns (outside `exclude`) holding only 0 and 1 (or True/False), blanks aside: one per label."""
    found = []
    for column in frame.columns:
        if column in exclude:
            continue
        values = frame[column].dropna()
        if not len(values) or not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            continue
        if set(values.astype(float).unique()) <= INDICATOR_VALUES:
            found.append(str(column))
    return found


def _parts(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator) if part.strip()]


def joins_labels(values: set[str], separator: str) -> bool:
    """Whether `separator` joins label names in these distinct values (module docstring)."""
    joined = [v for v in values if separator in v]
    if not joined:
        return False
    alone = {v.strip() for v in values}
    combinations: dict[str, set[str]] = defaultdict(set)
    for value in joined:
        parts = _parts(value, separator)
        for part in parts:
            combinations[part].add("\x00".join(sorted(parts)))
    names = list(combinations)
    if not names:  # the separator alone, nothing around it
        return False
    evidence = sum(1 for name in names if name in alone or len(combinations[name]) > 1)
    return evidence * 2 >= len(names)


def choose_separator(
    values: pd.Series, source: str, column: str, names: list[str] | None = None, given: str | None = None
) -> str | None:
    """The separator joining several labels in `column`, or None for one label per row (today's reading).
    `given`: the user's (or a model's record's) choice; `names`: the labels a model knows, which settle
    an unclear file (the separator whose parts are all known names)."""
    if given:
        if given == NO_SEPARATOR:
            return None
        if given not in SEPARATORS:
            raise DataError(f"label separator {given!r}: choose one of {', '.join(SEPARATORS)} or {NO_SEPARATOR}")
        return given
    distinct = {str(v) for v in values if not _is_empty(v)}
    candidates = [s for s in SEPARATORS if joins_labels(distinct, s)]
    if names is not None:
        known = set(names)
        if distinct <= known:
            return None
        fits = [
            s for s in SEPARATORS if any(s in v for v in distinct) and all(set(_parts(v, s)) <= known for v in distinct)
        ]
        candidates = fits or candidates
    if len(candidates) > 1:
        examples = ", ".join(repr(v) for v in sorted(v for v in distinct if any(s in v for s in candidates))[:4])
        raise DataError(
            f"{source}: column '{column}' could hold several labels per row separated by "
            f"{' or by '.join(repr(s) for s in candidates)} (for example {examples}). Say which with "
            f"--label-separator (e.g. --label-separator '{candidates[0]}'), or --label-separator {NO_SEPARATOR} "
            "if each row has one label whose name holds those characters."
        )
    return candidates[0] if candidates else None


def _vocabulary(rows: list[list[str]], names: list[str] | None, source: str, column: str, natural) -> list[str]:
    seen = {name for row in rows for name in row}
    if names is None:
        return sorted(seen, key=natural)
    unknown = sorted(seen - set(names))
    if unknown:
        raise DataError(
            f"{source}: label(s) {', '.join(map(repr, unknown[:10]))} in column '{column}' are not among the "
            f"known labels: {', '.join(names)}"
        )
    return list(names)


def _as_sets(rows: list[list[str]], vocabulary: list[str]) -> list[tuple[int, ...]]:
    index = {name: i for i, name in enumerate(vocabulary)}
    return [tuple(sorted({index[name] for name in row})) for row in rows]


def _name(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def from_separated(values: pd.Series, separator: str, names, source: str, column: str, natural) -> LabelSets:
    rows = [[] if _is_empty(v) else _parts(str(v), separator) for v in values]
    vocabulary = _vocabulary(rows, names, source, column, natural)
    return LabelSets(_as_sets(rows, vocabulary), vocabulary, "separator", separator)


def from_lists(values: pd.Series, names, source: str, column: str, natural) -> LabelSets:
    rows = []
    for v in values:
        if _is_list(v):
            rows.append([_name(x) for x in v if not _is_empty(x)])
        else:
            rows.append([] if _is_empty(v) else [_name(v)])
    vocabulary = _vocabulary(rows, names, source, column, natural)
    return LabelSets(_as_sets(rows, vocabulary), vocabulary, "lists")


def from_columns(frame: pd.DataFrame, columns: list[str], names: list[str] | None, source: str) -> LabelSets:
    if names is not None:
        missing = [n for n in names if n not in columns]
        if missing:
            raise DataError(f"{source}: no 0/1 column for the label(s) {', '.join(missing)}")
        columns = list(names)
    marks = frame[columns].fillna(0).astype(float).to_numpy() > 0.5
    return LabelSets([tuple(np.flatnonzero(row).tolist()) for row in marks], list(columns), "columns")
