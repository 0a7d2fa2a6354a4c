"""Boilerplate: the lines that recur under every label alike are found; a label's own lines are kept."""

from __future__ import annotations

from textfit.data.boilerplate import boilerplate_record, find_boilerplate
from textfit.data.labeled import LabeledTexts

DISCLAIMER = "This email and any attachments are confidential and may be legally privileged."
HEADER = "From: Market Desk Notifications <desk@example.com>"
MESSAGES = {
    "metals": ["gold prices rose again", "copper climbs on demand", "silver gains as dollar slips"],
    "sport": ["the team won the final", "striker signs a new deal", "tennis star reaches semis"],
}


def emails(with_header: int = 12, per_label: int = 12) -> LabeledTexts:
    """`per_label` emails a label: every one with the disclaimer, the first `with_header` with the header."""
    texts, labels = [], []
    for label, messages in enumerate(MESSAGES.values()):
        for i in range(per_label):
            lines = ([HEADER] if i < with_header else []) + [DISCLAIMER, f"{messages[i % 3]} (note {i})"]
            texts.append("\n".join(lines))
            labels.append(label)
    return LabeledTexts(texts, labels, list(MESSAGES), "emails")


def test_lines_under_every_label_alike_are_found_longest_first():
    assert find_boilerplate(emails()) == [DISCLAIMER, HEADER]


def test_a_line_common_under_one_label_only_is_a_clue_and_kept():
    data = emails()
    clue = "Sent from the sports desk mobile app"
    texts = [f"{text}\n{clue}" if label == 1 else text for text, label in zip(data.texts, data.labels)]
    found = find_boilerplate(LabeledTexts(texts, data.labels, data.label_names, "clue"))
    assert clue not in found and DISCLAIMER in found


def test_rare_or_short_lines_are_not_boilerplate():
    assert HEADER not in find_boilerplate(emails(with_header=2))  # in 4 of 24 texts: under a fifth
    short = LabeledTexts(["Thanks\ngold up", "Thanks\nteam won"] * 6, [0, 1] * 6, list(MESSAGES), "short")
    assert find_boilerplate(short) == []  # "Thanks" is too short to be a header or a disclaimer
    assert find_boilerplate(LabeledTexts([DISCLAIMER] * 3, [0, 1, 0], list(MESSAGES), "few")) == []


def test_several_labels_a_text_are_judged_label_by_label():
    data = emails()
    sets = [(label,) for label in data.labels]
    both = LabeledTexts(data.texts, sets, data.label_names, "sets", multi_label=True)
    assert find_boilerplate(both) == [DISCLAIMER, HEADER]


def test_the_record_counts_the_texts_that_had_them_and_shows_a_few():
    record = boilerplate_record([DISCLAIMER, HEADER], emails(with_header=3))
    assert record == {"lines_removed": 2, "train_texts_with_them": 24, "lines": [DISCLAIMER, HEADER]}
