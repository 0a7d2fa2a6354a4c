"""Classify a file of any size: read a batch, predict, write, repeat (`textfit predict --input
--output`, `textfit.predict_file`). Memory holds one batch, whatever the number of rows.

    summary = predict_file("my-model", "messages.csv", "labeled.csv", backend="onnx-int8")

The output keeps the input's columns (or `keep_columns`, with the text and any `row_id`/`id`
column) in the input's row order and adds `label`, `score` (and `label_2`, `score_2`, ... with
`top_k`); an input's own `label` column is kept, the predictions then going in `predicted_label`,
`predicted_score`, ..., and where it holds the model's label names the summary says how often the
model agrees with it. It is written under a partial name (`OUT.partial`) and renamed only when complete; after
each batch `OUT.partial.json` records the rows done and the partial output's length, so
`resume=True` continues a killed job from its last complete batch (batch_io.py); an Excel output
(.xlsx) is written in one piece at the end and cannot be resumed."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.labeled import LABEL_COLUMN_NAMES
from ..data.streaming import (
    Source,
    batches,
    check_fits,
    check_output,
    open_sink,
    partial_path,
    remove_partial,
    resumable,
)
from ..data.texts import ID_COLUMN_NAMES, empty_texts, find_text_column, prediction_columns, prediction_prefix
from ..errors import DataError, ModelError, TextfitError
from ..model.calibration import NOT_SURE, check_min_confidence
from ..model.classifier import Classifier

log = logging.getLogger("textfit")

SIDECAR_VERSION = 1


@dataclass
class PredictSummary:
    rows: int
    """Rows in the output, empty texts included."""
    empty_rows: int
    """Rows whose text was missing or blank: in the output with an empty label and score."""
    seconds: float
    """Time this run took (a resumed job: since it resumed)."""
    label_counts: dict[str, int] = field(default_factory=dict)
    """Rows per predicted label, most frequent first."""
    output: Path | None = None
    resumed_rows: int = 0
    """Rows a killed run had already written when this one resumed it."""
    left_out_columns: list[str] = field(default_factory=list)
    """Columns (JSON Lines keys) that first appear after the rows that set the output's columns."""
    agreement: Agreement | None = None
    """How often the model's answer equals the input's own label column, where it has one."""

    @property
    def rows_per_second(self) -> float:
        return (self.rows - self.resumed_rows) / self.seconds if self.seconds else 0.0


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
    (`NOT_SURE`; its score stays, and the runners-up are still given). Pickled, it is its
    construction arguments (Ray Data builds one in each actor)."""

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
        self.top_k = min(top_k, len(self.labels))
        self.text_column = text_column
        self.batch_size = batch_size

    def __getstate__(self) -> dict:
        return dict(self.settings)

    def __setstate__(self, settings: dict) -> None:
        self.__init__(settings.pop("model_dir"), **settings)

    @property
    def columns(self) -> list[str]:
        return prediction_columns(self.top_k, self.prefix)

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
        added = {}
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, : self.top_k] if texts else None
        for rank in range(self.top_k):
            labels = np.full(len(frame), "", dtype=object)
            scores = np.full(len(frame), np.nan)
            if texts:
                labels[filled] = self.labels[ranked[:, rank]]
                scores[filled] = np.take_along_axis(probabilities, ranked[:, rank : rank + 1], axis=1)[:, 0]
            if rank == 0 and self.min_confidence is not None:
                labels[filled & (scores < self.min_confidence)] = NOT_SURE
            suffix = "" if rank == 0 else f"_{rank + 1}"
            added[f"{self.prefix}label{suffix}"], added[f"{self.prefix}score{suffix}"] = labels, scores
        return frame.assign(**added)


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
    partial, sidecar = partial_path(output), output.with_name(output.name + ".partial.json")
    if not resumable(output):  # no record of progress: a killed job starts over
        if resume:
            raise TextfitError(
                f"--resume: {output.name} is an Excel workbook, written in one piece at the end, so a "
                "job writing it cannot be resumed; write .csv, .tsv, .jsonl or .parquet to resume"
            )
        sidecar = None
    state = _read_sidecar(sidecar, output, resume)
    source = Source(input, sheet)
    check_fits(output, source.total_rows)
    frames = source.frames()
    first = next((frame for frame in frames if len(frame)), None)
    if first is None:
        raise DataError(f"{input}: has no data rows")
    first.columns = [str(c) for c in first.columns]
    text_column = find_text_column(first, input, text_column)
    columns = _output_columns(list(first.columns), text_column, keep_columns, input)
    prefix = prediction_prefix(columns, top_k, input)
    options = {"top_k": top_k, "text_column": text_column, "columns": columns, "sheet": sheet}
    job = {
        "version": SIDECAR_VERSION,
        "input": source.fingerprint(),
        "model": _model_fingerprint(model_dir, backend),
        "options": {**options, "min_confidence": min_confidence},
    }
    state = _job_state(state, job, output, partial, sidecar)
    if state.get("complete") and output.exists() and not partial.exists():  # killed after the rename
        sidecar.unlink()
        return _summary(state, 0.0, output, state["rows"])

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
    sink = open_sink(output, partial, state["position"])
    _write_sidecar(sidecar, state)
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
            _count(state, predicted[prefix + "label"], counts, agreement, predicted)
            _write_sidecar(sidecar, state)
            if bar:
                bar.advance(state["rows"])
        _write_sidecar(sidecar, {**state, "complete": True})  # every row is in the partial output
        sink.finish(output)
    except BaseException:
        sink.close()
        raise
    finally:
        if bar:
            bar.stop()
    if sidecar:
        sidecar.unlink()
    summary = _summary(state, time.perf_counter() - started, output, resumed_rows)
    summary.left_out_columns = left_out
    return summary


def _job_state(state: dict | None, job: dict, output: Path, partial: Path, sidecar: Path | None) -> dict:
    """A new job's state, or the killed job's recorded one when it is the same job (else refused)."""
    if state and any(state[key] != job[key] for key in job):
        changed = [key for key in job if state[key] != job[key]]
        raise TextfitError(
            f"cannot resume {output}: its {', '.join(changed)} changed since the job started "
            f"(see {sidecar}); delete {partial} and {sidecar} to start over"
        )
    state = state or {**job, "rows": 0, "position": 0, "empty_rows": 0, "label_counts": {}, "agreement": None}
    if state.get("complete") and output.exists() and not partial.exists():
        return state  # killed after the rename: nothing left to do
    if not state["rows"]:
        remove_partial(partial)  # anything there was never recorded as done
    elif not partial.exists():
        raise TextfitError(f"cannot resume {output}: {partial} is gone; delete {sidecar} to start over")
    return state


def _count(state: dict, answers: pd.Series, counts: Counter, agreement, predicted: pd.DataFrame) -> None:
    """A written batch in the job's state: rows, empty rows, rows per label, the agreement."""
    filled = answers[answers != ""]
    counts.update(filled.tolist())
    state["rows"] += len(answers)
    state["empty_rows"] += len(answers) - len(filled)
    state["label_counts"] = dict(counts)
    if agreement:
        state["agreement"] = agreement.update(predicted, answers).to_dict()


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


def _model_fingerprint(model_dir: str | Path, backend: str) -> list:
    """The model's files that decide its answers (name, size, modification time), and the backend."""
    folder = Path(model_dir)
    if not Path(folder, "config.json").is_file():
        raise ModelError(f"{folder} is not a trained model folder (no config.json); train one with `textfit train`")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".json", ".safetensors", ".onnx"))
    return [backend, [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]]


def _read_sidecar(sidecar: Path | None, output: Path, resume: bool) -> dict | None:
    if sidecar is None or not sidecar.exists():
        return None
    if not resume:
        raise TextfitError(
            f"{sidecar} records an unfinished job writing {output}: continue it with --resume, "
            f"or delete {sidecar} and {partial_path(output)} to start over"
        )
    try:
        state = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TextfitError(f"cannot resume from {sidecar} ({exc}); delete it to start over") from None
    if state.get("version") != SIDECAR_VERSION:
        raise TextfitError(f"{sidecar} was written by another textfit version; delete it to start over")
    return state


def _write_sidecar(sidecar: Path | None, state: dict) -> None:
    """Atomically and durably: a kill at any moment leaves the previous record or this one."""
    if sidecar is None:
        return
    written = sidecar.with_name(sidecar.name + ".tmp")
    with written.open("w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(written, sidecar)


def _summary(state: dict, seconds: float, output: Path, resumed_rows: int = 0) -> PredictSummary:
    counts = dict(sorted(state["label_counts"].items(), key=lambda item: (-item[1], item[0])))
    summary = PredictSummary(state["rows"], state["empty_rows"], seconds, counts, output, resumed_rows)
    summary.agreement = Agreement.restore(state.get("agreement"))
    return summary


@dataclass
class Agreement:
    """How often the model's label equals the input's own label column: counted on the rows where
    that column holds one of the model's label names and the model gave an answer ("not sure" and
    empty texts are not compared)."""

    column: str
    agreed: int = 0
    compared: int = 0
    names: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def rate(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @classmethod
    def find(cls, first: pd.DataFrame, label_names: list[str], predicted: list[str]) -> Agreement | None:
        """The input's label column (not one of the `predicted` columns), where it has one whose values
        are mostly the model's label names."""
        names = set(label_names)
        for column in first.columns:
            if str(column).lower() in LABEL_COLUMN_NAMES and column not in predicted:
                values = first[column].dropna().astype(str).str.strip()
                values = values[values != ""]
                if len(values) and values.isin(names).mean() >= 0.5:
                    return cls(str(column), names=frozenset(names))
        return None

    @classmethod
    def restore(cls, values: dict | None, label_names: list[str] = ()) -> Agreement | None:
        return cls(**values, names=frozenset(label_names)) if values else None

    def update(self, frame: pd.DataFrame, answers: pd.Series) -> Agreement:
        truth = frame[self.column].astype("string").str.strip()
        compared = truth.isin(self.names).fillna(False) & (answers != "") & (answers != NOT_SURE)
        self.compared += int(compared.sum())
        self.agreed += int((truth[compared] == answers[compared]).sum())
        return self

    def to_dict(self) -> dict:
        return {"column": self.column, "agreed": self.agreed, "compared": self.compared}


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
