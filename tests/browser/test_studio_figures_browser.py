"""Numbers a business user can bet on, in headless Chromium (Playwright): after "Train the model" in a
labeling project, the labeling page and the run page show the same accuracy, with how many messages
it rests on and its range (few test messages: the estimate while labeling, cross-validated, instead);
"Check the labels" on a few examples says it cannot judge them rather than calling them wrong.
Skips where chromium or playwright is missing."""

from __future__ import annotations

import re

import pytest

from support.serving import served_in_a_thread
from support.studio import NAMES, tickets
from support.studio_page import settled, shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("studio")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # the training processes inherit it
        patch.setenv("TEXTFIT_CACHE", str(workdir / "cache"))
        with served_in_a_thread(create_studio_app(workdir)) as url:
            yield url


def project_with_labels(page, studio_url, tiny_bert, frame, names, name: str) -> str:
    """A labeling project whose file brings its own labels (the `label` column, empty where none)."""
    sent = page.request.put(f"{studio_url}api/uploads?filename=inbox.csv", data=frame.to_csv(index=False))
    created = page.request.post(
        f"{studio_url}api/labeling",
        data={
            "upload_id": sent.json()["upload"]["id"],
            "text_column": "message",
            "label_column": "label",
            "label_names": names,
            "model": str(tiny_bert),
            "name": name,
        },
    )
    assert created.status == 201, created.text()
    project = created.json()["id"]
    page.goto(f"{studio_url}#label/{project}")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    settled(page)
    return project


def test_after_training_both_pages_show_the_same_figure_with_its_size_and_range(page, studio_url, tiny_bert):
    frame = tickets()
    frame["label"] = [truth if i < 30 else "" for i, truth in enumerate(frame["truth"])]
    project_with_labels(page, studio_url, tiny_bert, frame[["message", "label"]], NAMES, "Figures")
    expect(page.locator("#label-count")).to_contain_text("30 labeled", timeout=30_000)
    expect(page.locator("#label-estimate")).to_contain_text("from 30 examples", timeout=60_000)
    expect(page.locator("#label-curve-axes")).to_contain_text("Up: estimated accuracy")

    page.fill("#label-epochs", "1")
    page.click("#label-train")
    expect(page.locator("#label-run-text")).to_contain_text("is ready", timeout=240_000)
    # 30 examples: 6 test messages, too few for a figure of their own; the estimate is the figure
    figure = page.locator("#label-run-figure")
    expect(figure).to_contain_text("cross-validated on 30 examples")
    said = figure.inner_text().removeprefix(" · accuracy ").strip()
    assert re.match(r"about \d+ % \(\d+-\d+ %\), cross-validated on 30 examples; the 6 test messages alone", said), said
    expect(page.locator("#label-run-agreement")).to_contain_text("The estimate while labeling")
    expect(page.locator("#runs-list")).to_contain_text("only 6 test messages: see its range")  # no bare percentage
    shoot(page, "figures-labeling")

    page.click("#label-run-text a")
    expect(page.locator("#results")).to_be_visible(timeout=60_000)
    expect(page.locator("#metric-figure")).to_contain_text(said)  # the same figure, computed the same way
    expect(page.locator("#metric-accuracy")).to_have_text(re.compile(r"^≈\d+%$"))
    expect(page.locator("#metric-accuracy-range")).to_have_text(
        re.compile(r"^range \d+–\d+\u00a0%, cross-validated on 30 examples$")
    )
    expect(page.locator("#metric-examples")).to_have_text("6")
    why = page.locator("#per-class-table th .why")
    expect(why.first).to_have_attribute("title", re.compile(r"^Precision: "))
    assert page.locator(".tile-label .why").count() == 3  # accuracy, macro-F1, test messages (hold-out)
    shoot(page, "figures-run")
    text = page.locator("body").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b", text), "a missing value reached the page"


def test_checking_a_few_labels_says_it_cannot_judge_rather_than_calling_them_wrong(page, studio_url, tiny_bert):
    import pandas as pd

    names = ["North", "South", "East", "West"]
    words = "apple river stone cloud paper glass maple tiger lemon piano candle rocket".split()
    messages = [f"{words[i % 12]} {words[(5 * i + 3) % 12]} note {i}" for i in range(40)]
    frame = pd.DataFrame({"message": messages, "label": [names[i % 4] if i < 16 else "" for i in range(40)]})
    project_with_labels(page, studio_url, tiny_bert, frame, names, "A few labels")
    expect(page.locator("#label-count")).to_contain_text("16 labeled", timeout=30_000)
    page.click("#label-audit")
    status = page.locator("#label-audit-status")
    expect(status).to_contain_text("16 examples checked", timeout=120_000)
    expect(status).to_contain_text("Too few examples to check: about 12 per category needed")
    assert "look wrong" not in status.inner_text()
    assert "confident" not in page.locator("#label-audit-wrap").inner_text()
    shoot(page, "figures-audit-refused")
