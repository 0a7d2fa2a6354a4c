"""Tiny randomly initialised encoders, built here (no download), so most tests run in seconds.

Their weights come from a fixed seed, not from whatever the tests before them left in PyTorch's random
state: with two pytest processes taking files in a varying order, unseeded weights changed from run to
run, and with them every answer of the tests built on them."""

from __future__ import annotations

from pathlib import Path

SEED = 0


def _seeded(build):
    """`build()` with PyTorch's generator at SEED, in a forked random state (the caller's stays as it was)."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        return build()


def build_tiny_bert(folder: Path, masked_lm: bool = False) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the embedded model's real tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertModel

    from textfit.model.base_models import resolve_model

    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        vocab_size=30522,
    )
    model = _seeded(lambda: BertForMaskedLM(config) if masked_lm else BertModel(config))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_model(None)).save_pretrained(folder)
    return folder


def build_tiny_mpnet(folder: Path) -> Path:
    """A 2-layer, 32-wide MPNet with random weights; its tokenizer is the embedded model's
    vocabulary under MPNet's special tokens (<s>, </s>, <pad>, <mask>)."""
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    from textfit.model.base_models import resolve_model

    renamed = {"[PAD]": "<pad>", "[CLS]": "<s>", "[SEP]": "</s>", "[MASK]": "<mask>"}
    words = Path(resolve_model(None), "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = MPNetTokenizer(vocab={renamed.get(w, w): i for i, w in enumerate(words)})
    config = MPNetConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=len(words),
        pad_token_id=tokenizer.pad_token_id,
    )
    _seeded(lambda: MPNetModel(config)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
