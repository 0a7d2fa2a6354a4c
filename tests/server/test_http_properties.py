"""Property-based tests of the HTTP endpoints: whatever a client sends to `serve`'s /predict or to the
studio's upload and run endpoints, the answer is never a 500, a 4xx is always a JSON {"error": ...},
and the app answers /health (serve) or /api/info (studio) afterwards."""

from __future__ import annotations

import json
import random
import stat
import sys

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
hypothesis = pytest.importorskip("hypothesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from textfit.server.app import ServeLimits, create_app  # noqa: E402
from textfit.server.studio.app import StudioLimits, create_studio_app  # noqa: E402

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text with everything JSON can carry: lone surrogates, NULs, controls, astral characters.
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4),
    max_leaves=12,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
        "application/json\x7f",
    ]
)


def check_answer(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"], body


# --- serve: /predict ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def serve_client(tiny_model_dir):
    limits = ServeLimits(max_body_bytes=20_000, max_texts=8, max_text_chars=500, batch_wait_ms=1)
    with TestClient(create_app(tiny_model_dir, limits=limits)) as client:
        yield client


def post_predict(client, content: bytes, content_type: str = "application/json"):
    response = client.post("/predict", content=content, headers={"Content-Type": content_type})
    check_answer(response)
    assert client.get("/health").json()["status"] == "ok"
    return response


@SETTINGS
@given(body=JSON_VALUES)
@example(body={"texts": "x", "\ud800": 1})  # once a 500: a lone surrogate echoed in the error
@example(body={"texts": 5, "top_k": "\udfff"})
@example(body={"texts": "x", "top_k": float("inf")})
def test_predict_survives_any_json_value(serve_client, body):
    post_predict(serve_client, json.dumps(body).encode())


@SETTINGS
@given(
    texts=st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=10), st.text(min_size=400, max_size=700)),
    top_k=st.one_of(st.integers(-5, 30), JSON_VALUES),
    extra=st.booleans(),
)
def test_predict_survives_odd_texts_and_top_k(serve_client, texts, top_k, extra):
    body = {"texts": texts, "top_k": top_k, **({"x": 1} if extra else {})}
    response = post_predict(serve_client, json.dumps(body).encode())
    if response.status_code == 200:  # every text was classified, NULs and lone surrogates included
        assert len(response.json()["predictions"]) == (1 if isinstance(texts, str) else len(texts))


# Bodies around the 20,000-byte limit come from a seed: drawn byte by byte they exhaust hypothesis's data budget.
LARGE_BODIES = st.builds(
    lambda seed, size: random.Random(seed).randbytes(size), st.integers(0, 2**32), st.integers(19_000, 21_000)
)


@SETTINGS
@given(content=st.binary(max_size=3000) | LARGE_BODIES, content_type=CONTENT_TYPES)
def test_predict_survives_any_bytes_and_content_type(serve_client, content, content_type):
    post_predict(serve_client, content, content_type)


# --- the studio: uploads and runs -------------------------------------------------------------------
@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A studio whose 'training process' exits at once: a run that the fuzzer manages to start is harmless."""
    folder = tmp_path_factory.mktemp("fuzzed-studio")
    fake = folder / "fake-python"
    fake.write_text(f"#!{sys.executable}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    app = create_studio_app(folder / "studio", StudioLimits(max_upload_bytes=50_000, max_concurrent_runs=1))
    app.state.studio.python = str(fake)
    with TestClient(app) as client:
        upload = client.put("/api/uploads?filename=d.csv", content="text,label\na,x\nb,y\nc,x\nd,y\n")
        yield client, upload.json()["upload"]["id"]


def alive(client) -> None:
    assert client.get("/api/info").status_code == 200


NAMES = ANY_TEXT | st.sampled_from(
    [
        "d.csv",
        "../../x.csv",
        "a.parquet",
        "b.jsonl",
        "c.json",
        "t.tsv",
        "x.xlsx",
        "..csv",
        ".csv",
        "con.csv",
        "a/b\\c.csv",
        "ok.CSV",
        "x" * 300 + ".csv",
    ]
)
FILE_BYTES = st.binary(max_size=2000) | st.sampled_from(
    [
        b"text,label\n",
        b"\xef\xbb\xbftext,label\na,b\n",
        b"PAR1garbage",
        b"[1, 2]",
        b'{"a": 1}',
        b"\x00" * 50,
        b"text\tlabel\na\tb\nc\td\n",
        b'{"text": "a", "label": 1}\n{"text": "b"}\n',
        b"PK\x03\x04junk",
    ]
)


@SETTINGS
@given(name=NAMES, content=FILE_BYTES)
def test_uploads_survive_any_name_and_bytes(studio, name, content):
    from urllib.parse import quote

    client, _ = studio
    raw = name.encode("utf-8", "surrogatepass")  # a lone surrogate goes as the bytes it would be: invalid UTF-8
    check_answer(client.put(f"/api/uploads?filename={quote(raw, safe='')}", content=content))
    printable = raw.decode("utf-8", "replace") or "x"
    check_answer(client.post("/api/uploads", files={"file": (printable, content, "application/octet-stream")}))
    alive(client)


@SETTINGS
@given(body=JSON_VALUES)
@example(body=float("inf"))  # once a 500: Infinity copied into the validation error's JSON
def test_starting_a_run_survives_any_json(studio, body):
    client, _ = studio
    check_answer(
        client.post("/api/runs", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    )
    alive(client)


@SETTINGS
@given(data=st.data())
def test_starting_a_run_survives_odd_fields_on_a_real_upload(studio, data):
    client, upload_id = studio
    column = st.sampled_from(["text", "label"]) | ANY_TEXT
    body = data.draw(
        st.fixed_dictionaries(
            {"upload_id": st.just(upload_id) | ANY_TEXT, "text_column": column, "label_column": column},
            optional={
                "model": st.just("default"),
                "epochs": JSON_VALUES,
                "time_budget": JSON_VALUES,
                "name": ANY_TEXT,
                "label_names": ANY_TEXT | st.just("no, yes"),
                "surprise": JSON_VALUES,
            },
        )
    )
    response = client.post("/api/runs", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    check_answer(response)
    if response.status_code == 201:  # a run started (and its stand-in process exits at once) or queued
        run = client.get(f"/api/runs/{response.json()['id']}").json()
        assert run["status"] in ("queued", "running", "failed", "interrupted")
    alive(client)


@SETTINGS
@given(run_id=ANY_TEXT, column=ANY_TEXT)
def test_run_and_upload_urls_survive_any_id(studio, run_id, column):
    client, upload_id = studio
    from urllib.parse import quote

    safe = quote(run_id.encode("utf-8", "surrogatepass"), safe="")
    for method, path in (
        ("GET", f"/api/runs/{safe}"),
        ("POST", f"/api/runs/{safe}/stop"),
        ("GET", f"/api/runs/{safe}/results"),
        ("GET", f"/api/uploads/{safe}"),
    ):
        check_answer(client.request(method, path))
    check_answer(client.get(f"/api/uploads/{upload_id}", params={"text_column": column.encode("utf-8", "replace")}))
    alive(client)
