"""The runtimes a trained model's encoder runs on: PyTorch, or the ONNX files `textfit export`
writes, through ONNX Runtime. Each backend turns a tokenized batch into logits; `Classifier`
(classifier.py) does the rest, identically on every backend.

onnxruntime is an optional extra (`pip install 'textfit[onnx]'`), imported only when an ONNX
backend is asked for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ModelError

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


class TorchBackend:
    def __init__(self, model):
        import torch

        self.torch = torch
        self.model = model.eval()

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        inputs = {k: torch.from_numpy(v).to(self.model.device) for k, v in batch.items()}
        with torch.inference_mode():
            return self.model(**inputs).logits.float().cpu().numpy()


def require_extra(*modules: str):
    """Import the optional ONNX packages, or say how to install them."""
    import importlib

    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError:
            raise ModelError(
                f"ONNX support needs the '{name.split('.')[0]}' package: pip install 'textfit[onnx]'"
            ) from None
    return loaded if len(loaded) > 1 else loaded[0]


def onnx_path(folder: str | Path, quantized: bool = False) -> Path:
    return Path(folder) / (INT8_FILE if quantized else ONNX_FILE)


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def make_session(path: Path, threads: int | None = None):
    ort = require_extra("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(
            f"cannot load {path}: {exc}. Re-export it with `textfit export {path.parent} --onnx`"
        ) from None


# ONNX Runtime's dynamic int8 measures one activation scale per call, shared by every message in
# it: a message's answer would depend on its batch-mates. textfit's int8 files quantise with fixed,
# calibrated scales or each token by its own (export/quantize.py, marked in the file's metadata)
# and run in batches like fp32. A file without that mark (exported by textfit before
# 2026-12-07) runs each message in a call of its own, unpadded, for the same property, slower.
# Measured in docs/guide/onnx.md.
PER_CALL_SCALE_CHUNK = 1
ACTIVATION_SCALES_KEY = "textfit.int8_activation_scales"  # export/quantize.py writes it, with one of:
BATCH_INDEPENDENT_SCALES = ("static", "per_row")  # fixed calibrated scales, or each token its own


class OnnxBackend:
    """Logits from an exported ONNX model, on the CPU through ONNX Runtime."""

    def __init__(self, folder: str | Path, quantized: bool = False, threads: int | None = None):
        self.folder = Path(folder)
        self.quantized = quantized
        self.name = "onnx-int8" if quantized else "onnx"
        self.path = onnx_path(folder, quantized)
        if not self.path.is_file():
            flag = " --quantize int8" if quantized else ""
            raise ModelError(
                f"{self.path} not found: the '{self.name}' backend needs an exported model; "
                f"run `textfit export {self.folder} --onnx{flag}` first"
            )
        self.session = make_session(self.path, threads)
        scales = self.session.get_modelmeta().custom_metadata_map.get(ACTIVATION_SCALES_KEY)
        self.chunk = PER_CALL_SCALE_CHUNK if quantized and scales not in BATCH_INDEPENDENT_SCALES else None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        if "token_type_ids" in self.input_names and "token_type_ids" not in batch and "input_ids" in batch:
            batch = {**batch, "token_type_ids": np.zeros_like(batch["input_ids"])}  # one segment
        missing = [name for name in self.input_names if name not in batch]
        if missing:
            raise ModelError(f"{self.path} expects input(s) {', '.join(missing)} that the tokenizer did not produce")
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.input_names}
        rows = len(feed[self.input_names[0]])
        if not self.chunk or rows <= self.chunk:
            return self._run(feed)
        return np.concatenate(
            [
                self._run({name: value[start : start + self.chunk] for name, value in feed.items()})
                for start in range(0, rows, self.chunk)
            ]
        )

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        if "attention_mask" in feed:  # drop the columns that are padding for every row of this chunk
            used = feed["attention_mask"].any(axis=0)
            if not used.all():
                feed = {name: value[:, used] for name, value in feed.items()}
        feed = {name: np.ascontiguousarray(value) for name, value in feed.items()}
        return np.asarray(self.session.run([self.output_name], feed)[0], dtype=np.float32)
