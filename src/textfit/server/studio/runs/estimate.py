"""How long a run will take on this computer, said before Start: from the data's size, the strategy
textfit will choose (training/setup.auto_strategy) and a quick measurement of this machine, one
timed forward pass of the embedded model, made once per studio process.

The figures are a range, not a promise: fine-tuning stops early once it stops improving (the low
end), and other programs busy on the same cores slow every step (measured: two trainings at once
on 2 cores each take 3-4 times as long)."""

from __future__ import annotations

import functools
import math
import time

BATCH = 16
"""Training examples a fine-tuning step takes (TrainConfig.batch_size); few-shot steps take 32."""
MEASURED_TOKENS = 64
"""The length of the timed messages: steps on longer ones cost about proportionally more."""
STEP_PER_FORWARD = 3.5
"""A training step (forward, backward, AdamW) against one forward pass of the same batch, no gradients
(backward about twice the forward, plus the optimiser and the batch's padding)."""
EVAL_SHARE = 0.2
"""The held-out part (TrainConfig.eval_split), scored once an epoch by fine-tuning, once by few-shot."""
FIXED_S = 25.0
"""What every run costs beside its steps on 2 quiet cores: starting the process, loading the model,
fitting the n-gram model and the blend, calibrating and saving. With the constants above, few-shot
on 800 finance tweets comes to ~55 s and fine-tuning with its final fit to 30-80 s, where
docs/guide/few-examples.md measured ~55 s and ~95 s on a quiet 2-core Xeon."""
QUIET_FORWARD_S = 0.05
"""forward_seconds on 2 quiet cores of that Xeon (assumed: the busy machine these were written on could
not measure it); the fixed costs grow with a slower or busier machine as the steps do."""


TEACHER_PACE = 6.3
"""all-mpnet-base-v2's cost against the embedded MiniLM's, per text: the same few-shot training on 8 finance
tweets a topic took 254.3 s against 40.1 s, on one machine in one sitting (docs/benchmarks.md, "Finance
topics, 2026-11-30": textfit-8pc-mpnet, textfit-8pc; docs/guide/few-examples.md "about 6x"). `plan` at
this pace gives 225-263 s for that run. (By parameter count it is ~8x the compute a token; reading 5,000
texts for zero-shot vectors on a busy machine took 31x MiniLM's time, 2,052 s against 66 s, docs/benchmarks.md
#unlabeled: where memory is short, expect more than this.)"""

THREADS_GAIN = 1.6
"""A training process uses both cores; the measure takes one (on a busy machine two threads of one
process can wait on each other many times over, and the studio must stay responsive): two quiet
cores run MiniLM about this much faster than one."""


@functools.cache
def forward_seconds() -> float:
    """Seconds for one forward pass of the embedded all-MiniLM-L6-v2 over 16 messages of 64 tokens on
    this machine's two cores as they are now: the best of three after a warm-up (the first pays
    one-off costs), on one thread, scaled to two (THREADS_GAIN)."""
    import torch

    from ....model.base_models import build_classifier

    model = build_classifier(None, ["a", "b"]).eval()
    ids = torch.randint(1000, 20000, (BATCH, MEASURED_TOKENS))
    mask = torch.ones_like(ids)
    timings, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for _ in range(4):
                started = time.perf_counter()
                model(input_ids=ids, attention_mask=mask)
                timings.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return min(timings[1:]) / THREADS_GAIN


def tokens_for(mean_chars: float) -> int:
    """The tokens a batch is padded to, from the messages' mean length in characters (about four
    characters a token, and batches padded to their longest: a third more)."""
    return int(min(256, max(16, math.ceil(1.33 * (mean_chars / 4 + 2)))))


def plan(
    examples: int,
    categories: int,
    strategy: str,
    mean_chars: float,
    forward_s: float,
    epochs: int | None = None,
    time_budget_min: float | None = None,
    multi_label: bool = False,
) -> dict:
    """The expected training time of a run on `examples` labeled rows (textfit holds out a fifth),
    in seconds {low, high}, with the steps behind it. `strategy` is 'fewshot' or 'finetune' (after
    auto_strategy); `forward_s` the machine's measure (forward_seconds); `multi_label`: several
    labels a text (fine-tuned for more epochs)."""
    from ....training import fewshot, finetune

    train = max(1, round(examples * (1 - EVAL_SHARE)))
    held_out = examples - train
    per_token = forward_s / (BATCH * MEASURED_TOKENS)  # seconds a message-token, forward only
    tokens = tokens_for(mean_chars)
    if strategy == "fewshot":
        passes = epochs or fewshot.default_epochs(train + categories)  # the names join as examples
        steps = passes * math.ceil((train + categories) / fewshot.CONTRASTIVE_BATCH)
        step_s = STEP_PER_FORWARD * per_token * tokens * fewshot.CONTRASTIVE_BATCH
        scoring = (train + categories + held_out) * per_token * tokens  # the head's vectors, the one score
        low, high = 0.8 * (steps * step_s + scoring), 1.25 * (steps * step_s + scoring)  # it runs its plan: a margin
    else:
        passes = epochs or finetune.default_epochs(train, multi_label)
        steps = passes * math.ceil(train / BATCH)
        step_s = STEP_PER_FORWARD * per_token * tokens * BATCH
        scoring = passes * held_out * per_token * tokens
        high = steps * step_s + scoring
        if held_out >= 100:  # the final fit on every example (final_fit.py) at most repeats the schedule
            high += steps * step_s * examples / train
        low = 0.5 * (steps * step_s + scoring)  # early stopping: often half the planned passes
    fixed = FIXED_S * max(1.0, forward_s / QUIET_FORWARD_S)
    low, high = low + fixed, high + fixed
    if time_budget_min:
        budget = 60 * time_budget_min + fixed
        low, high = min(low, budget), min(high, budget)
    return {
        "strategy": strategy,
        "train_examples": train,
        "epochs": passes,
        "steps": steps,
        "low_s": round(low),
        "high_s": round(max(high, low)),
        "forward_ms": round(1000 * forward_s, 1),
    }


def unlabeled_plan(
    texts: int,
    examples: int,
    categories: int,
    strategy: str,
    mean_chars: float,
    forward_s: float,
    teacher: str | None,
    epochs: int | None = None,
    time_budget_min: float | None = None,
    labels_s: float = 0.0,
) -> dict:
    """The seconds learning from `texts` unlabeled texts adds to a run on `examples` labels
    (training/distill.py): a larger `teacher` trained on the labels as the run is (None: the served model
    teaches itself, trained already), its second round (it reads distill.TEACHER_ROUND_TEXTS of the texts
    and trains again with its surest answers; skipped with fewer than distill.ROUND_MIN_TEXTS texts or where
    the time budget leaves too little, as distill.teach_again does), the teacher reading the texts once, and
    the served model learning from texts and labels for distill.EPOCHS passes. With a time budget, the texts
    that fit what the labels' training (`labels_s`) and the teacher's left: distill.fit_to_budget samples them so."""
    from ....training import distill

    pace = 1.0 if teacher is None else TEACHER_PACE
    one_text_s = forward_s / (BATCH * MEASURED_TOKENS) * tokens_for(mean_chars)  # one forward pass of the served model
    teacher_s = round_s = 0.0
    if teacher is not None:  # a training like the run's, at the teacher's pace
        teacher_s = plan(examples, categories, strategy, mean_chars, forward_s * pace, epochs, time_budget_min)[
            "high_s"
        ]
        left_s = 60 * time_budget_min - labels_s - teacher_s if time_budget_min else math.inf
        if distill.why_no_second_round(texts, left_s, teacher_s, time_budget_min) is None:
            read = min(texts, distill.TEACHER_ROUND_TEXTS)
            added = min(read, distill.SURE_A_CATEGORY * categories)
            round_s = read * pace * one_text_s
            round_s += plan(examples + added, categories, strategy, mean_chars, forward_s * pace, epochs, None)[
                "high_s"
            ]
    learn_s = distill.EPOCHS * STEP_PER_FORWARD * one_text_s
    used = texts
    if time_budget_min:
        left_s = (60 * time_budget_min - labels_s - teacher_s - round_s) * distill.BUDGET_SHARE_FOR_TEXTS
        fits = int(max(0.0, left_s) / (pace * one_text_s + learn_s))
        used = texts if fits >= texts else max(fits, min(texts, 100))
    train = max(1, round(examples * (1 - EVAL_SHARE)))
    seconds = {
        "teacher_training_s": round(teacher_s),
        "teacher_round_s": round(round_s),
        "teacher_reading_s": round(used * pace * one_text_s),
        "learning_s": round((used + train) * learn_s),
    }
    return {
        "texts": texts,
        "texts_used": used,
        "teacher": teacher or distill.SELF_TEACHER,
        **seconds,
        "total_s": sum(seconds.values()),
    }


def unlabeled_part(
    texts: int,
    examples: int,
    categories: int,
    strategy: str,
    mean_chars: float,
    model: str,
    epochs: int | None,
    time_budget_min: float | None,
    labels_s: float | None = None,
) -> dict:
    """`unlabeled_plan` on this machine with the teacher `auto` picks here (distill.choose_teacher), the
    gain measured for it (distill.MEASURED_GAINS), and the larger teacher: downloaded or not, and whether
    to offer fetching it (few labels, the strategy under which `auto` would take it). `labels_s`: the
    labels' own training, planned here where the caller has not already."""
    from ....model.catalog import downloaded_folder, known_model
    from ....training import distill

    if labels_s is None:
        labels_plan = plan(examples, categories, strategy, mean_chars, forward_seconds(), epochs, time_budget_min)
        labels_s = labels_plan["high_s"]
    served = "" if model in ("", "default") else model
    teacher = distill.choose_teacher("auto", served, strategy)
    part = unlabeled_plan(
        texts, examples, categories, strategy, mean_chars, forward_seconds(), teacher, epochs, time_budget_min, labels_s
    )
    larger = known_model(distill.LARGER_TEACHER)
    downloaded = downloaded_folder(larger) is not None
    return {
        **part,
        "labels": examples,
        "gain": distill.measured_gain(teacher),
        "larger_teacher": {
            "name": larger.name,
            "downloaded": downloaded,
            "size_mb": larger.size_mb,
            "gain": distill.measured_gain(larger.name),
            "offer_fetch": not downloaded and strategy == "fewshot" and known_model(served) != larger,
        },
    }


def strategy_for(counts, strategy: str = "auto") -> str:
    """The way of training `auto` takes for labels with these counts a category (the training part: four
    fifths of each); a chosen one as chosen."""
    import numpy as np

    from ....config import TrainConfig
    from ....training.setup import auto_strategy

    if strategy in ("fewshot", "finetune"):
        return strategy
    per_class = float(np.median(counts)) * (1 - EVAL_SHARE) if len(counts) else 0.0
    return auto_strategy(per_class, TrainConfig.fewshot_below)


def estimate_run(
    data, model: str, strategy: str, epochs: int | None, time_budget_min: float | None, unlabeled: int = 0
) -> dict:
    """`plan` for a run on `data` (LabeledTexts) with the new-run form's settings: the strategy as
    'auto' would choose it (on the training part: four fifths of each category), this machine's pace.
    A model other than the embedded one is timed as the embedded one, and says so. With `unlabeled`
    texts to learn from too, their part apart (`unlabeled_part`; None without)."""
    import numpy as np

    if data.multi_label:  # several labels per text: always fine-tuned (train.MULTI_LABEL_NOTES)
        chosen = "finetune"
    else:
        chosen = strategy_for(np.bincount(data.labels, minlength=len(data.label_names)), strategy)
    mean_chars = float(np.mean([len(t) for t in data.texts])) if len(data) else 0.0
    answer = plan(
        len(data),
        len(data.label_names),
        chosen,
        mean_chars,
        forward_seconds(),
        epochs,
        time_budget_min,
        data.multi_label,
    )
    extra = None
    if unlabeled:
        extra = unlabeled_part(
            unlabeled,
            len(data),
            len(data.label_names),
            chosen,
            mean_chars,
            model,
            epochs,
            time_budget_min,
            answer["high_s"],
        )
    return {
        **answer,
        "chosen_by": "you" if chosen == strategy else "textfit",
        "other_model": model not in ("", "default"),
        "unlabeled": extra,
    }
