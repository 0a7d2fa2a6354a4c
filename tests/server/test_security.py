"""The studio and the server on a shared machine: access tokens, API keys, the Host check against
DNS rebinding, uploads streamed to disk under the size limit, and the studio's training queue."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from support.waiting import eventually  # noqa: E402
from textfit.errors import TextfitError  # noqa: E402
from textfit.server.app import create_app  # noqa: E402
from textfit.server.security import (  # noqa: E402
    API_KEY_ENV,
    STUDIO_COOKIE,
    STUDIO_TOKEN_ENV,
    host_name,
    is_loopback,
    public_url,
    resolve_api_key,
    resolve_studio_token,
)
from textfit.server.studio.app import StudioLimits, create_studio_app  # noqa: E402
from textfit.server.studio.store import RunStore  # noqa: E402

LIMITS = StudioLimits(max_upload_bytes=200_000)
CSV = "text,label\na,x\nb,y\nc,x\nd,y\n"


@pytest.fixture(autouse=True)
def no_secrets_from_the_environment(monkeypatch):
    monkeypatch.delenv(STUDIO_TOKEN_ENV, raising=False)
    monkeypatch.delenv(API_KEY_ENV, raising=False)


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "studio"


# --- names --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("app.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
        ("localhost.evil.example", False),
    ],
)
def test_loopback_names(name, loopback):
    assert is_loopback(name) is loopback


@pytest.mark.parametrize(
    "header, name",
    [
        ("localhost:8080", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:80", "::1"),
        ("[::1]", "::1"),
        ("Evil.Example:443", "evil.example"),
        ("", ""),
    ],
)
def test_host_header_names(header, name):
    assert host_name(header) == name


def test_studio_token_is_generated_off_loopback_only(monkeypatch):
    assert resolve_studio_token("127.0.0.1") is None
    first, second = resolve_studio_token("0.0.0.0"), resolve_studio_token("0.0.0.0")
    assert first != second and len(first) >= 32 and first.replace("-", "").replace("_", "").isalnum()
    assert resolve_studio_token("127.0.0.1", "mine") == "mine"  # --token on loopback: required too
    monkeypatch.setenv(STUDIO_TOKEN_ENV, "from-env")
    assert resolve_studio_token("0.0.0.0") == "from-env" and resolve_studio_token("::1") == "from-env"
    assert resolve_studio_token("0.0.0.0", "given") == "given"
    monkeypatch.setenv(API_KEY_ENV, " key-env ")
    assert resolve_api_key() == "key-env" and resolve_api_key("given") == "given"
    monkeypatch.setenv(API_KEY_ENV, "")
    assert resolve_api_key() is None


def test_public_url_names_the_machine_for_a_wildcard_address():
    import socket

    assert public_url("0.0.0.0", 8080, "abc") == f"http://{socket.gethostname()}:8080/?token=abc"
    assert public_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert public_url("::1", 9) == "http://[::1]:9/"


# --- the studio's access token --------------------------------------------------------------------
def test_a_studio_beyond_loopback_cannot_start_without_a_token(workdir):
    with pytest.raises(TextfitError, match="access token"):
        create_studio_app(workdir, LIMITS, host="0.0.0.0")


def test_studio_token_cookie_flow_bearer_header_and_wrong_tokens(workdir):
    app = create_studio_app(workdir, LIMITS, host="0.0.0.0", token="s3cret-token")
    with TestClient(app, base_url="http://studio.lan:8080") as client:
        api = client.get("/api/info")
        assert api.status_code == 401 and "access token" in api.json()["error"]
        assert api.headers["www-authenticate"] == "Bearer"
        page = client.get("/")
        assert page.status_code == 401 and "text/html" in page.headers["content-type"]
        assert "?token=" in page.text and "s3cret" not in page.text
        assert client.get("/static/app.js").status_code == 401
        assert client.post("/api/uploads/sample").status_code == 401  # nothing stored
        assert not any((workdir / "uploads").iterdir())

        assert client.get("/api/info", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        wrong = client.get("/api/info", headers={"Authorization": "Bearer s3cret-tokeN"})
        assert wrong.status_code == 403 and "wrong" in wrong.json()["error"]
        assert client.get("/?token=nope").status_code == 403
        # a token in the URL of an API call is not taken (URLs end up in logs): only the page's first visit
        assert client.post("/api/uploads/sample?token=s3cret-token").status_code == 401

        first = client.get("/?token=s3cret-token&tab=new", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/?tab=new"
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"{STUDIO_COOKIE}=s3cret-token") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        # the client now carries the cookie, as a browser would
        assert client.get("/").status_code == 200 and "textfit studio" in client.get("/").text
        assert client.get("/api/info").status_code == 200
        assert client.post("/api/uploads/sample").status_code == 200
        client.cookies.clear()
        client.cookies.set(STUDIO_COOKIE, "an-old-token")
        assert client.get("/api/info").status_code == 403


def test_studio_on_loopback_needs_no_token_unless_given(workdir, tmp_path):
    with TestClient(create_studio_app(workdir, LIMITS, host="127.0.0.1"), base_url="http://127.0.0.1:8080") as client:
        assert client.get("/api/info").status_code == 200
    app = create_studio_app(tmp_path / "other", LIMITS, host="127.0.0.1", token="mine")
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        assert client.get("/api/info").status_code == 401
        assert client.get("/api/info", headers={"X-API-Key": "mine"}).status_code == 200


# --- the Host check (DNS rebinding) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "host, status",
    [
        ("127.0.0.1:8080", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
        ("127.3.2.1", 200),
        ("evil.example:8080", 403),
        ("127.0.0.1.nip.io:8080", 403),
        ("10.0.0.5:8080", 403),
        ("proxy.internal", 200),
    ],
)
def test_loopback_studio_and_server_refuse_other_host_names(workdir, tiny_model_dir, host, status):
    studio = create_studio_app(workdir, LIMITS, host="127.0.0.1", allowed_hosts=["proxy.internal,other.internal"])
    server = create_app(None, classifier=FakeClassifier(), host="::1", allowed_hosts=["proxy.internal"])
    for app, path in ((studio, "/api/info"), (server, "/health")):
        with TestClient(app, base_url="http://127.0.0.1:8080") as client:
            response = client.get(path, headers={"Host": host})
            assert response.status_code == status, (path, host, response.text)
            if status == 403:
                assert f"'{host_name(host)}'" in response.json()["error"] and "--allow-host" in response.json()["error"]


def test_no_host_check_when_listening_on_every_interface(workdir):
    app = create_studio_app(workdir, LIMITS, host="0.0.0.0", token="t")
    with TestClient(app, base_url="http://10.1.2.3:8080") as client:
        assert client.get("/api/info", headers={"Authorization": "Bearer t"}).status_code == 200


# --- serve --api-key -------------------------------------------------------------------------------
class FakeClassifier:
    label_names = ["no", "yes"]
    record = {"base_model": "fake"}
    max_length = 16
    backend_name = "fake"

    def predict_proba(self, texts):
        import numpy as np

        return np.tile(np.array([[0.3, 0.7]], dtype=np.float32), (len(texts), 1))


def test_api_key_on_every_request_but_health_and_docs():
    app = create_app(None, classifier=FakeClassifier(), api_key="k-123", host="127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/health").json()["status"] == "ok"
        for method, path in (("POST", "/predict"), ("GET", "/model"), ("GET", "/")):
            refused = client.request(method, path, json={"texts": "x"} if method == "POST" else None)
            assert refused.status_code == 401 and "API key" in refused.json()["error"], path
        assert client.post("/predict", json={"texts": "x"}, headers={"X-API-Key": "k-123"}).status_code == 200
        ok = client.post("/predict", json={"texts": "x"}, headers={"Authorization": "Bearer k-123"})
        assert ok.status_code == 200 and ok.json()["predictions"][0]["label"] == "yes"
        wrong = client.post("/predict", json={"texts": "x"}, headers={"X-API-Key": "k-12"})
        assert wrong.status_code == 403 and wrong.json()["error"] == "the API key is wrong"
        assert client.get("/docs").status_code == 200
        schema = client.get("/openapi.json").json()
        assert "API key" in schema["info"]["description"]
        assert {"APIKeyHeader", "HTTPBearer"} <= set(schema["components"]["securitySchemes"])
    with TestClient(create_app(None, classifier=FakeClassifier())) as client:  # no key: open, as before
        assert client.post("/predict", json={"texts": "x"}).status_code == 200
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_serve_takes_the_api_key_from_the_environment(monkeypatch, tiny_model_dir):
    import uvicorn

    from textfit.server import app as server

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    server.serve(tiny_model_dir, host="127.0.0.1", port=8123)
    with TestClient(served["app"], base_url="http://localhost:8123") as client:
        assert client.post("/predict", json={"texts": "x"}).status_code == 401
        assert client.post("/predict", json={"texts": "x"}, headers={"X-API-Key": "from-env"}).status_code == 200


def test_cli_passes_keys_tokens_and_hosts_and_prints_the_token_url(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from textfit.cli import app
    from textfit.server import app as server
    from textfit.server.studio import app as studio

    calls = {}
    monkeypatch.setattr(server, "serve", lambda model_dir, **kwargs: calls.update(serve=kwargs))
    monkeypatch.setattr(studio, "run_studio", lambda workdir, **kwargs: calls.update(studio=kwargs))
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--api-key", "k", "--allow-host", "a.internal,b.x"])
    assert result.exit_code == 0, result.output
    assert calls["serve"]["api_key"] == "k" and list(calls["serve"]["allowed_hosts"]) == ["a.internal,b.x"]
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert "no --api-key" in " ".join(result.output.split())

    result = CliRunner().invoke(app, ["studio", "--dir", str(tmp_path / "s"), "--host", "0.0.0.0", "--port", "9999"])
    assert result.exit_code == 0, result.output
    token = calls["studio"]["token"]
    assert token and f":9999/?token={token}" in result.output
    CliRunner().invoke(app, ["studio", "--dir", str(tmp_path / "s")], env={STUDIO_TOKEN_ENV: "env-token"})
    assert calls["studio"]["token"] == "env-token"
    CliRunner().invoke(app, ["studio", "--dir", str(tmp_path / "s")])
    assert calls["studio"]["token"] is None  # loopback: no token


# --- uploads streamed to disk ------------------------------------------------------------------------
def test_streamed_upload_writes_as_it_reads_and_never_reads_the_whole_body(workdir, monkeypatch):
    """Through httpx's ASGI transport, which sends an async body chunk by chunk (TestClient reads a
    body whole before sending it)."""
    import asyncio

    import httpx
    from starlette.requests import Request

    def whole_body(self):
        raise AssertionError("the upload read the whole body into memory")

    monkeypatch.setattr(Request, "body", whole_body)
    monkeypatch.setattr(Request, "form", whole_body)
    chunk = b"".join(f"message number {i},{'xy'[i % 2]}\n".encode() for i in range(2000))  # ~46 KB
    seen_on_disk = []

    async def body():
        yield b"text,label\n"
        for _ in range(4):
            yield chunk
            seen_on_disk.append(sum(p.stat().st_size for p in (workdir / "uploads").rglob("*.csv")))

    async def send():
        transport = httpx.ASGITransport(app=create_studio_app(workdir, LIMITS))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.put("/api/uploads", params={"filename": "../my data.csv"}, content=body())

    response = asyncio.run(send())
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["rows"] == 8000 and data["upload"]["filename"] == "my_data.csv"
    assert data["upload"]["size"] == len(b"text,label\n") + 4 * len(chunk)
    # each chunk was on disk before the next one was sent
    assert seen_on_disk[1] >= len(chunk) and seen_on_disk == sorted(seen_on_disk)


@pytest.mark.parametrize("declared", [True, False])
def test_streamed_upload_over_the_limit_is_a_413_and_leaves_nothing(workdir, declared):
    too_big = b"text,label\n" + b"x,y\n" * 60_000  # 240 KB against a limit of 200 KB
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        if declared:  # Content-Length under the middleware's margin: the count while reading refuses it
            response = client.put("/api/uploads?filename=big.csv", content=too_big)
        else:
            response = client.put(
                "/api/uploads?filename=big.csv",
                content=(too_big[i : i + 10_000] for i in range(0, len(too_big), 10_000)),
            )
        assert response.status_code == 413 and "larger than the limit of 195.3 KB" in response.json()["error"]
        assert not any((workdir / "uploads").iterdir())
        huge = client.put("/api/uploads?filename=huge.csv", content=b"x" * 1_300_000)  # past the margin too
        assert huge.status_code == 413 and not any((workdir / "uploads").iterdir())
        assert client.put("/api/uploads?filename=ok.csv", content=CSV).status_code == 200


@pytest.mark.parametrize(
    "params, status, words",
    [
        ({"filename": "program.exe"}, 415, "not a data file"),
        ({}, 422, "filename"),
        ({"filename": "empty.csv"}, 400, "is empty"),
    ],
)
def test_streamed_upload_refusals(workdir, params, status, words):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        response = client.put("/api/uploads", params=params, content=b"" if "empty" in str(params) else CSV)
        assert response.status_code == status and words in response.json()["error"]
        assert not any((workdir / "uploads").iterdir())


# --- the training queue ---------------------------------------------------------------------------
def start(client, upload_id: str, name: str):
    response = client.post(
        "/api/runs", json={"upload_id": upload_id, "text_column": "text", "label_column": "label", "name": name}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_second_run_waits_in_the_queue_and_starts_when_the_first_ends(workdir, sleeper):
    app = create_studio_app(workdir, LIMITS)
    studio = app.state.studio
    studio.python = sleeper
    with TestClient(app) as client:
        upload_id = client.put("/api/uploads?filename=d.csv", content=CSV).json()["upload"]["id"]
        first, second, third = (start(client, upload_id, name) for name in ("first", "second", "third"))
        assert first["status"] == "running" and first["queue"] is None
        assert second["status"] == "queued" and second["queue"] == {"position": 1, "waiting_for": "first"}
        assert not second["pid"] and not second["started"]
        listed = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
        assert listed[third["id"]]["queue"] == {"position": 2, "waiting_for": "first"}
        details = client.get(f"/api/runs/{second['id']}").json()
        assert details["progress"]["phase"] == "preparing" and not details["has_model"]

        cancelled = client.post(f"/api/runs/{third['id']}/stop").json()
        assert cancelled["status"] == "stopped" and "cancelled while waiting" in cancelled["message"]
        assert client.post(f"/api/runs/{third['id']}/stop").status_code == 409

        process = studio.procs[first["id"]]  # taken first: once it ends, the scheduler forgets it
        client.post(f"/api/runs/{first['id']}/stop")
        process.wait(10)
        # no request needed: the lifespan's scheduler starts the next run by itself
        store = RunStore(workdir / "studio.db")
        eventually(
            lambda: store.get_run(second["id"])["status"] == "running", timeout=15, what="the queued run to start"
        )
        started = client.get(f"/api/runs/{second['id']}").json()
        assert started["pid"] and started["queue"] is None and started["started"] >= started["created"]
        assert client.get(f"/api/runs/{first['id']}").json()["status"] in ("stopped", "interrupted")
        assert client.get(f"/api/runs/{third['id']}").json()["status"] == "stopped"  # never started
        store.close()


def test_a_restarted_studio_keeps_its_queue_and_starts_it(workdir, sleeper):
    app = create_studio_app(workdir, LIMITS)
    app.state.studio.python = sleeper
    with TestClient(app) as client:
        upload_id = client.put("/api/uploads?filename=d.csv", content=CSV).json()["upload"]["id"]
        first, second = start(client, upload_id, "first"), start(client, upload_id, "second")
    store = RunStore(workdir / "studio.db")
    assert store.get_run(first["id"])["status"] == "interrupted"
    assert store.get_run(second["id"])["status"] == "queued"  # stopping the studio did not touch it
    store.close()
    again = create_studio_app(workdir, LIMITS)
    again.state.studio.python = sleeper
    with TestClient(again) as client:
        run = client.get(f"/api/runs/{second['id']}").json()
        assert run["status"] == "running" and run["pid"]


def test_a_queued_run_that_cannot_start_fails_and_the_queue_moves_on(workdir, tmp_path, sleeper):
    app = create_studio_app(workdir, LIMITS)
    studio = app.state.studio
    with TestClient(app) as client:
        upload_id = client.put("/api/uploads?filename=d.csv", content=CSV).json()["upload"]["id"]
        studio.python = str(tmp_path / "no-such-python")
        broken = start(client, upload_id, "broken")
        assert broken["status"] == "failed" and "could not start" in broken["message"]
        studio.python = sleeper
        assert start(client, upload_id, "fine")["status"] == "running"


def test_a_studio_db_from_before_the_queue_opens(workdir):
    """The schema of the studio before the queue: 'queued' is a new status word, no new column."""
    workdir.mkdir(parents=True)
    old = sqlite3.connect(workdir / "studio.db")
    old.executescript("""
        CREATE TABLE uploads (id TEXT PRIMARY KEY, filename TEXT NOT NULL, original_name TEXT NOT NULL,
            size INTEGER NOT NULL, rows INTEGER, columns TEXT, created REAL NOT NULL);
        CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, upload_id TEXT, data_name TEXT,
            settings TEXT NOT NULL, status TEXT NOT NULL, message TEXT, metrics TEXT, record_status TEXT,
            pid INTEGER, created REAL NOT NULL, started REAL, finished REAL);
        INSERT INTO runs VALUES ('run-20240101-000000-abcdef', 'old run', NULL, 'x.csv', '{}', 'completed',
            NULL, '{"accuracy": 0.9}', 'completed', NULL, 1.0, 1.0, 2.0);
    """)
    old.commit()
    old.close()
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        (run,) = client.get("/api/runs").json()["runs"]
        assert run["status"] == "completed" and run["metrics"] == {"accuracy": 0.9}
        assert client.put("/api/uploads?filename=d.csv", content=CSV).status_code == 200


def test_multipart_uploads_still_work(workdir):
    with TestClient(create_studio_app(workdir, LIMITS)) as client:
        response = client.post("/api/uploads", files={"file": ("d.csv", io.BytesIO(CSV.encode()), "text/csv")})
        assert response.status_code == 200 and response.json()["rows"] == 4


def test_label_names_from_the_page_are_never_read_as_a_file(workdir, tmp_path, sleeper):
    secret = tmp_path / "names.txt"
    secret.write_text("x\ny\n")
    app = create_studio_app(workdir, LIMITS)
    app.state.studio.python = sleeper
    with TestClient(app) as client:
        numbered = "text,label\na,0\nb,1\nc,0\nd,1\n"
        upload_id = client.put("/api/uploads?filename=d.csv", content=numbered).json()["upload"]["id"]
        body = {"upload_id": upload_id, "text_column": "text", "label_column": "label"}
        as_path = client.post("/api/runs", json={**body, "label_names": str(secret)})
        assert as_path.status_code == 400, as_path.text  # one name for two ids: refused, the file unread
        assert "x" not in as_path.json()["error"].split()
        repeated = client.post("/api/runs", json={**body, "label_names": "a, b, a"})
        assert repeated.status_code == 400 and "repeat: a" in repeated.json()["error"]
        named = client.post("/api/runs", json={**body, "label_names": "no, yes"})
        assert named.status_code == 201 and named.json()["settings"]["label_names"] == ["no", "yes"]
