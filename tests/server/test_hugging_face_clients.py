"""`textfit serve` for the clients people already have: the Hugging Face Inference API's format at
POST / and POST /predict, called by the real `huggingface_hub.InferenceClient`, with and without
an API key; and an OpenAPI description that lists every status the server sends, with its body."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
huggingface_hub = pytest.importorskip("huggingface_hub")

from fastapi.testclient import TestClient  # noqa: E402

from support.serving import served_in_a_thread  # noqa: E402
from textfit.server.app import create_app  # noqa: E402

TEXTS = ["Acme Corp announces new CEO", "Oil prices fall as OPEC raises output"]


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    from textfit import Classifier

    return Classifier.load(tiny_model_dir)


def expected(classifier, text: str) -> list[tuple[str, float]]:
    row = classifier.predict_proba([text])[0]
    return [(classifier.label_names[j], round(float(row[j]), 6)) for j in np.argsort(-row)]


@pytest.mark.parametrize("api_key", [None, "the-key"])
def test_the_inference_client_gets_label_names_and_scores(tiny_model_dir, classifier, api_key, monkeypatch):
    from huggingface_hub import InferenceClient

    # The tests' HF_HUB_OFFLINE=1 blocks every request of the client, even to 127.0.0.1: here it may
    # reach this server (its URL is the model), and nothing else.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    app = create_app(tiny_model_dir, classifier=classifier, api_key=api_key, host="127.0.0.1")
    with served_in_a_thread(app) as url:
        for endpoint in (url, url + "predict"):
            client = InferenceClient(model=endpoint, token=api_key)
            answer = client.text_classification(TEXTS[0], top_k=3)
            assert [(a.label, pytest.approx(a.score, abs=1e-6)) for a in answer] == expected(classifier, TEXTS[0])[:3]
            every_label = client.text_classification(TEXTS[1])  # no top_k: every label, best first
            assert [a.label for a in every_label] == [label for label, _ in expected(classifier, TEXTS[1])]
        if api_key:
            with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as refused:
                InferenceClient(model=url).text_classification(TEXTS[0])
            assert refused.value.response.status_code == 401
            with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as refused:
                InferenceClient(model=url, token="a wrong key").text_classification(TEXTS[0])
            assert refused.value.response.status_code == 403


def test_both_formats_side_by_side_and_mistakes_named_in_the_format_used(tiny_model_dir, classifier):
    with TestClient(create_app(tiny_model_dir, classifier=classifier)) as client:
        hugging_face = client.post("/predict", json={"inputs": TEXTS, "parameters": {"top_k": 2}}).json()
        textfit = client.post("/predict", json={"texts": TEXTS, "top_k": 2}).json()["predictions"]
        assert hugging_face == [answer["top_k"] for answer in textfit]  # one list per text, in order
        assert client.post("/", json={"inputs": TEXTS[0]}).json()[0][0] == textfit[0]["top_k"][0]
        refused = client.post("/", json={"inputs": TEXTS[0], "parameters": {"function_to_apply": "sigmoid"}})
        assert refused.status_code == 422 and "parameters.function_to_apply" in refused.json()["error"]
        assert "'texts' is missing" in client.post("/predict", json={}).json()["error"]
        assert "'inputs' is missing" in client.post("/", json={"parameters": {}}).json()["error"]
        too_many = client.post("/", json={"inputs": ["x"] * 300})
        assert too_many.status_code == 422 and "too many texts" in too_many.json()["error"]


def test_openapi_lists_every_status_the_server_sends_with_its_real_body(tiny_model_dir, classifier):
    with TestClient(create_app(tiny_model_dir, classifier=classifier, api_key="k")) as client:
        spec = client.get("/openapi.json").json()
        for path in ("/predict", "/"):
            responses = spec["paths"][path]["post"]["responses"]
            assert set(responses) == {"200", "400", "401", "403", "413", "422", "500"}, path
            for status in ("401", "403", "413", "422", "500"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
        assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
        # and the bodies really are {"error": ...}
        assert set(client.post("/predict", json={"texts": "x"}).json()) == {"error"}  # 401, no key
        assert set(client.post("/predict", json={}, headers={"X-API-Key": "k"}).json()) >= {"error"}  # 422
