"""Shared fixtures: a tiny randomly initialised BERT (built here, no download) and a tiny trained
model folder, so most tests run in seconds."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# In a pytest-xdist worker (`make test` runs two), PyTorch takes one thread: two processes of 2 threads
# each on 2 cores slow each other several times over. Set before anything imports torch.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from support.models import build_tiny_bert, build_tiny_mpnet  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A larger model fetched on this machine (`textfit download-model`) would become the teacher of every run
# with texts without labels: the tests see none unless they install one themselves.
os.environ["TEXTFIT_MODELS"] = tempfile.mkdtemp(prefix="textfit-models-")
atexit.register(shutil.rmtree, os.environ["TEXTFIT_MODELS"], ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_mpnet(tmp_path_factory) -> Path:
    return build_tiny_mpnet(tmp_path_factory.mktemp("tiny-mpnet"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-mlm"), masked_lm=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_bert, tmp_path_factory) -> Path:
    """A trained (briefly, so not accurate) 20-label model folder on the embedded sample."""
    from textfit import TrainConfig, train
    from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS

    config = TrainConfig(
        data=str(SAMPLE_DATA),
        label_names=TOPIC_LABELS,
        model=str(tiny_bert),
        strategy="finetune",
        epochs=2,
        learning_rate=1e-3,
    )
    return train(config, tmp_path_factory.mktemp("models") / "tiny").folder


@pytest.fixture
def write(tmp_path):
    """write("name.csv", "text") -> path: small data files for bad-input tests."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return _write


# --- the studio in a real browser (tests/support/studio_page.py; modules call skip_without_browser) ---------
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from support.studio_page import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page; the test fails if the page raised a JavaScript error."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def one_thread(monkeypatch):
    """Training and classifying processes started by the studio inherit this: the tiny model gains
    nothing from more threads, and on a busy machine PyTorch's thread pool can make every step
    many times slower."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    """An empty studio served from a thread, for the module's tests."""
    from support.serving import served_in_a_thread
    from textfit.server.studio.app import create_studio_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # see one_thread
        with served_in_a_thread(create_studio_app(tmp_path_factory.mktemp("studio"))) as url:
            yield url


@pytest.fixture
def sleeper(tmp_path) -> str:
    """A stand-in for the Python interpreter whose 'training' just sleeps (for process-state tests)."""
    import stat
    import sys

    script = tmp_path / "fake-python"
    # SIGINT's handler is set explicitly, as the real worker does: a process started from a
    # background shell inherits SIGINT as ignored.
    script.write_text(
        f"#!{sys.executable}\nimport signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\ntime.sleep(60)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)
