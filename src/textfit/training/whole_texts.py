"""Fine-tuning on texts longer than one window: each text is one training example, and its loss is
taken on the mean of its windows' logits, the answer prediction gives (model/windows.py).

Why not every window an example with its text's label: an email's header and disclaimer windows
are the same under every label, so as examples they teach the encoder nothing but the labels'
frequencies, and at prediction those windows' votes outweigh the one window that holds the
message. Measured in docs/guide/long-texts.md (benchmarks/long_texts.py).

A batch is `batch_size` texts. Its texts of one window each are padded and run as always
(`DataCollatorWithPadding`); where any text has more, the batch is [texts, windows, tokens] and
`parts` splits it into groups of whole texts of at most `max_rows` windows, each run and
back-propagated on its own (their losses weighted by their share of the batch's texts), so the
memory a step needs stays that of `batch_size` windows however long the texts are."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model.windows import Windows, capped_rows, stride_for


def text_examples(tokenizer, texts: Sequence[str], labels: Sequence, max_length: int, windows: Windows) -> list[dict]:
    """One training example a text: a text that fits `max_length` as the tokenizer gives it; a longer
    one as the list of its first `max_windows` windows (input ids and attention masks a window)."""
    if not windows.enabled or not getattr(tokenizer, "is_fast", False):  # slow tokenizers cannot window
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
        return [
            {"input_ids": ids, "attention_mask": mask, "labels": label}
            for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], labels)
        ]
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=stride_for(tokenizer, max_length),
        return_overflowing_tokens=True,
    )
    owner = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    keep, _ = capped_rows(owner, windows.max_windows)
    rows_by_text: list[list[int]] = [[] for _ in texts]
    for row in np.flatnonzero(keep):
        rows_by_text[owner[row]].append(int(row))
    examples = []
    for rows, label in zip(rows_by_text, labels):
        ids = [encoded["input_ids"][row] for row in rows]
        masks = [encoded["attention_mask"][row] for row in rows]
        if len(rows) == 1:
            examples.append({"input_ids": ids[0], "attention_mask": masks[0], "labels": label})
        else:
            examples.append({"input_ids": ids, "attention_mask": masks, "labels": label})
    return examples


def tokens_in(example: dict) -> int:
    """What the length-grouped sampler sorts by: every token of every window."""
    ids = example["input_ids"]
    return sum(len(window) for window in ids) if ids and isinstance(ids[0], list) else len(ids)


class WholeTextCollator:
    """Batches of one-window texts as `DataCollatorWithPadding` gives them; a batch with a longer text
    as [texts, windows, tokens], padded with empty windows (attention mask all 0)."""

    def __init__(self, tokenizer, pad_to_multiple_of: int = 8):
        from transformers import DataCollatorWithPadding

        self.flat = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)
        self.pad_id = tokenizer.pad_token_id or 0
        self.multiple = pad_to_multiple_of

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        if not any(isinstance(e["input_ids"][0], list) for e in examples):
            return self.flat(examples)
        windows = [e["input_ids"] if isinstance(e["input_ids"][0], list) else [e["input_ids"]] for e in examples]
        masks = [
            e["attention_mask"] if isinstance(e["input_ids"][0], list) else [e["attention_mask"]] for e in examples
        ]
        width = max(len(w) for text in windows for w in text)
        width = -(-width // self.multiple) * self.multiple
        most = max(len(text) for text in windows)
        input_ids = torch.full((len(examples), most, width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(examples), most, width), dtype=torch.long)
        for t, (text, text_masks) in enumerate(zip(windows, masks)):
            for w, (ids, mask) in enumerate(zip(text, text_masks)):
                input_ids[t, w, : len(ids)] = torch.tensor(ids)
                attention_mask[t, w, : len(mask)] = torch.tensor(mask)
        labels = [e["labels"] for e in examples]
        dtype = torch.float if isinstance(labels[0], list) else torch.long  # several labels: 0/1 floats
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": torch.tensor(labels, dtype=dtype)}


def parts(batch: dict, max_rows: int) -> list[tuple[dict, float]]:
    """(part of the batch, its share of the batch's texts): whole texts, at most `max_rows` windows a
    part (a text with more is a part of its own). A flat batch is one part."""
    if batch["input_ids"].dim() == 2:
        return [(batch, 1.0)]
    counts = (batch["attention_mask"][:, :, 0] > 0).sum(dim=1).tolist()
    groups, current, rows = [], [], 0
    for text, count in enumerate(counts):
        if current and rows + count > max_rows:
            groups.append(current)
            current, rows = [], 0
        current.append(text)
        rows += count
    groups.append(current)
    texts = len(counts)
    return [({name: value[group] for name, value in batch.items()}, len(group) / texts) for group in groups]


def pooled_loss(model, part: dict, multi_label: bool):
    """The loss of a part: a flat one as the model computes it; one of [texts, windows, tokens] on
    each text's mean of its windows' logits (cross-entropy, or binary cross-entropy for several
    labels a text, as the model's own head would)."""
    import torch
    import torch.nn.functional as F

    if part["input_ids"].dim() == 2:
        return model(**part).loss
    texts, windows, width = part["input_ids"].shape
    present = (part["attention_mask"][:, :, 0] > 0).reshape(-1)  # empty windows pad short texts: not run
    owner = torch.arange(texts, device=present.device).repeat_interleave(windows)[present]
    logits = model(
        input_ids=part["input_ids"].reshape(-1, width)[present],
        attention_mask=part["attention_mask"].reshape(-1, width)[present],
    ).logits.float()
    sums = torch.zeros(texts, logits.shape[1], dtype=logits.dtype, device=logits.device).index_add(0, owner, logits)
    pooled = sums / torch.bincount(owner, minlength=texts).unsqueeze(1)
    if multi_label:
        return F.binary_cross_entropy_with_logits(pooled, part["labels"])
    return F.cross_entropy(pooled, part["labels"])
