"""The studio's uploads: a data file written under uploads/<id>/ as its bytes arrive (the size limit
enforced while reading, nothing left behind when it fails), and the preview the page shows of it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..common import StudioError, human_bytes, naming_the_upload
from .runs import new_id

PREVIEW_ROWS = 10
PREVIEW_CHARS = 300


def safe_filename(name: str, also: tuple[str, ...] = ()) -> str:
    """The last path component of `name`, restricted to letters, digits, '.', '-' and '_'; a data
    file's extension (or one of `also`)."""
    from ...data.labeled import FORMATS

    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")[:100]
    suffix = Path(base).suffix.lower()
    if suffix == ".xls":
        raise StudioError(
            f"'{name}': the old Excel format (.xls, Excel 97-2003) is not read. Open it in Excel and "
            "save it as an Excel Workbook (.xlsx) or as CSV UTF-8, then upload that.",
            415,
        )
    if suffix not in FORMATS and suffix not in also:
        raise StudioError(
            f"'{name}' is not a data file textfit can read: use CSV, TSV, Excel (.xlsx), JSON Lines, JSON or Parquet "
            f"({', '.join(sorted(FORMATS))})",
            415,
        )
    stem = Path(base).stem or "data"
    return stem + suffix


class IncomingUpload:
    """One file being received into `root`/<new id>/<safe name>, chunk by chunk.

    with IncomingUpload(root, "my data.csv", limit) as upload:
        for chunk in chunks:
            upload.write(chunk)      # 413 as soon as the limit is passed
        upload.finish()              # 400 when empty
        ...describe it...            # any error here removes the folder too
    """

    def __init__(self, root: Path, original_name: str, limit: int, also: tuple[str, ...] = ()):
        self.original_name = original_name
        self.filename = safe_filename(original_name, also)
        self.id = new_id("data")
        self.folder = Path(root) / self.id
        self.path = self.folder / self.filename
        self.limit = limit
        self.size = 0
        self._out = None

    def __enter__(self) -> IncomingUpload:
        self.folder.mkdir(parents=True)
        self._out = self.path.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise StudioError(f"'{self.original_name}' is larger than the limit of {human_bytes(self.limit)}", 413)
        self._out.write(chunk)

    def finish(self) -> None:
        self._out.close()
        if self.size == 0:
            raise StudioError(f"'{self.original_name}' is empty")

    def __exit__(self, kind, error, traceback) -> None:
        self._out.close()
        if kind is not None:  # refused, cut off or unreadable: leave nothing half-stored
            shutil.rmtree(self.folder, ignore_errors=True)


def read_upload(path: Path, display: str):
    """The uploaded file as read (`data.read_source`), its column names as text; errors name `display`."""
    from ...data.labeled import DataError, read_source

    try:
        table = read_source(path)
    except DataError as exc:
        raise naming_the_upload(exc, path, display) from None
    table.frame.columns = [str(c) for c in table.frame.columns]
    return table


def preview_file(
    path: Path, display: str, text_column: str | None = None, label_column: str | None = None
) -> dict:
    """What the page shows of a data file: columns, first rows, the detected or chosen columns and
    the examples per label. Errors name `display` (the user's file name), never the studio's folders."""
    from ...data.labeled import TOPIC_LABELS, DataError, detect_columns, sample_fingerprint

    table = read_upload(path, display)
    frame, fingerprint = table.frame, table.fingerprint
    columns = list(frame.columns)
    detected, problem = {"text": None, "label": None}, None
    try:
        detected["text"], detected["label"] = detect_columns(frame.copy(), display, None, None)
    except DataError as exc:
        problem = (
            str(exc).replace("--text-column", "the column pickers").replace("--label-column", "the column pickers")
        )
    for given in (text_column, label_column):
        if given is not None and given not in columns:
            raise StudioError(f"'{display}' has no column '{given}'. The columns are: {', '.join(columns)}")
    text_column = text_column or detected["text"]
    label_column = label_column or detected["label"]
    label_names = None
    if fingerprint == sample_fingerprint():
        label_names = list(TOPIC_LABELS)  # the embedded sample's ids have names
    head = frame.head(PREVIEW_ROWS)
    rows = [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)]
    labels = None
    if label_column:
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
        "texts": texts,
        "label_names": label_names,
        "problem": problem,
        "encoding_note": table.note.replace(str(path), f"'{display}'") if table.note else None,
    }


def _cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
