"""textfit: a pretrained language model + a file of labeled examples -> a deployed text classifier.

    from textfit import TrainConfig, train, Classifier
    result = train(TrainConfig(data="tickets.csv"), "my-model")
    Classifier.load("my-model").predict(["Acme Corp announces new CEO"])
"""

from .catalog import download_model
from .classifier import Classifier
from .config import TrainConfig
from .data import LabeledTexts, load_data, load_train_eval
from .errors import DataError, ModelError, TextfitError
from .evaluate import EvaluationReport, evaluate
from .fillmask import fill_mask
from .train import TrainResult, train

__all__ = [
    "Classifier", "DataError", "EvaluationReport", "LabeledTexts", "ModelError", "TextfitError", "TrainConfig",
    "TrainResult", "download_model", "evaluate", "fill_mask", "load_data", "load_train_eval", "train",
]
__version__ = "0.1.0"
