"""Every command through the real CLI, bad input included: one clear line, exit code 1, no traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from textfit.cli import app
from textfit.config import TrainConfig, field_docs
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS

runner = CliRunner()
LABELS_FILE = str(SAMPLE_DATA.with_name("finance_topics_labels.txt"))


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *fragments: str):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    flat = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in flat, result.output


def test_help_teaches():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("train", "evaluate", "predict", "fill-mask", "demo"):
        assert command in result.output
    assert "--time-budget" in run("train", "--help").output


def test_train_help_is_trainconfigs_own_docs_and_defaults():
    help_text = " ".join(run("train", "--help").output.replace("│", " ").split())
    for field in ("eval_split", "checkpoint_minutes", "distributed_timeout_minutes"):
        assert " ".join(field_docs()[field].split()[:6]) in help_text
    defaults = TrainConfig()
    for value in (defaults.eval_split, defaults.learning_rate, defaults.distributed_timeout_minutes):
        assert f"[default: {value}]" in help_text
    assert "[default: strip-urls]" in help_text


def test_train_flags_land_in_the_config_under_their_own_names(tiny_bert, tmp_path):
    out = tmp_path / "m"
    result = run(
        "train",
        SAMPLE_DATA,
        "--model",
        tiny_bert,
        "--strategy",
        "finetune",
        "--epochs",
        "1",
        "--train-size",
        "40",
        "--test-size",
        "10",
        "--seed",
        "3",
        "--eval-split",
        "0.25",
        "--keep-urls",
        "--no-final-fit",
        "--lexical-weight",
        "0",
        "--distributed-timeout",
        "3",
        "--checkpoint-minutes",
        "0",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "textfit.json").read_text())["config"]
    assert config["seed"] == 3 and config["eval_split"] == 0.25 and config["strip_urls"] is False
    assert config["final_fit"] is False and config["lexical_weight"] == 0 and config["checkpoint_minutes"] == 0
    assert config["distributed_timeout_minutes"] == 3 and config["train_size"] == 40


def test_options_not_given_keep_the_config_files_values(tmp_path):
    """The file's `pooling = "max"` is not replaced by --pooling's default (mean): it is used, and refused."""
    config = tmp_path / "train.toml"
    config.write_text(f'data = "{SAMPLE_DATA}"\npooling = "max"\n')
    assert_clean_failure(run("train", "--config", config, "--out", tmp_path / "m"), "unknown pooling 'max'")


def test_train_from_config_file_with_flag_override(tiny_bert, tmp_path):
    config = tmp_path / "train.toml"
    config.write_text(
        f'data = "{SAMPLE_DATA}"\nmodel = "{tiny_bert}"\nepochs = 5\nstrategy = "finetune"\n'
        f"label_names = {json.dumps(TOPIC_LABELS)}\ntrain_size = 60\ntest_size = 20\n"
    )
    out = tmp_path / "model"
    result = run("train", "--config", config, "--epochs", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "held-out: accuracy" in result.output
    record = json.loads((out / "textfit.json").read_text())
    assert record["config"]["epochs"] == 1 and record["data"]["train_examples"] == 60
    assert record["labels"] == TOPIC_LABELS


def test_train_label_names_from_file(tiny_bert, tmp_path):
    result = run(
        "train",
        SAMPLE_DATA,
        "--label-names",
        LABELS_FILE,
        "--model",
        tiny_bert,
        "--epochs",
        "1",
        "--train-size",
        "40",
        "--test-size",
        "10",
        "--strategy",
        "finetune",
        "--pooling",
        "cls",
        "--out",
        tmp_path / "m",
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["id2label"]["2"] == "Company | Product News"
    assert "textfit_pooling" not in saved  # --pooling cls: no mean-pooling layer
    assert json.loads((tmp_path / "m" / "textfit.json").read_text())["config"]["pooling"] == "cls"


def test_predict_texts_file_and_top_k(tiny_model_dir, tmp_path):
    result = run("predict", tiny_model_dir, "Acme Corp announces new CEO", "--top-k", "3")
    assert result.exit_code == 0, result.output
    assert "Acme Corp announces new CEO" in result.output
    assert any(name in result.output for name in TOPIC_LABELS)

    result = run("predict", tiny_model_dir, "Fed holds rates", "--json")
    answer = json.loads(result.output)
    assert answer["predictions"][0]["label"] in TOPIC_LABELS

    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["Gold climbs", "Brent falls 3%"]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    result = run("predict", tiny_model_dir, "--input", source, "--output", out, "--top-k", "2")
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["text", "label", "score", "label_2", "score_2"] and len(written) == 2
    lines = tmp_path / "in.txt"
    lines.write_text("one message\n\nanother\n")
    result = run("predict", tiny_model_dir, "--input", lines, "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 0 and len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


def test_evaluate_writes_the_report(tiny_model_dir, tmp_path):
    result = run("evaluate", tiny_model_dir, SAMPLE_DATA, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "true label (rows)" in result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["examples"] == 440 and 0 <= metrics["accuracy"] <= 1
    assert (tmp_path / "report" / "confusion_matrix.png").stat().st_size > 1000
    wrong = pd.read_csv(tmp_path / "report" / "misclassified.csv")
    assert len(wrong) == round(440 * (1 - metrics["accuracy"]))


def test_evaluate_with_string_labels(tiny_model_dir, tmp_path):
    data = tmp_path / "named.csv"
    pd.DataFrame(
        {"text": ["Acme names new CFO", "Fed hikes"], "label": ["Personnel Change", "Fed | Central Banks"]}
    ).to_csv(data, index=False)
    assert run("evaluate", tiny_model_dir, data, "--out", tmp_path / "r").exit_code == 0
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"text": ["x", "y"], "label": ["Weather", "Macro"]}).to_csv(bad, index=False)
    assert_clean_failure(run("evaluate", tiny_model_dir, bad), "'Weather'", "not among the known labels")


def test_fill_mask_command(tiny_mlm, tiny_bert):
    result = run("fill-mask", "The woman worked as a [MASK] at night.", "--model", tiny_mlm, "--top-k", "10")
    assert result.exit_code == 0, result.output
    assert "token id" in result.output and len([line for line in result.output.splitlines() if "│" in line]) >= 10
    assert_clean_failure(
        run("fill-mask", "The woman worked as a [MASK] at night.", "--model", tiny_bert), "no masked-LM head"
    )


@pytest.mark.parametrize(
    "content, fragments",
    [
        (None, ["data file not found"]),
        ("", ["the file is empty"]),
        ("text,label\n", ["has a header but no data rows"]),
        ("words,tag\na,b\nc,d\n", ["cannot tell which column holds the texts", "'words', 'tag'"]),
        ("text,label\na,x\nb,x\n", ["all examples have the same label ('x')"]),
        ("text,label\na,x\nb,y\nc,z\n", ["every class has a single example"]),
        ("text,label\na,x\n,y\nc,y\n", ["empty 'text' (rows 2)", "--skip-bad-rows"]),
        (b"text,label\na,x\n\x81\x8d,y\n", ["line 3 has bytes that are not valid UTF-8"]),
    ],
)
def test_train_bad_input(tmp_path, content, fragments):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_clean_failure(run("train", path, "--out", tmp_path / "m"), *fragments)


def test_train_bad_options(tmp_path):
    assert_clean_failure(run("train", SAMPLE_DATA, "--strategy", "magic"), "unknown strategy 'magic'")
    assert_clean_failure(run("train", SAMPLE_DATA, "--pooling", "max"), "unknown pooling 'max'")
    assert_clean_failure(run("train", SAMPLE_DATA, "--text-column", "tweet"), "no text column 'tweet'")
    assert_clean_failure(run("train", "data.xlsx"), "data file not found")
    bad_config = tmp_path / "c.toml"
    bad_config.write_text("epochs = 3\nwarp_speed = true\n")
    assert_clean_failure(run("train", SAMPLE_DATA, "--config", bad_config), "unknown config key(s): warp_speed")


def test_eval_file_with_unseen_label(tmp_path):
    train_file, eval_file = tmp_path / "t.csv", tmp_path / "e.csv"
    train_file.write_text("text,label\na,x\nb,x\nc,y\nd,y\n")
    eval_file.write_text("text,label\ne,x\nf,z\n")
    assert_clean_failure(run("train", train_file, "--eval-data", eval_file), "'z'", "(rows 2)")


def test_predict_and_evaluate_bad_input(tiny_model_dir, tmp_path):
    assert_clean_failure(run("predict", tmp_path, "hello"), "not a trained model folder")
    assert_clean_failure(run("predict", tiny_model_dir), "nothing to classify")
    assert_clean_failure(run("predict", tiny_model_dir, "x", "--backend", "tpu"), "unknown backend 'tpu'")
    assert_clean_failure(run("evaluate", tiny_model_dir, tmp_path / "none.csv"), "data file not found")


def test_messages_and_tables_print_brackets_literally(tiny_model_dir, tmp_path):
    """Rich markup is off: '[body]' in a message, '[onnx]' in a hint and a text with '[/]' print as written."""
    assert_clean_failure(
        run("evaluate", tiny_model_dir, SAMPLE_DATA, "--text-column", "[body]"), "no text column '[body]'"
    )
    assert_clean_failure(run("predict", tmp_path / "[urgent]", "hello"), "[urgent] is not a trained model folder")
    result = run("predict", tiny_model_dir, "[/] closes nothing [bold]", "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert "[/] closes nothing [bold]" in result.output
