"""How far do the base model's frozen sentence vectors go? The ceiling behind the few-shot target.

    .venv/bin/python benchmarks/experiments/probe.py [DATA_CSV] [--model NAME_OR_FOLDER]

Mean-pools the base model's token vectors (default: the embedded MiniLM; sentence encoders are
trained to be used that way), fits a logistic regression on 8, 32 and 128 examples per class
(three samples each) and on the whole 80 % pool, and prints held-out accuracy (the benchmark's
split: stratified 20 %, seed 7). A run takes about 4 minutes on 2 cores with MiniLM (22 with
all-mpnet-base-v2), most of it encoding the 17k messages once."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # common.py is one folder up
from common import TOPIC, split, training_set  # noqa: E402


def encoder(name: str = "default"):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from textfit.model.base_models import resolve_model

    path = resolve_model(name)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def encode(texts: list[str], batch_size: int = 64) -> np.ndarray:
        vectors = np.zeros((len(texts), model.config.hidden_size), np.float32)
        order = np.argsort([len(t) for t in texts])  # similar lengths per batch: little padding
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, max_length=128, return_tensors="pt"
                )
                mask = batch["attention_mask"].unsqueeze(-1).float()
                mean = (model(**batch).last_hidden_state * mask).sum(1) / mask.sum(1)
                vectors[idx] = torch.nn.functional.normalize(mean, dim=-1).numpy()
        return vectors

    return encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=str(TOPIC))
    parser.add_argument("--model", default="default", help="base model: hub id, folder or 'default'")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    pool, held_out = split(args.data)
    encode = encoder(args.model)
    started = time.perf_counter()
    pool_vectors, held_vectors = encode(pool.texts), encode(held_out.texts)
    print(f"encoded {len(pool) + len(held_out)} messages in {time.perf_counter() - started:.0f} s")
    row_of = {text: i for i, text in enumerate(pool.texts)}
    truth = np.array(held_out.labels)
    print("| training set | held-out accuracy (per sample) | mean |\n|---|---|---|")
    for how in ("per_class:8", "per_class:32", "per_class:128", "all"):
        scores = []
        for seed in (7,) if how == "all" else (7, 8, 9):
            chosen = training_set(pool, how, seed)
            rows = [row_of[text] for text in chosen.texts]
            head = LogisticRegression(C=10, max_iter=2000).fit(pool_vectors[rows], chosen.labels)
            scores.append(float((head.predict(held_vectors) == truth).mean()))
        print(f"| {how} | {' '.join(f'{s:.4f}' for s in scores)} | {np.mean(scores):.4f} |")


if __name__ == "__main__":
    main()
