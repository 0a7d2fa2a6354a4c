"""Read texts to classify from a file and write predictions back out."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .data import TEXT_COLUMN_NAMES, is_text_column, log, read_table
from .errors import DataError
from .readers import decode


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
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if text_column is None:
        named = [c for c in columns if c.lower() in TEXT_COLUMN_NAMES]
        strings = [c for c in columns if is_text_column(frame[c])]
        candidates = named or strings
        if len(candidates) != 1:
            raise DataError(f"{path}: cannot tell which column holds the texts ({', '.join(columns)}); use --text-column")
        text_column = candidates[0]
    if text_column not in columns:
        raise DataError(f"{path}: no column '{text_column}'. The columns are: {', '.join(columns)}")
    empty = frame[text_column].isna() | (frame[text_column].astype(str).str.strip() == "")
    if empty.any():
        rows = ", ".join(str(i + 1) for i in empty.to_numpy().nonzero()[0][:10])
        raise DataError(f"{path}: empty text in column '{text_column}' (rows {rows})")
    return frame[text_column].astype(str).tolist()


def write_predictions(path: str | Path, texts: list[str], results: list[list[dict]]) -> None:
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        with path.open("w", encoding="utf-8") as f:
            for text, ranked in zip(texts, results):
                f.write(json.dumps({"text": text, "label": ranked[0]["label"], "score": ranked[0]["score"],
                                    "top_k": ranked}, ensure_ascii=False) + "\n")
        return
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise DataError(f"--output must end in .csv, .tsv or .jsonl, not '{path.suffix}'")
    rows = []
    for text, ranked in zip(texts, results):
        row = {"text": text, "label": ranked[0]["label"], "score": round(ranked[0]["score"], 6)}
        for rank, guess in enumerate(ranked[1:], start=2):
            row[f"label_{rank}"], row[f"score_{rank}"] = guess["label"], round(guess["score"], 6)
        rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",")
