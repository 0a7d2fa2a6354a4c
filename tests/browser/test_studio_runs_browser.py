"""Housekeeping and "Serve this model" in a real headless browser (Debian's chromium, Playwright):
rename a run inline, delete it through the confirm dialog (gone from the list and from disk), and
serve a run from its page until its URL answers /health, then stop it.
The studio starts with two finished runs made from the tiny test model, so nothing trains here."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request

import pytest

from support.serving import served_in_a_thread
from support.studio_page import skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402

DOOMED, SERVED = "run-20200101-000000-aaaaaa", "run-20200101-000000-bbbbbb"


def health(url: str) -> dict | None:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/health", timeout=2) as answer:
            return json.load(answer)
    except OSError:
        return None


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    workdir = tmp_path_factory.mktemp("studio")
    app = create_studio_app(workdir)
    store = app.state.studio.store
    for run_id, name in ((DOOMED, "Old experiment"), (SERVED, "Finance topics")):
        settings = {"epochs": 2, "examples": 440, "labels": 20}
        store.add_run(run_id, name, None, "sample.csv", settings, status="completed")
        shutil.copytree(tiny_model_dir, workdir / "runs" / run_id / "model")
        store.update_run(run_id, finished=time.time())
    with served_in_a_thread(app) as url:
        yield url, workdir


def test_rename_and_delete_a_run_from_the_page(page, studio):
    url, workdir = studio
    page.goto(f"{url}#run/{DOOMED}")
    expect(page.locator("#run-title")).to_have_text("Old experiment")
    entry = page.locator("#runs-list a", has_text="Old experiment")
    expect(entry.locator(".run-disk")).to_have_text(re.compile(r"^\d+(\.\d)? MB$"))
    expect(page.locator("#studio-disk")).to_have_text(re.compile(r"^All models use \d+(\.\d)? MB on disk$"))
    expect(page.locator("#run-disk")).to_have_text(re.compile(r"^Uses \d+(\.\d)? MB on disk$"))
    expect(page.locator("#download")).to_have_text(re.compile(r"^Download model \(\d+(\.\d)? MB\)$"))

    page.click("#run-rename")
    page.fill("#run-title-edit", "Experiment to delete")
    page.press("#run-title-edit", "Enter")
    expect(page.locator("#run-title")).to_have_text("Experiment to delete")
    expect(page.locator("#runs-list")).to_contain_text("Experiment to delete")

    page.click("#run-delete")
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete “Experiment to delete”?")
    expect(dialog).to_contain_text(re.compile(r"freeing \d+(\.\d)? MB"))
    page.click("#delete-confirm")
    expect(dialog).to_be_hidden()
    expect(page.locator("#toast")).to_contain_text("Deleted “Experiment to delete”")
    expect(page.locator("#runs-list")).not_to_contain_text("Experiment to delete")
    expect(page.locator("#runs-list")).to_contain_text("Finance topics")
    expect(page).to_have_url(re.compile(r"#new$"))
    assert not (workdir / "runs" / DOOMED).exists()
    assert (workdir / "runs" / SERVED / "model" / "config.json").is_file()


def test_serve_a_run_from_the_page_until_its_url_answers(page, studio):
    url, _ = studio
    page.goto(f"{url}#run/{SERVED}")
    expect(page.locator("#serve-start")).to_be_visible()
    page.click("#serve-start")
    served = page.locator("#serve-url")
    expect(served).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+$"), timeout=90_000)
    address = served.inner_text()
    expect(page.locator("#serve-curl")).to_contain_text(f"curl -s {address}/predict")
    answer = page.context.new_page()
    answer.goto(address + "/health")
    assert json.loads(answer.locator("body").inner_text())["status"] == "ok"
    answer.close()

    page.reload()  # the page finds the server again
    expect(page.locator("#serve-url")).to_have_text(address)
    page.click("#serve-stop")
    expect(page.locator("#serve-start")).to_be_visible()
    expect(page.locator("#serve-info")).to_be_hidden()
    assert health(address) is None
