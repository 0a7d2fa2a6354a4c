"""A trained classifier: load a model folder, predict labels and probabilities.

The familiar surface: `predict(texts)` -> label names, `predict_proba(texts)` -> probabilities,
`top_k(texts, k)` -> ranked (label, score) pairs, `explain(text)` -> the words behind an answer. The
encoder runs on one of several backends (PyTorch, or the ONNX files written by `textfit export`);
the answers do not depend on which. Where the folder holds an n-gram model (lexical.py), its answers
are blended in on every backend; where it holds a calibration (calibration.py), the blended
probabilities are calibrated, and `min_confidence` turns answers below it into "not sure". A text
longer than `max_length` tokens is read in overlapping windows whose answers are pooled (windows.py).

A multi-label model (several labels per text: its config's `problem_type` is
`multi_label_classification`) scores each label on its own with a sigmoid; `predict` gives each
text the list of labels at or above their thresholds (thresholds.py); with `min_confidence`, a label
whose decision is less sure than that is "not sure" instead (label_calibration.py, `label_sets`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..atomic import previous_of
from ..errors import ModelError
from .backends import OnnxBackend, TorchBackend
from .calibration import NOT_SURE, Calibration, check_min_confidence
from .label_calibration import FILE as LABEL_CALIBRATION_FILE
from .label_calibration import LabelCalibration, decision_confidence
from .windows import Windows, encode, pool, row_chunks, warn_capped

log = logging.getLogger("textfit")

RUN_RECORD = "textfit.json"
BACKENDS = ("torch", "onnx", "onnx-int8")


class Classifier:
    def __init__(
        self,
        model,
        tokenizer,
        label_names: Sequence[str],
        *,
        max_length: int | None = None,
        folder: str | Path | None = None,
        record: dict | None = None,
        backend=None,
        lexical=None,
        calibration: Calibration | None = None,
        windows: Windows | None = None,
        thresholds: np.ndarray | None = None,
        label_calibration: LabelCalibration | None = None,
    ):
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.max_length = max_length or tokenizer.model_max_length
        self.folder = Path(folder) if folder else None
        self.record = record or {}
        self.model = model
        self.backend = backend or TorchBackend(model)
        self.lexical = lexical  # a lexical.LexicalModel, or None for the encoder alone
        self.calibration = calibration  # applied by predict_proba; None answers uncalibrated
        self.windows = windows or Windows()  # how a text longer than max_length is read (windows.py)
        self.capped_texts = 0  # texts cut at windows.max_windows so far (each also warned of)
        config = getattr(model, "config", None)
        self.multi_label = getattr(config, "problem_type", None) == "multi_label_classification"
        # several labels per text: each label's threshold (thresholds.py); 0.5 until chosen
        self.thresholds = thresholds if thresholds is not None else np.full(len(self.label_names), 0.5, np.float32)
        # how sure each label's decision is (label_calibration.py); None: the raw sigmoid score
        self.label_calibration = label_calibration
        self.said_uncalibrated = False  # the warning that the raw scores stand for confidences, once

    @classmethod
    def load(cls, folder: str | Path, backend: str = "torch", threads: int | None = None) -> Classifier:
        """A trained model folder on `backend`. `threads`: ONNX Runtime's threads for this model
        (default: every core this process may use); PyTorch's are process-wide
        (`torch.set_num_threads`), so they stay the caller's to set."""
        folder = Path(folder)
        if not (folder / "config.json").is_file() and (previous_of(folder) / "config.json").is_file():
            # a save is between its two renames, or was killed there: the model it replaces is complete
            log.warning("%s is missing while a new model replaces it: loading the one it replaces", folder)
            folder = previous_of(folder)
        if not Path(folder, "config.json").is_file():
            raise ModelError(f"{folder} is not a trained model folder (no config.json); train one with `textfit train`")
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
        from transformers import AutoConfig, AutoTokenizer

        from .lexical import LexicalModel, tokenizer_normalizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        record_path = folder / RUN_RECORD
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        model = None
        if backend == "torch":
            from transformers import AutoModelForSequenceClassification

            model = AutoModelForSequenceClassification.from_pretrained(folder)
            config, runner = model.config, TorchBackend(model)
        else:
            runner = OnnxBackend(folder, quantized=backend == "onnx-int8", threads=threads)
            config = AutoConfig.from_pretrained(folder)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        classifier = cls(
            model,
            tokenizer,
            labels,
            max_length=record.get("max_length"),
            folder=folder,
            record=record,
            backend=runner,
            lexical=LexicalModel.load(folder, tokenizer_normalizer(tokenizer)),
            calibration=Calibration.load(folder),
            windows=Windows.from_record(record),
        )
        if config.problem_type == "multi_label_classification":  # the ONNX backends have no torch model to say it
            from . import thresholds

            classifier.multi_label = True
            classifier.thresholds = thresholds.load(folder, labels)
            classifier.label_calibration = LabelCalibration.load(folder, labels)
        return classifier

    @property
    def backend_name(self) -> str:
        return getattr(self.backend, "name", "torch")

    def _encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encoded = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return {
            k: v.astype(np.int64) for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }

    def predict_proba(self, texts: str | Iterable[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape (n_texts, n_labels), columns in `label_names` order: the blend,
        calibrated where the folder holds a calibration."""
        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
        probabilities = self.blend(self.encoder_proba(texts, batch_size), texts)
        return self.calibration.apply(probabilities) if self.calibration else probabilities

    def blend(self, encoder_probabilities: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The encoder's probabilities for `texts` with the n-gram model blended in, where there is one."""
        return self.lexical.blend(encoder_probabilities, texts) if self.lexical else encoder_probabilities

    def encoder_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The encoder's probabilities alone (what plain `transformers.pipeline` answers)."""
        if not texts:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        # Batches of similar length waste little compute on padding; answers go back in input order.
        lengths = [len(t) for t in texts]
        order = np.argsort(lengths, kind="stable")
        probabilities = np.empty((len(texts), len(self.label_names)), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            probabilities[idx] = self.scores(self.window_logits([texts[i] for i in idx], batch_size))
        return probabilities

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Logits as probabilities: a softmax over the labels, or each label's sigmoid for a multi-label model."""
        if self.multi_label:
            from .thresholds import sigmoid

            return sigmoid(logits)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def labels_above(self, probabilities: np.ndarray) -> list[list[str]]:
        """A multi-label model's answers: per text, the labels at or above their thresholds, best first."""
        answers = []
        for row in probabilities:
            given = [j for j in np.argsort(-row, kind="stable") if row[j] >= self.thresholds[j]]
            answers.append([self.label_names[j] for j in given])
        return answers

    def label_confidence(self, probabilities: np.ndarray) -> np.ndarray:
        """A multi-label model's confidence in each (text, label) decision (label_calibration.py)."""
        return decision_confidence(probabilities, self.thresholds, self.label_calibration)

    def sure_and_unsure(
        self, probabilities: np.ndarray, min_confidence: float | None
    ) -> tuple[list[list[str]], list[list[str]]]:
        """A multi-label model's answers split by `min_confidence`: per text, the labels given and
        sure, and the labels whose decision (given or not) is less sure than it, each best first.
        Without `min_confidence`, `labels_above` and no "not sure" label."""
        given = self.labels_above(probabilities)
        if min_confidence is None:
            return given, [[] for _ in given]
        if self.label_calibration is None and not self.said_uncalibrated:
            self.said_uncalibrated = True
            log.warning(
                "%s has no %s (trained before it, or on too few held-out texts): each label's raw sigmoid "
                "score is the confidence of its decision",
                self.folder or "this model",
                LABEL_CALIBRATION_FILE,
            )
        unsure = self.label_confidence(probabilities) < min_confidence
        index = {name: j for j, name in enumerate(self.label_names)}
        sure, not_sure = [], []
        for row, labels, doubts in zip(probabilities, given, unsure):
            sure.append([name for name in labels if not doubts[index[name]]])
            not_sure.append([self.label_names[j] for j in np.argsort(-row, kind="stable") if doubts[j]])
        return sure, not_sure

    def label_sets(
        self, texts: str | Iterable[str], batch_size: int = 64, min_confidence: float | None = None
    ) -> list[dict]:
        """A multi-label model's answer for each text: {"labels": the labels given (at or above
        their thresholds) and sure, "not_sure": the labels whose decision is less sure than
        `min_confidence` (empty without it), "scores": every label's score}."""
        if not self.multi_label:
            raise ModelError("label_sets is for a multi-label model; this one gives one label a text: use predict")
        check_min_confidence(min_confidence)
        probabilities = self.predict_proba(texts, batch_size)
        sure, not_sure = self.sure_and_unsure(probabilities, min_confidence)
        return [
            {"labels": given, "not_sure": doubts, "scores": dict(zip(self.label_names, map(float, row)))}
            for given, doubts, row in zip(sure, not_sure, probabilities)
        ]

    def window_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The encoder's logits for `texts`, one row each: a text longer than `max_length` is read in
        windows, `batch_size` rows at a time, and their logits pooled (windows.py)."""
        encoded = encode(self.tokenizer, texts, self.max_length, self.windows)
        if encoded.capped:
            self.capped_texts += len(encoded.capped)
            warn_capped(len(encoded.capped), self.windows, self.max_length)
        logits = [self.backend.logits(chunk) for chunk in row_chunks(encoded, batch_size)]
        return pool(np.concatenate(logits), encoded.owner, len(texts), self.windows.pooling)

    def predict(
        self, texts: str | Iterable[str], batch_size: int = 64, min_confidence: float | None = None
    ) -> list[str]:
        """The most likely label of each text; with `min_confidence`, `NOT_SURE` ("not sure") where
        the top probability is below it. A multi-label model answers each text with a list of labels
        (those at or above their thresholds, best first; possibly none); with `min_confidence`, only
        those it is sure of (`label_sets` also gives the "not sure" ones)."""
        check_min_confidence(min_confidence)
        probabilities = self.predict_proba(texts, batch_size)
        if self.multi_label:
            return self.sure_and_unsure(probabilities, min_confidence)[0]
        return [
            NOT_SURE if min_confidence is not None and row.max() < min_confidence else self.label_names[row.argmax()]
            for row in probabilities
        ]

    def top_k(
        self, texts: str | Iterable[str], k: int = 1, batch_size: int = 64, min_confidence: float | None = None
    ) -> list[list[dict]]:
        """For each text, the k most likely labels as {"label", "score"}, best first. With
        `min_confidence`, the first entry also says "not_sure" (True or False); when the top
        probability is below the threshold it becomes {"label": None, "score": <top probability>,
        "not_sure": True, "guess": <top label>}, and the runners-up follow as usual."""
        check_min_confidence(min_confidence)
        probabilities = self.predict_proba(texts, batch_size)
        k = max(1, min(k, len(self.label_names)))
        ranked = np.argsort(-probabilities, axis=1)[:, :k]
        answers = [
            [{"label": self.label_names[j], "score": float(row[j])} for j in top]
            for row, top in zip(probabilities, ranked)
        ]
        if min_confidence is not None:
            for answer in answers:
                first = answer[0]
                unsure = first["score"] < min_confidence
                answer[0] = (
                    {"label": None, "score": first["score"], "not_sure": True, "guess": first["label"]}
                    if unsure
                    else {**first, "not_sure": False}
                )
        return answers

    def explain(self, text: str, label: str | None = None):
        """Which words pushed the answer for `text` (explain.py): an `Explanation`."""
        from .explain import explain

        return explain(self, text, label)

    def __call__(self, texts: str | Iterable[str], top_k: int = 1):
        return self.top_k(texts, top_k)
