"""What the studio's pages show belongs to what they show, in headless Chromium (Playwright): run A's
yardstick never appears on run B's page while B trains; 20 category names pasted at once make 20
categories; a category past the ninth is picked by its key (and by the arrow keys); the labeling
page says how far its model's training got and the time left. Training is a stand-in process that
writes a progress log as the trainer does (nothing trains here); run A is the tiny test model."""

from __future__ import annotations

import json
import shutil
import stat
import sys
import time
import urllib.request

import pytest

from support.serving import served_in_a_thread
from support.studio import tickets
from support.studio_page import shoot, skip_without_browser
from support.waiting import eventually

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.server.studio.app import create_studio_app  # noqa: E402

RUN_A = "run-20200101-000000-sentia"

# 20 categories, pasted as a user copies them: lines, commas and semicolons mixed.
CATEGORIES = [
    "billing", "shipping", "account", "Analyst Update", "Fed | Central Banks", "Company | Product News",
    "Treasuries | Corporate Debt", "Dividend", "Earnings", "Energy | Oil", "Financials", "Currencies",
    "General News | Opinion", "Gold | Metals | Materials", "IPO", "Legal | Regulation", "M&A | Investments",
    "Macro", "Markets", "Personnel Change",
]  # fmt: skip
PASTED = "\n".join(CATEGORIES[:8]) + "\n" + ", ".join(CATEGORIES[8:14]) + "; " + "; ".join(CATEGORIES[14:])

# A training process as the studio starts it (`python -m ...worker RUN_DIR`): it logs its beginning
# and a step every 0.1 s to RUN_DIR/progress.jsonl as the trainer does, then waits until stopped.
FAKE_WORKER = """
import json, signal, sys, time
from pathlib import Path
run_dir = Path(sys.argv[-1])
def stop(signum, frame):
    (run_dir / "result.json").write_text(json.dumps({"ok": False, "error": "stopped", "stopped": True}))
    sys.exit(130)
signal.signal(signal.SIGINT, stop)  # set explicitly, as the real worker does
signal.signal(signal.SIGTERM, stop)
with (run_dir / "progress.jsonl").open("a") as log:
    def write(event):
        log.write(json.dumps({"time": time.time(), **event}) + "\\n")
        log.flush()
    write({"event": "begin", "phase": "training", "total_steps": 400, "epochs": 4, "examples": 1600,
           "batch_size": 16, "strategy": "finetune"})
    for step in range(1, 400):
        time.sleep(0.1)
        write({"event": "step", "step": step, "total_steps": 400, "loss": 2.0 - step / 400, "epoch": step / 100})
    while True:
        time.sleep(1)
"""


def call(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    """A studio whose runs train with the stand-in worker, holding run A: finished, with a model."""
    workdir = tmp_path_factory.mktemp("studio")
    fake = workdir / "fake-python"
    fake.write_text(f"#!{sys.executable}\n{FAKE_WORKER}")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTFIT_CACHE", str(workdir / "cache"))
        app = create_studio_app(workdir)
        app.state.studio.python = str(fake)
        store = app.state.studio.store
        store.add_run(RUN_A, "Finance topics", None, "topics.csv", {"epochs": 2, "examples": 440, "labels": 20})
        shutil.copytree(tiny_model_dir, workdir / "runs" / RUN_A / "model")
        store.update_run(RUN_A, status="completed", finished=time.time())
        with served_in_a_thread(app) as url:
            yield url, workdir


def test_run_a_then_run_b_while_b_trains_shows_nothing_of_a(page, studio):
    url, _ = studio
    upload = call(url + "api/uploads/sample", {})
    run_b = call(
        url + "api/runs",
        {"upload_id": upload["upload"]["id"], "text_column": "text", "label_column": "label", "name": "Sentiment FR"},
    )
    page.goto(f"{url}#run/{RUN_A}")
    expect(page.locator("#yardstick")).to_contain_text("Always answering ‘Analyst Update’", timeout=60_000)
    page.click(f"#runs-list a[data-run='{run_b['id']}']")
    expect(page.locator("#run-title")).to_have_text("Sentiment FR")
    expect(page.locator("#progress-text")).to_contain_text("Step", timeout=30_000)
    expect(page.locator("#progress-card")).to_be_visible()
    expect(page.locator("#epochs-yardstick")).to_be_hidden()
    expect(page.locator("#results")).to_be_hidden()
    assert "answering ‘analyst update’" not in page.inner_text("#view-run").lower()
    shoot(page, "state-run-b")
    page.click(f"#runs-list a[data-run='{RUN_A}']")  # and back: A's own yardstick again
    expect(page.locator("#yardstick")).to_contain_text("Always answering ‘Analyst Update’", timeout=60_000)
    call(f"{url}api/runs/{run_b['id']}/stop", {})


def test_twenty_pasted_names_become_twenty_categories_and_each_has_a_key(page, studio, tiny_bert, tmp_path):
    url, _ = studio
    frame = tickets()
    frame[["ticket", "message"]].to_csv(tmp_path / "tickets.csv", index=False)
    page.goto(f"{url}#label")
    page.set_input_files("#label-file", str(tmp_path / "tickets.csv"))
    expect(page.locator("#label-facts")).to_contain_text("60\u00a0rows")
    page.locator(".label-name").first.evaluate(
        """(input, text) => {
          const data = new DataTransfer();
          data.setData("text/plain", text);
          input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        PASTED,
    )
    names = page.locator(".label-name")
    expect(names).to_have_count(20)
    assert [names.nth(i).input_value() for i in range(20)] == CATEGORIES
    expect(page.locator("#label-create-status")).to_contain_text("20 categories pasted")
    page.fill("#label-model-path", str(tiny_bert))
    page.fill("#label-project-name", "Twenty categories")
    page.click("#label-create")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    choices = page.locator(".label-choice")
    expect(choices).to_have_count(20)
    keys = [choices.nth(i).locator("kbd").inner_text() for i in range(20)]
    assert keys == [*"123456789", *"ABCDEFGHIJK"]  # S stays "skip"

    expect(page.locator("#label-message:not(.empty)")).to_be_visible(timeout=30_000)
    page.keyboard.press("k")  # the 20th category
    expect(page.locator("#label-count")).to_contain_text("1 labeled", timeout=30_000)
    page.keyboard.press("Backspace")
    expect(page.locator("#label-hint")).to_contain_text("You labeled this “Personnel Change”")
    page.keyboard.press("Enter")  # kept
    expect(page.locator("#label-message:not(.empty)")).to_be_visible(timeout=30_000)
    page.keyboard.press("B")  # the 11th
    expect(page.locator("#label-count")).to_contain_text("2 labeled", timeout=30_000)

    # the arrow keys reach every category: from the suggestion, left once, and Enter takes it
    expect(page.locator("#label-message:not(.empty)")).to_be_visible(timeout=30_000)
    selected = page.locator(".label-choice.selected").get_attribute("data-label")
    before = CATEGORIES[(CATEGORIES.index(selected) - 1) % 20]
    page.keyboard.press("ArrowLeft")
    expect(page.locator(".label-choice.selected")).to_have_attribute("data-label", before)
    page.keyboard.press("Enter")
    expect(page.locator("#label-count")).to_contain_text("3 labeled", timeout=30_000)
    page.keyboard.press("Backspace")
    expect(page.locator("#label-hint")).to_contain_text(f"You labeled this “{before}”")
    shoot(page, "state-twenty-categories")


def test_the_labeling_page_says_how_far_its_model_trained_and_the_time_left(page, studio, tiny_bert, tmp_path):
    url, _ = studio
    frame = tickets()
    frame[["ticket", "message"]].to_csv(tmp_path / "tickets.csv", index=False)
    page.goto(f"{url}#label")
    page.set_input_files("#label-file", str(tmp_path / "tickets.csv"))
    expect(page.locator("#label-facts")).to_contain_text("60\u00a0rows")
    page.locator(".label-name").nth(0).fill("billing")
    page.locator(".label-name").nth(1).fill("shipping")
    page.fill("#label-model-path", str(tiny_bert))
    page.click("#label-create")
    expect(page.locator("#label-work")).to_be_visible(timeout=60_000)
    for done, key in enumerate("1212", start=1):
        expect(page.locator("#label-message:not(.empty)")).to_be_visible(timeout=30_000)
        page.keyboard.press(key)
        expect(page.locator("#label-count")).to_contain_text(f"{done} labeled", timeout=30_000)
    project = page.url.rsplit("/", 1)[-1]
    eventually(
        lambda: call(f"{url}api/labeling/{project}")["status"]["labeled"],
        until=lambda labeled: labeled == 4,
        timeout=30,
        what="the four labels to be stored",
    )
    run = call(f"{url}api/labeling/{project}/train", {})  # as "Train the model" does, from another tab
    page.reload()
    progress = page.locator("#label-run-progress-text")
    expect(progress).to_contain_text("step", timeout=30_000)
    expect(progress).to_contain_text(" left", timeout=30_000)
    assert "is training" in page.inner_text("#label-run-text")
    expect(page.locator("#label-run-bar")).not_to_have_attribute("style", "width: 0.0%;")
    shoot(page, "state-labeling-training")
    call(f"{url}api/runs/{run['id']}/stop", {})
    expect(page.locator("#label-run-progress")).to_be_hidden(timeout=30_000)
