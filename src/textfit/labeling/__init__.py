"""Label less: suggest labels from the label names, let the model pick what to label next, and
find wrong labels. All of it works on the base model's frozen sentence vectors (vectors.py).

    from textfit import suggest, LabelingSession, audit
    suggest(texts, ["billing", "shipping", "other"]).labels
    session = LabelingSession("labels.sqlite", texts, ["billing", "shipping", "other"])
    audit("labeled.csv").to_records(20)

Modules: vectors (encode + disk cache), zeroshot (suggest), head (the fast linear head and its
cross-validation), select (what to label next), session (the SQLite-backed loop), audit (likely
label errors), files (the CLI's file in, file out)."""

from .audit import AuditReport, audit
from .session import LabelingSession
from .zeroshot import Suggestions, suggest

__all__ = ["AuditReport", "LabelingSession", "Suggestions", "audit", "suggest"]
