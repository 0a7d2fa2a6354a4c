"""`textfit serve`: the HTTP API over a trained model folder, bad requests included."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from textfit.server.app import ServeLimits, create_app  # noqa: E402

LIMITS = ServeLimits(max_body_bytes=4_000, max_texts=8, max_text_chars=300, max_batch=64, batch_wait_ms=5)


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    from textfit import Classifier

    return Classifier.load(tiny_model_dir)


@pytest.fixture(scope="module")
def client(tiny_model_dir, classifier):
    with TestClient(create_app(tiny_model_dir, limits=LIMITS, classifier=classifier)) as client:
        yield client


def test_predict_one_text(client, classifier):
    response = client.post("/predict", json={"texts": "Acme Corp announces new CEO"})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["label"] in classifier.label_names
    assert 0 <= prediction["score"] <= 1
    assert prediction["top_k"] == [{"label": prediction["label"], "score": prediction["score"]}]
    assert prediction["label"] == classifier.predict(["Acme Corp announces new CEO"])[0]


def test_predict_list_with_top_k_matches_the_library(client, classifier):
    texts = ["Oil prices fall", "Fed keeps rates unchanged as inflation cools", "Acme Corp announces new CEO"]
    response = client.post("/predict", json={"texts": texts, "top_k": 3})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    expected = classifier.top_k(texts, 3)
    assert len(predictions) == 3
    for got, want in zip(predictions, expected):
        assert [g["label"] for g in got["top_k"]] == [w["label"] for w in want]
        assert np.allclose([g["score"] for g in got["top_k"]], [w["score"] for w in want], atol=1e-5)
        scores = [g["score"] for g in got["top_k"]]
        assert scores == sorted(scores, reverse=True)


def test_health_model_and_docs(client, classifier):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["labels"] == 20
    model = client.get("/model").json()
    assert model["labels"] == classifier.label_names
    assert model["base_model"] == classifier.record["base_model"]
    assert set(model["metrics"]) >= {"accuracy", "macro_f1"}
    assert model["limits"]["max_texts"] == LIMITS.max_texts
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/predict" in schema["paths"] and "/health" in schema["paths"]


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"this is not json", 422, "not valid JSON"),
        (b"", 422, "missing"),
        (json.dumps({}), 422, "'texts' is missing"),
        (json.dumps({"text": "misspelt key"}), 422, "texts"),
        (json.dumps({"texts": 42}), 422, "texts"),
        (json.dumps({"texts": ["fine", 7]}), 422, "texts"),
        (json.dumps({"texts": []}), 422, "empty list"),
        (json.dumps({"texts": ["x"] * 9}), 422, "too many texts: 9"),
        (json.dumps({"texts": ["ok", "y" * 301]}), 422, "text 1 is 301 characters long"),
        (json.dumps({"texts": "x", "top_k": 0}), 422, "top_k"),
        (json.dumps({"texts": "x", "top_k": 21}), 422, "top_k"),
        (json.dumps({"texts": "x", "top_k": "three"}), 422, "top_k"),
        (json.dumps({"texts": ["a" * 5000]}), 413, "larger than the limit of 3.9 KB"),
    ],
)
def test_bad_requests_get_a_clear_json_error(client, body, status, words):
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error
    assert client.get("/health").json()["status"] == "ok"  # and the server carries on


def test_other_http_errors_are_json(client):
    assert client.get("/predict").status_code == 405
    assert "error" in client.get("/predict").json()
    missing = client.get("/nope")
    assert missing.status_code == 404 and "error" in missing.json()
    lying = client.post(
        "/predict", content=b"{}", headers={"Content-Type": "application/json", "Content-Length": "99999999"}
    )
    assert lying.status_code in (400, 413)


def test_chunked_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    response = client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["error"]


class FakeClassifier:
    """Records the batch sizes the server sends; raises on the text 'boom'."""

    label_names = ["no", "yes"]
    record = {"base_model": "fake"}
    max_length = 16
    backend_name = "fake"

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.batches = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def predict_proba(self, texts):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.batches.append(len(texts))
            if "boom" in texts:
                raise RuntimeError("the model broke")
            time.sleep(self.delay)
            yes = np.array([float(t.startswith("y")) for t in texts], dtype=np.float32)
            return np.stack([1 - yes * 0.8 - 0.1, yes * 0.8 + 0.1], axis=1)
        finally:
            with self.lock:
                self.active -= 1


def _concurrent_posts(app, bodies):
    import httpx

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(http.post("/predict", json=body) for body in bodies))

    return asyncio.run(main())


def test_concurrent_requests_are_batched_and_answered_in_order():
    fake = FakeClassifier()
    app = create_app(None, classifier=fake, limits=ServeLimits(batch_wait_ms=30, max_batch=64))
    bodies = [{"texts": ["yes" if i % 2 else "no", "y", "n"][: 1 + i % 3]} for i in range(24)]
    responses = _concurrent_posts(app, bodies)
    assert all(r.status_code == 200 for r in responses)
    for body, response in zip(bodies, responses):
        labels = [p["label"] for p in response.json()["predictions"]]
        assert labels == ["yes" if t.startswith("y") else "no" for t in body["texts"]]
    assert sum(fake.batches) == sum(len(b["texts"]) for b in bodies)
    assert len(fake.batches) < len(bodies) and max(fake.batches) > 3  # gathered, not one call per request
    assert fake.max_active == 1  # one model call at a time
    assert app.state.batcher.stats["requests"] == len(bodies)


def test_batches_respect_max_batch():
    fake = FakeClassifier()
    app = create_app(None, classifier=fake, limits=ServeLimits(batch_wait_ms=30, max_batch=8))
    responses = _concurrent_posts(app, [{"texts": ["y", "n", "y"]} for _ in range(12)])
    assert all(r.status_code == 200 for r in responses)
    assert max(fake.batches) <= 8 + 2  # a request is never split; a batch stops growing at max_batch


def test_a_failing_batch_is_a_500_and_the_server_carries_on():
    fake = FakeClassifier()
    app = create_app(None, classifier=fake, limits=ServeLimits(batch_wait_ms=1))
    with TestClient(app) as client:
        broken = client.post("/predict", json={"texts": ["boom"]})
        assert broken.status_code == 500
        assert "the model broke" in broken.json()["error"]
        fine = client.post("/predict", json={"texts": "yes"})
        assert fine.status_code == 200 and fine.json()["predictions"][0]["label"] == "yes"


def test_real_model_batches_under_load(tiny_model_dir, classifier):
    app = create_app(tiny_model_dir, classifier=classifier, limits=ServeLimits(batch_wait_ms=20))
    texts = [f"Company {i} reports quarterly earnings" for i in range(16)]
    responses = _concurrent_posts(app, [{"texts": t} for t in texts])
    assert all(r.status_code == 200 for r in responses)
    got = [r.json()["predictions"][0]["label"] for r in responses]
    assert got == classifier.predict(texts)
    assert app.state.batcher.stats["batches"] < len(texts)


def test_serve_command_refuses_a_folder_that_is_not_a_model(tmp_path):
    from typer.testing import CliRunner

    from textfit.cli import app

    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "not a trained model folder" in output and "serving" not in output


def test_not_sure_below_the_threshold_of_the_server_or_the_request(tiny_model_dir, classifier):
    """Above every score, each answer is 'not sure' (label null) with the best label as guess; a
    request's own min_confidence wins over the server's."""
    text = "Oil prices fall"
    best = classifier.top_k([text], 1)[0][0]
    limits = ServeLimits(max_texts=8, min_confidence=1.0)
    with TestClient(create_app(tiny_model_dir, limits=limits, classifier=classifier)) as client:
        unsure = client.post("/predict", json={"texts": text}).json()["predictions"][0]
        assert unsure["label"] is None and unsure["not_sure"] and unsure["guess"] == best["label"]
        assert unsure["top_k"][0]["label"] == best["label"]
        sure = client.post("/predict", json={"texts": text, "min_confidence": 0}).json()["predictions"][0]
        assert sure["label"] == best["label"] and not sure["not_sure"] and sure["guess"] is None
        bad = client.post("/predict", json={"texts": text, "min_confidence": 2})
        assert bad.status_code == 422 and "min_confidence" in bad.json()["error"]
