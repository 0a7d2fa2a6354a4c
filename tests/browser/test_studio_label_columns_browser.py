"""One 0/1 column per label in headless Chromium (Playwright): "New model" says the file gives several labels
per text in one column per label, names those columns, asks for no label column, and starts a run from them.
Skips where chromium or playwright is missing."""

from __future__ import annotations

import pytest

from support.multilabel import write_columns
from support.serving import served_in_a_thread
from support.studio_page import shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture
def studio_url(tmp_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        with served_in_a_thread(create_studio_app(tmp_path / "studio")) as url:
            yield url


def test_new_model_names_the_0_1_label_columns_and_starts_a_run_with_no_label_column(
    page, studio_url, tiny_bert, tmp_path
):
    page.goto(studio_url)
    page.set_input_files("#file-input", str(write_columns(tmp_path / "tickets.csv")))
    several = page.locator("#several-labels")
    expect(several).to_contain_text("one column per label (billing, urgent, refund), holding 0/1 values")
    expect(several).to_contain_text("have none, which is fine")
    expect(several).to_contain_text("Every column holding only 0 and 1 is read as a label")
    expect(page.locator("#text-column")).to_have_value("text")
    expect(page.locator("#label-column")).to_have_value("")
    expect(page.locator("#label-column option").first).to_have_text("— none: one 0/1 column per label —")
    expect(page.locator("#data-problems")).not_to_contain_text("Pick the text column")
    expect(page.locator("#label-counts .bar-label")).to_have_count(3)
    shoot(page, "label-columns-preview")

    page.fill("#model-path", str(tiny_bert))
    page.check("#model-custom")
    page.fill("#epochs", "1")
    page.check("#length-epochs")
    page.click("#start")
    expect(page.locator("#run-subtitle")).to_contain_text("one 0/1 column per label", timeout=30_000)
