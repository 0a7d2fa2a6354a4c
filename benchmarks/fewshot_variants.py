"""Few-shot variants against textfit's recipe, on the same samples: which change is worth adopting?

    .venv/bin/python benchmarks/fewshot_variants.py [--variants base,ens,aug] [--samples 3] [--how per_class:8]

Each variant re-runs the few-shot loop (fewshot.py: contrastive fine-tuning, then a logistic head)
with one change, on --samples samples of the finance-topic training part (seeds 7, 8, ...), and
scores the encoder alone (no n-gram blend) on the benchmark's 3,398 held-out messages. Research
code, kept for the record (README, "Few examples"); not part of the tests.

    base     textfit's recipe as shipped
    ens      + a logistic head on the frozen (untrained) vectors, its probabilities averaged in
    concat   the head reads [trained vector, frozen vector]
    aug      + a second view of every text in its batch, 15 % of its words dropped
    ce       + cross-entropy through a linear head, trained jointly with the contrastive loss
    t05/t02  contrastive temperature 0.05 / 0.2 (shipped: 0.1)
    long     twice the epochs
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np

import saved
from sweep import DEFAULT_DATA, split, training_set


def drop_words(text: str, rng: np.random.Generator, share: float = 0.15) -> str:
    words = text.split()
    kept = [w for w in words if rng.random() >= share]
    return " ".join(kept or words)


def run(variant: str, how: str, seed: int, model_name: str, names: bool) -> dict:
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import DataCollatorWithPadding, set_seed

    from textfit import TrainConfig
    from textfit.data.labeled import with_label_names
    from textfit.model.base_models import load_tokenizer
    from textfit.training import fewshot as fs
    from textfit.training.loop import build_optimizer, warmup_then_decay
    from textfit.training.train import new_model

    pool, held_out = split(str(DEFAULT_DATA))
    chosen = training_set(pool, how, seed)
    if not names:
        from fewshot_means import numbered

        chosen, held_out = numbered(chosen), numbered(held_out)
    config = TrainConfig(model=model_name, seed=seed, label_names=chosen.label_names)
    set_seed(seed)
    tokenizer = load_tokenizer(config.model)
    max_length = 64
    model = new_model(config, chosen.label_names, mean_pooling=True)
    if fs.head_shape(model) == "first-token":
        fs.prepare_first_token_head(model)
    texts, labels = with_label_names(chosen)
    collate = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)

    def batch_of(batch_texts):
        encoded = tokenizer(batch_texts, truncation=True, max_length=max_length)
        return collate(
            [{"input_ids": i, "attention_mask": m} for i, m in zip(encoded["input_ids"], encoded["attention_mask"])]
        )

    def vectors_of(all_texts):
        model.eval()
        order = np.argsort([len(t) for t in all_texts], kind="stable")
        out = np.empty((len(all_texts), fs.output_layer(model).in_features), np.float32)
        with torch.inference_mode():
            for s in range(0, len(all_texts), 128):
                idx = order[s : s + 128]
                out[idx] = fs.sequence_vector(model, batch_of([all_texts[i] for i in idx])).float().numpy()
        return out

    frozen_train = frozen_eval = None
    if variant in ("ens", "concat"):
        frozen_train, frozen_eval = vectors_of(texts), vectors_of(held_out.texts)

    epochs = fs.default_epochs(len(texts)) * (2 if variant == "long" else 1)
    batch_size = min(fs.CONTRASTIVE_BATCH, len(texts))
    steps = epochs * math.ceil(len(texts) / batch_size)
    n_labels = len(chosen.label_names)
    ce_head = torch.nn.Linear(fs.output_layer(model).in_features, n_labels) if variant == "ce" else None
    optimizer = build_optimizer(model, config, exclude=model.classifier.parameters())
    if ce_head is not None:
        optimizer.add_param_group({"params": list(ce_head.parameters()), "lr": 1e-2, "weight_decay": 0.0})
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_then_decay(s, steps, config.warmup_ratio))
    temperature = {"t05": 0.05, "t02": 0.2}.get(variant, fs.TEMPERATURE)
    rng = np.random.default_rng(seed)
    label_tensor = torch.tensor(labels)
    started = time.perf_counter()
    model.eval()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    for _ in range(epochs):
        for indices in fs.contrastive_batches(len(texts), batch_size, rng):
            batch_texts, batch_labels = [texts[i] for i in indices], label_tensor[indices]
            if variant == "aug":
                batch_texts = batch_texts + [drop_words(t, rng) for t in batch_texts]
                batch_labels = torch.cat([batch_labels, batch_labels])
            with autocast:
                vectors = fs.sequence_vector(model, batch_of(batch_texts))
                loss = fs.supervised_contrastive(vectors, batch_labels, temperature)
                if ce_head is not None:
                    loss = loss + torch.nn.functional.cross_entropy(ce_head(vectors.float()), batch_labels)
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
    train_s = time.perf_counter() - started

    train_vectors, eval_vectors = vectors_of(texts), vectors_of(held_out.texts)
    if variant == "concat":
        train_vectors, eval_vectors = np.hstack([train_vectors, frozen_train]), np.hstack([eval_vectors, frozen_eval])
    head = LogisticRegression(C=fs.HEAD_C, max_iter=3000).fit(train_vectors, labels)
    probabilities = np.zeros((len(held_out), n_labels))
    probabilities[:, head.classes_] = head.predict_proba(eval_vectors)
    if variant == "ens":
        frozen_head = LogisticRegression(C=fs.HEAD_C, max_iter=3000).fit(frozen_train, labels)
        frozen_p = np.zeros_like(probabilities)
        frozen_p[:, frozen_head.classes_] = frozen_head.predict_proba(frozen_eval)
        probabilities = 0.5 * probabilities + 0.5 * frozen_p
    accuracy = float((probabilities.argmax(1) == np.array(held_out.labels)).mean())
    return {
        "variant": variant,
        "how": how,
        "seed": seed,
        "names": names,
        "model": model_name,
        "accuracy": round(accuracy, 4),
        "train_s": round(train_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="base,ens,aug,ce")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--how", default="per_class:8")
    parser.add_argument("--model", default="default")
    parser.add_argument("--numbers", action="store_true", help="classes named 0..N-1 instead of their names")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not DEFAULT_DATA.is_file():
        raise SystemExit(f"skipped: {DEFAULT_DATA} is absent")
    rows = []
    for variant in args.variants.split(","):
        row = [run(variant, args.how, 7 + i, args.model, not args.numbers) for i in range(args.samples)]
        rows += row
        accuracy = [r["accuracy"] for r in row]
        print(
            f"{variant:8} {args.how:12} {'numbers' if args.numbers else 'names':8} mean {np.mean(accuracy):.3f} "
            f"({' '.join(f'{a:.3f}' for a in accuracy)})  {np.mean([r['train_s'] for r in row]):.0f} s training",
            flush=True,
        )
    saved.append("fewshot_variants", rows)


if __name__ == "__main__":
    main()
