"""The label check ("Check the labels") in the page's words: a project's most suspicious labels
(textfit.labeling.audit), each naming its message rather than its place among the labels."""

from __future__ import annotations

import re

AUDIT_ROWS = 25
"""The most suspicious labels the page lists."""


def suspicious_labels(session, labels: dict) -> dict:
    """Audit the labels given so far (message index -> label) of a LabelingSession: the rows the page
    lists and how many labels look wrong."""
    import numpy as np

    from ....labeling import audit

    indices = np.array(list(labels), int)
    report = audit([session.texts[i] for i in indices], list(labels.values()), vectors=session.vectors[indices])
    rows = []
    for record in report.to_records(AUDIT_ROWS):
        index = int(indices[record["index"]])
        # the report names rows by their place among the labels: name the message itself instead
        reason = re.sub(
            r"near-duplicate of row (\d+)",
            lambda m: f"almost the same as “{_short(session.texts[indices[int(m.group(1)) - 1]])}”",
            record["reason"],
        )
        rows.append(
            {
                "index": index,
                "text": session.texts[index],
                "label": record["label"],
                "suggested_label": record["suggested_label"],
                "suspicion": record["suspicion"],
                "label_probability": record["label_probability"],
                "likely_mislabeled": record["likely_mislabeled"],
                "reason": reason,
            }
        )
    # where the check cannot judge (audit.reliability), the page says so instead of flagging
    return {
        "status": "done",
        "rows": rows,
        "flagged": int(report.flagged.sum()),
        "reliability": report.reliability,
        "refusal": report.refusal,
    }


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
