"""The studio's training process: `python -m textfit.server.studio.runs.worker RUN_DIR`.

Runs outside the web server, so a crash or a runaway run cannot take the studio down. It reads
RUN_DIR/settings.json (a TrainConfig's fields), trains into RUN_DIR/model, streams its progress to
RUN_DIR/progress.jsonl (textfit.training.callbacks.JsonlLog) and ends by writing RUN_DIR/result.json:
{"ok": true, "status", "metrics"} or {"ok": false, "error": message}.

`python -m textfit.server.studio.runs.worker RUN_DIR --resume` continues an interrupted run from its last
checkpoint in RUN_DIR/model.checkpoints (`textfit.training.checkpoint.latest(RUN_DIR / "model")` says
whether there is one), appending to the same progress.jsonl.

`python -m textfit.server.studio.runs.worker RUN_DIR --export [int8]` exports RUN_DIR/model to ONNX the same
way, isolated, and writes RUN_DIR/export.json.

A training process writes RUN_DIR/worker.json first ({"pid", "parent"}): a studio started later can
tell a worker whose studio died (its parent is no longer the one that started it: recovery/service.py
adopts it) from one another live studio on the same folder still owns.

SIGINT or SIGTERM stop training early; the trainer still saves the best model so far."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

SETTINGS = "settings.json"
PROGRESS = "progress.jsonl"
RESULT = "result.json"
EXPORT_RESULT = "export.json"
MODEL = "model"
LOG = "worker.log"
IDENTITY = "worker.json"


def write_json(path: Path, payload: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(partial, path)  # readers never see half a file


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def setup_logging() -> None:
    logger = logging.getLogger("textfit")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover - transformers is a hard dependency
        pass


def one_thread_when_busy() -> None:
    """On a machine already busy (its 1-minute load above its cores), train on one thread: there two
    threads of one process wait on each other many times over (a forward pass of MiniLM over 16
    messages, load 18 on 2 cores: 6.1 s on PyTorch's 2 threads, 2.3 s on 1). A quiet machine, or
    OMP_NUM_THREADS set by whoever started the studio, keeps its threads."""
    cores = os.cpu_count() or 1
    if os.environ.get("OMP_NUM_THREADS") or not hasattr(os, "getloadavg") or os.getloadavg()[0] <= cores:
        return
    import torch

    torch.set_num_threads(1)
    logging.getLogger("textfit").info(
        "training on 1 thread: this machine is busy (load %.1f on %d cores)", os.getloadavg()[0], cores
    )


def run_training(run_dir: Path, resume: bool = False) -> int:
    from ....errors import TextfitError

    try:
        # Inside the try: a Stop during the seconds the imports take is a stop too.
        setup_logging()
        from ....config import TrainConfig
        from ....training.callbacks import JsonlLog
        from ....training.train import train

        settings = json.loads((run_dir / SETTINGS).read_text())
        config = TrainConfig().override(**settings)
        one_thread_when_busy()
        result = train(config, run_dir / MODEL, callbacks=[JsonlLog(run_dir / PROGRESS, every_s=0.5)], resume=resume)
    except TextfitError as exc:
        write_json(run_dir / RESULT, {"ok": False, "error": str(exc)})
        return 1
    except KeyboardInterrupt:
        write_json(run_dir / RESULT, {"ok": False, "error": "stopped before a model was saved", "stopped": True})
        return 130
    except Exception as exc:
        traceback.print_exc()
        write_json(
            run_dir / RESULT,
            {
                "ok": False,
                "error": f"training stopped on an unexpected error: {exc or 'no message'} (worker.log has the details)",
            },
        )
        return 2
    record = result.record
    report = result.report
    yardstick = (
        {
            "label": report.baseline["label"],
            "accuracy": report.baseline["accuracy"],
            "beats": report.beats_baseline,
            "examples": report.examples,
            **({"micro_f1": report.baseline["micro_f1"]} if "micro_f1" in report.baseline else {}),  # several labels
        }
        if report.baseline
        else None
    )  # the runs list flags a model not above it, and says how many test messages its accuracy rests on
    write_json(
        run_dir / RESULT,
        {
            "ok": True,
            "status": record["status"],
            "metrics": report.metrics,
            "yardstick": yardstick,
            "best": record.get("best"),
            "timings": record.get("timings"),
        },
    )
    return 0


def run_export(run_dir: Path, quantize: str | None) -> int:
    from ....errors import TextfitError

    try:
        try:
            from ....export.onnx import export_onnx
        except ImportError as exc:
            raise TextfitError(f"ONNX export is not available in this installation ({exc})") from None
        written = export_onnx(run_dir / MODEL, quantize=quantize)
    except TextfitError as exc:
        write_json(run_dir / EXPORT_RESULT, {"ok": False, "error": str(exc)})
        return 1
    except Exception as exc:
        traceback.print_exc()
        write_json(run_dir / EXPORT_RESULT, {"ok": False, "error": f"export failed: {type(exc).__name__}: {exc}"})
        return 2
    files = [{"name": Path(p).name, "size": Path(p).stat().st_size} for p in written]
    write_json(run_dir / EXPORT_RESULT, {"ok": True, "files": files})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m textfit.server.studio.runs.worker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--export", nargs="?", const="fp32", choices=["fp32", "int8"], default=None)
    parser.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if args.export:
        setup_logging()
        return run_export(args.run_dir, None if args.export == "fp32" else "int8")
    write_json(args.run_dir / IDENTITY, {"pid": os.getpid(), "parent": os.getppid()})
    return run_training(args.run_dir, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
