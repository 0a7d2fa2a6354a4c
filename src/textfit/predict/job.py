"""What a prediction job keeps: its summary, its agreement with the input's own label column, and the
sidecar (`OUT.partial.json`) that records, after every batch, the rows done and the partial output's
length, so that a killed job resumes from its last complete batch. Both engines use it (batch.py,
ray_engine.py)."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.labeled import LABEL_COLUMN_NAMES
from ..data.streaming import partial_path, remove_partial, resumable
from ..errors import ModelError, TextfitError
from ..model.calibration import NOT_SURE

SIDECAR_VERSION = 1


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.json")


def job_sidecar(output: Path, resume: bool) -> Path | None:
    """Where a job writing `output` records its progress; None for an output written in one piece
    at the end (Excel), which a killed job starts over (and `resume` is refused)."""
    if resumable(output):
        return sidecar_path(output)
    if resume:
        raise TextfitError(
            f"--resume: {output.name} is an Excel workbook, written in one piece at the end, so a "
            "job writing it cannot be resumed; write .csv, .tsv, .jsonl or .parquet to resume"
        )
    return None


def begin(sidecar, output: Path, resume: bool, source, model_dir, backend: str, options: dict):
    """(state, finished): the job's state, new or the killed job's when it is the same job (the
    input, model and options compared), and its summary when that job had finished writing."""
    job = {
        "version": SIDECAR_VERSION,
        "input": source.fingerprint(),
        "model": model_fingerprint(model_dir, backend),
        "options": options,
    }
    partial = partial_path(output)
    state = job_state(read_sidecar(sidecar, output, resume), job, output, partial, sidecar)
    if state.get("complete") and output.exists() and not partial.exists():  # killed after the rename
        sidecar.unlink()
        return state, job_summary(state, 0.0, output, state["rows"])
    return state, None


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


def job_state(state: dict | None, job: dict, output: Path, partial: Path, sidecar: Path | None) -> dict:
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


def count(state: dict, answers: pd.Series, counts: Counter, agreement, predicted: pd.DataFrame) -> None:
    """A written batch in the job's state: rows, empty rows, rows per label, the agreement."""
    filled = answers[answers != ""]
    counts.update(filled.tolist())
    state["rows"] += len(answers)
    state["empty_rows"] += len(answers) - len(filled)
    state["label_counts"] = dict(counts)
    if agreement:
        state["agreement"] = agreement.update(predicted, answers).to_dict()


def model_fingerprint(model_dir: str | Path, backend: str) -> list:
    """The model's files that decide its answers (name, size, modification time), and the backend."""
    folder = Path(model_dir)
    if not Path(folder, "config.json").is_file():
        raise ModelError(f"{folder} is not a trained model folder (no config.json); train one with `textfit train`")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".json", ".safetensors", ".onnx"))
    return [backend, [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]]


def read_sidecar(sidecar: Path | None, output: Path, resume: bool) -> dict | None:
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


def write_sidecar(sidecar: Path | None, state: dict) -> None:
    """Atomically and durably: a kill at any moment leaves the previous record or this one."""
    if sidecar is None:
        return
    written = sidecar.with_name(sidecar.name + ".tmp")
    with written.open("w", encoding="utf-8") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(written, sidecar)


def job_summary(state: dict, seconds: float, output: Path, resumed_rows: int = 0) -> PredictSummary:
    counts = dict(sorted(state["label_counts"].items(), key=lambda item: (-item[1], item[0])))
    summary = PredictSummary(state["rows"], state["empty_rows"], seconds, counts, output, resumed_rows)
    summary.agreement = Agreement.restore(state.get("agreement"))
    return summary
