"""Classify a file of any size: read a batch, predict, write, repeat (`textfit predict --input
--output`, `textfit.predict_file`). Memory holds one batch, whatever the number of rows.

    summary = predict_file("my-model", "messages.csv", "labeled.csv", backend="onnx-int8")

The output keeps the input's columns (or `keep_columns`, with the text and any `row_id`/`id`
column) in the input's row order and adds `label`, `score` (and `label_2`, `score_2`, ... with
`top_k`; with `min_confidence`, "not sure" in `label` below it and every row's best label in
`best_guess`); an input's own `label` column is kept, the predictions then going in `predicted_label`,
`predicted_score`, ..., and where it holds the model's label names the summary says how often the
model agrees with it. A multi-label model writes, in `label`, every label at or above its threshold,
best first, joined by ';' (empty where none is), and their scores in `score`, joined the same way;
with `min_confidence`, `label` keeps the labels it is sure of and a `not_sure` column after it the
labels whose decision is less sure than that (model/label_calibration.py), joined the same way.
It is written under a partial name (`OUT.partial`) and renamed only when complete; after
each batch `OUT.partial.json` records the rows done and the partial output's length, so
`resume=True` continues a killed job from its last complete batch (batch_io.py); an Excel output
(.xlsx) is written in one piece at the end and cannot be resumed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.streaming import (
    Source,
    batches,
    check_fits,
    check_output,
    open_sink,
    partial_path,
)
from ..data.texts import (
    BEST_GUESS,
    ID_COLUMN_NAMES,
    NOT_SURE_COLUMN,
    empty_texts,
    find_text_column,
    prediction_columns,
    prediction_prefix,
)
from ..errors import DataError, TextfitError
from ..model.calibration import NOT_SURE, check_min_confidence
from ..model.classifier import Classifier
from .job import (
    Agreement,
    PredictSummary,
    begin,
    count,
    job_sidecar,
    job_summary,
    write_sidecar,
)

log = logging.getLogger("textfit")


def set_torch_threads(threads: int | None) -> None:
    """PyTorch's intra-op threads for this process (they are process-wide), when given."""
    if threads is not None:
        if threads < 1:
            raise TextfitError(f"threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)


def load_classifier(model_dir: str | Path, backend: str = "torch", threads: int | None = None) -> Classifier:
    """`Classifier.load`, with PyTorch's (process-wide) and ONNX Runtime's threads set to `threads` when given."""
    set_torch_threads(threads)
    return Classifier.load(model_dir, backend=backend, threads=threads)


class BatchPredictor:
    """Adds predictions to a table, batch after batch, with one model load.

    `predictor(frame)` returns the frame with `label`, `score` (and `label_2`, `score_2`, ... up to
    `top_k`) added; a row whose text is missing or blank gets label "" and score NaN, never
    dropped. With `min_confidence`, a row whose best score is below it gets the label "not sure"
    (`NOT_SURE`), and a `best_guess` column after `label` keeps the best label of every row (its
    score is `score`; the runners-up are still given). Pickled, it is its construction arguments
    (Ray Data builds one in each actor)."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        backend: str = "torch",
        threads: int | None = None,
        top_k: int = 1,
        text_column: str = "text",
        batch_size: int = 64,
        min_confidence: float | None = None,
        prefix: str = "",
    ):
        if top_k < 1:
            raise TextfitError(f"top_k must be at least 1, got {top_k}")
        check_min_confidence(min_confidence)
        self.settings = dict(
            model_dir=str(model_dir),
            backend=backend,
            threads=threads,
            top_k=top_k,
            text_column=text_column,
            batch_size=batch_size,
            min_confidence=min_confidence,
            prefix=prefix,
        )
        self.prefix = prefix
        self.min_confidence = min_confidence
        self.classifier = load_classifier(model_dir, backend, threads)
        self.labels = np.array(self.classifier.label_names, dtype=object)
        self.top_k = 1 if self.classifier.multi_label else min(top_k, len(self.labels))
        self.text_column = text_column
        self.batch_size = batch_size

    def __getstate__(self) -> dict:
        return dict(self.settings)

    def __setstate__(self, settings: dict) -> None:
        self.__init__(settings.pop("model_dir"), **settings)

    @property
    def columns(self) -> list[str]:
        if self.classifier.multi_label and self.min_confidence is not None:
            return [f"{self.prefix}label", f"{self.prefix}{NOT_SURE_COLUMN}", f"{self.prefix}score"]
        # "not sure" rows keep the label that scored `score`
        best_guess = self.min_confidence is not None and not self.classifier.multi_label
        return prediction_columns(self.top_k, self.prefix, best_guess)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.text_column not in frame.columns:
            raise DataError(
                f"no text column '{self.text_column}' in the batch; its columns are: "
                f"{', '.join(map(str, frame.columns))}"
            )
        values = frame[self.text_column]
        filled = ~empty_texts(values).to_numpy()
        texts = values[filled].astype(str).tolist()
        probabilities = self.classifier.predict_proba(texts, self.batch_size) if texts else None
        if self.classifier.multi_label:
            return frame.assign(**self.label_sets(len(frame), filled, probabilities))
        added = {}
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, : self.top_k] if texts else None
        for rank in range(self.top_k):
            labels = np.full(len(frame), "", dtype=object)
            scores = np.full(len(frame), np.nan)
            if texts:
                labels[filled] = self.labels[ranked[:, rank]]
                scores[filled] = np.take_along_axis(probabilities, ranked[:, rank : rank + 1], axis=1)[:, 0]
            suffix = "" if rank == 0 else f"_{rank + 1}"
            if rank == 0 and self.min_confidence is not None:
                guesses, labels = labels, labels.copy()
                labels[filled & (scores < self.min_confidence)] = NOT_SURE
                added[f"{self.prefix}label"], added[f"{self.prefix}{BEST_GUESS}"] = labels, guesses
            else:
                added[f"{self.prefix}label{suffix}"] = labels
            added[f"{self.prefix}score{suffix}"] = scores
        return frame.assign(**added)

    def label_sets(self, rows: int, filled: np.ndarray, probabilities: np.ndarray | None) -> dict:
        """A multi-label model's columns: the labels at or above their thresholds and their scores,
        joined by ';'; with `min_confidence`, the sure ones, and the "not sure" ones apart."""
        labels, scores = np.full(rows, "", dtype=object), np.full(rows, "", dtype=object)
        doubts = np.full(rows, "", dtype=object)
        if probabilities is not None:
            index = {name: i for i, name in enumerate(self.classifier.label_names)}
            answers, unsure = self.classifier.sure_and_unsure(probabilities, self.min_confidence)
            labels[filled] = [";".join(answer) for answer in answers]
            doubts[filled] = [";".join(names) for names in unsure]
            scores[filled] = [
                ";".join(f"{row[index[name]]:.4f}" for name in answer) for row, answer in zip(probabilities, answers)
            ]
        if self.min_confidence is None:
            return {f"{self.prefix}label": labels, f"{self.prefix}score": scores}
        return {f"{self.prefix}label": labels, f"{self.prefix}{NOT_SURE_COLUMN}": doubts, f"{self.prefix}score": scores}


def predict_file(
    model_dir: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    backend: str = "torch",
    threads: int | None = None,
    top_k: int = 1,
    text_column: str | None = None,
    keep_columns: list[str] | None = None,
    batch_rows: int = 1024,
    resume: bool = False,
    sheet: str | int | None = None,
    progress: bool = False,
    min_confidence: float | None = None,
) -> PredictSummary:
    """Classify every row of `input` (a file or a folder of files) into `output` (.csv, .tsv, .jsonl,
    .parquet, .xlsx), a batch of `batch_rows` at a time. `resume=True` continues a killed job (not .xlsx).
    `min_confidence`: rows whose best score is below it are labelled "not sure" (BatchPredictor)."""
    if batch_rows < 1:
        raise TextfitError(f"batch_rows must be at least 1, got {batch_rows}")
    output = Path(output)
    check_output(output)
    partial, sidecar = partial_path(output), job_sidecar(output, resume)
    source = Source(input, sheet)
    check_fits(output, source.total_rows)
    frames = source.frames()
    first = next((frame for frame in frames if len(frame)), None)
    if first is None:
        raise DataError(f"{input}: has no data rows")
    first.columns = [str(c) for c in first.columns]
    text_column = find_text_column(first, input, text_column)
    columns = _output_columns(list(first.columns), text_column, keep_columns, input)
    prefix = prediction_prefix(columns, top_k, input, best_guess=min_confidence is not None)
    options = {"top_k": top_k, "text_column": text_column, "columns": columns, "sheet": sheet}
    options["min_confidence"] = min_confidence
    state, finished = begin(sidecar, output, resume, source, model_dir, backend, options)
    if finished:
        return finished

    predictor = BatchPredictor(
        model_dir,
        backend=backend,
        threads=threads,
        top_k=top_k,
        text_column=text_column,
        min_confidence=min_confidence,
        prefix=prefix,
    )
    resumed_rows, started = state["rows"], time.perf_counter()
    counts = Counter(state["label_counts"])
    names = predictor.classifier.label_names
    agreement = Agreement.restore(state["agreement"], names) or Agreement.find(first, names, predictor.columns)
    scores = [c for c in predictor.columns if c.startswith(f"{prefix}score")]
    sink = open_sink(output, partial, state["position"], percent=scores)
    write_sidecar(sidecar, state)
    bar = RowProgress(source, resumed_rows) if progress else None
    left_out: list[str] = []
    try:
        for frame in batches(_chained(first, frames), batch_rows, skip=resumed_rows):
            frame.columns = [str(c) for c in frame.columns]
            if text_column not in frame.columns:
                raise DataError(
                    f"{input}: a file in it has no column '{text_column}' (its columns: {', '.join(frame.columns)})"
                )
            if not keep_columns and (late := [c for c in frame.columns if c not in columns and c not in left_out]):
                _warn_late_columns(input, frame, late, state["rows"])
                left_out += late
            predicted = predictor(frame.reindex(columns=columns))
            state["position"] = sink.write(predicted)
            count(state, predicted[prefix + "label"], counts, agreement, predicted)
            write_sidecar(sidecar, state)
            if bar:
                bar.advance(state["rows"])
        write_sidecar(sidecar, {**state, "complete": True})  # every row is in the partial output
        sink.finish(output)
    except BaseException:
        sink.close()
        raise
    finally:
        if bar:
            bar.stop()
    if sidecar:
        sidecar.unlink()
    summary = job_summary(state, time.perf_counter() - started, output, resumed_rows)
    summary.left_out_columns = left_out
    return summary


def _warn_late_columns(input, frame: pd.DataFrame, late: list[str], rows_before: int) -> None:
    """The output's columns are the first rows' (a CSV header is written once, and a resumed job
    must write the same): a key that turns up later is left out, and said so, with where."""
    row = rows_before + 1 + int(frame[late].notna().any(axis=1).to_numpy().argmax())
    one = len(late) == 1
    log.warning(
        "%s: %s first %s at row %s, after the rows that decide the output's columns: left out of the "
        "output (give %s in the first record too, even empty, to keep %s)",
        input,
        ", ".join(map(repr, late)),
        "appears" if one else "appear",
        f"{row:,}",
        "it" if one else "them",
        "it" if one else "them",
    )


def _chained(first, frames):
    yield first
    yield from frames


def _output_columns(columns: list[str], text_column: str, keep: list[str] | None, source) -> list[str]:
    if not keep:
        return columns
    unknown = [c for c in keep if c not in columns]
    if unknown:
        raise DataError(
            f"{source}: no column(s) {', '.join(map(repr, unknown))} to keep. The columns are: {', '.join(columns)}"
        )
    wanted = {*keep, text_column, *(c for c in columns if c.lower() in ID_COLUMN_NAMES)}
    return [c for c in columns if c in wanted]


class RowProgress:
    """Rows done, rows/s and ETA on stderr; the total is exact for Parquet, else estimated from the
    bytes this process has read (with `estimate`; Ray's driver reads none of them)."""

    def __init__(self, source: Source, done: int = 0, what: str = "classifying", estimate: bool = True):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.source, self.estimate = source, estimate
        self.progress = Progress(
            TextColumn(what),
            BarColumn(),
            TextColumn("{task.fields[rows]} rows"),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True, markup=False),
            transient=False,
        )
        self.task = self.progress.add_task(
            "classifying", total=source.total_rows, completed=done, rows=f"{done:,}", rate="-"
        )
        self.started, self.first = time.perf_counter(), done
        self.progress.start()

    def advance(self, rows: int) -> None:
        now = time.perf_counter()
        total = self.source.total_rows
        if total is None and self.estimate and self.source.bytes_read:  # rows so far, scaled by the bytes still to read
            total = max(rows, round(rows * self.source.total_bytes / self.source.bytes_read))
        rate = (rows - self.first) / (now - self.started) if now > self.started else 0
        shown = (
            f"{rows:,}"
            if total is None
            else f"{rows:,}/{total:,}"
            if total == self.source.total_rows
            else f"{rows:,}/~{total:,}"
        )
        self.progress.update(self.task, completed=rows, total=total, rows=shown, rate=f"{rate:,.0f}" if rate else "-")

    def stop(self) -> None:
        self.progress.stop()
