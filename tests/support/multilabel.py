"""A small multi-label file (several labels per text, some texts with none), written in the layouts
textfit reads: joined names, one 0/1 column per label, JSON lists."""

from __future__ import annotations

import json
import random
from pathlib import Path

LABELS = ("billing", "urgent", "refund")
WORDS = {"billing": "invoice charge", "urgent": "asap now", "refund": "money back"}
FILLER = ("hello team", "about my account", "see the note", "thanks a lot", "one more thing")


def rows(count: int = 120, seed: int = 0) -> list[tuple[str, list[str]]]:
    """(text, labels) pairs: each label's words appear in the text exactly when it has the label."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        labels = [name for name in LABELS if rng.random() < 0.4]
        words = [WORDS[name] for name in labels] + [rng.choice(FILLER), f"ticket {i}"]
        rng.shuffle(words)
        made.append((" ".join(words), labels))
    return made


def write_joined(path: Path, separator: str = ";", count: int = 120) -> Path:
    lines = ["text,labels"] + [f'{text},"{separator.join(labels)}"' for text, labels in rows(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_columns(path: Path, count: int = 120) -> Path:
    lines = ["text," + ",".join(LABELS)]
    lines += [f"{text}," + ",".join("1" if n in labels else "0" for n in LABELS) for text, labels in rows(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_lists(path: Path, count: int = 120) -> Path:
    lines = [json.dumps({"text": text, "labels": labels}) for text, labels in rows(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_on_tickets(tiny_bert: Path, folder: Path):
    """(the result of training the tiny model 2 epochs on a joined-names ticket file, that file)."""
    from textfit import TrainConfig, train

    data = write_joined(folder / "tickets.csv")
    config = TrainConfig(data=str(data), model=str(tiny_bert), epochs=2, learning_rate=1e-3, checkpoint_minutes=None)
    return train(config, folder / "model"), data
