"""Several labels per text given as one 0/1 column per label ("text,billing,urgent,refund"), in the studio:
the upload's preview finds those columns as the library does (data.labeled.label_columns: what
`textfit train FILE` reads with no label column named) and says so in words, and a run starts from them
with no label column. The encoder is the tiny random BERT: fast, meaningless answers."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from support.multilabel import LABELS, rows, write_columns  # noqa: E402
from support.studio import ended, put, tickets  # noqa: E402
from textfit.data.labeled import load_data  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the training processes inherit it


@pytest.fixture
def client(tmp_path):
    with TestClient(create_studio_app(tmp_path / "studio")) as client:
        yield client


def test_the_preview_says_a_file_gives_one_0_1_column_per_label_and_counts_rows_with_several_or_none(client, tmp_path):
    path = write_columns(tmp_path / "tickets.csv")
    preview = put(client, "tickets.csv", path.read_bytes())
    several = preview["several_labels"]
    assert several["layout"] == "columns" and several["columns"] == list(LABELS)
    assert "one column per label (billing, urgent, refund), holding 0/1 values" in several["description"]
    sets = [labels for _, labels in rows()]
    assert several["rows_with_several"] == sum(1 for s in sets if len(s) > 1) > 0
    assert several["rows_without_label"] == sum(1 for s in sets if not s) > 0
    assert preview["text_column"] == "text" and preview["label_column"] is None and preview["problem"] is None
    assert {c["value"]: c["count"] for c in preview["labels"]["counts"]} == {
        name: sum(1 for s in sets if name in s) for name in LABELS
    }
    data = load_data(path)  # the library reads the same file the same way
    assert data.label_layout["layout"] == "columns" and data.label_names == several["columns"]


def test_every_0_1_column_is_named_as_a_label_as_the_library_reads_it_and_a_chosen_label_column_reads_one_label(
    client,
):
    frame = pd.DataFrame(
        {
            "text": [f"message {i}" for i in range(12)],
            "billing": [1, 0] * 6,
            "urgent": [1, 1, 0] * 4,
            "is_customer": [0, 1, 1] * 4,
        }
    )
    upload = put(client, "flags.csv", frame.to_csv(index=False).encode())
    several = upload["several_labels"]
    assert several["columns"] == ["billing", "urgent", "is_customer"]  # no silent guess: each one is named
    assert "is_customer" in several["description"]

    one_label = client.get(f"/api/uploads/{upload['upload']['id']}", params={"label_column": "billing"}).json()
    assert one_label["several_labels"] is None and one_label["label_column"] == "billing"
    assert {c["value"] for c in one_label["labels"]["counts"]} == {"0", "1"}

    plain = put(client, "one.csv", tickets().rename(columns={"truth": "label"}).to_csv(index=False).encode())
    assert plain["several_labels"] is None and plain["label_column"] == "label"


def test_an_unclear_text_column_beside_the_0_1_columns_is_asked_of_the_pickers_and_choosing_it_reads_the_labels(
    client,
):
    frame = pd.DataFrame(
        {
            "subject": [f"subject {i}" for i in range(10)],
            "notes": [f"notes on message {i}" for i in range(10)],
            "billing": [1, 0] * 5,
            "urgent": [0, 0, 1, 1, 1] * 2,
        }
    )
    upload = put(client, "two texts.csv", frame.to_csv(index=False).encode())
    assert "beside the 0/1 label columns" in upload["problem"] and "the column pickers" in upload["problem"]
    assert "--text-column" not in upload["problem"] and upload["several_labels"] is None

    chosen = client.get(f"/api/uploads/{upload['upload']['id']}", params={"text_column": "notes"}).json()
    assert chosen["problem"] is None and chosen["text_column"] == "notes"
    assert chosen["several_labels"]["columns"] == ["billing", "urgent"]


def test_a_run_starts_from_the_0_1_columns_with_no_label_column_and_trains_a_model_of_label_sets(
    client, tiny_bert, tmp_path
):
    upload = put(client, "tickets.csv", write_columns(tmp_path / "tickets.csv", count=60).read_bytes())
    body = {"upload_id": upload["upload"]["id"], "text_column": "text", "model": str(tiny_bert)}
    estimate = client.post("/api/runs/estimate", json=body)
    assert estimate.status_code == 200, estimate.text
    started = client.post("/api/runs", json={**body, "epochs": 1})
    assert started.status_code == 201, started.text
    settings = started.json()["settings"]
    assert "label_column" not in settings and settings["several_labels"]
    assert settings["label_columns"] == list(LABELS)

    done = ended(client, started.json()["id"])
    assert done["status"] == "completed", done
    results = client.get(f"/api/runs/{done['id']}/results").json()
    assert results["several_labels"]["layout"] == "columns"
    assert set(results["several_labels"]["thresholds"]) == set(LABELS)
    answer = client.post(f"/api/runs/{done['id']}/predict", json={"text": "invoice charge asap now"}).json()
    assert answer["multi_label"] and {s["label"] for s in answer["scores"]} == set(LABELS)

    again = client.post(f"/api/runs/{done['id']}/train-again")
    assert again.status_code == 201, again.text
    assert again.json()["settings"]["label_columns"] == list(LABELS)
    client.post(f"/api/runs/{again.json()['id']}/stop")
