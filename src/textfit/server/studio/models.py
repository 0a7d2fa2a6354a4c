"""The trained models of the studio's runs: where a run's model folder is (once it has one), and
the last two loaded, kept for "try it" and "why this label"."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from .errors import StudioError
from .runs import worker
from .runs.service import Runs

KEPT = 2
"""Models kept loaded: a base model's weights take hundreds of MB each."""


class Models:
    def __init__(self, runs: Runs):
        self.runs = runs
        self.loaded: OrderedDict = OrderedDict()  # run id -> Classifier, the last used last
        self.lock = threading.Lock()
        self.load_lock = threading.Lock()

    def folder(self, run_id: str) -> Path:
        """The run's model folder; 404 when there is no such run or it has no trained model (yet)."""
        self.runs.get(run_id)
        folder = self.runs.folder(run_id) / worker.MODEL
        if not (folder / "config.json").is_file():
            raise StudioError("this run has no trained model (yet)", 404)
        return folder

    def classifier(self, run_id: str):
        from ...model.classifier import Classifier

        folder = self.folder(run_id)
        with self.load_lock:  # one load at a time: a second request waits for the first's model
            with self.lock:
                if run_id in self.loaded:
                    self.loaded.move_to_end(run_id)
                    return self.loaded[run_id]
            loaded = Classifier.load(folder)
            with self.lock:
                self.loaded[run_id] = loaded
                while len(self.loaded) > KEPT:
                    self.loaded.popitem(last=False)
        return loaded

    def preload(self, run_id: str) -> None:
        """Load a run's model in the background, so the first 'try it' answers at once."""

        def load():
            try:
                self.classifier(run_id)
            except Exception:  # the try-it request will report it
                pass

        threading.Thread(target=load, daemon=True).start()

    def forget(self, run_id: str) -> None:
        with self.lock:
            self.loaded.pop(run_id, None)
