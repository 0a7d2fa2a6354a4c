"""Behaviour added to training from outside, skorch-style: the trainer calls these hooks and
knows nothing of terminals, web pages or databases."""

from __future__ import annotations

import json
import time
from pathlib import Path


class Callback:
    def on_train_begin(self, info: dict) -> None:
        """info: strategy, total_steps, epochs, examples, max_length, base_model, labels."""

    def on_step(self, step: int, total_steps: int, loss: float, epoch: float) -> None:
        pass

    def on_evaluate(self, metrics: dict) -> None:
        """metrics: epoch, step, loss, accuracy, macro_f1, weighted_f1, elapsed_s, best."""

    def on_checkpoint(self, info: dict) -> None:
        """info["event"] "saved": step, epoch, folder, seconds, size_mb (checkpoint.py);
        "resumed": from_step, at, checkpoint_saved (a resumed run, before its first step)."""

    def on_train_end(self, record: dict) -> None:
        pass


class RichProgress(Callback):
    """A progress bar with ETA and one readable line of metrics per evaluation."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.progress = None

    def on_train_begin(self, info: dict) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("final fit" if info.get("phase") == "final fit" else "training", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=info["total_steps"], loss="-")

    def on_step(self, step, total_steps, loss, epoch):
        self.progress.update(self.task, completed=step, total=total_steps, loss=f"{loss:.3f}")

    def on_evaluate(self, metrics):
        from rich.text import Text

        self.progress.console.print(
            Text.assemble(  # Text, not markup: the console may have markup off
                f"epoch {metrics['epoch']:>5.2f}  loss {metrics['loss']:.4f}  accuracy {metrics['accuracy']:.4f}  "
                f"macro-F1 {metrics['macro_f1']:.4f}  ",
                (f"({metrics['elapsed_s']:.0f} s)", "dim"),
                ("  best so far", "green") if metrics.get("best") else "",
            )
        )

    def on_checkpoint(self, info):
        if info["event"] == "resumed":  # saved checkpoints pass silently: they are routine
            self.console.print(
                f"resumed from step {info['from_step']}"
                if info["from_step"]
                else "resumed: no checkpoint had been written, so training starts over",
                highlight=False,
            )

    def on_train_end(self, record):
        if self.progress:
            self.progress.stop()


class JsonlLog(Callback):
    """Append every event as a JSON line; the studio tails this file to show a run live."""

    def __init__(self, path: str | Path, every_s: float = 1.0):
        self.path = Path(path)
        self.every_s = every_s
        self._last = 0.0

    def _write(self, event: str, **payload) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **payload}) + "\n")

    def on_train_begin(self, info):
        self._write("begin", **info)

    def on_step(self, step, total_steps, loss, epoch):
        now = time.monotonic()
        if now - self._last >= self.every_s or step == total_steps:
            self._last = now
            self._write("step", step=step, total_steps=total_steps, loss=loss, epoch=epoch)

    def on_evaluate(self, metrics):
        self._write("evaluate", **metrics)

    def on_checkpoint(self, info):
        self._write(
            "checkpoint" if info["event"] == "saved" else "resumed", **{k: v for k, v in info.items() if k != "event"}
        )

    def on_train_end(self, record):
        self._write("end", status=record.get("status"), best=record.get("best"))
