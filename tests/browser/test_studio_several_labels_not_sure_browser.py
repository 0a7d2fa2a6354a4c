"""'Not sure' per label on the run page of a model of several labels per text, in headless Chromium
(Playwright): the "not sure" card says in one sentence that it has no coverage curve for such a model
and shows none, its slider sets the bar, "try it" lists the labels it is not sure of apart, and
"Classify a file" with a "not sure" percentage says how many rows have such a label.
Skips where chromium or playwright is missing."""

from __future__ import annotations

import pandas as pd
import pytest

from support.multilabel import rows, train_on_tickets
from support.serving import served_in_a_thread
from support.studio import RUN, add_trained_run
from support.studio_page import shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture(scope="module")
def studio_url(tiny_bert, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("studio")
    add_trained_run(workdir, train_on_tickets(tiny_bert, tmp_path_factory.mktemp("trained"))[0].folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        with served_in_a_thread(create_studio_app(workdir)) as url:
            yield url


def test_the_slider_sets_a_bar_per_label_and_try_it_and_classify_a_file_list_the_unsure_labels(
    page, studio_url, tmp_path
):
    page.goto(f"{studio_url}#run/{RUN}")
    expect(page.locator("#threshold-several")).to_contain_text("no single curve", timeout=30_000)
    expect(page.locator("#insight-threshold .chart-box")).to_be_hidden()
    expect(page.locator("#threshold-intro")).to_be_hidden()
    page.locator("#min-confidence").fill("9")  # the last step: 99 %, surer than this tiny model ever is
    expect(page.locator("#coverage-readout")).to_contain_text("less than 99% sure is “not sure”")

    page.fill("#try-text", "invoice charge asap now")
    page.click("#try-button")
    expect(page.locator("#try-not-sure")).to_contain_text("not sure:", timeout=30_000)
    expect(page.locator("#try-not-sure .set-chance").first).to_contain_text("%")
    expect(page.locator("#try-result .runner-up.not-sure").first).to_contain_text("not sure")
    shoot(page, "several-labels-not-sure")

    pd.DataFrame({"message": [text for text, _ in rows(10, seed=2)]}).to_csv(tmp_path / "new.csv", index=False)
    page.set_input_files("#classify-file", str(tmp_path / "new.csv"))
    page.click("#classify-use-slider")
    expect(page.locator("#classify-min-confidence")).to_have_value("99")
    page.click("#classify-start")
    expect(page.locator("#classify-progress")).to_contain_text("“not sure” column", timeout=60_000)
    expect(page.locator("#classify-counts .bar-row.not-sure")).to_contain_text("not sure (a label or more)")
    shoot(page, "several-labels-not-sure-classified")
