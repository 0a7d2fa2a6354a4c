"""Export a trained model folder to ONNX (optionally int8-quantised).

`export_onnx(folder)` writes `model.onnx` (and, with `quantize="int8"`, `model.int8.onnx`) into the
model folder, checks that ONNX Runtime gives the same logits as PyTorch, and records the export in
the folder's `textfit.json`. `Classifier.load(folder, backend="onnx" | "onnx-int8")` then runs them
(backends.OnnxBackend), so predictions go through the same tokenizer and the same code either way.

onnx and onnxruntime are an optional extra (`pip install 'textfit[onnx]'`) and imported lazily."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..model.backends import make_session, onnx_path, require_extra
from ..model.classifier import RUN_RECORD
from .quantize import ACTIVATION_SCALES

log = logging.getLogger("textfit")

OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
QUANTIZE_CHOICES = ("int8",)
ACTIVATION_SCALE_CHOICES = tuple(ACTIVATION_SCALES)
# fp32 ONNX vs PyTorch: the same arithmetic in another order, so differences are rounding noise.
FP32_TOLERANCE = 1e-3
VERIFY_TEXTS = (
    "Acme Corp announces new CEO",
    "$AAPL shares jump 5% after earnings beat estimates https://t.co/abc123",
    "Fed signals it will keep interest rates higher for longer as inflation stays sticky",
    "Oil prices fall",
    "Stocks making the biggest moves midday: Tesla, Nvidia, Ford &amp; more",
    "Central bank of Japan keeps policy unchanged; yen slides against the dollar to a 20-year low, "
    "traders eye intervention as bond yields climb and equities rally across the region",
    "Merger talks between two regional banks collapse",
    "ok",
)


# --- exporting --------------------------------------------------------------------------------
def export_onnx(
    folder: str | Path,
    quantize: str | None = None,
    opset: int = OPSET,
    calibration: str | Path | Sequence[str] | None = None,
    activation_scales: str = "static",
) -> list[Path]:
    """Write `model.onnx` (and `model.int8.onnx` with quantize="int8") into a trained model folder.

    int8 calibrates on `calibration` (a file of texts, or the texts; default: the embedded sample
    data), from which it measures each activation's per-channel range (see textfit.export.quantize).
    `activation_scales`: 'static' (fixed scales from those texts: the fastest) or 'per-token' (each
    token its own scale: never clips a text unlike the calibration texts, about a quarter slower).

    Each file is checked against PyTorch on a few texts before it is kept; the export is recorded
    under "exports" in the folder's textfit.json. Returns the files written."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} is not a trained model folder (no config.json); train one with `textfit train`")
    if quantize not in (None, *QUANTIZE_CHOICES):
        raise ModelError(f"unknown quantization '{quantize}'; choose one of {', '.join(QUANTIZE_CHOICES)}")
    if activation_scales not in ACTIVATION_SCALE_CHOICES:
        raise ModelError(
            f"unknown activation scales '{activation_scales}'; choose {' or '.join(ACTIVATION_SCALE_CHOICES)}"
        )
    if opset < 17:
        raise ModelError(f"opset {opset} is too old; textfit exports with opset 17 or newer")
    require_extra("onnx", "onnxruntime")

    from ..model.classifier import Classifier

    classifier = Classifier.load(folder, backend="torch")
    if quantize == "int8":  # read first: a bad calibration file should fail before any work is done
        batches, described = calibration_batches(classifier, calibration)
    reference_batch = classifier._encode(list(VERIFY_TEXTS))
    reference = classifier.backend.logits(reference_batch)
    entries: dict[str, dict] = {}
    written: list[Path] = []

    start = time.perf_counter()
    fp32 = onnx_path(folder)
    input_names = _export_fp32(folder, classifier, fp32, opset)
    check = _verify(fp32, reference_batch, reference, strict=True)
    entries["onnx"] = _entry(fp32, opset, time.perf_counter() - start, input_names, check)
    written.append(fp32)

    if quantize == "int8":
        start = time.perf_counter()
        int8 = onnx_path(folder, quantized=True)
        done = _quantize_int8(fp32, int8, batches, activation_scales)
        check = _verify(int8, reference_batch, reference, strict=False)
        entries["onnx-int8"] = _entry(
            int8, opset, time.perf_counter() - start, input_names, check, **done, calibration=described
        )
        written.append(int8)

    _record_exports(folder, entries)
    return written


def _export_fp32(folder: Path, classifier, target: Path, opset: int) -> list[str]:
    import torch
    from transformers import AutoModelForSequenceClassification

    # Eager attention traces to plain MatMul/Softmax ops that ONNX Runtime fuses and quantises well.
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager")
    except (ValueError, TypeError):
        model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.eval()
    sample = classifier._encode(["Acme Corp announces new CEO", "Oil prices fall"])
    names = [name for name in INPUT_NAMES if name in sample]

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs)), return_dict=True).logits

    args = tuple(torch.from_numpy(sample[name]) for name in names)
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in names}
    dynamic_axes["logits"] = {0: "batch"}
    partial = target.with_name(target.name + ".partial")
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter; the result is verified below
            torch.onnx.export(
                LogitsOnly(model),
                args,
                str(partial),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"ONNX export of {folder} failed: {type(exc).__name__}: {exc}") from None
    partial.replace(target)
    return names


def calibration_batches(classifier, calibration: str | Path | Sequence[str] | None) -> tuple[list[dict], str]:
    """Up to CALIBRATION_TEXTS texts, tokenised in batches, for int8 calibration; and where they came from."""
    from ..data.labeled import SAMPLE_DATA
    from ..data.texts import read_texts
    from .quantize import CALIBRATION_BATCH, CALIBRATION_TEXTS

    if calibration is None or isinstance(calibration, (str, Path)):
        texts = read_texts(calibration or SAMPLE_DATA)
        described = str(calibration) if calibration else "the embedded sample data"
    else:
        texts, described = [str(t) for t in calibration], "texts given by the caller"
    if not texts:
        raise ModelError(f"no calibration texts in {described}")
    if len(texts) > CALIBRATION_TEXTS:
        picked = np.random.default_rng(0).choice(len(texts), CALIBRATION_TEXTS, replace=False)
        texts = [texts[i] for i in sorted(picked)]
    batches = [
        classifier._encode(texts[start : start + CALIBRATION_BATCH])
        for start in range(0, len(texts), CALIBRATION_BATCH)
    ]
    return batches, f"{len(texts)} text{'' if len(texts) == 1 else 's'} from {described}"


def _quantize_int8(source: Path, target: Path, batches: list[dict], activation_scales: str) -> dict:
    require_extra("onnx", "onnxruntime.quantization")
    from .quantize import quantize_int8

    partial = target.with_name(target.name + ".partial")
    try:
        done = quantize_int8(source, partial, batches, activation_scales)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"int8 quantization of {source} failed: {type(exc).__name__}: {exc}") from None
    partial.replace(target)
    return done


def _verify(path: Path, batch: dict[str, np.ndarray], reference: np.ndarray, *, strict: bool) -> dict:
    """Compare ONNX Runtime's logits with PyTorch's on the verification texts."""
    session = make_session(path)
    names = [i.name for i in session.get_inputs()]
    logits = np.asarray(session.run(None, {n: batch[n] for n in names})[0], dtype=np.float32)
    diff = float(np.abs(logits - reference).max()) if logits.shape == reference.shape else float("inf")
    agree = float((logits.argmax(1) == reference.argmax(1)).mean()) if logits.shape == reference.shape else 0.0
    tolerance = FP32_TOLERANCE * max(1.0, float(np.abs(reference).max()))
    ok = bool(np.isfinite(diff) and (diff <= tolerance if strict else True))
    result = {"texts": len(reference), "max_abs_logit_diff": round(diff, 6), "top1_agreement": agree, "ok": ok}
    if strict:
        result["tolerance"] = round(tolerance, 6)
    if not np.isfinite(diff) or (strict and diff > tolerance):
        path.unlink(missing_ok=True)
        raise ModelError(
            f"{path.name} does not match PyTorch: largest logit difference {diff:.3g} "
            f"(allowed {tolerance:.3g}) on {len(reference)} texts; the file was removed"
        )
    return result


def _entry(path: Path, opset: int, seconds: float, inputs: list[str], check: dict, **extra) -> dict:
    return {
        "file": path.name,
        "size_bytes": path.stat().st_size,
        "opset": opset,
        "inputs": inputs,
        "export_s": round(seconds, 2),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
        "verification": check,
    }


def _record_exports(folder: Path, entries: dict[str, dict]) -> None:
    """Add the exports to textfit.json, keeping everything else in the record as it was."""
    path = folder / RUN_RECORD
    record = {}
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            log.warning("%s is not valid JSON; the export is not recorded there", path)
            return
    exports = record.get("exports") if isinstance(record.get("exports"), dict) else {}
    exports.update(entries)
    record["exports"] = exports
    try:
        from importlib.metadata import version

        record.setdefault("versions", {}).update({name: version(name) for name in ("onnx", "onnxruntime")})
    except Exception:  # pragma: no cover - versions are a courtesy
        pass
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record, indent=2, default=str))
    partial.replace(path)


def read_exports(folder: str | Path) -> dict[str, dict]:
    """The "exports" entry of a folder's textfit.json ({} when there is none)."""
    try:
        exports = json.loads((Path(folder) / RUN_RECORD).read_text()).get("exports")
    except (OSError, ValueError, AttributeError):
        return {}
    return exports if isinstance(exports, dict) else {}
