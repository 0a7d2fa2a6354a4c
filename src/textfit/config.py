"""One dataclass records everything a training run needs.

Defaults work without tuning. A config file (TOML or JSON) sets any field; command-line flags
override the file; the resolved config is saved next to every trained model, so a run can be
repeated from its folder alone."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomllib

from .errors import TextfitError

Strategy = Literal["auto", "finetune", "fewshot"]


@dataclass
class TrainConfig:
    # --- data -------------------------------------------------------------------------------
    data: str | None = None
    """Training data: a CSV/TSV/Excel/JSONL/Parquet file or a Hugging Face hub data set id."""
    text_column: str | None = None
    """Column with the texts; detected when unambiguous."""
    label_column: str | None = None
    """Column with the labels (integers or strings); detected when unambiguous."""
    label_names: list[str] | None = None
    """Label names in id order; otherwise from the data set's ClassLabel or the string labels."""
    label_separator: str | None = None
    """Several labels per text joined in the label column by ';', ',' or '|': detected when the file shows
    it (docs/guide/multi-label.md); 'none' reads one label per row whatever the names hold."""
    split: str | None = None
    """Split of a hub data set to train on (default: train)."""
    data_config: str | None = None
    """Config (subset) name of a hub data set."""
    sheet: str | None = None
    """Sheet of an Excel training file: a name, or a position counted from 1 (default: the first)."""
    eval_data: str | None = None
    """Separate evaluation file or hub id; otherwise a stratified hold-out of the training data."""
    eval_data_split: str | None = None
    """Split of a hub evaluation data set (default: validation)."""
    eval_sheet: str | None = None
    """Sheet of an Excel evaluation file (default: the first): `--eval-data book.xlsx --eval-sheet test`
    evaluates on another sheet of the training workbook."""
    eval_split: float = 0.2
    """Fraction held out for evaluation when no eval_data is given."""
    final_fit: bool | None = None
    """After the run on the rest has chosen the schedule (steps, n-gram weight) on the held-out
    part, train the saved model afresh on every example. None (default): on when at least 100
    examples are held out and the run fine-tunes; a --time-budget then covers both fits. The
    reported figures stay the hold-out run's (the final model's own cannot be measured)."""
    unlabeled: str | None = None
    """A file of texts nobody labeled (.txt one a line, or a table with a text column): a teacher trained
    on the labels labels them with its probabilities, and the model learns from both (training/distill.py).
    The scores stay on held-out human labels; the record says what the texts were worth against the
    labels alone. With --time-budget, more texts than the time allows are sampled."""
    teacher: str = "auto"
    """With `unlabeled`: the model that labels the unlabeled texts, trained on the labels first (a model
    other than the served one, given 10,000 texts or more, is then trained again with its surest answers on
    some of them).
    'auto': all-mpnet-base-v2 when downloaded (`textfit download-model`) and the labels are few, else
    the model itself; 'none': the model itself; or a base model's name, hub id or folder."""
    train_size: int | None = None
    """Train on a random sample of this many examples (as the article's 50)."""
    test_size: int | None = None
    """Evaluate on a random sample of this many examples (as the article's 10)."""
    skip_bad_rows: bool = False
    """Skip (and report) rows with an empty text or label instead of stopping."""
    seed: int = 7
    """Seeds the hold-out split, the samples and the training, so a run can be repeated exactly."""

    # --- model ------------------------------------------------------------------------------
    model: str = "default"
    """Base encoder: a hub id, a local folder, 'default' for the embedded all-MiniLM-L6-v2, or
    'all-mpnet-base-v2' (larger and better on few examples; `textfit download-model` fetches it)."""
    strip_urls: bool = True
    """Remove URLs and decode HTML entities inside the tokenizer: in tweets URLs are ~40% of the
    tokens and carry no signal. Baked into the saved tokenizer, so inference does the same."""
    remove_boilerplate: bool = True
    """Remove the lines that recur in a fifth or more of the training texts under every label alike (an
    email's header fields, a disclaimer, a signature): they say nothing of the label and can drown
    what does. Baked into the saved tokenizer, as strip_urls is; the record lists them."""
    max_length: int | None = None
    """Token limit per text; by default the 99th percentile of the data's lengths, capped."""
    max_length_cap: int = 256
    """The most tokens the default max_length may reach (longer texts are read in windows of it)."""
    max_windows: int = 16
    """A text longer than max_length tokens is read in overlapping windows of max_length tokens (a
    quarter of each shared with the next), whose answers are averaged, in training and prediction
    alike; at most this many per text (the rest is cut, with a warning). 1: cut every text at max_length."""
    pooling: Literal["mean", "cls"] = "mean"
    """How the token vectors become the one vector the head reads. 'mean': one extra, frozen layer
    makes [CLS] read the mean of all tokens, the pooling sentence encoders such as the default
    model were trained with (finance topics, 3 epochs: 0.890 against 0.882 with 'cls', for 10 %
    more training time). BERT-style models only; others keep their own head's input (MPNet: the
    first token). The few-shot strategy uses 'mean' on BERT-style models whatever this says."""
    lexical_weight: float | None = None
    """Blend a word/character n-gram model (TF-IDF + logistic regression, fitted in seconds) with
    the encoder: log p = (1 - w) log p_encoder + w log p_ngrams. None (the default): w is chosen
    from the held-out answers among 0, 0.1 ... 0.7, and the reported scores are cross-fitted so the
    choice does not flatter them (blend.py); on small data it is often 0, on 13,592 finance tweets
    about 0.5 (+1 point). A number fixes w (shrunk below 8 examples per class); 0 turns the n-gram
    model off. Plain `transformers.pipeline` always answers with the encoder alone (lexical.py)."""

    # --- training ---------------------------------------------------------------------------
    strategy: Strategy = "auto"
    """'finetune' (the whole encoder), 'fewshot' (for scarce data: a head fitted to the encoder's
    features after contrastive fine-tuning of the encoder; see training/fewshot.py) or 'auto' (picks by data size)."""
    fewshot_below: float = 17
    """'auto' picks 'fewshot' when the median class has fewer training examples than this (over
    all classes, so a missing class counts as empty): the median, not the mean, because on
    unbalanced data fine-tuning fails the rare classes (docs: guide/few-examples.md). 17, so a file
    of 20 a class (16 each after the 20 % hold-out) trains few-shot: 400 finance tweets in 20
    topics, 0.681 held-out accuracy against 0.528 fine-tuned."""
    epochs: int | None = None
    """Upper bound on epochs; default depends on the data size (more passes for small data)."""
    time_budget: float | None = None
    """Minutes of training the user can spare; the schedule is sized to fit (up to 8 epochs on
    large data, where more stops paying)."""
    learning_rate: float = 1e-4
    """Peak learning rate of AdamW; it warms up, then decays linearly to 0."""
    batch_size: int = 16
    """Examples per optimiser step; with several processes (torchrun) the global batch, split
    evenly between them (rounded up to a multiple of their number). 16 rather than 32: twice the
    steps for ~15 % more time per epoch on a CPU, and more accuracy per epoch (finance topics, 3
    epochs: 0.884 against 0.869)."""
    warmup_ratio: float = 0.06
    """Share of the optimiser steps over which the learning rate rises from 0 to its peak."""
    weight_decay: float = 0.01
    """AdamW's weight decay (not applied to biases and LayerNorm weights)."""
    early_stopping_patience: int = 2
    """Stop after this many evaluations without a better macro-F1."""
    evals_per_epoch: int = 1
    """Held-out evaluations per epoch: each can become the kept model or stop training early."""
    bf16: bool | None = None
    """bfloat16 autocast; by default on where the CPU has native bf16 (AVX512-BF16/AMX) or a GPU."""
    train_embeddings: bool = False
    """Also update the word-embedding table: measured +0.6 accuracy points after one epoch on the
    finance topics, for 24 % more training time and ~270 MB more peak memory."""
    checkpoint_minutes: float | None = 5.0
    """Save the training state beside the model folder (OUT.checkpoints/) this often and at every
    epoch's end, once the run has lasted this long (shorter runs write none), so `--resume`
    continues a killed run. 0 turns them off. The embedded MiniLM's: 130-175 MB, ~0.6 s each on 2
    shared cores (checkpoint.py)."""
    distributed_timeout_minutes: float = 1.0
    """With several processes: how long one waits for the others during training before all stop
    with an error (a partner hung, or a node lost without closing its connections). Where one
    process works alone (reading its data, fitting the n-gram model, saving), the others wait at
    least 10 minutes. A process that dies ends the others at once under torchrun."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes kept with the run record. textfit reads none of them but `categories_left_out`
    (data/coverage.py: the categories named for the task it was trained without), which the model card names."""

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise TextfitError(f"config file not found: {path}")
        try:
            if path.suffix == ".toml":
                values = tomllib.loads(path.read_text())
                values = values.get("train", values)
            elif path.suffix == ".json":
                values = json.loads(path.read_text())
                values = values.get("config", values)  # also accepts a saved textfit.json run record
            else:
                raise TextfitError(f"config file {path} must be .toml or .json")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise TextfitError(f"config file {path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
        return cls().override(**values)

    def override(self, **values: Any) -> TrainConfig:
        """A copy with the given fields replaced; None means 'keep the current value'."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TextfitError(f"unknown config key(s): {', '.join(unknown)}. Known keys: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@functools.cache
def field_docs() -> dict[str, str]:
    """Each `TrainConfig` field's docstring (the string under it), one paragraph of plain text: the
    one source of the CLI's `--help` for training options and of the documentation's config page."""
    body = ast.parse(inspect.getsource(TrainConfig)).body[0].body
    docs = {}
    for statement, following in zip(body, body[1:]):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs
