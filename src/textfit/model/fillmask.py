"""What a base model knows before fine-tuning: fill in the blank, as the article shows."""

from __future__ import annotations

from ..errors import ModelError
from .base_models import _load, display_name

GENERIC_MASKS = ("[MASK]", "<mask>")


def fill_mask(text: str, model: str | None = None, top_k: int = 10) -> list[dict]:
    """The `top_k` most likely tokens for the mask in `text`: [{"token", "token_id", "score"}].

    `[MASK]` and `<mask>` both work; each is translated to the model's own mask token."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    tokenizer = _load(AutoTokenizer, model)
    mask = tokenizer.mask_token
    if mask is None:
        raise ModelError(f"model '{display_name(model)}' has no mask token, so it cannot fill in a blank")
    for generic in GENERIC_MASKS:
        text = text.replace(generic, mask)
    if text.count(mask) != 1:
        raise ModelError(f"put exactly one {mask} (or [MASK]) in the text; found {text.count(mask)}")

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        lm, loading = _load(AutoModelForMaskedLM, model, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(loading["missing_keys"])
    if missing:
        raise ModelError(
            f"model '{display_name(model)}' has no masked-LM head (its weights for "
            f"{missing[0]} and {len(missing) - 1} more are missing), so its "
            "guesses would be random. Point --model at a model trained with masked language modelling, "
            "e.g. google-bert/bert-base-cased."
        )
    completer = pipeline("fill-mask", model=lm, tokenizer=tokenizer, top_k=top_k)
    return [
        {"token": r["token_str"].strip(), "token_id": int(r["token"]), "score": float(r["score"])}
        for r in completer(text)
    ]


def guesses_table(guesses: list[dict]):
    """The article's three columns: token, token id, score."""
    from rich.table import Table

    table = Table("token", "token id", "score")
    for guess in guesses:
        table.add_row(guess["token"], str(guess["token_id"]), f"{guess['score']:.4f}")
    return table
