"""Excel in and out on the command line: `predict --output result.xlsx` (batch_io.ExcelSink), its
row limit and its refusal to resume, and `--sheet` on every command that reads a data file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from textfit import DataError, TextfitError, predict_file
from textfit.cli import app
from textfit.data import streaming as batch_io
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def sheet_rows(path) -> tuple[list[str], list[tuple]]:
    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == ["predictions"]
    rows = list(workbook["predictions"].iter_rows(values_only=True))
    workbook.close()
    return list(rows[0]), rows[1:]


def workbook_with_two_sheets(path, frame: pd.DataFrame) -> None:
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["the messages are on the next sheet"]}).to_excel(writer, sheet_name="About", index=False)
        frame.to_excel(writer, sheet_name="Messages", index=False)


def test_xlsx_output_has_the_rows_and_answers_of_the_csv_output(tiny_model_dir, tmp_path):
    texts = pd.read_csv(SAMPLE_DATA)["text"].tolist()[:120]
    texts[3], texts[7], texts[9] = '=HYPERLINK("http://example.com")', "", "#N/A bell\x07 rang"
    pd.DataFrame({"id": [f"{i:04d}" for i in range(120)], "text": texts}).to_parquet(tmp_path / "in.parquet")
    summary = predict_file(tiny_model_dir, tmp_path / "in.parquet", tmp_path / "out.xlsx", top_k=2, batch_rows=50)
    predict_file(tiny_model_dir, tmp_path / "in.parquet", tmp_path / "out.csv", top_k=2, batch_rows=50)
    assert summary.rows == 120 and summary.empty_rows == 1
    header, rows = sheet_rows(tmp_path / "out.xlsx")
    assert header == ["id", "text", "label", "score", "label_2", "score_2"]
    expected = pd.read_csv(tmp_path / "out.csv", dtype={"id": str}, keep_default_na=False)
    assert len(rows) == 120 and [r[0] for r in rows] == expected["id"].tolist()  # leading zeros kept
    assert [r[2] or "" for r in rows] == expected["label"].tolist()
    assert np.allclose(
        [r[3] if r[3] is not None else np.nan for r in rows], pd.to_numeric(expected["score"]), equal_nan=True
    )
    assert rows[3][1] == texts[3]  # a message, never a formula
    assert rows[7][1:4] == (None, None, None)  # an empty text keeps its row, with no answer
    assert rows[9][1] == "#N/A bell rang"  # text, not Excel's error value; the bell is not a character Excel holds
    assert not list(tmp_path.glob("out.xlsx.partial*"))


def test_cli_reads_a_chosen_sheet_and_writes_excel(tiny_model_dir, tmp_path):
    book = tmp_path / "in.xlsx"
    workbook_with_two_sheets(
        book,
        pd.DataFrame(
            {"row_id": [1, 2, 3], "message": ["Oil prices fall", "Acme Corp announces new CEO", "Rates rise"]}
        ),
    )
    for sheet in ("Messages", "2"):
        result = run("predict", tiny_model_dir, "--input", book, "--sheet", sheet, "--output", tmp_path / "out.xlsx")
        assert result.exit_code == 0, result.output
        header, rows = sheet_rows(tmp_path / "out.xlsx")
        assert header == ["row_id", "message", "label", "score"]
        assert [r[:2] for r in rows] == [(1, "Oil prices fall"), (2, "Acme Corp announces new CEO"), (3, "Rates rise")]
        assert all(r[2] in TOPIC_LABELS and 0 < r[3] <= 1 for r in rows)
    wrong = run("predict", tiny_model_dir, "--input", book, "--sheet", "Data", "--output", tmp_path / "o.xlsx")
    assert wrong.exit_code == 1 and "no sheet 'Data'. The sheets are: 'About', 'Messages'" in " ".join(
        wrong.output.split()
    )
    # texts given on the command line go to Excel too
    typed = run("predict", tiny_model_dir, "Oil prices fall", "--output", tmp_path / "typed.xlsx")
    assert typed.exit_code == 0, typed.output
    assert sheet_rows(tmp_path / "typed.xlsx")[0] == ["text", "label", "score"]


def test_evaluate_reads_a_chosen_sheet(tiny_model_dir, tmp_path):
    book = tmp_path / "labeled.xlsx"
    workbook_with_two_sheets(book, pd.read_csv(SAMPLE_DATA).head(60))
    result = run("evaluate", tiny_model_dir, book, "--sheet", "Messages", "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    assert "60 examples" in result.output
    first = run("evaluate", tiny_model_dir, book, "--out", tmp_path / "report")  # the first sheet: a note, no labels
    assert first.exit_code == 1 and "note" in first.output, first.output


def test_train_evaluates_on_another_sheet_of_the_training_workbook(tiny_bert, tmp_path):
    import json

    book, sample = tmp_path / "book.xlsx", pd.read_csv(SAMPLE_DATA)
    with pd.ExcelWriter(book) as writer:
        sample.head(300).to_excel(writer, sheet_name="train", index=False)
        sample.iloc[300:360].to_excel(writer, sheet_name="test", index=False)
    for eval_sheet in ("test", "2"):
        out = tmp_path / f"model-{eval_sheet}"
        result = run(
            "train",
            book,
            "--sheet",
            "train",
            "--eval-data",
            book,
            "--eval-sheet",
            eval_sheet,
            "--label-names",
            ",".join(TOPIC_LABELS),
            "--model",
            tiny_bert,
            "--epochs",
            1,
            "--strategy",
            "finetune",
            "--out",
            out,
        )
        assert result.exit_code == 0, result.output
        record = json.loads((out / "textfit.json").read_text())
        assert (record["data"]["train_examples"], record["data"]["eval_examples"]) == (300, 60), record["data"]
    wrong = run(
        "train", book, "--eval-data", book, "--eval-sheet", "holdout", "--model", tiny_bert, "--out", tmp_path / "m"
    )
    assert wrong.exit_code == 1 and "no sheet 'holdout'" in " ".join(wrong.output.split())


def test_xlsx_output_cannot_be_resumed_and_a_killed_one_starts_over(tiny_model_dir, tmp_path):
    pd.DataFrame({"text": ["one", "two", "three"]}).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(TextfitError, match=r"out\.xlsx is an Excel workbook.*cannot be resumed.*\.csv"):
        predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.xlsx", resume=True)
    (tmp_path / "out.xlsx.partial").write_bytes(b"half a zip from a killed job")
    summary = predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.xlsx")
    assert summary.rows == 3 and len(sheet_rows(tmp_path / "out.xlsx")[1]) == 3
    assert not list(tmp_path.glob("out.xlsx.partial*"))  # no progress record either: nothing to resume


def test_excel_row_limit_is_refused_before_starting_or_when_reached(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_io, "EXCEL_MAX_ROWS", 101)  # 100 rows below the header
    frame = pd.DataFrame({"text": [f"message {i}" for i in range(150)]})
    frame.to_parquet(tmp_path / "in.parquet")  # its row count is known before reading
    with pytest.raises(
        DataError,
        match=r"out\.xlsx: an Excel sheet holds at most 101 rows .*the input has 150 rows; "
        r"write \.csv or \.parquet instead",
    ):
        predict_file(tmp_path / "no-model-needed", tmp_path / "in.parquet", tmp_path / "out.xlsx")
    frame.to_csv(tmp_path / "in.csv", index=False)  # known only when reached
    result = run(
        "predict", tiny_model_dir, "--input", tmp_path / "in.csv", "--output", tmp_path / "out.xlsx", "--batch-rows", 40
    )
    assert result.exit_code == 1, result.output
    assert (
        "at most 101 rows (header included) and the input has more than 100 rows; write .csv or .parquet"
        in " ".join(result.output.split())
    )
    assert not list(tmp_path.glob("out.xlsx*"))
    frame.head(100).to_csv(tmp_path / "fits.csv", index=False)
    assert predict_file(tiny_model_dir, tmp_path / "fits.csv", tmp_path / "out.xlsx", batch_rows=40).rows == 100
