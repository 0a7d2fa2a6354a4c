"""Boilerplate: lines that recur across the training texts whatever their label, such as an email's
header lines, a legal disclaimer or a signature.

They say nothing about the label (they come with every label alike) and can be most of a text: a
message after a 330-word disclaimer is a tenth of what the encoder reads, and with so few examples
that a model cannot learn to look past the rest, it answers the most common label for every text
(docs/guide/long-texts.md). textfit finds such lines in the training texts and removes them inside
the tokenizer (model/base_models.add_boilerplate_removal), as it removes URLs: the saved tokenizer
does the same for every text it reads later, on every backend and in plain `transformers.pipeline`.

A line is boilerplate when it is long enough to be a sentence or a header field (`MIN_CHARACTERS`),
appears in at least `MIN_SHARE` of the training texts (and `MIN_TEXTS` of them), and under every
label with enough texts at no less than `EVENNESS` times the rate of the label it is most common
under: a line typical of one label is a clue, and is kept."""

from __future__ import annotations

from collections import Counter

import numpy as np

from .labeled import LabeledTexts

MIN_CHARACTERS = 20
MIN_SHARE = 0.2
MIN_TEXTS = 5
EVENNESS = 0.5
LABEL_TEXTS_TO_JUDGE = 5  # a label with fewer texts says too little of a line's rate under it


def lines_of(text: str) -> set[str]:
    """The text's lines, stripped, long enough to count."""
    return {line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_CHARACTERS}


def find_boilerplate(data: LabeledTexts) -> list[str]:
    """The lines of `data`'s texts that are boilerplate (module docstring), longest first (the
    tokenizer removes them in that order, so a line that holds a shorter one goes whole)."""
    if len(data) < MIN_TEXTS:
        return []
    text_lines = [lines_of(text) for text in data.texts]
    counts = Counter(line for lines in text_lines for line in lines)
    common = [line for line, count in counts.items() if count >= max(MIN_TEXTS, MIN_SHARE * len(data))]
    if not common:
        return []
    if data.multi_label:
        labels = data.label_matrix().astype(bool)
    else:  # one column a label, one True a row
        labels = np.zeros((len(data), len(data.label_names)), dtype=bool)
        labels[np.arange(len(data)), data.labels] = True
    judged = labels.sum(axis=0) >= LABEL_TEXTS_TO_JUDGE
    found = []
    for line in common:
        has_line = np.array([line in lines for lines in text_lines])
        rates = (labels[has_line].sum(axis=0) / np.maximum(labels.sum(axis=0), 1))[judged]
        if len(rates) and rates.min() >= EVENNESS * rates.max():
            found.append(line)
    return sorted(found, key=lambda line: (-len(line), line))


def boilerplate_record(lines: list[str], data: LabeledTexts) -> dict:
    """What the run record says: how many lines were removed, from how many training texts, and the first few."""
    with_any = sum(1 for text in data.texts if lines_of(text) & set(lines))
    return {
        "lines_removed": len(lines),
        "train_texts_with_them": with_any,
        "lines": [line if len(line) <= 120 else line[:117] + "..." for line in lines[:5]],
    }
