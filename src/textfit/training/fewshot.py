"""Few-shot training: a classifier from a handful of examples per class.

With a few examples per class, full fine-tuning from a random head mostly fits noise (20-topic
finance tweets, 8 per class: 0.39 accuracy). What wins the measurement (benchmarks/sweep.py and
benchmarks/benchmark.py):

 1. mean pooling inside a plain BERT classifier: all-MiniLM-L6-v2 was trained with mean pooling,
    and its mean vectors classify far better than its [CLS] vectors; one extra, frozen encoder
    layer makes [CLS] read the mean (`models.add_mean_pooling_layer`, added by train());
 2. the label names join the training data as one example each (`Fed | Central Banks` becomes
    "Fed, Central Banks"): a prior for classes with one example or none;
 3. contrastive fine-tuning of the encoder, as SetFit does, but with a supervised contrastive
    (SupCon) loss over whole batches rather than sampled pairs, acting on the very vector the
    classification head reads (the pooler output);
 4. a logistic-regression head on those vectors, copied into the `classifier` layer.

The result is a plain `BertForSequenceClassification` with one more layer in its config, so
`transformers.pipeline` loads it as it loads any other textfit model.

Models whose head is `dense -> tanh -> out_proj` over the first token (MPNet, RoBERTa) take the
same recipe on that token: their `dense` layer becomes the identity, so the head reads tanh of the
contrastively trained vector (nearly the vector itself), and the regression goes into `out_proj`.
all-mpnet-base-v2 with 8 finance tweets per class reaches 0.730 held-out accuracy this way
(benchmarks/benchmark.py); in an offline comparison on one sample, training its first-token vector
beat training its mean (0.688 against 0.675), and MPNet's relative position bias, added to every
layer's attention scores, keeps an appended layer from computing an exact mean anyway. Other
architectures fall back to full fine-tuning.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ..config import TrainConfig
from ..data.labeled import LabeledTexts, with_label_names
from ..errors import ModelError
from ..model.base_models import head_shape, output_layer
from ..model.classifier import Classifier
from ..model.evaluate import compute_metrics
from ..model.windows import Windows
from .callbacks import Callback
from .loop import (
    LoopResult,
    LoopState,
    build_optimizer,
    evaluation_done,
    loop_result,
    start_clock,
    step_done,
    train_begins,
    use_bf16,
    warmup_then_decay,
)
from .stopping import held_stops

log = logging.getLogger("textfit")

CONTRASTIVE_BATCH = 32
TEMPERATURE = 0.1
HEAD_C = 10.0


def default_epochs(examples: int) -> int:
    """About 2,000 example passes: enough for the contrastive loss to settle, and quick."""
    return int(min(20, max(8, math.ceil(2000 / max(1, examples)))))


def contrastive_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of random batches of equal size: a last batch of a few texts has too few
    same-label pairs to learn from. (Batches grouped by length would pad less, but cost 1-2
    accuracy points: 0.482-0.491 against 0.498 on 50 random finance tweets, mean of 5 samples.)"""
    return np.array_split(rng.permutation(n), math.ceil(n / batch_size))


def features(model, batches) -> np.ndarray:
    """The vectors the classification head's last linear layer reads, for pre-built batches."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for batch in batches:
            out.append(sequence_vector(model, batch).float().cpu().numpy())
    return np.concatenate(out)


def prepare_first_token_head(model) -> None:
    """Make `dense` the identity, frozen, so the contrastive loss and the logistic regression see
    the same vector: tanh(x) of the first token's. all-mpnet-base-v2's first-token vectors are
    small (|x| < 0.6, std 0.1), where tanh is nearly the identity. (Not a shrinking gain as in
    BERT's pooler: gain g would, in effect, regularise the regression 1/g^2 times harder.)"""
    import torch

    dense = model.classifier.dense
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.weight.shape[0], dense.weight.shape[1]))
        dense.bias.zero_()
    for parameter in dense.parameters():
        parameter.requires_grad_(False)


def sequence_vector(model, batch):
    """What the last linear layer of `model`'s classification head reads."""
    base = getattr(model, model.base_model_prefix)
    output = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    if head_shape(model) == "first-token":
        return model.classifier.dense(output.last_hidden_state[:, 0]).tanh()
    pooled = getattr(output, "pooler_output", None)
    return pooled if pooled is not None else output.last_hidden_state[:, 0]


def supervised_contrastive(vectors, labels, temperature: float | None = None):
    """SupCon loss: each text's same-label neighbours in the batch against all other texts."""
    import torch
    import torch.nn.functional as F

    temperature = temperature or TEMPERATURE
    z = F.normalize(vectors.float(), dim=1)
    similarity = z @ z.T / temperature
    n = len(labels)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    similarity = similarity.masked_fill(self_mask, -1e9)
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    anchors = positives.any(dim=1)
    if not anchors.any():
        return similarity.sum() * 0.0
    per_anchor = (log_prob * positives).sum(dim=1)[anchors] / positives.sum(dim=1)[anchors]
    return -per_anchor.mean()


def fit_head(model, vectors: np.ndarray, labels: list[int], n_labels: int) -> None:
    """Logistic regression on the pooled vectors, copied into the classification layer."""
    import torch
    from sklearn.linear_model import LogisticRegression

    present = sorted(set(labels))
    weight = np.zeros((n_labels, vectors.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -10.0, dtype=np.float32)  # a class never seen is never predicted
    regression = LogisticRegression(C=HEAD_C, max_iter=3000).fit(vectors, labels)
    if len(present) == 2:  # binary: sklearn keeps one row for the second class
        weight[present[1]], bias[present[1]] = regression.coef_[0], regression.intercept_[0]
        bias[present[0]] = 0.0
    else:
        weight[regression.classes_], bias[regression.classes_] = regression.coef_, regression.intercept_
    head = output_layer(model)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight).to(head.weight.dtype))
        head.bias.copy_(torch.from_numpy(bias).to(head.bias.dtype))


def fit_fewshot(
    model,
    tokenizer,
    config: TrainConfig,
    max_length: int,
    train_data: LabeledTexts,
    eval_data: LabeledTexts,
    callbacks: list[Callback],
    held_out=None,
    clock: float | None = None,
) -> LoopResult:
    """Contrastive fine-tuning of the encoder, then a logistic-regression head (module docstring).

    Takes and returns what `finetune.finetune` does and calls the same callbacks with the same shapes.
    No checkpoints: a run takes seconds to a few minutes, and `--resume` starts it over.
    `train()` sends other heads (`head_shape` None) to full fine-tuning."""
    import torch
    from transformers import DataCollatorWithPadding

    shape = head_shape(model)  # train() adds the mean-pooling layer to BERT models
    if shape is None:
        raise ModelError(f"few-shot training needs a BERT or MPNet-style head; {model.config.model_type} has neither")
    if shape == "first-token":
        prepare_first_token_head(model)
    texts, labels = with_label_names(train_data)
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    collate = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)
    rows = [
        {"input_ids": ids, "attention_mask": mask} for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])
    ]
    if torch.cuda.is_available():
        model.to("cuda")

    def batch_of(indices):
        batch = collate([rows[i] for i in indices])
        return {k: v.to(model.device) for k, v in batch.items()}

    batch_size = min(CONTRASTIVE_BATCH, len(texts))
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    epochs = config.epochs or default_epochs(len(texts))
    state = LoopState(planned_steps=epochs * steps_per_epoch)
    info = {
        "strategy": "fewshot",
        "total_steps": state.planned_steps,
        "epochs": epochs,
        "examples": len(train_data),
        "batch_size": batch_size,
        "max_length": max_length,
        "labels": train_data.label_names,
    }
    train_begins(callbacks, info)
    started = start_clock(state, clock, fresh=True)
    status = train_contrastively(model, config, state, epochs, batch_size, batch_of, labels, callbacks)

    # A Stop from here on waits: the head and the one evaluation make the saved model (stopping.py).
    with held_stops("fitting the head and scoring the held-out examples"):
        by_length = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
        vectors = np.empty((len(texts), output_layer(model).in_features), dtype=np.float32)
        vectors[by_length] = features(model, [batch_of(by_length[s : s + 64]) for s in range(0, len(texts), 64)])
        fit_head(model, vectors, labels, len(train_data.label_names))
        train_s = time.perf_counter() - started

        tick = time.perf_counter()
        # One evaluation, in float32 as the saved model runs; train() reuses it for the final report
        # (all-mpnet-base-v2 on 3,398 messages: ~100 s a pass on 2 cores).
        classifier = Classifier(
            model, tokenizer, train_data.label_names, max_length=max_length, windows=Windows(config.max_windows)
        )
        encoder_probabilities = classifier.encoder_proba(eval_data.texts)
        probabilities = held_out.answers(encoder_probabilities) if held_out else encoder_probabilities  # blend.py
        metrics = compute_metrics(eval_data.labels, probabilities.argmax(axis=1))
        state.eval_s = time.perf_counter() - tick
        entry = state.evaluation(
            metrics,
            loss_over=steps_per_epoch,
            elapsed_s=train_s + state.eval_s,
            best=True,
            steps_per_epoch=steps_per_epoch,
        )
        evaluation_done(state, callbacks, entry)
    state.best = entry
    result = loop_result(model, state, status, batch_size, epochs, train_s, use_bf16(config))
    result.eval_encoder_probabilities = encoder_probabilities
    return result


def train_contrastively(
    model, config: TrainConfig, state: LoopState, epochs: int, batch_size: int, batch_of, labels: list[int], callbacks
) -> str:
    """The encoder's contrastive fine-tuning: `epochs` passes over the texts in random batches
    (`batch_of` builds one from their indices). Returns the loop's status."""
    import torch

    steps_per_epoch = math.ceil(len(labels) / batch_size)
    optimizer = build_optimizer(model, config, exclude=model.classifier.parameters())  # the head is set, then fitted
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_then_decay(s, state.planned_steps, config.warmup_ratio)
    )
    generator = np.random.default_rng(config.seed)
    label_tensor = torch.tensor(labels, device=model.device)
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=use_bf16(config))
    try:
        # Dropout off: the same accuracy (50 random finance tweets, mean of 5 samples: 0.500 with,
        # 0.498 without) and 15 % faster steps on a CPU, where drawing the masks is costly.
        model.eval()
        for epoch in range(epochs):
            for indices in contrastive_batches(len(labels), batch_size, generator):
                batch = batch_of(indices)
                with autocast:
                    loss = supervised_contrastive(sequence_vector(model, batch), label_tensor[indices])
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                tokens = int(batch["attention_mask"].sum())
                step_done(state, callbacks, steps_per_epoch, loss=loss.item(), examples=len(indices), tokens=tokens)
            state.end_epoch(epoch)
    except KeyboardInterrupt:
        log.warning("interrupted: fitting the head on the encoder as it is now")
        return "interrupted"  # the head is still fitted below: a usable model either way
    return "completed"
