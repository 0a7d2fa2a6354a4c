"""The process of the studio's "Classify a file": a trained run's model labels every row of an
uploaded file, with the engine behind `textfit predict --input --output` (batch.BatchPredictor over
batch_io's readers and writers), in a process of its own so the page stays responsive.

The job lives in files, so a reloaded page (or a restarted studio) finds it: `runs/<run>/classify/`
holds `job.json` (what was asked and the process id; written by the studio), `progress.json` (phase,
rows done and total, pace, answers per label, the outcome; written by the job) and the results,
`classified.csv` and `classified.xlsx` (the input's columns, then the answer, its confidence and
the runners-up; with a "not sure" threshold, the best guess beside the answer and the threshold in
a column of its own; a model of several labels per text: every label at or above its threshold and
their scores, each joined by ';', as `textfit predict` writes them, and with a "not sure" threshold
the labels it is not sure of in a "not sure" column apart, with the rows having any counted). One job
at a time per run; a new one replaces the last one's files.

    python -m textfit.server.studio.classify.job RUN/classify     # what the studio starts (service.py)
"""

import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from ....errors import TextfitError

log = logging.getLogger("textfit")
FOLDER, JOB, PROGRESS, LOG = "classify", "job.json", "progress.json", "job.log"
RESULTS = {"csv": "classified.csv", "xlsx": "classified.xlsx"}
ANSWER_COLUMNS = {
    "label": "predicted label",
    "best_guess": "best guess",
    "score": "confidence",
    "label_2": "2nd choice",
    "score_2": "2nd confidence",
    "label_3": "3rd choice",
    "score_3": "3rd confidence",
}
"""What the answer columns are called in the results (the engine's label, best_guess, score, label_2, ...):
"best guess" only with a threshold, where "predicted label" may say "not sure"."""
SEVERAL_LABELS_COLUMNS = {"label": "predicted labels", "not_sure": "not sure", "score": "scores"}
"""A model of several labels per text: every label at or above its threshold joined by ';', their scores
likewise, as `textfit predict` writes them (predict/batch.py); with a threshold, "predicted labels" keeps
the labels it is sure of and "not sure" the others (model/label_calibration.py)."""
THRESHOLD_COLUMN = "not sure below"
"""With a threshold: the threshold itself, on every row, so the file says how "not sure" was decided."""
BATCH_ROWS = 256
"""Rows classified and written at a time: the page's progress moves at least this often."""


def run_job(folder: Path) -> dict:
    """Classify the file `job.json` names, reporting into `progress.json`; the outcome, also written there."""
    import pandas as pd

    from ....data.streaming import EXCEL_MAX_ROWS, Source, batches, open_sink, partial_path, remove_partial
    from ....data.texts import empty_texts
    from ....predict.batch import BatchPredictor

    job = json.loads((folder / JOB).read_text())
    source_path, display = Path(job["input"]), job["input_name"]
    report = ProgressReport(folder)
    sinks = []
    try:
        report.update(phase="counting")
        source = Source(source_path, job["sheet"])
        total = source.total_rows
        if total is None:  # reading is tens of times faster than classifying: count exactly first
            total = sum(len(frame) for frame in Source(source_path, job["sheet"]).frames())
        if not total:
            raise TextfitError(f"{display}: has no data rows")
        report.update(phase="loading", total=total)
        predictor = BatchPredictor(
            job["model"], top_k=3, text_column=job["text_column"], min_confidence=job["min_confidence"]
        )
        several = predictor.classifier.multi_label
        report.update(several_labels=several)
        renamed = {c: (SEVERAL_LABELS_COLUMNS if several else ANSWER_COLUMNS)[c] for c in predictor.columns}
        excel_fits = total <= EXCEL_MAX_ROWS - 1
        outputs = {"csv": folder / RESULTS["csv"], **({"xlsx": folder / RESULTS["xlsx"]} if excel_fits else {})}
        report.update(phase="classifying", started=time.time())
        counts, rows, empty, unsure_rows = Counter(), 0, 0, 0
        for frame in batches(source.frames(), BATCH_ROWS):
            frame.columns = [str(c) for c in frame.columns]
            # Only the texts go in: the engine's columns (label, score, ...) would overwrite an input's own "label".
            answers = predictor(frame[[job["text_column"]]])[predictor.columns]
            labels = answers["label"]
            if not several:  # several labels' scores are text already, joined by ';'
                answers = answers.assign(**{c: answers[c].round(4) for c in answers.columns if c.startswith("score")})
            doubts = answers["not_sure"] if "not_sure" in answers else None  # several labels, with a threshold
            if job["min_confidence"] is not None:
                answers[THRESHOLD_COLUMN] = job["min_confidence"]
            probabilities = [(c.startswith("score") and not several) or c == THRESHOLD_COLUMN for c in answers.columns]
            answers.columns = [_unique(renamed.get(c, c), frame.columns) for c in answers.columns]
            if not sinks:  # the first batch names the columns an Excel sheet shows as percentages
                percent = [c for c, share in zip(answers.columns, probabilities) if share]
                sinks = [(output, open_sink(output, partial_path(output), 0, percent)) for output in outputs.values()]
            answered = pd.concat([frame, answers], axis=1)
            for _, sink in sinks:
                sink.write(answered)
            counts.update(name for given in labels[labels != ""] for name in (given.split(";") if several else [given]))
            rows, empty = rows + len(frame), empty + int(empty_texts(frame[job["text_column"]]).sum())
            unsure_rows += 0 if doubts is None else int((doubts != "").sum())
            report.update(rows=rows, empty_rows=empty, label_counts=_ordered(counts))
            if doubts is not None:  # the rows with at least one label it is not sure of
                report.update(not_sure_rows=unsure_rows)
        report.update(phase="saving", force=True)
        for output, sink in sinks:
            sink.finish(output)
        return report.update(status="completed", phase="done", finished=time.time(), force=True)
    except KeyboardInterrupt:  # the page's Stop (SIGTERM) or the studio's Ctrl-C
        return _give_up(report, sinks, status="stopped", error="stopped before the end; nothing was saved")
    except TextfitError as exc:
        message = str(exc).replace(str(source_path), f"'{display}'").replace(str(job["model"]), "the model")
        return _give_up(report, sinks, status="failed", error=message.replace("--text-column", "the column picker"))
    except Exception as exc:  # a bug or the machine: say what, the traceback goes to job.log
        log.exception("classifying %s failed", display)
        return _give_up(report, sinks, status="failed", error=f"classifying stopped: {type(exc).__name__}: {exc}")
    finally:
        for output, _ in sinks:
            remove_partial(partial_path(output))


def _give_up(report: "ProgressReport", sinks: list, status: str, error: str) -> dict:
    for output, sink in sinks:
        sink.close()
        output.unlink(missing_ok=True)
    return report.update(status=status, error=error, finished=time.time(), force=True)


def _unique(name: str, taken) -> str:
    """`name`, or `name (2)`, ... when the input already has a column of that name (a file classified before)."""
    taken, candidate, n = set(taken), name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def _ordered(counts: Counter) -> dict:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class ProgressReport:
    """`progress.json`, replaced whole (readers never see half a file), at most every half second unless forced."""

    def __init__(self, folder: Path):
        self.path, self.state, self.written = folder / PROGRESS, {"status": "running", "rows": 0}, 0.0

    def update(self, force: bool = False, **fields) -> dict:
        self.state.update(fields)
        now = time.time()
        if force or "phase" in fields or now - self.written >= 0.5:
            write_json(self.path, self.state)
            self.written = now
        return self.state


def write_json(path: Path, payload: dict) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(payload, default=str))
    os.replace(partial, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    # Explicit: a process started from a background shell inherits SIGINT as ignored (DEVELOPERS.md).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    outcome = run_job(Path(argv[0]))
    return 0 if outcome["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
