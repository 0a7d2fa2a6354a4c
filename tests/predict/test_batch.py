"""The streaming prediction engine (batch.py, batch_io.py): same answers as the in-memory path, every
format, the input's columns and order, empty and undecodable rows, the partial name, resume after a
crash or a kill -9, and rows written as they are read (memory that does not grow with the file)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from support.waiting import eventually
from textfit import BatchPredictor, Classifier, DataError, TextfitError, predict_file
from textfit.cli import app
from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS

SCORE_TOLERANCE = 2e-5  # padding to another length moves the last float digits; scores are written to 6


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *fragments: str):
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    flat = " ".join(result.output.split())
    assert all(fragment in flat for fragment in fragments), result.output


def messages(rows: int) -> pd.DataFrame:
    """The embedded sample's texts repeated to `rows` rows, with a row_id."""
    texts = pd.read_csv(SAMPLE_DATA)["text"].tolist()
    return pd.DataFrame({"row_id": np.arange(rows), "text": [texts[i % len(texts)] for i in range(rows)]})


def reference(model_dir, texts, k=1) -> pd.DataFrame:
    """What the in-memory path (`Classifier.top_k` on every text at once) answers."""
    ranked = Classifier.load(model_dir).top_k(texts, k)
    columns = {}
    for rank in range(k):
        suffix = "" if rank == 0 else f"_{rank + 1}"
        columns[f"label{suffix}"] = [r[rank]["label"] for r in ranked]
        columns[f"score{suffix}"] = [r[rank]["score"] for r in ranked]
    return pd.DataFrame(columns)


def assert_same_predictions(written: pd.DataFrame, expected: pd.DataFrame, k=1):
    for rank in range(k):
        suffix = "" if rank == 0 else f"_{rank + 1}"
        scores, labels = written[f"score{suffix}"].to_numpy(float), written[f"label{suffix}"].tolist()
        assert np.allclose(scores, expected[f"score{suffix}"], atol=SCORE_TOLERANCE)
        # Two labels whose scores tie to the last digits may swap places; any other difference is a bug.
        different = [i for i, (a, b) in enumerate(zip(labels, expected[f"label{suffix}"])) if a != b]
        assert len(different) <= 2, different


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(
        path,
        sep="\t" if path.suffix == ".tsv" else ",",
        keep_default_na=False,
        na_values={"score": [""], "score_2": [""]},
    )


def test_streaming_equals_the_in_memory_path(tiny_model_dir, tmp_path):
    frame = messages(440)
    frame.to_csv(tmp_path / "in.csv", index=False)
    summary = predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.csv", top_k=3, batch_rows=50)
    written = read_output(tmp_path / "out.csv")
    assert list(written.columns) == ["row_id", "text", "label", "score", "label_2", "score_2", "label_3", "score_3"]
    assert written["row_id"].tolist() == list(range(440)) and written["text"].tolist() == frame["text"].tolist()
    assert_same_predictions(written, reference(tiny_model_dir, frame["text"].tolist(), 3), k=3)
    assert summary.rows == 440 and summary.empty_rows == 0 and summary.seconds > 0
    assert sum(summary.label_counts.values()) == 440
    assert summary.label_counts == written["label"].value_counts().to_dict()
    assert not list(tmp_path.glob("*.partial*"))  # nothing left behind


@pytest.mark.parametrize("output", ["out.csv", "out.tsv", "out.jsonl", "out.parquet"])
def test_every_input_format_and_a_folder(tiny_model_dir, tmp_path, output):
    frame = messages(45).assign(text=lambda f: f["text"] + " caf\u00e9 \u2014 \u20ac5")
    expected = reference(tiny_model_dir, frame["text"].tolist())
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:20].to_csv(folder / "a.csv", index=False)
    frame.iloc[20:].to_csv(folder / "b.csv", index=False)
    (folder / "_SUCCESS").write_text("")  # a marker some tools leave: not data
    inputs = {
        "csv": tmp_path / "in.csv",
        "semicolons": tmp_path / "in-semi.csv",
        "tsv": tmp_path / "in.tsv",
        "jsonl": tmp_path / "in.jsonl",
        "parquet": tmp_path / "in.parquet",
        "xlsx": tmp_path / "in.xlsx",
        "json": tmp_path / "in.json",
        "folder": folder,
    }
    frame.to_csv(inputs["csv"], index=False)
    frame.to_csv(inputs["semicolons"], index=False, sep=";", encoding="utf-8-sig")  # BOM, ';' as Excel writes
    frame.to_csv(inputs["tsv"], index=False, sep="\t")
    frame.to_json(inputs["jsonl"], orient="records", lines=True, force_ascii=False)
    frame.to_parquet(inputs["parquet"], index=False)
    frame.to_excel(inputs["xlsx"], index=False)
    frame.to_json(inputs["json"], orient="records", force_ascii=False)
    for name, source in inputs.items():
        target = tmp_path / f"{name}-{output}"
        predict_file(tiny_model_dir, source, target, batch_rows=16)
        written = read_output(target)
        assert list(written.columns) == ["row_id", "text", "label", "score"], name
        assert [int(i) for i in written["row_id"]] == list(range(45)), name
        assert written["text"].tolist() == frame["text"].tolist(), name
        assert_same_predictions(written, expected)

    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(frame["text"]) + "\n\n", encoding="utf-8")  # a blank line is not a text
    predict_file(tiny_model_dir, lines, tmp_path / f"txt-{output}")
    written = read_output(tmp_path / f"txt-{output}")
    assert list(written.columns) == ["text", "label", "score"] and len(written) == 45
    assert_same_predictions(written, expected)


def test_keep_columns_and_row_order(tiny_model_dir, tmp_path):
    frame = messages(100).assign(source=lambda f: "wire-" + f["row_id"].astype(str), lang="en")
    frame = frame.sample(frac=1, random_state=3)
    frame = frame[["source", "row_id", "lang", "text"]]
    frame["row_id"] = frame["row_id"].map(lambda i: f"{i:05d}")  # leading zeros survive: CSV columns stay text
    frame.to_csv(tmp_path / "in.csv", index=False)
    predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.csv", keep_columns=["lang"], batch_rows=7)
    written = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(written.columns) == ["row_id", "lang", "text", "label", "score"]  # text and row_id always kept
    assert written["row_id"].tolist() == frame["row_id"].tolist()  # the input's order, not sorted
    with pytest.raises(DataError, match="no column.*'nope'"):
        predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "x.csv", keep_columns=["nope"])


def named(frame: pd.DataFrame) -> pd.DataFrame:
    """The embedded sample's label ids as the model's label names."""
    return frame.assign(label=[TOPIC_LABELS[int(i)] for i in frame["label"]])


def test_a_labeled_file_keeps_its_labels_and_says_how_often_the_model_agrees(tiny_model_dir, tmp_path, caplog):
    labeled = tmp_path / "labeled.csv"
    frame = named(pd.read_csv(SAMPLE_DATA, dtype=str).head(120))
    frame.loc[[3, 4], "label"] = ["", "a label the model does not know"]  # neither is compared
    frame.to_csv(labeled, index=False)

    summary = predict_file(tiny_model_dir, labeled, tmp_path / "out.csv", batch_rows=50, top_k=2)

    written = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(written.columns) == [*frame.columns, "predicted_label", "predicted_score"] + [
        "predicted_label_2",
        "predicted_score_2",
    ]
    assert written["label"].tolist() == frame["label"].fillna("").tolist()  # the user's column, untouched
    assert "already has a 'label' column: it is kept" in caplog.text
    known = written["label"].isin(Classifier.load(tiny_model_dir).label_names)
    assert summary.agreement.column == "label" and summary.agreement.compared == int(known.sum()) == 118
    assert summary.agreement.agreed == int((written["label"] == written["predicted_label"])[known].sum())
    clashing = tmp_path / "clashing.csv"
    frame.assign(predicted_label="x").to_csv(clashing, index=False)
    with pytest.raises(DataError, match="already has column.*label.*predicted_label.*--keep-columns"):
        predict_file(tiny_model_dir, clashing, tmp_path / "x.csv")
    said = " ".join(run("predict", tiny_model_dir, "--input", labeled, "--output", tmp_path / "cli.csv").output.split())
    assert f"agrees with your 'label' column on {summary.agreement.agreed} of 118 rows" in said
    unrelated = tmp_path / "unrelated.csv"  # a 'label' column of something else: kept, nothing compared
    frame.assign(label="urgent").to_csv(unrelated, index=False)
    assert predict_file(tiny_model_dir, unrelated, tmp_path / "y.csv").agreement is None


def test_the_agreement_survives_a_resume(tiny_model_dir, tmp_path, monkeypatch):
    labeled = tmp_path / "labeled.csv"
    named(pd.read_csv(SAMPLE_DATA, dtype=str).head(200)).to_csv(labeled, index=False)
    whole = predict_file(tiny_model_dir, labeled, tmp_path / "whole.csv", batch_rows=40).agreement
    original, calls = BatchPredictor.__call__, []

    def crash_on_the_third_batch(self, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(BatchPredictor, "__call__", crash_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        predict_file(tiny_model_dir, labeled, tmp_path / "out.csv", batch_rows=40)
    monkeypatch.setattr(BatchPredictor, "__call__", original)
    resumed = predict_file(tiny_model_dir, labeled, tmp_path / "out.csv", batch_rows=40, resume=True)
    assert resumed.resumed_rows == 80 and (resumed.agreement.agreed, resumed.agreement.compared) == (
        whole.agreed,
        whole.compared,
    )


def test_a_json_lines_key_that_turns_up_late_is_left_out_and_said_so(tiny_model_dir, tmp_path, caplog):
    records = [{"id": i, "text": f"oil prices move {i}"} for i in range(5000)]
    records[4500]["region"] = "EU"  # past the first rows read (4,096 lines), which set the output's columns
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with caplog.at_level("WARNING", logger="textfit"):
        summary = predict_file(tiny_model_dir, tmp_path / "in.jsonl", tmp_path / "out.csv", batch_rows=1000)
    assert summary.rows == 5000 and summary.left_out_columns == ["region"]
    assert (
        "'region' first appears at row 4,501" in caplog.text
        and "give it in the first record too, even empty" in caplog.text
    )
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written.columns) == ["id", "text", "label", "score"] and written["id"].tolist() == list(range(5000))
    caplog.clear()
    records[0]["region"] = ""  # the way out the warning names
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = predict_file(tiny_model_dir, tmp_path / "in.jsonl", tmp_path / "out2.csv", batch_rows=1000)
    assert summary.left_out_columns == [] and "first appear" not in caplog.text
    assert pd.read_csv(tmp_path / "out2.csv")["region"].tolist()[4500] == "EU"


def test_empty_and_missing_texts_are_kept_and_counted(tiny_model_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": 1, "text": "Fed holds rates"}\n{"id": 2, "text": ""}\n{"id": 3, "text": null}\n'
        '{"id": 4}\n{"id": 5, "text": "   "}\n{"id": 6, "text": "Oil falls 3%"}\n',
        encoding="utf-8",
    )
    for output in ("out.csv", "out.jsonl", "out.parquet"):
        summary = predict_file(tiny_model_dir, source, tmp_path / output, top_k=2)
        assert summary.rows == 6 and summary.empty_rows == 4
        assert sum(summary.label_counts.values()) == 2
        written = read_output(tmp_path / output)
        assert written["id"].tolist() == [1, 2, 3, 4, 5, 6]
        assert written["label"].fillna("").tolist()[1:5] == ["", "", "", ""]
        assert written["score"].isna().tolist() == [False, True, True, True, True, False]
        assert written["label_2"].fillna("").tolist()[1] == "" and written["label"][0] != ""

    result = run("predict", tiny_model_dir, "--input", source, "--output", tmp_path / "cli.csv")
    assert result.exit_code == 0, result.output
    assert "wrote 6 rows" in result.output and "4 rows had an empty text" in result.output


def test_bytes_not_in_the_encoding_are_named_by_line(tiny_model_dir, tmp_path):
    good = "".join(f"{i},A long enough message about markets number {i}\n" for i in range(2000)).encode()
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,text\n" + good + b"2000,caf\xe9 in cp1252\n")  # the head (64 KB) is UTF-8
    with pytest.raises(DataError, match=r"in\.csv: line 2002 has bytes that are not valid UTF-8 \(byte 0xe9"):
        predict_file(tiny_model_dir, source, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()

    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b'{"text": "fine"}\n' * 5000 + b'{"text": "bad \xff byte"}\n')
    with pytest.raises(DataError, match="line 5001 has bytes that are not valid UTF-8"):
        predict_file(tiny_model_dir, lines, tmp_path / "out2.csv")

    windows = tmp_path / "windows.csv"  # cp1252 from the start: read as cp1252, as readers.py does
    windows.write_bytes(b"id;text\n1;caf\xe9 cr\xe8me\n2;na\xefve\n")
    predict_file(tiny_model_dir, windows, tmp_path / "w.csv")
    assert pd.read_csv(tmp_path / "w.csv")["text"].tolist() == ["caf\u00e9 cr\u00e8me", "na\u00efve"]


def test_clear_errors(tiny_model_dir, tmp_path):
    frame = messages(5).assign(note="x")
    frame.rename(columns={"text": "body_text"}).to_csv(tmp_path / "ambiguous.csv", index=False)
    with pytest.raises(DataError, match="cannot tell which column holds the texts.*--text-column"):
        predict_file(tiny_model_dir, tmp_path / "ambiguous.csv", tmp_path / "out.csv")
    predict_file(tiny_model_dir, tmp_path / "ambiguous.csv", tmp_path / "out.csv", text_column="body_text")
    with pytest.raises(DataError, match="--output must end in"):
        predict_file(tiny_model_dir, tmp_path / "ambiguous.csv", tmp_path / "out.xls")
    with pytest.raises(DataError, match="not found"):
        predict_file(tiny_model_dir, tmp_path / "none.csv", tmp_path / "out.csv")
    (tmp_path / "wide.csv").write_text("id,text\n1,fine\n2,too,many\n")
    with pytest.raises(DataError, match="line 3 has 3 fields but the header has 2"):
        predict_file(tiny_model_dir, tmp_path / "wide.csv", tmp_path / "out.csv")
    assert_clean_failure(
        run("predict", tiny_model_dir, "--input", tmp_path / "wide.csv", "--output", tmp_path / "o.csv"),
        "line 3 has 3 fields",
    )
    assert_clean_failure(
        run(
            "predict",
            tiny_model_dir,
            "--input",
            tmp_path / "wide.csv",
            "--output",
            tmp_path / "o.csv",
            "--engine",
            "spark",
        ),
        "unknown engine 'spark'",
    )


def test_the_output_has_its_final_name_only_when_complete(tiny_model_dir, tmp_path, monkeypatch):
    from textfit.data import streaming as batch_io

    messages(200).to_csv(tmp_path / "in.csv", index=False)
    seen = []
    for output, sink in (("out.csv", batch_io.TextSink), ("out.parquet", batch_io.ParquetSink)):
        target = tmp_path / output
        original = sink.write

        def write(self, frame, target=target, original=original):
            seen.append(
                (
                    target.exists(),
                    target.with_name(target.name + ".partial").exists(),
                    target.with_name(target.name + ".partial.json").exists(),
                )
            )
            return original(self, frame)

        monkeypatch.setattr(sink, "write", write)
        predict_file(tiny_model_dir, tmp_path / "in.csv", target, batch_rows=50)
        assert target.exists() and not target.with_name(target.name + ".partial").exists()
        assert not target.with_name(target.name + ".partial.json").exists()
    assert len(seen) == 8 and all(not final and partial and sidecar for final, partial, sidecar in seen)


@pytest.mark.parametrize("output", ["out.csv", "out.jsonl", "out.parquet"])
def test_a_crash_then_resume_writes_every_row_once(tiny_model_dir, tmp_path, monkeypatch, output):
    frame = messages(500)
    frame.to_csv(tmp_path / "in.csv", index=False)
    target = tmp_path / output
    original, calls = BatchPredictor.__call__, []

    def crash_on_the_fourth_batch(self, batch):
        calls.append(len(batch))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(BatchPredictor, "__call__", crash_on_the_fourth_batch)
    with pytest.raises(KeyboardInterrupt):
        predict_file(tiny_model_dir, tmp_path / "in.csv", target, batch_rows=60)
    assert not target.exists()
    state = json.loads(target.with_name(target.name + ".partial.json").read_text())
    assert state["rows"] == 180
    partial = target.with_name(target.name + ".partial")
    if partial.is_dir():  # a part file written after the last recorded batch, and half a line, are dropped
        (partial / "part-000003.parquet").write_bytes(b"PAR1 half a part")
    else:
        with partial.open("ab") as f:
            f.write(b"180,half a ro")
    with pytest.raises(TextfitError, match="unfinished job.*--resume"):
        predict_file(tiny_model_dir, tmp_path / "in.csv", target, batch_rows=60)
    monkeypatch.setattr(BatchPredictor, "__call__", original)
    summary = predict_file(tiny_model_dir, tmp_path / "in.csv", target, batch_rows=100, resume=True)
    assert summary.rows == 500 and summary.resumed_rows == 180 and sum(summary.label_counts.values()) == 500
    written = read_output(target)
    assert [int(i) for i in written["row_id"]] == list(range(500))  # CSV columns are carried as text
    assert_same_predictions(written, reference(tiny_model_dir, frame["text"].tolist()))


def test_resume_refuses_a_changed_input_or_model(tiny_model_dir, tmp_path, monkeypatch):
    messages(300).to_csv(tmp_path / "in.csv", index=False)
    original = BatchPredictor.__call__
    calls = []

    def crash(self, batch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(BatchPredictor, "__call__", crash)
    with pytest.raises(KeyboardInterrupt):
        predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.csv", batch_rows=100)
    monkeypatch.setattr(BatchPredictor, "__call__", original)
    with pytest.raises(TextfitError, match="cannot resume.*its options changed"):
        predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.csv", top_k=2, resume=True)
    messages(301).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(TextfitError, match="cannot resume.*its input changed"):
        predict_file(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.csv", resume=True)


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "textfit.cli", *map(str, args)]


def child_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_kill_9_mid_run_then_resume_gives_every_row_exactly_once(tiny_model_dir, tmp_path):
    rows = 20_000
    messages(rows).to_csv(tmp_path / "in.csv", index=False)
    target, sidecar = tmp_path / "out.csv", tmp_path / "out.csv.partial.json"
    job = subprocess.Popen(
        cli(
            "predict",
            tiny_model_dir,
            "--input",
            tmp_path / "in.csv",
            "--output",
            target,
            "--batch-rows",
            100,
            "--threads",
            1,
        ),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # SIGINT/SIGTERM would be caught; SIGKILL is not

    def a_thousand_rows_done() -> bool:
        assert job.poll() is None, job.stderr.read().decode()[-2000:]
        try:
            return json.loads(sidecar.read_text())["rows"] >= 1000
        except (OSError, ValueError):
            return False

    eventually(a_thousand_rows_done, timeout=120, every=0.02, what="the job to write 1000 rows")
    assert job.poll() is None, job.stderr.read().decode()[-2000:]
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert not target.exists() and 1000 <= json.loads(sidecar.read_text())["rows"] < rows

    resumed = subprocess.run(
        cli(
            "predict",
            tiny_model_dir,
            "--input",
            tmp_path / "in.csv",
            "--output",
            target,
            "--batch-rows",
            500,
            "--threads",
            1,
            "--resume",
        ),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"wrote {rows:,} rows" in resumed.stdout and "continuing from row" in resumed.stdout
    written = pd.read_csv(target)
    assert written["row_id"].tolist() == list(range(rows))  # every row once, in order
    assert written["label"].notna().all() and not sidecar.exists()


def test_rows_are_written_as_they_are_read_so_memory_does_not_grow_with_the_file(tiny_model_dir, tmp_path, monkeypatch):
    """What keeps memory flat: no more than one input piece and one batch are ever held unwritten.
    The measured figure (peak RSS at 10,000 and 1,000,000 rows) is benchmarks/batch_predict.py's."""
    from textfit.data import streaming

    folder = tmp_path / "inbox"
    folder.mkdir()
    for part in range(12):  # a folder is read a file at a time: each file is one input piece
        messages(100).assign(row_id=lambda f, part=part: f.row_id + 100 * part).to_csv(
            folder / f"part-{part:02}.csv", index=False
        )
    read, written, unwritten = [0], [0], []
    frames, write = streaming.Source.frames, streaming.TextSink.write

    def counted_frames(self):
        for frame in frames(self):
            read[0] += len(frame)
            unwritten.append(read[0] - written[0])
            yield frame

    def counted_write(self, frame):
        written[0] += len(frame)
        return write(self, frame)

    monkeypatch.setattr(streaming.Source, "frames", counted_frames)
    monkeypatch.setattr(streaming.TextSink, "write", counted_write)
    summary = predict_file(tiny_model_dir, folder, tmp_path / "out.csv", batch_rows=64)
    assert summary.rows == written[0] == 1200
    assert max(unwritten) <= 100 + 64, unwritten
    assert [int(i) for i in read_output(tmp_path / "out.csv")["row_id"]] == list(range(1200))


def test_a_kill_while_finishing_is_resumed(tiny_model_dir, tmp_path, monkeypatch):
    """Killed after the last batch, before (CSV) or during (Parquet's merge) the rename: resume finishes the job."""
    from textfit.data import streaming as batch_io

    messages(120).to_csv(tmp_path / "in.csv", index=False)
    for output, sink in (("out.csv", batch_io.TextSink), ("out.parquet", batch_io.ParquetSink)):
        target = tmp_path / output
        original = sink.finish

        def killed(self, final):
            raise KeyboardInterrupt

        monkeypatch.setattr(sink, "finish", killed)
        with pytest.raises(KeyboardInterrupt):
            predict_file(tiny_model_dir, tmp_path / "in.csv", target, batch_rows=50)
        assert not target.exists()
        monkeypatch.setattr(sink, "finish", original)
        summary = predict_file(tiny_model_dir, tmp_path / "in.csv", target, resume=True)
        assert summary.rows == 120 and summary.resumed_rows == 120
        assert [int(i) for i in read_output(target)["row_id"]] == list(range(120))
        assert not list(tmp_path.glob(f"{output}.partial*"))


def test_rows_below_min_confidence_are_not_sure_and_counted(tiny_model_dir, tmp_path):
    """The median best score splits the rows: those below it say "not sure" (their best guess, its
    score and the runners-up kept), those above keep their label; the summary counts "not sure" as an answer."""
    source = tmp_path / "in.csv"
    messages(300).to_csv(source, index=False)
    expected = reference(tiny_model_dir, messages(300)["text"].tolist(), k=2)
    threshold = float(np.median(expected["score"]))
    summary = predict_file(tiny_model_dir, source, tmp_path / "out.csv", top_k=2, min_confidence=threshold)
    written = pd.read_csv(tmp_path / "out.csv")
    below = expected["score"].to_numpy() < threshold
    assert (written.loc[below, "label"] == "not sure").all()
    assert (written.loc[~below, "label"] == expected.loc[~below, "label"]).all()
    assert (written["best_guess"] == expected["label"]).all()  # "not sure" rows keep the label that scored `score`
    assert list(written.columns[-5:]) == ["label", "best_guess", "score", "label_2", "score_2"]
    assert np.allclose(written["score"], expected["score"], atol=SCORE_TOLERANCE)
    assert (written["label_2"] == expected["label_2"]).all()
    assert summary.label_counts["not sure"] == int(below.sum()) > 0
    with pytest.raises(TextfitError, match="between 0 and 1"):
        predict_file(tiny_model_dir, source, tmp_path / "bad.csv", min_confidence=1.5)


def test_cli_table_says_not_sure_with_the_guess(tiny_model_dir):
    result = run("predict", tiny_model_dir, "Oil prices fall", "--min-confidence", "1")
    assert result.exit_code == 0, result.output
    assert "not sure (" in result.output


def test_cli_texts_written_to_a_file_keep_the_best_guess_of_a_not_sure_row(tiny_model_dir, tmp_path):
    result = run("predict", tiny_model_dir, "Oil prices fall", "--min-confidence", "1", "--output", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "o.csv")
    assert written["label"].tolist() == ["not sure"] and written["best_guess"].iloc[0] != "not sure"
    assert list(written.columns) == ["text", "label", "best_guess", "score"]


def test_an_input_with_its_own_best_guess_column_keeps_it_when_a_threshold_adds_one(tiny_model_dir, tmp_path):
    source = tmp_path / "in.csv"
    frame = messages(20).assign(best_guess="the user's own")
    frame.to_csv(source, index=False)
    predict_file(tiny_model_dir, source, tmp_path / "out.csv", min_confidence=0.99)
    written = pd.read_csv(tmp_path / "out.csv")
    assert (written["best_guess"] == "the user's own").all()
    assert {"predicted_label", "predicted_best_guess", "predicted_score"} <= set(written.columns)


def test_an_input_with_its_own_not_sure_column_keeps_it_when_a_threshold_is_given(tiny_model_dir, tmp_path):
    source = tmp_path / "in.csv"
    messages(20).assign(not_sure="the user's own").to_csv(source, index=False)
    predict_file(tiny_model_dir, source, tmp_path / "out.csv", min_confidence=0.99)
    written = pd.read_csv(tmp_path / "out.csv")
    assert (written["not_sure"] == "the user's own").all() and "predicted_label" in written.columns
