"""Whether an uploaded file gives several labels per text, in the page's words: read by the library's
own rules (data/multilabel.py: a separator that joins names, JSON lists, or one 0/1 column per label as
data.labeled.label_columns finds them), never by rules of its own.

A separator the library finds ambiguous is not guessed: the page asks which one joins the labels
(`question`), and the run is started with the answer (`label_separator`)."""

from __future__ import annotations

COLUMNS_NAMED = 12
"""The label columns named in the description; the rest are counted."""
SEPARATOR_WORDS = {";": "semicolons (;)", ",": "commas (,)", "|": "vertical bars (|)"}


def several_labels(frame, display: str, label_column: str, separator: str | None = None) -> dict | None:
    """How `label_column` gives several labels per row, with the examples per label; None where it gives
    one label per row (or `separator` is "none"). Where the separator is unclear: only the question."""
    from ....data import multilabel
    from ....errors import DataError

    values = frame[label_column]
    try:
        if multilabel.holds_lists(values):
            sets = multilabel.from_lists(values, None, display, label_column, str)  # the order: by count below
        else:
            chosen = multilabel.choose_separator(values, display, label_column, given=separator)
            if chosen is None:
                return None
            sets = multilabel.from_separated(
                values, chosen, None, display, label_column, str
            )  # the order: by count below
    except DataError as exc:
        return {"question": _question(values, str(exc))}
    return _summary(sets)


def label_columns(frame, display: str, text_column: str | None = None) -> dict | None:
    """Where no label column is named and the file gives one 0/1 column per label, as `textfit train FILE`
    reads it (data.labeled.label_columns: every 0/1 column but the text is a label): those columns, the text
    column beside them and each label's examples. None for any other file; a DataError where the text
    column beside the 0/1 columns is unclear."""
    from ....data import multilabel
    from ....data.labeled import label_columns as found_in

    found = found_in(frame, display, text_column)
    if found is None:
        return None
    text_column, columns = found
    return {
        **_summary(multilabel.from_columns(frame, columns, None, display)),
        "text_column": text_column,
        "columns": columns,
    }


def _summary(sets) -> dict:
    """The page's account of a file's label sets: its layout in words, how many rows have several labels
    or none, and each label's examples, most first."""
    sizes = [len(labels) for labels in sets.sets]
    counts = [0] * len(sets.names)
    for labels in sets.sets:
        for i in labels:
            counts[i] += 1
    ranked = sorted(zip(sets.names, counts), key=lambda pair: -pair[1])
    return {
        "layout": sets.layout,
        "separator": sets.separator,
        "description": _described(sets),
        "labels": len(sets.names),
        "rows_with_several": sum(1 for n in sizes if n > 1),
        "rows_without_label": sum(1 for n in sizes if n == 0),
        "counts": [{"value": name, "name": None, "count": count} for name, count in ranked[:100]],
        "question": None,
    }


def _described(sets) -> str:
    if sets.layout == "lists":
        return "This file gives several labels per text, as lists."
    if sets.layout == "columns":
        shown = ", ".join(sets.names[:COLUMNS_NAMED])
        more = f" and {len(sets.names) - COLUMNS_NAMED} more" if len(sets.names) > COLUMNS_NAMED else ""
        return f"This file gives several labels per text: one column per label ({shown}{more}), holding 0/1 values."
    return f"This file gives several labels per text, separated by {SEPARATOR_WORDS[sets.separator]}."


def _question(values, message: str) -> dict:
    """What the page asks where the library cannot tell the separator: its own explanation, in the page's words,
    and the separators to choose from (those that look like joiners, as the library judges them)."""
    from ....data import multilabel

    distinct = {str(v) for v in values.dropna() if str(v).strip()}
    candidates = [s for s in multilabel.SEPARATORS if multilabel.joins_labels(distinct, s)]
    said = message.split(". Say which with")[0]
    return {
        "text": f"{said}. Which one joins the labels?",
        "choices": [{"value": s, "text": SEPARATOR_WORDS[s]} for s in candidates]
        + [{"value": multilabel.NO_SEPARATOR, "text": "none: one label per row, the names hold those characters"}],
    }
