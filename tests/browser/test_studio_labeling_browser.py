""" "Label messages" in headless Chromium (Playwright): start a project from a file and label names,
label 30 messages by keyboard (Enter, digits, S, Backspace), reload mid-way and carry on, see the
estimate move, train a model on the labels (the tiny BERT, one pass), classify the rest and download
the file, then check the labels and correct one in place; rename a project and delete it from its page.
Skips where chromium or playwright is missing."""

from __future__ import annotations

import re

import pandas as pd
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
        patch.setenv("OMP_NUM_THREADS", "1")  # the training and classifying processes inherit it
        patch.setenv("TEXTFIT_CACHE", str(workdir / "cache"))
        with served_in_a_thread(create_studio_app(workdir)) as url:
            yield url


def label_next(page, truth: dict, done: int, *, key: str | None = None) -> str:
    """Answer the message on screen (Enter when the suggestion is right, else its digit, or `key`);
    wait until the studio has stored it. Returns the message."""
    expect(page.locator("#label-message:not(.empty)")).to_be_visible(timeout=30_000)
    message = page.locator("#label-message").inner_text()
    selected = page.locator(".label-choice.selected")
    right = truth[message]
    if key is None:
        key = (
            "Enter"
            if selected.count() and selected.get_attribute("data-label") == right
            else str(NAMES.index(right) + 1)
        )
    page.keyboard.press(key)
    expect(page.locator("#label-count")).to_contain_text(f"{done} labeled", timeout=30_000)
    return message


def test_label_by_keyboard_reload_train_classify_the_rest_and_check(page, studio_url, tiny_bert, tmp_path):
    frame = tickets()
    truth = dict(zip(frame["message"], frame["truth"]))
    frame[["ticket", "message"]].to_csv(tmp_path / "tickets.csv", index=False)

    page.goto(f"{studio_url}#label")
    page.set_input_files("#label-file", str(tmp_path / "tickets.csv"))
    expect(page.locator("#label-facts")).to_contain_text("60\u00a0rows")
    expect(page.locator("#label-text-column")).to_have_value("message")
    expect(page.locator("#label-label-column")).to_have_value("")
    names = page.locator(".label-name")
    names.nth(0).fill(NAMES[0])
    page.locator(".label-description").nth(0).fill("invoices, refunds and charges")
    names.nth(1).fill(NAMES[1])
    page.click("#label-add-name")
    names.nth(2).fill(NAMES[2])
    page.fill("#label-model-path", str(tiny_bert))
    page.fill("#label-project-name", "Support inbox")
    shoot(page, "labeling-new")
    page.click("#label-create")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(r"#label/label-[a-z0-9-]+$"))
    expect(page.locator("#label-projects a.active .run-name")).to_have_text("Support inbox")
    expect(page.locator(".label-choice")).to_have_count(3)

    labeled = {label_next(page, truth, 1)}
    label_next(page, truth, 1, key="s")  # skipped: not counted as labeled
    expect(page.locator("#label-count")).to_contain_text("1 skipped")
    page.keyboard.press("Backspace")  # back to the skipped one: label it after all
    expect(page.locator("#label-hint")).to_contain_text("You skipped this one")
    labeled.add(label_next(page, truth, 2))
    page.keyboard.press("Backspace")  # back to it again and correct it with a click
    expect(page.locator(".label-choice.selected")).to_have_count(1)
    message = page.locator("#label-message").inner_text()
    page.click(f".label-choice[data-label='{truth[message]}']")
    expect(page.locator("#label-count")).to_contain_text("2 labeled · 0 skipped")
    for done in range(3, 16):
        labeled.add(label_next(page, truth, done))
    expect(page.locator("#label-estimate")).to_contain_text("from 15 examples", timeout=30_000)
    halfway = page.locator("#label-estimate").inner_text()
    assert re.match(r"About \d+\u00a0% \(\d+–\d+\u00a0%\) from 15 examples", halfway), halfway
    shoot(page, "labeling-halfway")

    page.reload()  # nothing is lost: the count comes back, and labeling carries on
    expect(page.locator("#label-count")).to_contain_text("15 labeled · 0 skipped · 45 to go", timeout=30_000)
    expect(page.locator("#label-estimate")).to_contain_text("from 15 examples", timeout=30_000)
    for done in range(16, 31):
        labeled.add(label_next(page, truth, done))
    assert len(labeled) == 30
    expect(page.locator("#label-estimate")).to_contain_text("from 30 examples", timeout=30_000)
    assert page.locator("#label-estimate").inner_text() != halfway
    expect(page.locator("#label-verdict")).to_contain_text("examples")
    expect(page.locator("#label-curve circle")).to_have_count(2)  # 20 and 30 labels
    bars = page.locator("#label-bars .bar-count").all_text_contents()
    assert sum(int(n) for n in bars) == 30
    shoot(page, "labeling-30")

    settled(page)
    page.fill("#label-epochs", "1")
    page.click("#label-train")
    expect(page.locator("#label-run-text")).to_contain_text("Support inbox · 30 labels")
    expect(page.locator("#runs-list")).to_contain_text("Support inbox · 30 labels")
    expect(page.locator("#label-run-text")).to_contain_text("is ready", timeout=180_000)
    expect(page.locator("#label-rest-note")).to_contain_text("the 30 messages without a label")
    page.click("#label-rest")
    expect(page.locator("#label-rest-text")).to_have_text(
        "Done: 30 messages classified. The file holds all 60: the 30 you labeled are marked in “your label”.",
        timeout=180_000,
    )
    shoot(page, "labeling-classified")
    with page.expect_download() as info:
        page.click("#label-rest-csv")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name.startswith("tickets classified by Support inbox")  # the input's name and the model's
    result = pd.read_csv(path)
    assert len(result) == 60 and {"ticket", "message", "your label", "predicted label", "confidence"} <= set(
        result.columns
    )
    mine = result["your label"].notna()  # the labeled messages are in the file, marked with the label given
    assert (
        set(result.loc[mine, "message"]) == labeled
        and set(result.loc[~mine, "message"]) == set(frame["message"]) - labeled
    )
    assert all(truth[m] == given for m, given in zip(result.loc[mine, "message"], result.loc[mine, "your label"]))
    assert set(result["predicted label"]) <= set(NAMES) and result["confidence"].between(0, 1).all()

    page.click("#label-audit")
    expect(page.locator("#label-audit-status")).to_contain_text("30 examples checked", timeout=60_000)
    rows = page.locator("#label-audit-table tbody tr")
    expect(rows).to_have_count(25)
    pick = rows.first.locator("select")
    other = next(n for n in NAMES if n != pick.input_value())
    pick.select_option(other)
    expect(rows.first).to_contain_text("saved")
    shoot(page, "labeling-checked")
    text = page.locator("body").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b", text), "a missing value reached the page"


def test_rename_then_delete_a_project_from_its_page(page, studio_url, tiny_bert):
    frame = tickets()
    truth = dict(zip(frame["message"], frame["truth"]))
    sent = page.request.put(
        f"{studio_url}api/uploads?filename=mistake.csv", data=frame[["message"]].to_csv(index=False)
    )
    created = page.request.post(
        f"{studio_url}api/labeling",
        data={
            "upload_id": sent.json()["upload"]["id"],
            "text_column": "message",
            "label_names": NAMES,
            "model": str(tiny_bert),
            "name": "Made by mistake",
        },
    )
    assert created.status == 201, created.text()
    project = created.json()["id"]
    page.goto(f"{studio_url}#label/{project}")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    label_next(page, truth, 1)
    label_next(page, truth, 2)

    page.click("#label-rename")
    page.fill("#label-title-edit", "  Returns   2024 ")
    page.keyboard.press("Enter")
    expect(page.locator("#label-title")).to_have_text("Returns 2024")
    expect(page.locator(f"#label-projects a[data-project='{project}'] .run-name")).to_have_text("Returns 2024")
    expect(page.locator("#label-count")).to_contain_text("2 labeled")  # Enter in the name labeled nothing
    page.reload()
    expect(page.locator("#label-title")).to_have_text("Returns 2024")
    expect(page.locator("#label-count")).to_contain_text("2 labeled", timeout=30_000)

    asked = []

    def answer(dialog):  # Cancel the first time, OK the second
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.click("#label-delete")  # cancelled: nothing goes
    assert len(asked) == 1 and page.request.get(f"{studio_url}api/labeling/{project}").status == 200
    shoot(page, "labeling-delete")
    page.click("#label-delete")
    expect(page).to_have_url(re.compile(r"#label$"))
    expect(page.locator("#label-new")).to_be_visible()
    expect(page.locator(f"#label-projects a[data-project='{project}']")).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("Deleted “Returns 2024”.")
    assert page.request.get(f"{studio_url}api/labeling/{project}").status == 404
    question = asked[1]
    assert "“Returns 2024”" in question and "Its 2 labels are lost." in question, question
    assert "models trained from its labels stay" in question and "Your models" in question, question
    text = page.locator("body").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b", text), "a missing value reached the page"
