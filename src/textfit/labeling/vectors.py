"""Frozen sentence vectors: the encoder's mean-pooled, L2-normalised token vectors, cached on disk.

Everything in `textfit.labeling` works on these vectors: zero-shot suggestions, the active-learning
session's fast head, the label audit. Encoding 17,000 tweets with the embedded MiniLM takes a few
minutes on 2 cores, so the result is stored under a key made of the model and the texts (their
order included): the same file is embedded once, however often a session is reopened."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError

MAX_LENGTH = 128
"""Tokens read per text: tweets and support messages fit; longer texts keep their beginning."""
BATCH_SIZE = 64
Progress = Callable[[int, int], None]
"""progress(texts_done, texts_total), called after every batch."""


def cache_dir() -> Path:
    """$TEXTFIT_CACHE/vectors, else ~/.cache/textfit/vectors."""
    root = os.environ.get("TEXTFIT_CACHE") or Path.home() / ".cache" / "textfit"
    return Path(root) / "vectors"


def model_fingerprint(path: str) -> str:
    """The model folder and its weights' size and time: a retrained folder under the same name is
    another model. A hub id (no folder) is its own fingerprint."""
    folder = Path(path)
    if not folder.is_dir():
        return path
    parts = [str(folder.resolve())]
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        stat = weights.stat()
        parts.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def cache_key(model_path: str, texts: Sequence[str]) -> str:
    digest = hashlib.sha256(f"v1|{MAX_LENGTH}|{model_fingerprint(model_path)}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class Encoder:
    """The base model without any head, loaded once; `encode(texts)` -> float32 (n, hidden), unit rows."""

    def __init__(self, model: str | None = None):
        from transformers import AutoModel

        from ..model.base_models import _load, load_tokenizer, resolve_model

        self.name = model
        self.path = resolve_model(model)
        # textfit's tokenizer cleans URLs and HTML entities, as training does: a URL is ~40 % of a
        # tweet's tokens and says nothing about its topic.
        self.tokenizer = load_tokenizer(model)
        self.model = _load(AutoModel, model).eval()

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        import torch

        texts = [str(t) for t in texts]
        vectors = np.zeros((len(texts), self.model.config.hidden_size), np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: little padding
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH_SIZE):
                idx = order[start : start + BATCH_SIZE]
                batch = self.tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
                )
                mask = batch["attention_mask"].unsqueeze(-1).float()
                # one segment: token_type_ids left out (MPNet takes none, BERT defaults them to 0)
                hidden = self.model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                vectors[idx] = torch.nn.functional.normalize(mean, dim=-1).numpy()
                if progress:
                    progress(min(start + BATCH_SIZE, len(texts)), len(texts))
        return vectors


_ENCODERS: dict[str | None, Encoder] = {}


def encoder(model: str | None = None) -> Encoder:
    """One loaded encoder per model and process (a session re-encodes nothing, but names do)."""
    if model not in _ENCODERS:
        _ENCODERS[model] = Encoder(model)
    return _ENCODERS[model]


def embed(
    texts: Sequence[str], model: str | None = None, *, cache: bool | str | Path = True, progress: Progress | None = None
) -> np.ndarray:
    """Unit-length mean-pooled vectors of `texts`, from the disk cache when this model has embedded
    exactly these texts before. `cache`: True (the default folder), False, or a folder."""
    texts = list(texts)
    if not texts:
        raise DataError("no texts to embed: the input has no rows with text")
    enc = encoder(model)
    folder = None if cache is False else (cache_dir() if cache is True else Path(cache))
    path = folder / f"{cache_key(enc.path, texts)}.npy" if folder else None
    if path is not None and path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(texts):
            if progress:
                progress(len(texts), len(texts))
            return vectors
    vectors = enc.encode(texts, progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp.npy")  # another process may write the same key
        np.save(partial, vectors)
        os.replace(partial, path)
    return vectors
