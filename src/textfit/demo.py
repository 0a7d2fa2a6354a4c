"""`textfit demo`: the article's story, told in order, with textfit doing each step.

1. what a base model does (fill-mask), 2. a classifier for 20 labels, 3. the data,
4. fine-tuning with metrics per epoch, 5. "Acme Corp announces new CEO" classified by name."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from .config import TrainConfig
from .data.labeled import SAMPLE_DATA, TOPIC_HUB_ID, TOPIC_LABELS, LabeledTexts, load_train_eval
from .errors import DataError, ModelError
from .hub import hub_reachable
from .model.base_models import display_name

FILL_MASK_SENTENCE = "The woman worked as a [MASK] at night."
NEW_MESSAGE = "Acme Corp announces new CEO"


def run_demo(
    console: Console,
    *,
    data: str | None = None,
    model: str | None = None,
    fill_mask_model: str | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    epochs: int | None = None,
    out: Path = Path("textfit-demo-model"),
    progress: Console | None = None,
):
    from .training.callbacks import RichProgress
    from .training.train import train

    def step(number: int, title: str) -> None:
        console.print()
        console.rule(Text(f"{number}. {title}", style="bold"))

    console.print(
        Panel.fit(
            "textfit demo: fine-tune a language model into a finance-topic classifier, on this machine", style="bold"
        )
    )

    step(1, "What the base model does: fill in the blank")
    show_fill_mask(console, fill_mask_model or model)

    step(2, "The data")
    # No checkpoints: a demo killed half-way is simply run again, never "resumed".
    config = demo_config(console, data).override(
        model=model, train_size=train_size, test_size=test_size, epochs=epochs, checkpoint_minutes=0
    )
    config, (train_data, eval_data) = load_demo_data(console, config)
    describe_data(console, train_data, eval_data)

    step(3, f"A classifier for {len(train_data.label_names)} labels")
    console.print(
        f"{display_name(config.model)} + a fresh classification head with one output per label; "
        "its labels are names, not LABEL_0..LABEL_19."
    )

    step(4, "Fine-tuning")
    started = time.perf_counter()
    result = train(config, out, callbacks=[RichProgress(progress or console)], data=(train_data, eval_data))
    describe_training(console, result, time.perf_counter() - started, len(eval_data))

    step(5, "Using the fine-tuned model")
    classify_new_message(console, result)
    return result


def show_fill_mask(console: Console, base: str | None) -> None:
    from .model.fillmask import fill_mask, guesses_table

    console.print(f"Base model: {display_name(base)}\nApplying it to: {FILL_MASK_SENTENCE}")
    try:
        console.print(guesses_table(fill_mask(FILL_MASK_SENTENCE, base, top_k=10)))
    except ModelError as exc:
        console.print(
            Text.assemble(
                ("skipped:", "yellow"),
                f" {exc}\nRun `textfit demo --fill-mask-model PATH_OR_HUB_ID` with a masked-LM model to see this step.",
            )
        )


def demo_config(console: Console, data: str | None) -> TrainConfig:
    """The article's data set where the hub answers, else the embedded sample (said so)."""
    if data:
        return TrainConfig(data=data)
    if hub_reachable():
        return TrainConfig(data=TOPIC_HUB_ID, eval_data=TOPIC_HUB_ID, label_names=TOPIC_LABELS)
    console.print(
        Text.assemble(
            ("offline:", "yellow"),
            f" the Hugging Face hub cannot be reached, so '{TOPIC_HUB_ID}' cannot be "
            f"downloaded. Using textfit's embedded sample instead: {SAMPLE_DATA.name}, short finance "
            "messages in the same 20 topics (pass --data FILE to use your own).",
        )
    )
    return TrainConfig(data=str(SAMPLE_DATA), label_names=TOPIC_LABELS)


def load_demo_data(console: Console, config: TrainConfig):
    """(config, (train, eval)): the hub data set, or the embedded sample when it cannot be loaded."""
    try:
        return config, load_train_eval(config)
    except DataError as exc:
        if config.data != TOPIC_HUB_ID:
            raise
        console.print(f"the hub data set could not be loaded ({exc}); using the embedded sample", style="yellow")
        config = dataclasses.replace(config, data=str(SAMPLE_DATA), eval_data=None)
        return config, load_train_eval(config)


def describe_training(console: Console, result, seconds: float, eval_examples: int) -> None:
    metrics = result.report.metrics
    console.print(
        Text.assemble(
            "Training took ",
            (f"{result.record['timings']['train_s']:.1f} s", "bold"),
            f" ({seconds:.1f} s including loading and saving); strategy: {result.record['strategy']}.",
        )
    )
    console.print(
        Text.assemble(
            "Held-out accuracy ",
            (f"{metrics['accuracy']:.3f}", "bold"),
            ", macro-F1 ",
            (f"{metrics['macro_f1']:.3f}", "bold"),
            f" on {eval_examples} messages never seen in training.",
        )
    )


def classify_new_message(console: Console, result) -> None:
    console.print(f"Classifying: {NEW_MESSAGE}")
    ranked = result.classifier.top_k(NEW_MESSAGE, k=3)[0]
    console.print(
        Text.assemble(
            "Result: ",
            (ranked[0]["label"], "bold green"),
            f" (score {ranked[0]['score']:.4f}); runners-up: "
            + ", ".join(f"{r['label']} ({r['score']:.3f})" for r in ranked[1:]),
        )
    )
    console.print(
        f"\nThe model is saved in {result.folder}/ with its metrics, confusion matrix and model card. Next:\n"
        f'  textfit predict {result.folder} "Your message"\n'
        f"  textfit evaluate {result.folder} your-labeled.csv\n"
        f"  textfit train your-labeled.csv --out my-model"
    )


def describe_data(console: Console, train_data: LabeledTexts, eval_data: LabeledTexts) -> None:
    console.print(
        f"Source: {train_data.source}\n{len(train_data)} training and {len(eval_data)} evaluation messages, "
        f"{len(train_data.label_names)} labels:"
    )
    console.print(", ".join(f"{i} {name}" for i, name in enumerate(train_data.label_names)), highlight=False)
    if len(train_data) > 25:
        text, label = train_data.texts[25], train_data.labels[25]
        console.print(f"Training message [25]: {text!r} -> {label} ({train_data.label_names[label]})", highlight=False)
