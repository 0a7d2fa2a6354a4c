"""The new-run form's time estimate before Start (runs/estimate.py, POST /api/runs/estimate), names
pasted as a list, and a killed run's words: what the studio says before and after a run, in plain words."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402
from textfit.server.studio.runs import estimate  # noqa: E402
from textfit.server.studio.runs.outcome import ending  # noqa: E402

QUIET = 0.05  # seconds for the timed forward pass on 2 quiet cores


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "forward_seconds", lambda: QUIET)  # the machine's measure has a test of its own
    with TestClient(create_studio_app(tmp_path / "studio")) as client:
        yield client


def sample_upload(client) -> str:
    return client.post("/api/uploads/sample").json()["upload"]["id"]


def test_few_shot_on_400_rows_in_20_categories_plans_88_contrastive_steps():
    plan = estimate.plan(400, 20, "fewshot", mean_chars=90, forward_s=QUIET)
    assert plan["train_examples"] == 320 and plan["epochs"] == 8 and plan["steps"] == 8 * 11  # (320 + 20 names) / 32
    assert 0 < plan["low_s"] <= plan["high_s"] < 180


def test_fine_tuning_gives_a_range_for_early_stopping_and_a_time_budget_caps_it():
    plan = estimate.plan(2000, 20, "finetune", mean_chars=90, forward_s=QUIET)
    assert plan["epochs"] == 3 and plan["steps"] == 3 * 100
    assert plan["low_s"] < plan["high_s"]
    capped = estimate.plan(20_000, 20, "finetune", mean_chars=90, forward_s=QUIET, time_budget_min=2)
    assert capped["high_s"] <= 2 * 60 + estimate.FIXED_S


def test_several_labels_a_text_plan_twice_the_epochs_of_one_label():
    one = estimate.plan(2000, 20, "finetune", mean_chars=90, forward_s=QUIET)
    several = estimate.plan(2000, 20, "finetune", mean_chars=90, forward_s=QUIET, multi_label=True)
    assert (one["epochs"], several["epochs"]) == (3, 6) and several["steps"] == 2 * one["steps"]
    assert several["high_s"] > one["high_s"]


def test_a_busier_machine_gets_a_longer_estimate():
    quiet = estimate.plan(400, 20, "finetune", mean_chars=90, forward_s=QUIET)
    busy = estimate.plan(400, 20, "finetune", mean_chars=90, forward_s=4 * QUIET)
    assert busy["high_s"] > 3 * quiet["high_s"]


def test_the_form_gets_the_time_and_the_strategy_textfit_would_choose(client):
    body = {"upload_id": sample_upload(client), "text_column": "text", "label_column": "label"}
    auto = client.post("/api/runs/estimate", json=body).json()
    assert auto["chosen_by"] == "textfit" and auto["strategy"] in ("fewshot", "finetune")
    assert auto["train_examples"] == 352 and auto["low_s"] <= auto["high_s"]
    chosen = client.post("/api/runs/estimate", json={**body, "strategy": "finetune", "epochs": 2}).json()
    assert chosen["chosen_by"] == "you" and chosen["strategy"] == "finetune" and chosen["epochs"] == 2
    other = client.post("/api/runs/estimate", json={**body, "model": "all-mpnet-base-v2"}).json()
    assert other["other_model"] is True
    assert client.get("/api/runs").json()["runs"] == []  # estimating starts nothing


def test_a_wrong_column_is_said_in_the_files_words(client):
    body = {"upload_id": sample_upload(client), "text_column": "text", "label_column": "nope"}
    answer = client.post("/api/runs/estimate", json=body)
    assert answer.status_code == 400 and "nope" in answer.json()["error"] and "/runs/" not in answer.json()["error"]


def test_the_machine_is_measured_once_with_the_embedded_model():
    estimate.forward_seconds.cache_clear()
    seconds = estimate.forward_seconds()
    assert 0 < seconds < 10
    assert estimate.forward_seconds() == seconds  # cached for the process


def test_label_names_pasted_one_a_line_or_between_semicolons_name_the_numbers(client, tmp_path):
    csv = "text,label\n" + "".join(f"message {i} about {'money' if i % 2 else 'parcels'},{i % 2}\n" for i in range(20))
    upload = client.post("/api/uploads", files={"file": ("n.csv", io.BytesIO(csv.encode()), "text/csv")}).json()
    body = {"upload_id": upload["upload"]["id"], "text_column": "text", "label_column": "label"}
    client.app.state.studio.python = "/bin/true"  # the run's process: nothing trains here
    for names in ("Shipping\nBilling", "Shipping; Billing", "Shipping,\r\nBilling"):
        run = client.post("/api/runs", json={**body, "label_names": names}).json()
        assert run["settings"]["label_names"] == ["Shipping", "Billing"], names


def test_a_killed_training_is_said_in_words_not_as_a_signal_number():
    killed = ending(None, -9, by_user=False)
    assert killed["status"] == "interrupted" and "was killed" in killed["message"]
    assert "signal" not in killed["message"] and "signal" not in ending(None, -6, by_user=False)["message"]
    assert "exit code" not in ending(None, 3, by_user=False)["message"]


def test_a_training_on_a_busy_machine_takes_one_thread_and_on_a_quiet_one_keeps_them(monkeypatch):
    import os

    import torch

    from textfit.server.studio.runs import worker

    threads = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.0, 1.0))
        worker.one_thread_when_busy()
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(os, "getloadavg", lambda: (18.0, 17.0, 15.0))
        worker.one_thread_when_busy()
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # chosen by whoever started the studio: kept
        worker.one_thread_when_busy()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
