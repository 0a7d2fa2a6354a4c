"""Classify files on a Ray cluster (`textfit predict --engine ray`): the same `BatchPredictor` as
the streaming engine, as a Ray Data pool of actors, each loading the model once.

    summary = predict_with_ray("my-model", "messages/", "labeled.csv", cpus_per_actor=2)  # actors: as many as fit

Ray reads the CSV/TSV/Parquet input (a file or a folder of them) on the cluster's nodes, and the
actors classify batches of `batch_rows` rows, each with as many torch / ONNX Runtime threads as
the CPUs Ray gives it (`cpus_per_actor`). The rows come back to this machine in the input's order
(Ray Data's `preserve_order`), are numbered (`row_id`, the row's position from 0, unless the
input has a `row_id` or `id` column of its own, which is kept) and are written to the one
`output` file (.csv, .tsv, .jsonl or .parquet, under a partial name until complete), with the
counts of the summary. Every node reads the input and the
model folder at the same path: a shared file system, or copies in the same place.

`ray.init()` starts a local Ray on this machine unless `address` (or $RAY_ADDRESS, e.g. "auto"
on a node of a cluster started with `ray start`) names a running one. Needs `pip install
'textfit[ray]'`."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.readers import csv_rows, guess_separator
from ..data.streaming import Source, check_output, kind, open_sink, partial_path, sniff
from ..data.texts import ID_COLUMN_NAMES, find_text_column, prediction_columns, prediction_prefix
from ..errors import DataError, ModelError, TextfitError
from ..model.calibration import check_min_confidence
from .batch import BatchPredictor, RowProgress
from .job import (
    Agreement,
    PredictSummary,
    begin,
    count,
    job_sidecar,
    job_summary,
    write_sidecar,
)

ROW_ID = "row_id"
BLOCK_BYTES = 4 << 20
"""Largest block Ray Data makes when reading: about 25,000 tweets (its default, 128 MB, makes a
1,000,000-row file two blocks, so at most two actors would work on it)."""
ray_data_log = logging.getLogger("ray.data")
RAY_FORMATS = ("csv", "tsv", "parquet")


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (ray without its data extra has no ray.data dependencies)
    except ImportError:
        raise TextfitError("the Ray engine needs Ray Data: pip install 'textfit[ray]'") from None
    return ray


def predict_with_ray(
    model_dir: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    backend: str = "torch",
    top_k: int = 1,
    text_column: str | None = None,
    batch_rows: int = 1024,
    progress: bool = False,
    min_confidence: float | None = None,
    resume: bool = False,
) -> PredictSummary:
    """Classify every row of `input` into `output` with `actors` Ray actors of `cpus_per_actor` CPUs
    each; `actors=None`: as many as the cluster's CPUs hold, one CPU left to read the input.
    `resume=True` continues a killed job: the rows it wrote are kept, the rest classified."""
    check_min_confidence(min_confidence)
    for name, value in (
        ("actors", 1 if actors is None else actors),
        ("cpus_per_actor", cpus_per_actor),
        ("batch_rows", batch_rows),
    ):
        if value < 1:
            raise TextfitError(f"{name} must be at least 1, got {value}")
    output = Path(output)
    check_output(output)
    model_dir = Path(model_dir).resolve()  # the actors, maybe on other nodes, open this path
    job = RayJob.describe(model_dir, input, output, backend, top_k, text_column, min_confidence, resume)
    if job.finished:
        return job.finished

    ray = require_ray()
    started = time.perf_counter()
    owns_ray = not ray.is_initialized()
    if owns_ray:
        _init(ray, address, (actors or 1) * cpus_per_actor + 1)
    context = ray.data.DataContext.get_current()
    saved = (
        context.execution_options.preserve_order,
        context.target_max_block_size,
        context.enable_progress_bars,
        ray_data_log.level,
    )
    # In order: the row ids are positions, and the output is written as the rows come back. Small
    # blocks (the unit an actor takes) spread even one large file over every actor. Our progress
    # bar and summary instead of Ray Data's (its full logs stay in /tmp/ray/session_*/logs).
    context.execution_options.preserve_order, context.target_max_block_size = True, BLOCK_BYTES
    context.enable_progress_bars = False
    ray_data_log.setLevel(logging.ERROR)
    try:
        actors = actors or actors_that_fit(ray, cpus_per_actor)
        _check_cpus(ray, actors, cpus_per_actor)
        dataset = _read(ray, job.source, job.kind, job.columns, skip=job.state["rows"])
        predictor = dict(
            model_dir=str(model_dir),
            backend=backend,
            threads=cpus_per_actor,
            top_k=top_k,
            text_column=job.text_column,
            min_confidence=min_confidence,
            prefix=job.prefix,
        )  # each actor builds its own, with its CPUs as threads
        dataset = dataset.map_batches(
            BatchPredictor,
            fn_constructor_kwargs=predictor,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=cpus_per_actor,
            batch_format="pandas",
            batch_size=batch_rows,
        )
        with warnings.catch_warnings():  # a small input has fewer blocks than actors: harmless
            warnings.filterwarnings("ignore", message=r".*only received \d+ input", category=UserWarning)
            return _write(dataset, job, started, progress)
    except ray.exceptions.RayError as exc:
        raise TextfitError(f"the Ray job failed: {_cause(exc)}") from None
    finally:
        options = context.execution_options
        options.preserve_order, context.target_max_block_size, context.enable_progress_bars, level = saved
        ray_data_log.setLevel(level)
        if owns_ray:
            ray.shutdown()


@dataclass
class RayJob:
    """What a Ray job reads and writes, checked before Ray starts, and its record for --resume."""

    source: Source
    kind: str
    columns: list[str]
    text_column: str
    prefix: str
    agreement: Agreement | None
    number_rows: bool
    output: Path
    sidecar: Path | None
    state: dict
    finished: PredictSummary | None = None
    """A job killed after its output was complete: nothing left to do."""

    @classmethod
    def describe(cls, model_dir, input, output, backend, top_k, text_column, min_confidence, resume) -> RayJob:
        if not (model_dir / "config.json").is_file():
            raise ModelError(
                f"{model_dir} is not a trained model folder (no config.json); train one with `textfit train`"
            )
        source = Source(input)
        formats = {kind(f) for f in source.files}
        if not formats <= set(RAY_FORMATS) or len(formats) > 1:
            raise DataError(
                f"{input}: the Ray engine reads CSV, TSV or Parquet files of one kind "
                f"(found {', '.join(sorted(formats))}); use the local engine for other formats"
            )
        frames = source.frames()
        first = next((frame for frame in frames if len(frame)), None)  # the first rows, for the columns
        frames.close()
        if first is None:
            raise DataError(f"{input}: has no data rows")
        first.columns = [str(c) for c in first.columns]
        text_column = find_text_column(first, input, text_column)
        prefix = prediction_prefix(list(first.columns), top_k, input, best_guess=min_confidence is not None)
        names = label_names(model_dir)
        sidecar = job_sidecar(output, resume)
        options = {"engine": "ray", "top_k": top_k, "text_column": text_column, "min_confidence": min_confidence}
        state, finished = begin(sidecar, output, resume, source, model_dir, backend, options)
        agreement = Agreement.restore(state["agreement"], names) or Agreement.find(
            first, names, prediction_columns(top_k, prefix)
        )
        return cls(
            source=source,
            kind=formats.pop(),
            columns=list(first.columns),
            text_column=text_column,
            prefix=prefix,
            agreement=agreement,
            number_rows=not any(c.lower() in ID_COLUMN_NAMES for c in first.columns),
            output=output,
            sidecar=sidecar,
            state=state,
            finished=finished,
        )


# A local Ray's head still asks cloud metadata services (169.254.169.254, metadata.google.internal)
# which cloud it runs on, over plain HTTP through `requests`, whatever RAY_USAGE_STATS_ENABLED says.
# Pointing plain-HTTP proxying of the processes it starts at a closed loopback port answers that at
# once, with nothing leaving the machine; HTTPS (a model hub) is untouched.
OFFLINE_HEAD = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}


def _init(ray, address: str | None, cpus_needed: int) -> None:
    """Join the cluster at `address` / $RAY_ADDRESS, else start a local Ray, quietly and offline."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent from this machine
    # "local": a new Ray for this job, even where `ray start` left one running (ray.init()'s default would join it).
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    # Actors and a reader fit; 127.0.0.1 as the node's address spares the route lookup towards a public address.
    local = (
        {"num_cpus": max(cpus_needed, os.cpu_count() or 1), "_node_ip_address": "127.0.0.1"}
        if address == "local"
        else {}
    )
    offline = {**OFFLINE_HEAD, "NO_PROXY": ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))}
    saved = {name: os.environ.get(name) for name in offline}
    if address == "local":
        os.environ.update(offline)  # inherited by the processes ray.init starts, then put back
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False, **local)
    except ConnectionError as exc:
        raise TextfitError(
            f"cannot reach the Ray cluster at '{address}': {str(exc).rstrip('.')}. Start one with "
            "`ray start --head`, or leave out --ray-address (and RAY_ADDRESS) for a local Ray"
        ) from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def actors_that_fit(ray, cpus_per_actor: int) -> int:
    """As many actors of `cpus_per_actor` CPUs as the cluster holds beside the one CPU that reads
    (at least one: a cluster too small for that is refused by _check_cpus with the numbers)."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return max(1, (cpus - 1) // cpus_per_actor)


def _check_cpus(ray, actors: int, cpus_per_actor: int) -> None:
    """The actors hold their CPUs from the start: reading the input needs one more, or waits forever."""
    needed, cpus = actors * cpus_per_actor + 1, int(ray.cluster_resources().get("CPU", 0))
    if cpus < needed:
        raise TextfitError(
            f"the Ray cluster has {cpus} CPUs; {actors} actors x {cpus_per_actor} CPUs and one CPU "
            f"to read the input need {needed}: use fewer actors or add nodes"
        )


def _read(ray, source: Source, file_kind: str, columns: list[str], skip: int = 0):
    """The input as a Ray dataset, with the types the local engine reads (CSV: every column text),
    less its first `skip` rows (a resumed job): the files already written are left out, and the rest
    of the one the job stopped in is read here, on this machine, and handed to Ray."""
    import pyarrow.parquet as pq
    from pyarrow import csv

    paths = [str(f.resolve()) for f in source.files]
    options = {} if file_kind == "parquet" else _csv_options(source, file_kind, columns)

    def read_files(files: list[str]):
        return ray.data.read_parquet(files) if file_kind == "parquet" else ray.data.read_csv(files, **options)

    def read_here(path: str):
        return pq.read_table(path) if file_kind == "parquet" else csv.read_csv(path, **options)

    def rows_in(path: str) -> int:
        return pq.ParquetFile(path).metadata.num_rows if file_kind == "parquet" else read_here(path).num_rows

    if not skip:
        return read_files(paths)
    for i, path in enumerate(paths):
        rows = rows_in(path)
        if skip < rows:
            rest = ray.data.from_arrow(read_here(path).slice(skip))
            return rest.union(read_files(paths[i + 1 :])) if i + 1 < len(paths) else rest
        skip -= rows
    raise TextfitError("the input has fewer rows than the job had written; delete the .partial files to start over")


def _csv_options(source: Source, file_kind: str, columns: list[str]) -> dict:
    """pyarrow's CSV options for the input, as the local engine reads it: its encoding and separator,
    every column text."""
    import pyarrow as pa
    from pyarrow import csv

    head, encoding = sniff(source.files[0])
    separator = "\t" if file_kind == "tsv" else guess_separator(head)
    header = next((row for row in csv_rows(head, separator) if row), columns)
    return dict(
        read_options=csv.ReadOptions(encoding="utf8" if encoding == "utf-8" else encoding),
        parse_options=csv.ParseOptions(delimiter=separator, newlines_in_values=True),
        convert_options=csv.ConvertOptions(column_types={name: pa.string() for name in header}),
    )


def _write(dataset, job: RayJob, started: float, progress: bool) -> PredictSummary:
    """Write the rows as they come back, in the input's order (`preserve_order`), recording after each
    block what is done (job.sidecar), as the local engine does. With `job.number_rows`, each row gets
    its position in the input as `row_id` (numbered here, on the driver: inside Ray, blocks reach even
    a single numbering actor in whatever order their reads finish)."""
    state, output, partial = job.state, job.output, partial_path(job.output)
    resumed, counts = state["rows"], Counter(state["label_counts"])
    sink = open_sink(output, partial, state["position"])
    write_sidecar(job.sidecar, state)
    bar = RowProgress(job.source, resumed, what="classifying on Ray", estimate=False) if progress else None
    try:
        for frame in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            if job.number_rows:
                frame.insert(0, ROW_ID, np.arange(state["rows"], state["rows"] + len(frame), dtype=np.int64))
            state["position"] = sink.write(frame)
            count(state, frame[job.prefix + "label"], counts, job.agreement, frame)
            write_sidecar(job.sidecar, state)
            if bar:
                bar.advance(state["rows"])
        write_sidecar(job.sidecar, {**state, "complete": True})  # every row is in the partial output
        sink.finish(output)
    except BaseException:
        sink.close()  # the partial output and its record stay, for --resume
        raise
    finally:
        if bar:
            bar.stop()
    if job.sidecar:
        job.sidecar.unlink()
    return job_summary(state, time.perf_counter() - started, output, resumed)


def label_names(model_dir: Path) -> list[str]:
    """The model's label names, from its config.json (the driver loads no model)."""
    import json

    id2label = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("id2label", {})
    return [id2label[key] for key in sorted(id2label, key=int)]


def _cause(exc: Exception) -> str:
    """The user's error inside a Ray error (a bad text column, a model folder missing on a node)."""
    cause = getattr(exc, "cause", None)
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause
    return str(cause) if isinstance(cause, TextfitError) else f"{type(exc).__name__}: {exc}"
