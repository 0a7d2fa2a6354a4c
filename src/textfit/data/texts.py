"""Read texts to classify from a file and write predictions back out (the in-memory path of
`textfit predict`; batch.py streams files too large for it)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .labeled import TEXT_COLUMN_NAMES, is_text_column, read_table
from .readers import decode

log = logging.getLogger("textfit")

ID_COLUMN_NAMES = ("row_id", "id")
"""An input column that identifies rows: kept in the output even with --keep-columns, so results join back."""


def find_text_column(frame: pd.DataFrame, source: str | Path, text_column: str | None = None) -> str:
    """The column holding the texts: the one named, else the only one with a text-like name, else
    the only string column whose values are not all numbers (CSV read as strings has ids too)."""
    columns = [str(c) for c in frame.columns]
    if text_column is not None:
        if text_column not in columns:
            raise DataError(f"{source}: no column '{text_column}'. The columns are: {', '.join(columns)}")
        return text_column
    named = [c for c in columns if c.lower() in TEXT_COLUMN_NAMES]
    strings = [c for c in columns if is_text_column(frame[c]) and not _all_numbers(frame[c])]
    candidates = named or strings
    if len(candidates) != 1:
        raise DataError(f"{source}: cannot tell which column holds the texts ({', '.join(columns)}); use --text-column")
    return candidates[0]


def _all_numbers(values: pd.Series) -> bool:
    present = values.dropna()
    present = present[present.astype(str).str.strip() != ""]
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().all()


def empty_texts(values: pd.Series) -> pd.Series:
    """True where a text is missing or blank: such rows get an empty prediction, never dropped."""
    return values.isna() | (values.astype(str).str.strip() == "")


def read_texts(path: str | Path, text_column: str | None = None, sheet: str | int | None = None) -> list[str]:
    """Texts from a .txt file (one per line) or a table's text column (named or detected).

    A .txt file is decoded as data files are (readers.decode: a BOM, UTF-8, else cp1252 with a note)."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        if not path.is_file():
            raise DataError(f"input file not found: {path}")
        text, _, note = decode(path.read_bytes(), path)
        if note:
            log.warning(note)
        texts = [line.strip() for line in text.splitlines()]
        texts = [t for t in texts if t]
        if not texts:
            raise DataError(f"{path}: no texts in the file")
        return texts
    frame, _, _ = read_table(path, sheet=sheet)
    frame.columns = [str(c) for c in frame.columns]
    text_column = find_text_column(frame, path, text_column)
    empty = empty_texts(frame[text_column])
    if empty.any():
        rows = ", ".join(str(i + 1) for i in empty.to_numpy().nonzero()[0][:10])
        raise DataError(
            f"{path}: empty text in column '{text_column}' (rows {rows}); "
            "`--output FILE` keeps such rows with an empty prediction"
        )
    return frame[text_column].astype(str).tolist()


BEST_GUESS = "best_guess"
"""With a "not sure" threshold: the column that keeps every row's best label, "not sure" rows' too."""
NOT_SURE_COLUMN = "not_sure"
"""With a "not sure" threshold, a model of several labels a text: the labels it is not sure of."""


def prediction_columns(top_k: int, prefix: str = "", best_guess: bool = False) -> list[str]:
    """label, score, label_2, score_2, ...: the columns a prediction adds to a row (after `prefix`);
    with `best_guess` (a "not sure" threshold), best_guess after label."""
    names = ["label", BEST_GUESS, "score"] if best_guess else ["label", "score"]
    for rank in range(2, top_k + 1):
        names += [f"label_{rank}", f"score_{rank}"]
    return [prefix + name for name in names]


PREDICTED = "predicted_"
"""The prefix of the prediction columns when the input already has a `label` or `score` column."""


def prediction_prefix(columns: list[str], top_k: int, source, best_guess: bool = False) -> str:
    """Where the predictions go: `label`, `score`, ... when the input leaves them free, else
    `predicted_label`, `predicted_score`, ...: the input's own `label` column is kept (scoring a
    labeled file is the most common reason to have one). An input holding both is refused.
    `best_guess` (a "not sure" threshold): best_guess and not_sure are written too (one label a
    text, or several: `NOT_SURE_COLUMN`), so an input's own columns of those names are kept as well."""

    def written(prefix: str) -> list[str]:
        return prediction_columns(top_k, prefix, best_guess) + ([prefix + NOT_SURE_COLUMN] if best_guess else [])

    for prefix in ("", PREDICTED):
        if not any(name in columns for name in written(prefix)):
            if prefix:
                log.warning(
                    "%s already has a %s column: it is kept, and the predictions go in %s",
                    source,
                    " / ".join(repr(c) for c in written("") if c in columns),
                    ", ".join(prediction_columns(top_k, prefix, best_guess)),
                )
            return prefix
    clashes = [c for c in written("") + written(PREDICTED) if c in columns]
    others = ",".join(c for c in columns if c not in clashes)
    raise DataError(
        f"{source}: already has column(s) {', '.join(clashes)}, which the predictions are written to; "
        f"leave some out with --keep-columns (e.g. --keep-columns {others})"
    )


def write_predictions(path: str | Path, texts: list[str], results: list[list[dict]]) -> None:
    """Texts given on the command line, with their predictions, in the columns `--input` files get."""
    from .streaming import open_sink, partial_path, remove_partial

    rows = []
    for text, ranked in zip(texts, results):
        row = {"text": text}
        for rank, guess in enumerate(ranked, start=1):
            suffix = "" if rank == 1 else f"_{rank}"
            row[f"label{suffix}"] = guess["label"]
            if isinstance(guess.get("not_sure"), str):  # a multi-label model's "not sure" labels, joined by ';'
                row[NOT_SURE_COLUMN] = guess["not_sure"]
            elif "not_sure" in guess:  # a threshold was given: the best label, "not sure" rows' too
                row[BEST_GUESS] = guess.get("guess") or guess["label"]
            row[f"score{suffix}"] = guess["score"]
        rows.append(row)
    path = Path(path)
    frame = pd.DataFrame(rows)
    sink = open_sink(path, partial_path(path), position=0, percent=[c for c in frame.columns if c.startswith("score")])
    sink.write(frame)
    sink.finish(path)
    remove_partial(partial_path(path))
