"""Texts longer than the model reads: overlapping windows of `max_length` tokens, pooled.

A text that fits `max_length` is one window, tokenized and run exactly as before. A longer one is
split into windows of `max_length` tokens, each overlapping the previous one by `stride` tokens
(the tokenizer's `return_overflowing_tokens`), so a sentence cut by one window's edge is whole in
the next; the encoder answers each window, and the text's logits are the mean of its windows'
(`pool`). At most `max_windows` windows are read per text: beyond them the text is cut, and the
callers say so (a warning, and a count in the record).

Training reads the same windows, each text one example whose loss is taken on its pooled logits
(training/whole_texts.py). Why the mean, and why not each window an example: docs/guide/long-texts.md,
measured by benchmarks/long_texts.py."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("textfit")

DEFAULT_MAX_WINDOWS = 16
POOLINGS = ("mean", "max")


@dataclass(frozen=True)
class Windows:
    """How a text longer than `max_length` is read: `max_windows` windows at most (1: cut at
    `max_length`, as textfit did before windows), overlapping by a quarter of a window, pooled by
    `pooling` ('mean' or 'max' of the windows' logits)."""

    max_windows: int = DEFAULT_MAX_WINDOWS
    pooling: str = "mean"

    def __post_init__(self):
        if self.max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, not {self.max_windows}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown window pooling '{self.pooling}': choose {' or '.join(POOLINGS)}")

    @property
    def enabled(self) -> bool:
        return self.max_windows > 1

    def to_dict(self) -> dict:
        return {"max_windows": self.max_windows, "pooling": self.pooling, "stride": "a quarter of max_length"}

    @classmethod
    def from_record(cls, record: dict) -> Windows:
        """The windows a model folder's run record says it was trained and evaluated with. A textfit
        record without them is from before windows: its model keeps reading the first `max_length`
        tokens, as it did when it was measured. A folder without a record reads windows."""
        windows = record.get("windows")
        if windows:
            return cls(int(windows.get("max_windows", DEFAULT_MAX_WINDOWS)), windows.get("pooling", "mean"))
        return cls(max_windows=1) if record.get("max_length") else cls()


def stride_for(tokenizer, max_length: int) -> int:
    """Tokens each window shares with the previous one: a quarter of the text a window holds."""
    return max(0, (max_length - tokenizer.num_special_tokens_to_add()) // 4)


def window_counts(tokenizer, token_lengths: Sequence[int], max_length: int) -> np.ndarray:
    """How many windows each text of `token_lengths` tokens (special tokens included) takes, before
    any cap: the same arithmetic as the tokenizer's `return_overflowing_tokens`."""
    special = tokenizer.num_special_tokens_to_add()
    room = max(1, max_length - special)
    step = max(1, room - stride_for(tokenizer, max_length))
    content = np.maximum(0, np.asarray(token_lengths, dtype=np.int64) - special)
    return 1 + np.maximum(0, np.ceil((content - room) / step)).astype(np.int64)


def windows_record(tokenizer, windows: Windows, max_length: int, lengths_by_part: dict[str, Sequence[int]]) -> dict:
    """The run record's `windows`: the settings, and per part of the data how many texts were longer
    than one window and how many reached the cap (cut there)."""
    record = windows.to_dict()
    record["stride_tokens"] = stride_for(tokenizer, max_length)
    for part, lengths in lengths_by_part.items():
        counts = window_counts(tokenizer, lengths, max_length)
        record[f"{part}_texts_longer_than_one_window"] = int((counts > 1).sum())
        record[f"{part}_texts_capped"] = int((counts > windows.max_windows).sum()) if windows.enabled else 0
    return record


@dataclass
class Encoded:
    """A batch of windows: the model's inputs (one row a window), the text each row belongs to,
    and the texts cut at the cap (their indices in the batch)."""

    inputs: dict[str, np.ndarray]
    owner: np.ndarray
    capped: list[int]

    @property
    def rows(self) -> int:
        return len(self.owner)


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def encode(tokenizer, texts: Sequence[str], max_length: int, windows: Windows) -> Encoded:
    """`texts` as windows, padded to the longest row (a text that fits is one row, exactly as a
    truncating tokenizer would give it)."""
    texts = list(texts)
    if not windows.enabled or not getattr(tokenizer, "is_fast", False):  # slow tokenizers cannot window a batch
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        inputs = {k: v.astype(np.int64) for k, v in encoded.items() if k in MODEL_INPUTS}
        return Encoded(inputs, np.arange(len(texts)), [])
    encoded = tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=max_length,
        stride=stride_for(tokenizer, max_length),
        return_overflowing_tokens=True,
        return_tensors="np",
    )
    owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    inputs = {k: v.astype(np.int64) for k, v in encoded.items() if k in MODEL_INPUTS}
    keep, capped = capped_rows(owner, windows.max_windows)
    if capped:
        inputs = {k: v[keep] for k, v in inputs.items()}
        owner = owner[keep]
    return Encoded(inputs, owner, capped)


def capped_rows(owner: np.ndarray, max_windows: int) -> tuple[np.ndarray, list[int]]:
    """(rows to keep: each text's first `max_windows` windows, the texts that had more)."""
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]  # rows of one text are consecutive
    position = np.arange(len(owner)) - np.repeat(first, np.diff(np.r_[first, len(owner)]))
    keep = position < max_windows
    return keep, sorted({int(owner[i]) for i in np.flatnonzero(~keep)})


def pool(logits: np.ndarray, owner: np.ndarray, texts: int, pooling: str = "mean") -> np.ndarray:
    """One row of logits per text from its windows' rows: their mean or their maximum. A text of
    one window keeps its row as it is."""
    if len(owner) == texts:  # every text one window: nothing to pool
        return logits
    if pooling == "max":
        pooled = np.full((texts, logits.shape[1]), -np.inf, dtype=logits.dtype)
        np.maximum.at(pooled, owner, logits)
        return pooled
    sums = np.zeros((texts, logits.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, logits)
    return (sums / np.bincount(owner, minlength=texts)[:, None]).astype(logits.dtype)


def row_chunks(encoded: Encoded, size: int):
    """The batch's rows, `size` at a time, each chunk without the columns that are padding in all its rows."""
    if encoded.rows <= size:
        yield encoded.inputs
        return
    for start in range(0, encoded.rows, size):
        chunk = {k: v[start : start + size] for k, v in encoded.inputs.items()}
        used = chunk["attention_mask"].any(axis=0)
        if not used.all():
            chunk = {k: v[:, used] for k, v in chunk.items()}
        yield chunk


def warn_capped(capped: int, windows: Windows, max_length: int) -> None:
    log.warning(
        "%d text(s) longer than %d windows of %d tokens: read only their first %d windows (about %d tokens); "
        "the rest of each is not seen",
        capped,
        windows.max_windows,
        max_length,
        windows.max_windows,
        math.floor(windows.max_windows * max_length * 0.75),
    )
