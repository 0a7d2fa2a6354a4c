"""Several labels per text in headless Chromium (Playwright): in "Label messages", a project marked so
gets one message two labels by keyboard (toggle each with its key, confirm with Enter) and both are
stored; "New model" says a file gives several labels a row and which separator joins them; a run's
page gives such a model's figures in F1 terms and "try it" every label above its threshold.
Skips where chromium or playwright is missing."""

from __future__ import annotations

import re

import pytest

from support.multilabel import write_joined
from support.serving import served_in_a_thread
from support.studio import NAMES, RUN, add_trained_run, tickets
from support.studio_page import shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("studio")


@pytest.fixture(scope="module")
def studio_url(workdir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("TEXTFIT_CACHE", str(workdir / "cache"))
        with served_in_a_thread(create_studio_app(workdir)) as url:
            yield url


def test_a_message_gets_two_labels_by_keyboard_and_both_are_saved(page, studio_url, tiny_bert, tmp_path):
    tickets()[["ticket", "message"]].to_csv(tmp_path / "tickets.csv", index=False)
    page.goto(f"{studio_url}#label")
    page.set_input_files("#label-file", str(tmp_path / "tickets.csv"))
    expect(page.locator("#label-text-column")).to_have_value("message")
    names = page.locator(".label-name")
    names.nth(0).fill(NAMES[0])
    names.nth(1).fill(NAMES[1])
    page.click("#label-add-name")
    names.nth(2).fill(NAMES[2])
    page.check("#label-several")
    page.fill("#label-model-path", str(tiny_bert))
    page.click("#label-create")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    expect(page.locator("#label-subtitle")).to_contain_text("several labels a message")
    expect(page.locator("#label-keys")).to_contain_text("toggle")
    expect(page.locator("#label-message:not(.empty)")).to_be_visible(timeout=30_000)
    expect(page.locator(".label-choice.selected")).to_have_count(0)  # nothing toggled: the suggestion is in the hint
    message = page.locator("#label-message").inner_text()

    page.keyboard.press("1")  # billing
    page.keyboard.press("3")  # account
    page.keyboard.press("2")  # shipping on, and off again
    page.keyboard.press("2")
    expect(page.locator(".label-choice.selected")).to_have_count(2)
    shoot(page, "several-labels-toggled")
    page.keyboard.press("Enter")
    expect(page.locator("#label-count")).to_contain_text("1 labeled", timeout=30_000)
    expect(page.locator("#label-message")).not_to_have_text(message)
    bars = dict(
        zip(
            page.locator("#label-bars .bar-label").all_text_contents(),
            page.locator("#label-bars .bar-count").all_text_contents(),
        )
    )
    assert bars == {"billing": "1", "shipping": "0", "account": "1"}

    project_id = re.search(r"#label/(label-[a-z0-9-]+)$", page.url).group(1)
    stored = page.request.get(f"{studio_url}api/labeling/{project_id}").json()
    assert stored["several_labels"] and stored["status"]["labeled"] == 1
    assert stored["status"]["per_label"] == {"billing": 1, "shipping": 0, "account": 1}

    page.keyboard.press("Backspace")  # back to it: both labels shown as given
    expect(page.locator("#label-message")).to_have_text(message)
    expect(page.locator("#label-hint")).to_contain_text("“billing”, “account”")
    expect(page.locator(".label-choice.selected")).to_have_count(2)


def test_new_model_says_a_file_gives_several_labels_a_row_and_which_separator(page, studio_url, tmp_path):
    page.goto(studio_url)
    page.set_input_files("#file-input", str(write_joined(tmp_path / "tickets.csv")))
    expect(page.locator("#several-labels")).to_contain_text("several labels per text, separated by semicolons")
    expect(page.locator("#several-labels")).to_contain_text("have none, which is fine")
    expect(page.locator("#label-counts .bar-label")).to_have_count(3)  # one bar a label, not a set


def test_a_run_page_gives_a_model_of_label_sets_in_f1_terms_and_try_it_gives_every_label(
    page, studio_url, workdir, tiny_bert, tmp_path
):
    from textfit import TrainConfig, train

    data = write_joined(tmp_path / "tickets.csv")
    config = TrainConfig(data=str(data), model=str(tiny_bert), epochs=1, learning_rate=1e-3, checkpoint_minutes=None)
    add_trained_run(workdir, train(config, tmp_path / "model").folder)

    page.goto(f"{studio_url}#run/{RUN}")
    expect(page.locator("#several-figures")).to_contain_text("micro-F1", timeout=30_000)
    expect(page.locator("#several-figures")).to_contain_text("Hamming loss")
    expect(page.locator("#several-yardstick")).to_contain_text("Always answering")
    expect(page.locator("#confusion-section")).to_be_hidden()
    expect(page.locator("#metric-accuracy")).to_be_hidden()
    expect(page.locator("#per-class-table th").last).to_contain_text("threshold")
    expect(page.locator("#classify-card")).to_contain_text("every label the model gives")  # its file's columns
    expect(page.locator("#classify-gives-one")).to_be_hidden()
    page.fill("#try-text", "invoice charge asap now")
    page.click("#try-button")
    expect(page.locator("#try-labels")).to_be_visible(timeout=30_000)
    expect(page.locator("#try-result .runner-up")).to_have_count(3)  # every label's score beside its threshold
    expect(page.locator("#try-result .runner-up").first).to_contain_text("threshold")
    shoot(page, "several-labels-run")
