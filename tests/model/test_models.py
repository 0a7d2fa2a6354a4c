"""Base-model resolution, text cleaning in the tokenizer, fill-mask."""

from __future__ import annotations

import pytest

from textfit.errors import ModelError
from textfit.model.base_models import load_tokenizer, resolve_model, save_tokenizer
from textfit.model.fillmask import fill_mask


def test_default_model_is_the_embedded_minilm():
    path = resolve_model(None)
    assert isinstance(path, str) and path.endswith("model")
    assert resolve_model("default") == path


def test_unknown_model_offline_gives_advice(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from textfit import hub

    hub.hub_reachable.cache_clear()
    with pytest.raises(ModelError, match="hub cannot be reached.*embedded all-MiniLM-L6-v2"):
        resolve_model("google-bert/bert-base-cased")
    with pytest.raises(ModelError, match="not a model folder"):
        resolve_model(str(tmp_path))


def test_url_cleaning_survives_save_and_plain_reload(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = load_tokenizer(None, strip_urls=True)
    text = "Buy $ACME &amp; hold https://t.co/QPN8Gwl7Uh now"
    assert tokenizer.tokenize(text) == tokenizer.tokenize("Buy $ACME & hold now")
    save_tokenizer(tokenizer, tmp_path, max_length=64)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.tokenize(text) == tokenizer.tokenize(text)
    assert reloaded.model_max_length == 64
    assert "https" in load_tokenizer(None, strip_urls=False).tokenize(text)


def test_fill_mask_on_a_tiny_masked_lm(tiny_mlm):
    guesses = fill_mask("The woman worked as a [MASK] at night.", str(tiny_mlm), top_k=10)
    assert len(guesses) == 10
    assert all(set(g) == {"token", "token_id", "score"} for g in guesses)
    scores = [g["score"] for g in guesses]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    tokenizer = load_tokenizer(str(tiny_mlm), strip_urls=False)
    assert all(tokenizer.convert_ids_to_tokens(g["token_id"]) == g["token"].replace(" ", "") for g in guesses)


def test_fill_mask_accepts_roberta_style_mask(tiny_mlm):
    assert len(fill_mask("The woman worked as a <mask> at night.", str(tiny_mlm), top_k=3)) == 3


def test_fill_mask_needs_exactly_one_mask(tiny_mlm):
    with pytest.raises(ModelError, match="exactly one"):
        fill_mask("no blank here", str(tiny_mlm))


def test_fill_mask_refuses_a_model_without_mlm_head(tiny_bert):
    with pytest.raises(ModelError, match="has no masked-LM head"):
        fill_mask("The woman worked as a [MASK] at night.", str(tiny_bert))


def test_half_precision_checkpoint_is_trained_in_float32(tiny_bert, tmp_path):
    # transformers 5 loads a checkpoint in its stored dtype; AdamW on bf16 weights drops most updates.
    import torch
    from transformers import AutoModel

    from textfit.model.base_models import build_classifier

    AutoModel.from_pretrained(tiny_bert).to(torch.bfloat16).save_pretrained(tmp_path)
    model = build_classifier(str(tmp_path), ["a", "b"])
    assert {p.dtype for p in model.parameters()} == {torch.float32}
