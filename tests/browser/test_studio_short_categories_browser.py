""" "No category left behind in silence", in headless Chromium (Playwright): 20 categories named, 50
labels given over 14 of them; "Train the model" first lists the categories with too few examples and
offers the choice: label more of them now (the queue looks for them first) or train without them; the
run's page then names what the model cannot answer. Skips where chromium or playwright is missing."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from support.serving import served_in_a_thread
from support.studio_page import settled, shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402

GIVEN = [6, 5, 5, 5, 5, 4, 4, 4, 3, 3, 2, 2, 1, 1]
"""Labels given to the first 14 of the 20 categories: 50 in all; 4 with fewer than 3, 6 with none."""


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("studio")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # the training process inherits it
        patch.setenv("TEXTFIT_CACHE", str(workdir / "cache"))
        with served_in_a_thread(create_studio_app(workdir)) as url:
            yield url


def test_50_labels_over_14_of_20_categories_warn_before_training_and_offer_label_more_or_train_without(
    page, studio_url, tiny_bert
):
    sample = pd.read_csv(SAMPLE_DATA)
    sent = page.request.put(f"{studio_url}api/uploads?filename=inbox.csv", data=sample[["text"]].to_csv(index=False))
    created = page.request.post(
        f"{studio_url}api/labeling",
        data={
            "upload_id": sent.json()["upload"]["id"],
            "text_column": "text",
            "label_names": TOPIC_LABELS,
            "model": str(tiny_bert),
            "name": "Inbox",
        },
    )
    assert created.status == 201, created.text()
    project = created.json()["id"]
    page.goto(f"{studio_url}#label/{project}")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    for category, given in enumerate(GIVEN):  # the messages of the file are its rows: label = the true one
        for index in sample.index[sample["label"] == category][:given]:
            sent = page.request.post(
                f"{studio_url}api/labeling/{project}/labels",
                data={"index": int(index), "label": TOPIC_LABELS[category]},
            )
            assert sent.ok, sent.text()
    page.reload()
    expect(page.locator("#label-count")).to_contain_text("50 labeled", timeout=30_000)
    settled(page)

    page.fill("#label-epochs", "1")
    page.click("#label-train")  # first the warning and the choice, no run yet
    expect(page.locator("#label-short")).to_be_visible()
    expect(page.locator("#label-short-text")).to_contain_text(
        "10\u00a0of the 20 categories have fewer than 3 examples (6 have none): the model cannot answer a category "
        "without examples"
    )
    items = page.locator("#label-short-list li")
    expect(items).to_have_count(10)
    expect(items.first).to_contain_text(TOPIC_LABELS[14])  # the ones with none first
    expect(items.first).to_contain_text("none")
    expect(items.last).to_contain_text("2 examples")
    expect(page.locator("#label-look-for")).to_have_text("Label more of these now")
    expect(page.locator("#label-train-without")).to_have_text("Train without them")
    assert page.request.get(f"{studio_url}api/labeling/{project}").json()["run"] is None
    shoot(page, "labeling-short-categories")

    page.click("#label-look-for")  # the queue looks for them first
    expect(page.locator("#label-short")).to_be_hidden()
    expect(page.locator("#label-focus")).to_contain_text("Looking for examples of “")
    expect(page.locator("#label-hint")).to_contain_text("Looking for examples of “", timeout=30_000)
    looked_for = re.search(r"“(.+?)”", page.locator("#label-hint").inner_text()).group(1)
    assert looked_for in [TOPIC_LABELS[i] for i in range(10, 20)]
    expect(page.locator(".label-choice.selected")).to_have_attribute("data-label", looked_for)
    page.keyboard.press("Enter")  # yes, one of those
    expect(page.locator("#label-count")).to_contain_text("51 labeled", timeout=30_000)
    shoot(page, "labeling-looking-for")

    page.click("#label-train")  # still short of examples: the choice again; this time, train without them
    expect(page.locator("#label-short")).to_be_visible()
    page.click("#label-train-without")
    expect(page.locator("#label-run-text")).to_contain_text("It cannot answer “", timeout=30_000)
    run = page.request.get(f"{studio_url}api/labeling/{project}").json()["run"]
    left_out = run["left_out"]
    assert set(TOPIC_LABELS[14:]) <= set(left_out) and len(left_out) >= 9, left_out
    page.click("#label-run-text a")  # the run's page names them too
    expect(page.locator("#run-left-out")).to_contain_text(
        f"This model cannot answer {len(left_out)}\u00a0of the categories"
    )
    expect(page.locator("#run-left-out")).to_contain_text(f"“{TOPIC_LABELS[19]}” (none)")
    shoot(page, "run-left-out")
    page.request.post(f"{studio_url}api/runs/{run['id']}/stop")  # its model is not needed here
    text = page.locator("body").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b", text), "a missing value reached the page"
