"""Texts longer than a 32-token window: the same preamble words (they say nothing of the label)
before one telling sentence, which lands in the text's last window."""

from __future__ import annotations

PREAMBLE = "please find the weekly notes from our office attached below for your records"


def long_text(sentence: str, preamble_times: int = 3) -> str:
    """The label-bearing sentence in the text's last window, after many windows of preamble."""
    return " ".join([PREAMBLE] * preamble_times + [sentence])
