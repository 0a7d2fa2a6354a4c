"""Every file in tests/corpus/ (broken or awkward data, as people have it) through the three doors a
data file comes in by: the library, the CLI and the studio's upload. Each ends in the outcome
tests/corpus/expected.json promises: it loads (rows, labels, encoding), or it is refused with a
clear message; never a traceback, never a 500. Rebuild the corpus with tests/corpus/make_corpus.py."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from textfit.config import TrainConfig
from textfit.data.labeled import FORMATS, classes_not_evaluated, load_data, load_train_eval, read_table
from textfit.errors import DataError

CORPUS = Path(__file__).parent / "corpus"
CASES = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
BINARY_FORMATS = (".xlsx", ".parquet")


def _make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """The path of a case's file: committed, or (the 1 MB text) written here once."""
    folder = tmp_path_factory.mktemp("generated")

    def path_of(entry: dict) -> Path:
        if not entry.get("generated"):
            return CORPUS / entry["file"]
        path = folder / entry["file"]
        if not path.exists():
            path.write_bytes(_make_corpus().generated(entry["file"]))
        return path

    return path_of


def squeezed(text: str) -> str:
    """Without whitespace: the terminal wraps long messages wherever it likes."""
    return re.sub(r"\s+", "", text)


def test_the_corpus_is_complete_and_current():
    assert len(CASES) >= 40 and len({c["id"] for c in CASES}) == len(CASES)
    committed = {p.name for p in CORPUS.iterdir()} - {"make_corpus.py", "expected.json", "__pycache__"}
    assert committed == {c["file"] for c in CASES if not c.get("generated")}
    built = _make_corpus().CASES
    assert [c["id"] for c in built] == [c["id"] for c in CASES], "expected.json is stale: run make_corpus.py"


@pytest.mark.parametrize("entry", CASES, ids=[c["id"] for c in CASES])
def test_library(entry, corpus_file):
    path, options = corpus_file(entry), entry.get("options", {})
    if entry["expect"] == "refused":
        with pytest.raises(DataError) as error:
            load_data(path, **options)
        assert entry["message"] in str(error.value)
        assert str(path) in str(error.value)  # names the file
        return
    data = load_data(path, **options)
    assert (len(data), data.label_names) == (entry["rows"], entry["labels"])
    assert len(data.texts) == len(data.labels) and set(data.labels) <= set(range(len(data.label_names)))
    plain = None if path.suffix in BINARY_FORMATS else "utf-8"
    assert data.encoding == entry.get("encoding", plain)
    config = TrainConfig(data=str(path), **options)
    if entry.get("train_refused"):
        with pytest.raises(DataError, match=re.escape(entry["train_refused"])):
            load_train_eval(config)
        return
    train, held_out = load_train_eval(config)
    assert len(train) + len(held_out) == entry["rows"]
    # tiny files hold out one or two examples, so other classes may go unevaluated too
    assert set(entry.get("not_evaluated", [])) <= set(classes_not_evaluated(train, held_out))


@pytest.mark.parametrize("entry", CASES, ids=[c["id"] for c in CASES])
def test_cli(entry, corpus_file, tmp_path, monkeypatch):
    """`textfit train FILE`, with the training itself replaced by a stand-in that stops once the
    data is loaded: the real command line, option parsing and error printing, in milliseconds."""
    from textfit.cli import app

    train_module = importlib.import_module(
        "textfit.training.train"
    )  # `textfit.training.train` the attribute is the function

    loaded = []

    def load_then_stop(settings, *args, **kwargs):
        loaded.append(load_train_eval(settings))
        raise typer.Exit(0)

    monkeypatch.setattr(train_module, "train", load_then_stop)
    path, options = corpus_file(entry), entry.get("options", {})
    flags = [part for key, value in options.items() for part in (f"--{key.replace('_', '-')}", str(value))]
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "model"), *flags])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    refusal = entry.get("message") or entry.get("train_refused")
    if refusal:
        assert result.exit_code == 1, result.output
        assert squeezed(refusal) in squeezed(result.output), result.output
    else:
        assert result.exit_code == 0, result.output
        train, held_out = loaded[0]
        assert len(train) + len(held_out) == entry["rows"]
    if entry.get("encoding") == "cp1252":
        assert "read it as cp1252" in result.output  # the note reaches the user


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from textfit.server.studio.app import StudioLimits, create_studio_app

    with TestClient(create_studio_app(tmp_path_factory.mktemp("studio"), StudioLimits())) as client:
        yield client


@pytest.mark.parametrize(
    "entry",
    [c for c in CASES if "sheet" not in c.get("options", {})],
    ids=[c["id"] for c in CASES if "sheet" not in c.get("options", {})],
)
def test_studio_upload(entry, corpus_file, studio):
    """The upload answers what the reader answers (the studio has no sheet picker: first sheet);
    where the file reads but its labels do not, starting a run says why, and starts nothing."""
    path = corpus_file(entry)
    response = studio.post("/api/uploads", files={"file": (path.name, path.read_bytes(), "application/octet-stream")})
    assert response.status_code < 500, response.text
    if path.suffix.lower() not in FORMATS:
        refused = (
            "save it as an Excel Workbook (.xlsx)"
            if path.suffix.lower() == ".xls"
            else "not a data file textfit can read"
        )
        assert response.status_code == 415 and refused in response.json()["error"]
        return
    try:
        frame, _, _ = read_table(path)
    except DataError as exc:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert str(CORPUS) not in error  # the user's file name, not the studio's folders
        empty = path.stat().st_size == 0  # the studio says so itself, before reading
        assert error == str(exc).replace(str(path), f"'{path.name}'") or (empty and error == f"'{path.name}' is empty")
        return
    assert response.status_code == 200, response.text
    upload = response.json()
    assert upload["rows"] == len(frame) and upload["columns"] == [str(c) for c in frame.columns]
    refusal = entry.get("message") or entry.get("train_refused")
    if refusal and upload["text_column"] and upload["label_column"]:
        started = studio.post(
            "/api/runs",
            json={
                "upload_id": upload["upload"]["id"],
                "text_column": upload["text_column"],
                "label_column": entry.get("options", {}).get("label_column", upload["label_column"]),
            },
        )
        assert started.status_code == 400 and refusal in started.json()["error"], started.text
