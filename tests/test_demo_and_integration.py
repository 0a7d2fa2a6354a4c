"""The article's story end to end, and real fine-tuning of the embedded model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from support.data import TOPIC_CSV
from textfit.cli import app
from textfit.data.labeled import TOPIC_LABELS, load_data

runner = CliRunner()


def test_demo_tells_the_story_with_a_tiny_model(tiny_bert, tiny_mlm, tmp_path):
    result = runner.invoke(
        app,
        [
            "demo",
            "--model",
            str(tiny_bert),
            "--fill-mask-model",
            str(tiny_mlm),
            "--train-size",
            "50",
            "--test-size",
            "10",
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "demo"),
        ],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    order = [
        "1. What the base model does",
        "token id",
        "2. The data",
        "offline",
        "3. A classifier for 20 labels",
        "4. Fine-tuning",
        "Training took",
        "5. Using the fine-tuned model",
        "Acme Corp announces new CEO",
    ]
    positions = [out.find(fragment) for fragment in order]
    assert -1 not in positions and positions == sorted(positions), out
    assert any(f"Result: {name}" in out for name in TOPIC_LABELS)
    record = json.loads((tmp_path / "demo" / "textfit.json").read_text())
    assert record["data"]["train_examples"] == 50 and record["data"]["eval_examples"] == 10


def test_demo_says_when_the_base_model_cannot_fill_masks(tiny_bert, tmp_path):
    result = runner.invoke(
        app,
        [
            "demo",
            "--model",
            str(tiny_bert),
            "--train-size",
            "40",
            "--test-size",
            "10",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "demo"),
        ],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps where the model's path ends, which varies
    assert "has no masked-LM head" in said and "--fill-mask-model" in said


@pytest.mark.slow
def test_demo_fine_tunes_the_embedded_model_far_above_chance(tmp_path):
    """The `make demo` path: embedded MiniLM, embedded sample, default settings."""
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "demo" / "textfit.json").read_text())
    # 20 classes: chance is 0.05. 88 held-out messages.
    assert record["metrics"]["accuracy"] >= 0.6, record["history"]
    assert record["metrics"]["macro_f1"] >= 0.5
    assert "Personnel Change" in result.output


@pytest.mark.skipif(not TOPIC_CSV.is_file(), reason="real data not present (../shared/data is not part of a clone)")
def test_real_topic_data_loads_with_its_twenty_labels():
    data = load_data(TOPIC_CSV, label_names=TOPIC_LABELS)
    assert len(data) == 16_990
    counts = data.label_counts()
    assert counts["IPO"] == 44 and counts["Company | Product News"] == 3545
