"""The studio's insight API (server/insight.py): the yardstick beside the accuracy, the coverage
curve behind the "not sure" threshold, `min_confidence` on "try it", and "why this label"."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from textfit.model.classifier import Classifier  # noqa: E402
from textfit.model.evaluate import beats_baseline  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402
from textfit.server.studio.insight.service import STUDIO_HINT, run_insight  # noqa: E402
from textfit.server.studio.store import RunStore  # noqa: E402

RUN = "run-20250101-000000-abc123"
TEXT = "Shares of Acme Corp jump after record quarterly earnings"


@pytest.fixture(scope="module")
def studio(tiny_model_dir, tmp_path_factory):
    """A studio whose one completed run is the tiny model trained once (conftest.tiny_model_dir)."""
    workdir = tmp_path_factory.mktemp("insight-studio")
    store = RunStore(workdir / "studio.db")
    store.add_run(RUN, "tiny", None, "sample.csv", {"examples": 440, "labels": 20}, status="completed")
    store.close()
    shutil.copytree(tiny_model_dir, workdir / "runs" / RUN / "model")
    with TestClient(create_studio_app(workdir)) as client:
        yield client, workdir / "runs" / RUN / "model"


def record_of(folder) -> dict:
    return json.loads((folder / "textfit.json").read_text())


def test_insight_carries_the_records_yardstick_verdicts_and_coverage(studio):
    client, folder = studio
    record = record_of(folder)
    answer = client.get(f"/api/runs/{RUN}/insight")
    assert answer.status_code == 200, answer.text
    insight = answer.json()
    yardstick = insight["yardstick"]
    assert yardstick["label"] == record["baseline"]["label"]
    assert yardstick["accuracy"] == record["baseline"]["accuracy"]
    assert yardstick["beats"] is record["beats_baseline"]  # the library's verdict, not a new one
    assert f"always answering \u2018{record['baseline']['label']}\u2019 would score" in yardstick["short"]
    assert f"{100 * record['baseline']['accuracy']:.1f}%" in yardstick["sentence"]
    assert insight["coverage"] == record["coverage"] and len(insight["coverage"]) == 20
    assert insight["calibration"]["temperature"] == record["calibration"]["temperature"]
    assert [e["accuracy"] for e in insight["evaluations"]] == [h["accuracy"] for h in record["history"]]
    assert [e["beats"] for e in insight["evaluations"]] == [
        beats_baseline(h["accuracy"], record["baseline"]) for h in record["history"]
    ]


def test_a_run_that_does_not_clearly_beat_the_baseline_says_so_with_what_to_try(studio):
    _, folder = studio
    record = copy.deepcopy(record_of(folder))
    accuracy = record["metrics"]["accuracy"]
    # the baseline just below the model's accuracy: within the margin, so not clearly beaten
    record["baseline"].update(label="Neutral", accuracy=round(accuracy - 0.01, 4), margin=0.05, examples=60)
    record["beats_baseline"] = False
    record["history"] = [{"epoch": 1.0, "accuracy": accuracy - 0.2}, {"epoch": 2.0, "accuracy": accuracy + 0.1}]
    yardstick = run_insight(record)["yardstick"]
    assert yardstick["beats"] is False and yardstick["hint"] == STUDIO_HINT
    assert yardstick["sentence"].startswith("This model does not clearly beat always answering \u2018Neutral\u2019")
    assert "60 test messages" in yardstick["sentence"]
    assert "--" not in yardstick["sentence"] + yardstick["hint"]  # no command-line options on the page
    assert yardstick["evaluations_note"].endswith("Not clearly: epoch 1.00.")

    record["beats_baseline"] = True
    assert run_insight(record)["yardstick"]["hint"] is None


def test_a_record_from_before_the_yardstick_shows_none(studio):
    _, folder = studio
    record = {k: v for k, v in record_of(folder).items() if k not in ("baseline", "beats_baseline", "coverage")}
    insight = run_insight(record)
    assert insight["yardstick"] is None and insight["coverage"] == [] and insight["evaluations"] == []


def test_try_it_answers_not_sure_below_min_confidence(studio):
    client, _ = studio
    plain = client.post(f"/api/runs/{RUN}/predict", json={"text": TEXT, "top_k": 3}).json()
    assert plain["label"] and "not_sure" not in plain
    unsure = client.post(f"/api/runs/{RUN}/predict", json={"text": TEXT, "top_k": 3, "min_confidence": 1.0}).json()
    assert unsure["label"] is None and unsure["not_sure"] is True
    assert unsure["guess"] == plain["label"] and unsure["score"] == plain["score"]
    low = client.post(f"/api/runs/{RUN}/predict", json={"text": TEXT, "min_confidence": 0.0}).json()
    assert low["label"] == plain["label"]
    assert client.post(f"/api/runs/{RUN}/predict", json={"text": TEXT, "min_confidence": 1.5}).status_code == 422


def test_explain_highlights_each_word_as_the_library_does(studio):
    client, folder = studio
    answer = client.post(f"/api/runs/{RUN}/explain", json={"text": TEXT})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    expected = Classifier.load(folder).explain(TEXT)
    assert found["words"] == TEXT.split() and found["label"] == expected.label
    assert found["weights"] == pytest.approx(expected.weights, abs=1e-4)
    assert any(found["weights"]) and len(found["lexical"]) == len(found["words"])  # the n-gram part too
    assert found["seconds"] >= 0
    other = next(name for name in record_of(folder)["labels"] if name != found["label"])
    assert client.post(f"/api/runs/{RUN}/explain", json={"text": TEXT, "label": other}).json()["label"] == other


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"text": "oil prices", "label": "No Such Label"}, 400, "unknown label 'No Such Label'"),
        ({"text": "word " * 300}, 400, "at most 256 words"),
        ({"text": "   "}, 400, "the text is empty"),
        ({"text": ""}, 422, "text"),
    ],
)
def test_explain_refuses_what_it_cannot_explain_clearly(studio, body, status, words):
    client, _ = studio
    answer = client.post(f"/api/runs/{RUN}/explain", json=body)
    assert answer.status_code == status and words in answer.json()["error"]


def test_insight_and_explain_of_a_run_without_a_model_are_404(studio):
    client, _ = studio
    for method, path in (("get", "/api/runs/run-none-000/insight"), ("post", "/api/runs/run-none-000/explain")):
        answer = getattr(client, method)(path, **({"json": {"text": "x"}} if method == "post" else {}))
        assert answer.status_code == 404, answer.text
