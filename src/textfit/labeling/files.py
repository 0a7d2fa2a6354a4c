"""File in, file out, for `textfit suggest` and `textfit audit`: every input row and column is kept,
and the answer's columns are added. Whole files are read at once (a session's vectors of 17,000
messages need them all anyway); outputs go through batch_io's writers (CSV, TSV, JSON Lines,
Parquet, Excel), written under a partial name and renamed when complete."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.labeled import read_table
from ..data.streaming import check_fits, check_output, open_sink, partial_path, remove_partial
from ..errors import DataError

log = logging.getLogger("textfit")

SUGGEST_COLUMNS = ("suggested_label", "confidence", "label_next")
AUDIT_COLUMNS = ("suggested_label", "suspicion", "likely_mislabeled", "reason", "row")


def write_table(frame: pd.DataFrame, output: Path) -> None:
    sink = open_sink(output, partial_path(output), position=0)
    try:
        sink.write(frame)
        sink.finish(output)
    finally:
        sink.close()
        remove_partial(partial_path(output))


def _check(frame: pd.DataFrame, source, added) -> None:
    clash = [c for c in added if c in frame.columns]
    if clash:
        raise DataError(f"{source} already has the column(s) {', '.join(clash)}, which the output adds; rename them")


def _output(output) -> Path:
    output = Path(output)
    check_output(output)  # before any work: a wrong extension fails in a second, not after the encoding
    return output


def read_descriptions(path: str | Path | None, label_names: list[str]) -> dict[str, str] | None:
    """A descriptions file: lines "name: description" (or a table with `label` and `description` columns)."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise DataError(f"descriptions file not found: {path}")
    if path.suffix.lower() in (".txt", ".md", ""):
        found = {}
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            # the name may itself hold ':' ("Fed: rates"), so match the longest known name first
            name = next((n for n in sorted(label_names, key=len, reverse=True) if line.startswith(n + ":")), None)
            if name is None:
                raise DataError(
                    f"{path}, line {number}: expected 'label name: description' with one of the labels "
                    f"({', '.join(label_names)}); got {line[:60]!r}"
                )
            found[name] = line[len(name) + 1 :].strip()
        return found
    frame, _, _ = read_table(path)
    columns = {str(c).lower(): c for c in frame.columns}
    if "label" not in columns or "description" not in columns:
        raise DataError(f"{path}: a descriptions table needs the columns 'label' and 'description'")
    return {str(k): str(v) for k, v in zip(frame[columns["label"]], frame[columns["description"]])}


def suggest_file(
    data,
    output,
    label_names: list[str],
    *,
    descriptions=None,
    text_column: str | None = None,
    sheet=None,
    model: str | None = None,
    progress=None,
) -> dict:
    """Write `data` with `suggested_label`, `confidence` and `label_next` (1 = the message to label
    first) added to every row; rows without text get empty values. Returns counts per label."""
    from ..data.texts import empty_texts, find_text_column
    from .select import order
    from .vectors import embed
    from .zeroshot import suggest

    output = _output(output)
    frame, _, _ = read_table(data, sheet=sheet)
    frame.columns = [str(c) for c in frame.columns]
    check_fits(output, len(frame))
    _check(frame, data, SUGGEST_COLUMNS)
    column = find_text_column(frame, data, text_column)
    present = np.flatnonzero(~empty_texts(frame[column]).to_numpy())
    if not len(present):
        raise DataError(f"{data}: column '{column}' has no text in any row")
    if len(present) < len(frame):
        log.warning(
            "%s: %d row(s) have no text in '%s'; they are kept, without a suggestion",
            data,
            len(frame) - len(present),
            column,
        )
    texts = frame[column].iloc[present].astype(str).tolist()
    vectors = embed(texts, model, progress=progress)
    result = suggest(None, label_names, descriptions, model=model, vectors=vectors)
    labels = pd.Series([""] * len(frame), dtype=object)
    confidence = np.full(len(frame), np.nan)
    rank = pd.array([None] * len(frame), dtype="Int64")  # whole numbers, empty where there is no text
    labels.iloc[present] = result.labels
    confidence[present] = result.confidence.round(4)
    rank[present] = order(vectors, result.probabilities)
    write_table(frame.assign(suggested_label=labels.to_numpy(), confidence=confidence, label_next=rank), output)
    counts = pd.Series(result.labels).value_counts()
    return {"rows": len(frame), "suggested": len(present), "per_label": {str(k): int(v) for k, v in counts.items()}}


def audit_file(
    data,
    output,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names=None,
    sheet=None,
    model: str | None = None,
    progress=None,
) -> dict:
    """Write `data`'s rows, most suspicious first, with `suggested_label`, `suspicion` (1 - the out-of-fold
    probability of the given label), `likely_mislabeled`, `reason` and `row` (the input row, from 1)
    added; rows with an empty text or label come last, unscored."""
    from ..data.labeled import load_data
    from .audit import audit

    output = _output(output)
    frame, _, _ = read_table(data, sheet=sheet)
    frame.columns = [str(c) for c in frame.columns]
    check_fits(output, len(frame))
    _check(frame, data, AUDIT_COLUMNS)
    labeled = load_data(
        data,
        text_column=text_column,
        label_column=label_column,
        label_names=label_names,
        sheet=sheet,
        skip_bad_rows=True,
    )
    skipped = sorted({r - 1 for rows in labeled.skipped_rows.values() for r in rows})
    kept = np.setdiff1d(np.arange(len(frame)), skipped)
    if skipped:
        log.warning("%s: %d row(s) have an empty text or label; they are kept at the end, unscored", data, len(skipped))
    report = audit(labeled, model=model, progress=progress)
    suggested = pd.Series([""] * len(frame), dtype=object)
    suspicion = np.full(len(frame), np.nan)
    flagged = pd.array([None] * len(frame), dtype="boolean")
    reason = pd.Series([""] * len(frame), dtype=object)
    suggested.iloc[kept] = [report.label_names[j] for j in report.suggested]
    suspicion[kept] = report.suspicion.round(4)
    flagged[kept] = report.flagged
    reason.iloc[kept] = [report.reason(i) for i in range(len(kept))]
    # duplicate_of counts the labeled rows: name input rows instead
    reason = reason.str.replace(
        r"near-duplicate of row (\d+)", lambda m: f"near-duplicate of row {kept[int(m.group(1)) - 1] + 1}", regex=True
    )
    result = frame.assign(
        suggested_label=suggested.to_numpy(),
        suspicion=suspicion,
        likely_mislabeled=flagged,
        reason=reason.to_numpy(),
        row=np.arange(1, len(frame) + 1),
    )
    write_table(result.iloc[np.concatenate([kept[report.order], np.array(skipped, int)])], output)
    return {
        "rows": len(frame),
        "audited": len(kept),
        "flagged": int(report.flagged.sum()),
        "top": [{**r, "row": int(kept[r["index"]]) + 1} for r in report.to_records(10)],
        "reliability": report.reliability,
        "refusal": report.refusal,
    }


class ProgressBar:
    """A rich progress bar for `progress(done, total)` callbacks (the CLI's encoding step)."""

    def __init__(self, console, description: str):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(description),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("", total=total)
        self.progress.update(self.task, completed=done, total=total)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
