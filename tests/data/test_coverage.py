"""Categories with too few examples (data/coverage.py): found, said in words, warned about on
`textfit train` when `--label-names` names them, and named on the model card."""

from __future__ import annotations

import logging

from textfit.data.coverage import MIN_EXAMPLES, described, short_categories, warn_short
from textfit.model.folder import short_categories_note


def test_categories_below_the_minimum_are_found_in_their_order():
    counts = {"Billing": 12, "Personnel Change": 0, "Mergers": 1, "Shipping": MIN_EXAMPLES, "Dividend": 2}
    assert short_categories(counts) == {"Personnel Change": 0, "Mergers": 1, "Dividend": 2}
    assert described({"Personnel Change": 0, "Mergers": 1, "Dividend": 2}) == (
        "Personnel Change (none), Mergers (1 example), Dividend (2 examples)"
    )


def test_train_warns_only_about_categories_it_was_told_to_expect(caplog):
    with caplog.at_level(logging.WARNING, logger="textfit"):
        assert warn_short({"a": 10, "b": 0}, named=False) == {}
        assert not caplog.records
        assert warn_short({"a": 10, "b": 0, "c": 1}, named=True) == {"b": 0, "c": 1}
    said = caplog.records[-1].getMessage()
    assert "2 named categories have fewer than 3 examples: b (none), c (1 example)" in said
    assert "--label-names" in said


def test_the_model_card_names_the_categories_the_model_cannot_answer():
    record = {
        "config": {"extra": {"categories_left_out": {"Personnel Change": 0, "Mergers": 2}}, "label_names": None},
        "data": {"train_label_counts": {"Earnings": 9, "Macro": 4}},
    }
    note = short_categories_note(record)
    assert "cannot answer 2 categories" in note and "Personnel Change (none), Mergers (2 examples)" in note
    named = {
        "config": {"extra": {}, "label_names": ["Earnings", "IPO"]},
        "data": {"train_label_counts": {"Earnings": 9, "IPO": 1}},
    }
    assert "learned from fewer than 3 examples" in short_categories_note(
        named
    ) and "IPO (1 example)" in short_categories_note(named)
    assert short_categories_note({"config": {}, "data": {"train_label_counts": {"a": 1}}}) == ""
