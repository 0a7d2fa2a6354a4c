"""Learn from the texts nobody labeled (`--unlabeled`): a teacher labels them, the served model learns from both.

1. The texts: read from their file, blanks and repeats dropped, and so are the texts of the labeled
   file (the held-out ones above all: a score on texts the model has studied, even without their
   labels, would flatter it). More than `--time-budget` allows are sampled, and the log says so.
2. The teacher: trained on the human labels as the run itself is. `auto` takes all-mpnet-base-v2 when
   it is downloaded and the labels are few (the few-shot strategy), where it is ~10 points better
   than MiniLM; otherwise, and with `none`, the served model trained on the labels is its own teacher.
   A larger teacher given many texts then takes one round of self-training: it reads a sample of them and
   is trained again on the human labels plus its surest answers in each category (`teach_again`).
3. Soft labels: the teacher's probabilities for every unlabeled text.
4. Distillation, as SetFit's DistillationTrainer does it in spirit: the served model, already
   trained on the labels, goes on learning to answer as the teacher does on the unlabeled texts
   (soft cross-entropy), and as the humans do on the labeled ones.
5. Honest scores: the held-out part holds human labels only. The served model is scored on it
   before and after (the record's `unlabeled`, and the model card, say what the texts were worth);
   where they made it worse, the model trained on the labels alone is kept, and the record says so.

Measured (benchmarks/unlabeled.py; docs/benchmarks.md, "Few labels and texts nobody labeled"): 8 finance
tweets a topic + 4,000 unlabeled, MiniLM served, held-out accuracy: all-mpnet-base-v2 teaching (trained once:
no second round with so few texts), 0.577 -> 0.704 (mean of 5 samples; the teacher itself 0.707; 5 minutes a run
on 2 cores); MiniLM teaching itself, 0.577 -> 0.582 (5 samples): the larger teacher is the lever. 200 random
labels and all 13,392 other texts of the pool: 0.646 -> 0.753 (5 samples, 18-21 minutes a run; the teacher itself
0.762 after its second round, 0.750 before; on 3 of them 0.761 against 0.749 with the teacher trained once): more
texts close the gap to the teacher.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..data.labeled import LabeledTexts
from ..errors import DataError, TextfitError
from ..model.blend import HeldOutBlend
from ..model.classifier import Classifier
from ..model.evaluate import compute_metrics
from . import distributed as dist
from .loop import LoopResult, build_optimizer, use_bf16, warmup_then_decay

log = logging.getLogger("textfit")

LARGER_TEACHER = "all-mpnet-base-v2"
EPOCHS = 2
"""Passes over the unlabeled and labeled texts together."""
BATCH = 32
LEARNING_RATE_SHARE = 0.5
"""Of the run's learning rate: the served model starts from its labels-alone weights, not from scratch."""
BUDGET_SHARE_FOR_TEXTS = 0.9
"""Of the time left when the unlabeled pass starts: the rest scores and saves."""
TEACHER_ROUND_TEXTS = 2000
"""A larger teacher's second round reads at most this many of the unlabeled texts (a random sample)..."""
SURE_A_CATEGORY = 25
"""...and learns, beside the human labels, its surest answers for each category among them, up to this many.
On 200 random finance-topic labels (one sample, benchmarks/unlabeled.py's weakest) all-mpnet-base-v2 alone went
from 0.735 to 0.760 with 10 a category (94 % of them right) and to 0.771 with 25 (93 % right). In whole runs
(3 samples, every other text unlabeled) the teacher went 0.763 -> 0.766 and the served model 0.749 -> 0.761,
for about 5 minutes more on 2 cores (docs/benchmarks.md#unlabeled)."""
ROUND_MIN_TEXTS = 10_000
"""The second round runs only where at least this many unlabeled texts are left to learn from. With 13,392 the
served model followed its better teacher (above); with 4,000 it did not: 8 labels a topic, 5 samples, the teacher
0.707 -> 0.732 but the served model 0.704 -> 0.706, while the round more than doubled the run (660-727 s against
301-353 s on 2 cores). Between the two, not measured."""
SELF_TEACHER = "the served model"
"""The teacher's name when the served model, trained on the labels, teaches itself."""

MEASURED_GAINS: dict[str, dict | None] = {
    # docs/benchmarks.md#unlabeled (benchmarks/unlabeled.py), held-out accuracy on human labels only
    SELF_TEACHER: {
        "labels_alone": 0.577,
        "with_unlabeled": 0.582,
        "data": "finance topics with 8 labels a topic and 4,000 unlabeled texts",
        "samples": 5,
        "note": "mean of 5 samples, +0.2 to +0.8 points each: within the noise between samples",
    },
    LARGER_TEACHER: {
        "labels_alone": 0.577,
        "with_unlabeled": 0.704,
        "data": "finance topics with 8 labels a topic and 4,000 unlabeled texts",
        "samples": 5,
        "note": "mean of 5 samples, +10.8 to +17.0 points each, the teacher trained once (with 4,000 texts it takes "
        "no second round); about 5 minutes a run on 2 cores",
    },
}
"""What learning from unlabeled texts was measured to be worth, by teacher (None: not measured). The
studio shows these figures beside the cost (server/studio/runs/estimate.py); nothing else makes one up."""


def measured_gain(teacher: str | None) -> dict:
    """MEASURED_GAINS for a teacher (None or SELF_TEACHER: the served model itself), with the gain in
    accuracy points; {"measured": False} where nothing was measured."""
    figures = MEASURED_GAINS.get(teacher or SELF_TEACHER)
    if not figures:
        return {"measured": False}
    points = round(100 * (figures["with_unlabeled"] - figures["labels_alone"]), 1)
    return {"measured": True, "points": points, **figures}


@dataclasses.dataclass
class Teacher:
    name: str
    """The base model's name, or 'the served model' when it teaches itself."""
    classifier: Classifier
    metrics: dict | None
    """Its held-out scores, on the same human labels as the served model's."""
    train_s: float


def learn_from_unlabeled(run, loop: LoopResult, clock: float) -> LoopResult:
    """The run's model after it learned from the unlabeled texts (module docstring); `loop` as
    train() hands it on, with `unlabeled` (the record's part) set and the held-out scores updated."""
    if dist.is_distributed():
        raise TextfitError("--unlabeled runs in one process: start `textfit train` without torchrun / accelerate")
    config, started = run.config, time.perf_counter()
    given = read_unlabeled(config.unlabeled, config.text_column)
    pool = unseen(given, [*run.train_data.texts, *run.eval_data.texts])
    if not pool:
        log.warning(
            "--unlabeled: all %d texts are labeled already (or repeats): nothing more to learn from", len(given)
        )
        loop.unlabeled = {"source": config.unlabeled, "texts_given": len(given), "texts_used": 0}
        return loop
    student = Classifier(loop.model, run.tokenizer, run.train_data.label_names, max_length=run.max_length)
    before = loop.eval_encoder_probabilities
    if before is None:
        before = student.encoder_proba(run.eval_data.texts)
    labels_alone = compute_metrics(run.eval_data.labels, before.argmax(axis=1))
    teacher = train_teacher(run, student, labels_alone)
    teacher, teacher_round = teach_again(run, teacher, pool, clock)
    texts, sampled_note = fit_to_budget(pool, run, teacher, student, clock, config.seed)
    tick = time.perf_counter()
    soft_labels = teacher.classifier.encoder_proba(texts)
    label_s = time.perf_counter() - tick
    log.info("the teacher (%s) labeled %d unlabeled texts in %.0f s", teacher.name, len(texts), label_s)
    kept_weights = copy.deepcopy(loop.model.state_dict())
    tick = time.perf_counter()
    distil(loop.model, run.tokenizer, run.max_length, run.train_data, texts, soft_labels, config)
    distil_s = time.perf_counter() - tick
    after = student.encoder_proba(run.eval_data.texts)
    with_texts = compute_metrics(run.eval_data.labels, after.argmax(axis=1))
    kept = "with the unlabeled texts"
    if with_texts["macro_f1"] < labels_alone["macro_f1"] and with_texts["accuracy"] < labels_alone["accuracy"]:
        loop.model.load_state_dict(kept_weights)
        after, kept = before, "labels alone (the unlabeled texts made it worse on the held-out labels)"
    log.info(
        "held-out accuracy with the labels alone %.4f, with %d unlabeled texts %.4f: kept %s",
        labels_alone["accuracy"],
        len(texts),
        with_texts["accuracy"],
        kept,
    )
    loop.eval_encoder_probabilities = after
    loop.unlabeled = {
        "source": config.unlabeled,
        "texts_given": len(given),
        "texts_used": len(texts),
        "left_out_as_repeats_or_labeled": len(given) - len(pool),
        "sampled": sampled_note,
        "teacher": teacher.name,
        "teacher_metrics": teacher.metrics,
        "rounds": 2 if teacher_round and "skipped" not in teacher_round else 1,
        "teacher_round": teacher_round,
        "epochs": EPOCHS,
        "labels_alone_metrics": labels_alone,
        "with_unlabeled_metrics": with_texts,
        "accuracy_gain": round(with_texts["accuracy"] - labels_alone["accuracy"], 4),
        "kept": kept,
        "seconds": {
            "teacher_training": round(teacher.train_s, 1),
            "teacher_round": (teacher_round or {}).get("seconds", 0.0),
            "teacher_labeling": round(label_s, 1),
            "distillation": round(distil_s, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "scored_on": "the held-out human labels only: never on the teacher's labels",
    }
    return loop


def read_unlabeled(path: str | Path, text_column: str | None = None) -> list[str]:
    """The texts of a file (.txt one a line, or any table's text column), blanks left out."""
    from ..data.labeled import read_table
    from ..data.texts import empty_texts, find_text_column, read_texts

    path = Path(path)
    if not path.is_file():
        raise DataError(f"--unlabeled: file not found: {path}")
    if path.suffix.lower() == ".txt":
        return read_texts(path)
    frame, _, _ = read_table(path)
    frame.columns = [str(c) for c in frame.columns]
    column = find_text_column(frame, path, text_column if text_column in frame.columns else None)
    values = frame[column][~empty_texts(frame[column])]
    texts = [str(t).strip() for t in values]
    if not texts:
        raise DataError(f"--unlabeled: {path} holds no texts")
    return texts


def unseen(texts: list[str], labeled: Iterable[str]) -> list[str]:
    """The texts once each, less the `labeled` ones (all the labeled examples' texts): the training ones
    carry their human label already; the held-out ones must stay unseen for the scores to stay honest."""
    known = {str(t).strip() for t in labeled}
    return [t for t in dict.fromkeys(texts) if t not in known]


def choose_teacher(teacher: str | None, served_model: str, strategy: str) -> str | None:
    """The teacher's base model, or None for the served model teaching itself."""
    from ..model.catalog import downloaded_folder, known_model

    choice = (teacher or "auto").strip()
    if choice.lower() == "none" or choice == served_model:
        return None
    if choice.lower() != "auto":
        return choice
    larger = known_model(LARGER_TEACHER)
    if strategy == "fewshot" and known_model(served_model) != larger and downloaded_folder(larger):
        return LARGER_TEACHER
    return None


def train_teacher(run, student: Classifier, student_metrics: dict) -> Teacher:
    """The teacher, trained on the human labels as the run is; the served model itself where
    `choose_teacher` says so (no second training)."""
    name = choose_teacher(run.config.teacher, run.config.model, run.strategy)
    if name is None:
        log.info("teacher: the served model as trained on the labels (a larger one: --teacher %s)", LARGER_TEACHER)
        return Teacher(SELF_TEACHER, student, student_metrics, 0.0)
    log.info("teacher: %s, trained on the %d labeled examples", name, len(run.train_data))
    return fit_teacher(run, name, run.train_data)


def fit_teacher(run, name: str, train_data: LabeledTexts) -> Teacher:
    """The base model `name` trained on `train_data` with the run's strategy and settings (no n-grams),
    scored on the run's held-out part."""
    from .setup import prepare_model
    from .train import NGrams, train_encoder

    tick = time.perf_counter()
    config = dataclasses.replace(run.config, model=name, unlabeled=None, lexical_weight=0.0)
    tokenizer, max_length, model, strategy = prepare_model(
        config, run.strategy, train_data, len(run.eval_data), run.boilerplate
    )
    teacher_run = dataclasses.replace(
        run,
        config=config,
        train_data=train_data,
        strategy=strategy,
        tokenizer=tokenizer,
        max_length=max_length,
        callbacks=[],
        checkpoints=None,
    )
    no_ngrams = NGrams(None, 0.0, HeldOutBlend(None, run.eval_data.texts, run.eval_data.labels, choose=False))
    result = train_encoder(teacher_run, model, no_ngrams, time.perf_counter(), None, False)
    classifier = Classifier(result.model, tokenizer, run.train_data.label_names, max_length=max_length)
    probabilities = result.eval_encoder_probabilities
    if probabilities is None:
        probabilities = classifier.encoder_proba(run.eval_data.texts)
    metrics = compute_metrics(run.eval_data.labels, probabilities.argmax(axis=1))
    train_s = time.perf_counter() - tick
    log.info(
        "teacher %s on %d examples: held-out accuracy %.4f, trained in %.0f s",
        name, len(train_data), metrics["accuracy"], train_s,
    )  # fmt: skip
    return Teacher(name, classifier, metrics, train_s)


def teach_again(run, teacher: Teacher, texts: list[str], clock: float) -> tuple[Teacher, dict | None]:
    """A larger teacher's second round (self-training): it reads up to TEACHER_ROUND_TEXTS of the unlabeled
    texts and is trained afresh on the human labels plus its surest answers, SURE_A_CATEGORY a category at
    most: they are mostly right, and they cover what a few labels leave out. Returns the teacher and the
    record's `teacher_round`: None where the served model teaches itself (its round would retrain the run,
    not measured), {"skipped": why} where --time-budget leaves too little for it."""
    if teacher.name == SELF_TEACHER:
        return teacher, None
    budget = run.config.time_budget
    left_s = budget * 60 - (time.perf_counter() - clock) if budget else math.inf
    why = why_no_second_round(len(texts), left_s, teacher.train_s, budget)
    if why:
        log.info("the teacher takes no second round: %s (it took %.0f s to train once)", why, teacher.train_s)
        return teacher, {"skipped": why}
    tick = time.perf_counter()
    order = np.random.default_rng(run.config.seed).permutation(len(texts))[:TEACHER_ROUND_TEXTS]
    read = [texts[i] for i in sorted(order)]
    probabilities = teacher.classifier.encoder_proba(read)
    chosen = surest_answers(probabilities, SURE_A_CATEGORY)
    answers = probabilities[chosen].argmax(axis=1)
    log.info(
        "the teacher's second round: its %d surest answers among %d unlabeled texts join the %d labels",
        len(chosen), len(read), len(run.train_data),
    )  # fmt: skip
    train_data = dataclasses.replace(
        run.train_data,
        texts=[*run.train_data.texts, *(read[i] for i in chosen)],
        labels=[*run.train_data.labels, *answers.tolist()],
    )
    again = fit_teacher(run, teacher.name, train_data)
    record = {
        "texts_read": len(read),
        "answers_added": len(chosen),
        "first_round_metrics": teacher.metrics,
        "seconds": round(time.perf_counter() - tick, 1),
    }
    return dataclasses.replace(again, train_s=teacher.train_s), record


def why_no_second_round(texts: int, left_s: float, teacher_train_s: float, budget_min: float | None) -> str | None:
    """Why a larger teacher takes no second round, or None where it takes one (the studio's estimate asks the
    same): too few texts for it to pay (ROUND_MIN_TEXTS), or too little time left for it, since it trains again
    on more examples and the texts still need reading and learning from after it."""
    if texts < ROUND_MIN_TEXTS:
        return (
            f"{texts:,} unlabeled texts, fewer than the {ROUND_MIN_TEXTS:,} it needs to pay (measured: with 13,392 "
            "the served model gained 1.2 points from it; with 4,000, 0.2 points for twice the run's time)"
        )
    if left_s < 3 * teacher_train_s:
        return f"--time-budget {budget_min:g} min leaves {max(left_s, 0):.0f} s, less than three of its trainings"
    return None


def surest_answers(probabilities: np.ndarray, per_category: int) -> list[int]:
    """The rows whose top answer is surest, up to `per_category` for each category they answer, in row order."""
    answers, sureness = probabilities.argmax(axis=1), probabilities.max(axis=1)
    chosen = []
    for category in np.unique(answers):
        rows = np.flatnonzero(answers == category)
        chosen += rows[np.argsort(-sureness[rows], kind="stable")][:per_category].tolist()
    return sorted(chosen)


def fit_to_budget(texts: list[str], run, teacher: Teacher, student: Classifier, clock: float, seed: int):
    """(the texts the time left allows, a sentence saying how many were sampled, or None). The cost of
    a text, measured on a few: the teacher reads it once, the served model learns from it EPOCHS times
    (a training step costs about three times a forward pass)."""
    budget = run.config.time_budget
    if not budget or not texts:
        return texts, None
    probe = texts[:32]
    tick = time.perf_counter()
    teacher.classifier.encoder_proba(probe)
    teacher_s = (time.perf_counter() - tick) / len(probe)
    tick = time.perf_counter()
    student.encoder_proba(probe)
    student_s = 3 * (time.perf_counter() - tick) / len(probe)
    left_s = (budget * 60 - (time.perf_counter() - clock)) * BUDGET_SHARE_FOR_TEXTS
    fits = int(max(0.0, left_s) / (teacher_s + EPOCHS * student_s))
    if fits >= len(texts):
        return texts, None
    fits = max(fits, min(len(texts), 100))
    chosen = np.sort(np.random.default_rng(seed).choice(len(texts), fits, replace=False))
    note = f"{fits} of the {len(texts)} unlabeled texts, sampled at random to fit --time-budget {budget:g} min"
    log.warning("learning from %s", note)
    return [texts[i] for i in chosen], note


def distil(model, tokenizer, max_length: int, train_data: LabeledTexts, texts, soft_labels, config) -> None:
    """EPOCHS passes of soft cross-entropy: the teacher's probabilities on the unlabeled texts, the
    human labels (one-hot) on the labeled ones, in random batches of BATCH."""
    import torch
    from transformers import DataCollatorWithPadding

    all_texts = list(texts) + list(train_data.texts)
    targets = np.concatenate([soft_labels, np.eye(len(train_data.label_names), dtype=np.float32)[train_data.labels]])
    encoded = tokenizer(all_texts, truncation=True, max_length=max_length)
    rows = [{"input_ids": i, "attention_mask": m} for i, m in zip(encoded["input_ids"], encoded["attention_mask"])]
    collate = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)
    targets = torch.from_numpy(targets.astype(np.float32))
    steps_per_epoch = math.ceil(len(rows) / BATCH)
    total = EPOCHS * steps_per_epoch
    optimizer = build_optimizer(
        model, dataclasses.replace(config, learning_rate=config.learning_rate * LEARNING_RATE_SHARE)
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_then_decay(s, total, config.warmup_ratio))
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=use_bf16(config))
    generator = np.random.default_rng(config.seed)
    model.eval()  # no dropout, as in few-shot training: the same accuracy, faster steps on a CPU
    step, tick = 0, time.perf_counter()
    for _ in range(EPOCHS):
        for indices in np.array_split(generator.permutation(len(rows)), steps_per_epoch):
            batch = {k: v.to(model.device) for k, v in collate([rows[i] for i in indices]).items()}
            with autocast:
                logits = model(**batch).logits
            loss = -(targets[indices].to(model.device) * torch.log_softmax(logits.float(), dim=1)).sum(1).mean()
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 50 == 0 or step == total:
                log.info(
                    "learning from the unlabeled texts: step %d of %d (%.0f s)", step, total, time.perf_counter() - tick
                )
    model.eval()
