"""The studio end to end in a real headless browser: Debian's chromium driven by Playwright.

Uploads the embedded sample CSV, trains a short run on the tiny test BERT, checks the metrics and the
confusion matrix, classifies a typed message, reloads the page and finds the run listed.
Skips (with the reason) where chromium or playwright is missing; CI installs both (.ci/run).
Set STUDIO_SCREENSHOTS=/some/folder to keep a screenshot of every stage."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from support.studio_page import shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS  # noqa: E402


def test_csv_to_trained_model_in_the_browser(page, studio_url, tiny_bert):
    page.goto(studio_url)
    expect(page.locator("#view-new")).to_be_visible()
    expect(page.locator("#runs-list")).to_contain_text("Nothing trained yet")
    shoot(page, "1-start")

    # 1. upload the sample CSV: preview, label counts, columns pre-selected
    page.set_input_files("#file-input", str(SAMPLE_DATA))
    expect(page.locator("#file-facts")).to_contain_text("440 rows")
    expect(page.locator("#text-column")).to_have_value("text")
    expect(page.locator("#label-column")).to_have_value("label")
    expect(page.locator("#preview-table tbody tr")).to_have_count(10)
    expect(page.locator("#label-counts .bar-row")).to_have_count(20)
    expect(page.locator("#label-counts")).to_contain_text(TOPIC_LABELS[0])
    shoot(page, "2-data")

    # 2. base model: a local folder (the tiny test BERT); 2 epochs
    page.check("#model-custom")
    page.fill("#model-path", str(tiny_bert))
    page.check("#length-epochs")
    page.fill("#epochs", "2")
    page.fill("#run-name", "Finance topics (browser test)")
    shoot(page, "3-settings")
    page.click("#start")

    # 3. live progress, then 4. the results
    expect(page).to_have_url(re.compile(r"#run/run-"), timeout=30_000)
    expect(page.locator("#run-title")).to_have_text("Finance topics (browser test)")
    expect(page.locator("#progress-card")).to_be_visible()
    try:
        expect(page.locator("#progress-text")).to_contain_text("Step", timeout=60_000)
        shoot(page, "4-training")
    except AssertionError:
        pass  # a fast machine may finish before the page polls a step
    expect(page.locator("#run-status")).to_have_text("ready", timeout=240_000)
    expect(page.locator("#results")).to_be_visible()
    expect(page.locator("#metric-accuracy")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    expect(page.locator("#metric-macro-f1")).to_have_text(re.compile(r"^\d\.\d\d$"))
    expect(page.locator("#per-class-table tbody tr").first).to_be_visible()
    confusion = page.locator("#confusion")
    expect(confusion).to_be_visible()
    page.wait_for_function(
        "document.getElementById('confusion').complete && document.getElementById('confusion').naturalWidth > 100"
    )
    expect(page.locator("#epochs-table tbody tr")).not_to_have_count(0)
    expect(page.locator("#classify-card")).to_contain_text("the next best two")  # one label a text
    expect(page.locator("#download")).to_have_attribute("href", re.compile(r"/api/runs/run-.+/download"))
    shoot(page, "5-results")

    # 5. try a typed message
    page.fill("#try-text", "Acme Corp announces new CEO")
    page.click("#try-button")
    label = page.locator("#try-label")
    expect(label).to_be_visible()
    assert label.inner_text() in TOPIC_LABELS
    expect(page.locator("#try-result")).to_contain_text("sure")
    page.locator("#try-result").scroll_into_view_if_needed()
    shoot(page, "6-try")

    # reload: the run is listed, and its page still shows the result
    page.reload()
    entry = page.locator("#runs-list a", has_text="Finance topics (browser test)")
    expect(entry).to_be_visible()
    expect(entry).to_contain_text("accuracy")
    expect(page.locator("#run-status")).to_have_text("ready")
    page.click("#new-run")
    expect(page.locator("#view-new")).to_be_visible()
    entry.click()
    expect(page.locator("#metric-accuracy")).to_have_text(re.compile(r"%$"))


def test_the_way_of_training_can_be_chosen(page, studio_url, tiny_bert):
    page.goto(studio_url)
    page.set_input_files("#file-input", str(SAMPLE_DATA))  # 22 a class: textfit alone would fine-tune
    expect(page.locator("#file-facts")).to_contain_text("440 rows")
    page.check("#model-custom")
    page.fill("#model-path", str(tiny_bert))
    page.locator("#strategy-box summary").click()
    page.select_option("#strategy", "fewshot")
    page.fill("#run-name", "Few-shot on purpose")
    page.click("#start")
    expect(page).to_have_url(re.compile(r"#run/run-"), timeout=30_000)
    expect(page.locator("#run-subtitle")).to_contain_text("few-shot")
    expect(page.locator("#run-status")).to_have_text("ready", timeout=240_000)
    run_id = page.url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(f"{studio_url}api/runs/{run_id}/results", timeout=30) as answer:
        assert json.loads(answer.read())["strategy"] == "fewshot"


def test_a_bad_file_is_answered_on_the_page(page, studio_url, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some notes")
    page.goto(studio_url + "#new")
    page.set_input_files("#file-input", str(bad))
    expect(page.locator("#upload-status")).to_contain_text("not a data file textfit can read")
    expect(page.locator("#settings-card")).to_be_hidden()
    shoot(page, "7-bad-file")
