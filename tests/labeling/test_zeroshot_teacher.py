"""Zero-shot with the unlabeled texts and the teacher: the self-trained head sees the texts and the
unlabeled ones together, on the larger model's vectors where it is downloaded."""

from __future__ import annotations

import numpy as np

from textfit.labeling import zeroshot
from textfit.labeling.zeroshot import LARGER_MODEL, Suggestions, suggest_with_teacher, zero_shot_model


def test_the_larger_model_is_used_where_it_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTFIT_MODELS", str(tmp_path))
    assert zero_shot_model("auto") is None and zero_shot_model("none") is None
    (tmp_path / LARGER_MODEL).mkdir()
    (tmp_path / LARGER_MODEL / "config.json").write_text("{}")
    (tmp_path / LARGER_MODEL / "model.safetensors").write_bytes(b"")
    assert zero_shot_model("auto") == LARGER_MODEL and zero_shot_model("some/model") == "some/model"


def test_suggestions_are_for_the_texts_alone_learned_beside_the_unlabeled_ones(monkeypatch):
    seen = {}

    def fake_suggest(texts, names, descriptions=None, *, model=None, progress=None):
        seen.update(texts=list(texts), model=model)
        probabilities = np.eye(len(names))[np.arange(len(texts)) % len(names)]
        return Suggestions(list(names), probabilities.argmax(1), probabilities.max(1), probabilities)

    monkeypatch.setattr(zeroshot, "suggest", fake_suggest)
    found = suggest_with_teacher(["u1", "t2", "u1", "u2"], ["t1", "t2"], ["a", "b"], teacher="none")
    assert seen == {"texts": ["t1", "t2", "u1", "u2"], "model": None}  # the texts first, each unlabeled one once
    assert len(found) == 2 and found.labels == ["a", "b"] and found.probabilities.shape == (2, 2)
