"""Categories with too few examples: named for the task (a labeling project's names, `--label-names`)
but given fewer than `MIN_EXAMPLES`, so the model cannot answer them (none) or learns them from one
or two messages, and its figures cannot say whether it does.

    short_categories({"Billing": 12, "Shipping": 1, "Refunds": 0})   # {"Shipping": 1, "Refunds": 0}

The studio's labeling page lists them before training and offers to label more of them (the queue
then looks for them first, labeling/session.py) or to train without them; the run page, the model
card and the classify results then name the categories the model cannot answer."""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger("textfit")

MIN_EXAMPLES = 3
"""Fewest examples of a category worth training on. The training holds out a stratified fifth of
the examples to test on: a category of one example is never tested (it stays in training), one of
two is learned from a single message and tested on the other; from three it keeps at least two to
learn from and one to be tested on. Fewer, and the model's figures cannot show whether it learned it."""
LEFT_OUT = "categories_left_out"
"""The key, in a run's `extra` notes (TrainConfig.extra), of the categories named for the task that
the training left out: name -> the examples it had."""


def short_categories(counts: Mapping[str, int], minimum: int = MIN_EXAMPLES) -> dict[str, int]:
    """The categories of `counts` (name -> examples) with fewer than `minimum` examples, in their order."""
    return {name: int(n) for name, n in counts.items() if n < minimum}


def described(short: Mapping[str, int]) -> str:
    """ "Personnel Change (none), Mergers (1 example)": each category with its examples, for a message."""

    def examples(n: int) -> str:
        return "none" if not n else f"{n} example{'s' if n > 1 else ''}"

    return ", ".join(f"{name} ({examples(n)})" for name, n in short.items())


def warn_short(counts: Mapping[str, int], named: bool) -> dict[str, int]:
    """Log the categories with too few examples when the task named them (`named`: `--label-names`);
    returns them."""
    short = short_categories(counts) if named else {}
    if short:
        one = len(short) == 1
        log.warning(
            "%d named %s fewer than %d examples: %s. The model cannot answer a category without examples, and "
            "its figures cannot measure one with fewer. Label more messages of %s, or leave %s out of --label-names.",
            len(short),
            "category has" if one else "categories have",
            MIN_EXAMPLES,
            described(short),
            "it" if one else "them",
            "it" if one else "them",
        )
    return short
