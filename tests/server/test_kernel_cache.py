"""textfit serve turns oneDNN's kernel cache off (one compiled kernel per batch shape grows memory
with every new shape a server sees), unless the user chose a size."""

from __future__ import annotations

import os

from textfit.server import app as server


def served_environment(monkeypatch, tiny_model_dir) -> dict:
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(os.environ))
    server.serve(tiny_model_dir, host="127.0.0.1", port=8123)
    return seen


def test_serve_turns_the_kernel_cache_off_before_the_model_runs(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(server.KERNEL_CACHE_ENV, "to be removed")  # so that the test's end removes serve's value
    monkeypatch.delenv(server.KERNEL_CACHE_ENV)
    loaded_with = []
    real_create_app = server.create_app
    monkeypatch.setattr(
        server,
        "create_app",
        lambda *args, **kwargs: (
            loaded_with.append(os.environ.get(server.KERNEL_CACHE_ENV)) or real_create_app(*args, **kwargs)
        ),
    )
    assert served_environment(monkeypatch, tiny_model_dir)[server.KERNEL_CACHE_ENV] == "0"
    assert loaded_with == ["0"]


def test_a_cache_size_the_user_chose_is_kept(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(server.KERNEL_CACHE_ENV, "256")
    assert served_environment(monkeypatch, tiny_model_dir)[server.KERNEL_CACHE_ENV] == "256"
