"""textfit: a pretrained language model + a file of labeled examples -> a deployed text classifier.

from textfit import TrainConfig, train, Classifier, predict_file
result = train(TrainConfig(data="tickets.csv"), "my-model")
Classifier.load("my-model").predict(["Acme Corp announces new CEO"])
predict_file("my-model", "messages.csv", "labeled.csv")   # a file of any size, streamed
"""

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
from .predict.batch import BatchPredictor, PredictSummary, predict_file
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
