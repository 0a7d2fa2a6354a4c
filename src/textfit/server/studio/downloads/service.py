"""What a user takes away from a run: its result files, its model folder as a .zip (archive.py,
rebuilt when the folder changed), and an ONNX export of its model, made by the training worker
(`python -m textfit.server.studio.runs.worker RUN_DIR --export`) in a process of its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from pathlib import Path

from ..errors import StudioError
from ..models import Models
from ..runs import worker
from ..runs.progress import WORKER
from ..runs.service import Runs
from .archive import is_fresh, write_zip, zip_name

RESULT_FILES = (
    "confusion_matrix.png",
    "confusion_matrix.txt",
    "per_class.csv",
    "misclassified.csv",
    "metrics.json",
    "README.md",
    "textfit.json",
)


class Downloads:
    def __init__(self, runs: Runs, models: Models, python: str, export_timeout_s: float):
        self.runs, self.models = runs, models
        self.python = python
        """The interpreter that runs the export (tests put a stand-in here)."""
        self.export_timeout_s = export_timeout_s
        self.export_locks: dict[str, asyncio.Lock] = {}

    def result_file(self, run_id: str, name: str) -> Path:
        if name not in RESULT_FILES:
            raise StudioError(f"no such file; the files are: {', '.join(RESULT_FILES)}", 404)
        path = self.models.folder(run_id) / name
        if not path.is_file():
            raise StudioError(f"this run has no {name}", 404)
        return path

    def archive(self, run_id: str) -> Path:
        """The model folder as a .zip of what serving needs (archive.py), named after the model (a
        renamed run gets a zip of its new name), rebuilt when the folder changed (e.g. after an ONNX export)."""
        folder = self.models.folder(run_id)
        name = zip_name(run_id, self.runs.get(run_id).get("name"))
        target = self.runs.folder(run_id) / f"{name}.zip"
        if is_fresh(target, folder):
            return target
        partial = target.with_name(f"{name}.{threading.get_ident()}.partial")  # two downloads at once: two files
        write_zip(folder, partial, name)
        os.replace(partial, target)
        for old in self.runs.folder(run_id).glob("*.zip"):  # the zip of the run's name before a rename
            if old != target:
                old.unlink(missing_ok=True)
        return target

    def exporting(self, run_id: str) -> bool:
        lock = self.export_locks.get(run_id)
        return lock is not None and lock.locked()

    def forget(self, run_id: str) -> None:
        self.export_locks.pop(run_id, None)

    async def export(self, run_id: str, quantize: bool) -> dict:
        """Export the run's model to ONNX (int8 with `quantize`) in a worker process; one at a time per run."""
        self.models.folder(run_id)
        folder = self.runs.folder(run_id)
        lock = self.export_locks.setdefault(run_id, asyncio.Lock())
        if lock.locked():
            raise StudioError("an export of this model is already running", 409)
        async with lock:
            (folder / worker.EXPORT_RESULT).unlink(missing_ok=True)
            process = await self._start_export(folder, quantize)
            try:
                await asyncio.wait_for(process.wait(), self.export_timeout_s)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
                raise StudioError("the ONNX export took too long and was stopped", 504) from None
            result_path = folder / worker.EXPORT_RESULT
            if not result_path.is_file():
                raise StudioError(
                    f"the ONNX export process ended with exit code {process.returncode} "
                    "without a result (details in the run's worker.log)",
                    500,
                )
            result = json.loads(result_path.read_text())
            if not result.get("ok"):
                unavailable = "not available" in result.get("error", "")
                raise StudioError(result.get("error", "the export failed"), 501 if unavailable else 400)
            return result

    async def _start_export(self, folder: Path, quantize: bool):
        with (folder / worker.LOG).open("ab") as log_file:
            return await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                WORKER,
                str(folder),
                "--export",
                "int8" if quantize else "fp32",
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
            )
