"""textfit: a pretrained language model + a file of labeled examples -> a deployed text classifier.

from textfit import TrainConfig, train, Classifier, predict_file
result = train(TrainConfig(data="tickets.csv"), "my-model")
Classifier.load("my-model").predict(["Acme Corp announces new CEO"])
predict_file("my-model", "messages.csv", "labeled.csv")   # a file of any size, streamed
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each public name and the module that defines it, imported on first use (PEP 562): torch,
# transformers, scikit-learn and pandas take seconds to load, and `import textfit` or
# `textfit --help` should not wait for them (tests/test_startup.py guards it).
_SOURCES = {
    "TrainConfig": ".config",
    "LabeledTexts": ".data.labeled",
    "load_data": ".data.labeled",
    "load_train_eval": ".data.labeled",
    "DataError": ".errors",
    "ModelError": ".errors",
    "TextfitError": ".errors",
    "AuditReport": ".labeling",
    "LabelingSession": ".labeling",
    "Suggestions": ".labeling",
    "audit": ".labeling",
    "suggest": ".labeling",
    "NOT_SURE": ".model.calibration",
    "Calibration": ".model.calibration",
    "download_model": ".model.catalog",
    "Classifier": ".model.classifier",
    "EvaluationReport": ".model.evaluate",
    "evaluate": ".model.evaluate",
    "Explanation": ".model.explain",
    "explain": ".model.explain",
    "fill_mask": ".model.fillmask",
    "BatchPredictor": ".predict.batch",
    "PredictSummary": ".predict.job",
    "predict_file": ".predict.batch",
    "TrainResult": ".training.train",
    "train": ".training.train",
}

if TYPE_CHECKING:  # what type checkers and editors see; at run time `__getattr__` below does the work
    from .config import TrainConfig
    from .data.labeled import LabeledTexts, load_data, load_train_eval
    from .errors import DataError, ModelError, TextfitError
    from .labeling import AuditReport, LabelingSession, Suggestions, audit, suggest
    from .model.calibration import NOT_SURE, Calibration
    from .model.catalog import download_model
    from .model.classifier import Classifier
    from .model.evaluate import EvaluationReport, evaluate
    from .model.explain import Explanation, explain
    from .model.fillmask import fill_mask
    from .predict.batch import BatchPredictor, predict_file
    from .predict.job import PredictSummary
    from .training.train import TrainResult, train

__all__ = [
    "NOT_SURE",
    "AuditReport",
    "BatchPredictor",
    "Calibration",
    "Classifier",
    "DataError",
    "EvaluationReport",
    "Explanation",
    "LabeledTexts",
    "LabelingSession",
    "ModelError",
    "PredictSummary",
    "Suggestions",
    "TextfitError",
    "TrainConfig",
    "TrainResult",
    "audit",
    "download_model",
    "evaluate",
    "explain",
    "fill_mask",
    "load_data",
    "load_train_eval",
    "predict_file",
    "suggest",
    "train",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value  # the next look-up finds it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
