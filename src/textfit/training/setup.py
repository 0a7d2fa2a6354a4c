"""What a run is made of before it trains: its settings checked, the strategy (fine-tuning or
few-shot), the longest input it reads, and the model: the base encoder with a fresh head."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..data.boilerplate import find_boilerplate
from ..data.labeled import LabeledTexts
from ..errors import TextfitError
from ..model.base_models import (
    add_boilerplate_removal,
    add_mean_pooling_layer,
    build_classifier,
    head_shape,
    load_tokenizer,
    output_layer,
    resolve_model,
)
from ..model.windows import Windows, window_counts
from . import checkpoint
from . import distributed as dist
from .callbacks import Callback

log = logging.getLogger("textfit")


@dataclass
class Run:
    """What every step of a run reads once its data, strategy and model are chosen."""

    config: TrainConfig
    out_dir: str | Path
    strategy: str
    train_data: LabeledTexts
    eval_data: LabeledTexts
    tokenizer: object
    max_length: int
    callbacks: list[Callback]
    checkpoints: checkpoint.Checkpoints | None
    boilerplate: Sequence[str] = ()
    """Lines removed from every text by the tokenizer (data/boilerplate.py)."""

    @property
    def windows(self) -> Windows:
        """How a text longer than `max_length` is read, in training and after (model/windows.py)."""
        return Windows(self.config.max_windows)


def check_config(config: TrainConfig) -> None:
    """Refuse, before any work, the settings no run can follow."""
    if config.pooling not in ("mean", "cls"):
        raise TextfitError(f"unknown pooling '{config.pooling}': choose mean or cls")
    if config.max_windows < 1:
        raise TextfitError(f"max_windows {config.max_windows} must be at least 1 (1: cut every text at max_length)")
    if config.lexical_weight is not None and not 0 <= config.lexical_weight < 1:
        raise TextfitError(f"lexical_weight {config.lexical_weight} must be at least 0 (off) and below 1")
    if config.strategy == "fewshot":
        refuse_fewshot_across_processes()


def prepare_model(
    config: TrainConfig, strategy: str, train_data: LabeledTexts, eval_examples: int, boilerplate: Sequence[str] = ()
):
    """(tokenizer, max_length, model, strategy): the base model's tokenizer (removing the
    `boilerplate` lines, `find_run_boilerplate`), the input length the data needs, the model with a
    fresh head; few-shot falls back to fine-tuning on a head it does not know."""
    tokenizer = load_tokenizer(config.model, strip_urls=config.strip_urls)
    add_boilerplate_removal(tokenizer, boilerplate)
    lengths = token_lengths(tokenizer, train_data.texts)
    max_length = config.max_length or choose_max_length(lengths, config.max_length_cap)
    log_long_texts(tokenizer, lengths, max_length, Windows(config.max_windows))
    model = new_model(config, train_data, mean_pooling=config.pooling == "mean" or strategy == "fewshot")
    if strategy == "fewshot" and head_shape(model) is None:
        log.warning(
            "fewshot knows two heads (BERT's linear head over the pooler, and dense -> out_proj "
            "over the first token as in MPNet); %s has neither, so fine-tuning it instead",
            model.config.model_type,
        )
        strategy = "finetune"
    log.info(
        "%s: %d training / %d evaluation examples, %d labels, max_length %d",
        strategy,
        len(train_data),
        eval_examples,
        len(train_data.label_names),
        max_length,
    )
    return tokenizer, max_length, model, strategy


def find_run_boilerplate(config: TrainConfig, train_data: LabeledTexts) -> list[str]:
    """The lines the run removes from every text, said in the log (data/boilerplate.py; none
    with --keep-boilerplate)."""
    lines = find_boilerplate(train_data) if config.remove_boilerplate else []
    if lines:
        log.info(
            "removing %d line(s) found in a fifth or more of the training texts under every label alike "
            "(headers, disclaimers): %s%s (--keep-boilerplate keeps them)",
            len(lines),
            "; ".join(repr(line[:60]) for line in lines[:3]),
            " ..." if len(lines) > 3 else "",
        )
    return lines


def refuse_fewshot_across_processes() -> None:
    """Few-shot training is minutes in one process, and its contrastive batches would need the
    other processes' vectors: it is refused before any work rather than run half-right."""
    if dist.is_distributed():
        raise TextfitError(
            f"few-shot training runs in one process, not across {dist.world_size()}: start the same `textfit train` "
            "without torchrun / accelerate launch (with so few examples it takes minutes), or, with enough "
            "examples per class, spread full fine-tuning with --strategy finetune"
        )


def choose_strategy(config: TrainConfig, data: LabeledTexts) -> str:
    """'fewshot' when examples are scarce (the median class has fewer than `config.fewshot_below`),
    else 'finetune'; an explicit `config.strategy` wins. Logs which one and why.

    The median, because 320 random finance tweets in 20 topics (16 a class on average; the median
    class 11, the rarest none) fine-tuned to 0.518 held-out accuracy, few-shot to 0.681: fine-tuning
    from a random head fails the rare classes (benchmarks/labeling.py; docs/guide/few-examples.md)."""
    if config.strategy not in ("auto", "finetune", "fewshot"):
        raise TextfitError(f"unknown strategy '{config.strategy}': choose auto, finetune or fewshot")
    if data.multi_label:
        log.info(
            "strategy finetune: several labels per text%s (few-shot's contrastive pairs assume one label a text)",
            ", so not few-shot as --strategy asked" if config.strategy == "fewshot" else "",
        )
        return "finetune"
    per_class = float(np.median(np.bincount(data.labels, minlength=len(data.label_names)))) if len(data) else 0.0
    if config.strategy != "auto":
        log.info(
            "strategy %s (chosen with --strategy; the median class has %g training examples)",
            config.strategy,
            per_class,
        )
        return config.strategy
    strategy = auto_strategy(per_class, config.fewshot_below)
    log.info(
        "strategy %s (auto): the median class has %g training examples, %s the few-shot threshold of %g",
        strategy,
        per_class,
        "below" if strategy == "fewshot" else "at or above",
        config.fewshot_below,
    )
    return strategy


def auto_strategy(per_class: float, fewshot_below: float) -> str:
    """What 'auto' trains with when the median class has `per_class` training examples (the studio's
    time estimate asks the same before a run starts)."""
    return "fewshot" if per_class < fewshot_below else "finetune"


def token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    """Each text's tokens, counted whole. The tokenizer's warning that a text is longer than the model
    reads ("will result in indexing errors") does not apply to a count (windows read such a text): marked as given."""
    getattr(tokenizer, "deprecation_warnings", {})["sequence-length-is-longer-than-the-specified-maximum"] = True
    return np.array([len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]])


def choose_max_length(lengths: np.ndarray, cap: int) -> int:
    """The 99th percentile of the data's token lengths, rounded up to a multiple of 8, capped.

    The window's length (model/windows.py): texts up to it are read in one window; the 1 % above it,
    and every text past the cap, are read in overlapping windows of it rather than cut. A window no
    longer than the data needs keeps short texts' batches short; one as long as the cap (where texts
    are longer) keeps a long text's windows few, each with as much context as the cap allows."""
    p99 = int(np.percentile(lengths, 99)) if len(lengths) else cap
    return int(min(cap, max(16, math.ceil(p99 / 8) * 8)))


def log_long_texts(tokenizer, lengths: np.ndarray, max_length: int, windows: Windows) -> None:
    """Say how many training texts are longer than one window, and how many reach the cap."""
    counts = window_counts(tokenizer, lengths, max_length)
    longer = int((counts > 1).sum())
    if not longer:
        return
    if not windows.enabled:
        log.info(
            "%d of %d training texts are longer than max_length %d: cut there (max_windows 1)",
            longer,
            len(counts),
            max_length,
        )
        return
    capped = int((counts > windows.max_windows).sum())
    log.info(
        "%d of %d training texts are longer than max_length %d: read in up to %d overlapping windows of it%s",
        longer,
        len(counts),
        max_length,
        windows.max_windows,
        f"; {capped} of them longer than that, cut after {windows.max_windows} windows" if capped else "",
    )


def new_model(config: TrainConfig, train_data: LabeledTexts, mean_pooling: bool):
    """The base encoder with a fresh head sized and named for `train_data`'s labels (a sigmoid one,
    starting at each label's base rate, for several labels per text)."""
    model = build_classifier(config.model, train_data.label_names, train_data.multi_label)
    if mean_pooling and not add_mean_pooling_layer(model):
        log.info("%s is not a BERT-style model: its classifier reads [CLS], not the mean", config.model)
    if train_data.multi_label:
        start_at_base_rates(model, train_data.label_matrix())
    return model


def start_at_base_rates(model, label_matrix: np.ndarray) -> None:
    """Set a sigmoid head's biases to each label's log-odds in the training data, so that before any
    step every score is the label's base rate. From a zero bias every score starts at 0.5, and the
    first hundreds of steps only learn that most labels are rare (GoEmotions, 28 labels, 6,400
    rows, 3 epochs: macro-F1 0.122 from zero biases, 0.365 from the base rates)."""
    import torch

    layer = output_layer(model)
    if getattr(layer, "bias", None) is None:
        return
    # A label no training text carries (or every one) would have infinite log-odds: half an example.
    rates = (label_matrix.sum(axis=0) + 0.5) / (len(label_matrix) + 1.0)
    with torch.no_grad():
        layer.bias.copy_(torch.as_tensor(np.log(rates / (1 - rates)), dtype=layer.bias.dtype))


# Settings that may differ between the nodes of one training: where each finds the same data.
PER_NODE_SETTINGS = ("data", "eval_data")


def agreement_facts(config: TrainConfig, out_dir: str | Path, train_data: LabeledTexts, eval_data: LabeledTexts):
    """What the processes of one training must agree on (distributed.check_agreement), as digests:
    the examples (texts and labels, after splitting and sampling), the settings, the base model's
    files and the output folder as given."""
    settings = {k: v for k, v in config.to_dict().items() if k not in PER_NODE_SETTINGS}
    return {
        "the data (texts and labels)": checkpoint.data_fingerprint(train_data, eval_data),
        "the settings": digest(json.dumps(settings, sort_keys=True, default=str)),
        "the base model": model_digest(config.model),
        "the output folder (--out)": str(out_dir),
    }


def model_digest(name: str) -> str:
    """The base model's configuration and tokenizer files, and its weight files' sizes (hashing
    hundreds of MB of weights would cost seconds for a difference the sizes already show)."""
    folder = Path(resolve_model(name))
    if not folder.is_dir():  # a hub id: the same id is the same model
        return name
    parts = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".json", ".txt"):
            parts.append([path.name, digest(path.read_bytes())])
        elif path.suffix in (".safetensors", ".bin"):
            parts.append([path.name, path.stat().st_size])
    return digest(json.dumps(parts))


def digest(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()
