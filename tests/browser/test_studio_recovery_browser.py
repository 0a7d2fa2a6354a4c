"""The studio survives a crash, in a real browser (Debian's chromium driven by Playwright).

A studio runs as its own process (`python -m textfit studio`), a run trains, and the studio is
killed with SIGKILL: the page says it lost contact and keeps retrying, never "Run not found"
nor a stale "training". A studio started again on the same folder and port adopts the training
process that lived on; the page finds it by itself (no reload) and Stop works on it. Also: an
interrupted run says so and trains again in one click; a one-column file and number labels get
plain words in the form. Set STUDIO_SCREENSHOTS=/some/folder to keep screenshots."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from support.serving import free_port
from support.studio_page import shoot, skip_without_browser
from support.waiting import eventually

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.data.labeled import SAMPLE_DATA  # noqa: E402
from textfit.server.studio.runs.progress import pid_alive  # noqa: E402

_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def studio_process(workdir: Path, port: int) -> subprocess.Popen:
    """`textfit studio` in a process of its own, answering on `port`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(workdir.parent / f"studio-{port}.log", "ab") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", "textfit", "studio", "--dir", str(workdir), "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def answers() -> bool:
        try:
            with _LOCAL.open(f"http://127.0.0.1:{port}/api/info", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        assert process.poll() is None, "the studio process ended while starting"
        return False

    eventually(answers, timeout=60, every=0.2, what="the studio to answer")
    return process


def call(port: int, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with _LOCAL.open(request, timeout=30) as answer:
        return json.load(answer)


def end_studio(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # a graceful stop: it stops the runs it trains
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_page_recovers_by_itself_when_a_killed_studio_comes_back(page, tmp_path, tiny_bert):
    workdir, port = tmp_path / "studio", free_port()
    workdir.mkdir()
    # a file long enough that the run is still training after the studio's restart
    rows = SAMPLE_DATA.read_text().splitlines()
    big = tmp_path / "headlines.csv"
    big.write_text("\n".join(rows[:1] + rows[1:] * 20) + "\n")
    studio = studio_process(workdir, port)
    worker_pid = run_dir = None
    try:
        page.goto(f"http://127.0.0.1:{port}/#new")
        page.set_input_files("#file-input", str(big))
        expect(page.locator("#file-facts")).to_contain_text("8,800 rows")
        page.check("#model-custom")
        page.fill("#model-path", str(tiny_bert))
        page.check("#length-epochs")
        page.fill("#epochs", "10")
        page.fill("#run-name", "Survives a crash")
        page.click("#start")
        expect(page).to_have_url(re.compile(r"#run/run-"), timeout=30_000)
        run_id = page.url.rsplit("/", 1)[-1]
        run_dir = workdir / "runs" / run_id
        expect(page.locator("#progress-text")).to_contain_text("Step", timeout=60_000)
        expect(page.locator("#run-status")).to_have_text("training")
        worker_pid = call(port, f"/api/runs/{run_id}")["pid"]

        studio.kill()  # SIGKILL: no shutdown, the training process lives on
        studio.wait()
        banner = page.locator("#connection-banner")
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("Lost contact with the studio — retrying…")
        expect(page.locator("#run-status")).not_to_have_text("training")
        expect(page.locator("#run-title")).to_have_text("Survives a crash")  # not "Run not found"
        assert "Failed to fetch" not in page.inner_text("body")
        shoot(page, "recovery-1-lost")
        assert pid_alive(worker_pid, run_dir), "the training should outlive its studio"

        studio = studio_process(workdir, port)  # same folder, same port
        expect(banner).to_be_hidden(timeout=30_000)  # no reload: the page retried by itself
        expect(page.locator("#run-status")).to_have_text("training", timeout=10_000)
        expect(page.locator("#run-message")).to_contain_text("the training went on")
        expect(page.locator("#progress-text")).to_contain_text("Step", timeout=30_000)
        expect(page.locator("#runs-list")).to_contain_text("Survives a crash")
        shoot(page, "recovery-2-adopted")

        page.click("#stop")  # Stop works on the adopted process (not the new studio's child)
        expect(page.locator("#run-status")).to_have_text("stopped", timeout=120_000)
        expect(page.locator("#run-message")).to_contain_text("stopped by you")
        expect(page.locator("#progress-text")).to_contain_text("Stopped by you at step")
        assert "Finished" not in page.inner_text("#progress-text")
        assert not pid_alive(worker_pid, run_dir)
        shoot(page, "recovery-3-stopped")
    finally:
        end_studio(studio)
        if worker_pid and run_dir and pid_alive(worker_pid, run_dir):
            os.kill(worker_pid, signal.SIGKILL)


def test_an_interrupted_run_says_so_and_trains_again(page, studio_url, tiny_bert, tmp_path):
    port = int(studio_url.rsplit(":", 1)[1].strip("/"))
    upload = call(port, "/api/uploads/sample", {})
    run = call(
        port,
        "/api/runs",
        {
            "upload_id": upload["upload"]["id"],
            "text_column": "text",
            "label_column": "label",
            "model": str(tiny_bert),
            "epochs": 30,
            "name": "Cut short",
        },
    )
    page.goto(f"{studio_url}#run/{run['id']}")
    expect(page.locator("#progress-text")).to_contain_text("Step", timeout=60_000)
    os.kill(run["pid"], signal.SIGKILL)  # the training process dies: no result, no model
    expect(page.locator("#run-status")).to_have_text("interrupted", timeout=30_000)
    progress = page.locator("#progress-text")
    expect(progress).to_contain_text(re.compile(r"Interrupted at step \d+ of \d+ \(\d+ %\), after"))
    expect(page.locator("#run-message")).to_contain_text("was killed")
    assert "Finished" not in progress.inner_text()
    assert "The first score comes" not in page.inner_text("#progress-card")
    again = page.locator("#train-again")
    expect(again).to_be_visible()
    expect(again).to_have_text("Train again with the same settings")
    shoot(page, "recovery-4-interrupted")
    again.click()
    expect(page.locator("#run-title")).to_have_text("Cut short (again)", timeout=30_000)
    assert run["id"] not in page.url
    expect(page.locator("#run-subtitle")).to_contain_text("at most 30 epochs")
    # The new run trains to its end: the tiny model stops early within seconds on a quiet machine,
    # too soon for a Stop click to land reliably (Stop has tests of its own)
    expect(page.locator("#run-status")).to_have_text("ready", timeout=120_000)


def test_a_one_column_file_and_number_labels_get_plain_words(page, studio_url, tmp_path):
    one = tmp_path / "messages.csv"
    one.write_text("message\nhello there\nbye now\nsee you soon\nhi again\n")
    page.goto(studio_url + "#new")
    page.set_input_files("#file-input", str(one))
    expect(page.locator("#file-facts")).to_contain_text("1 column", timeout=30_000)  # the studio may be busy
    expect(page.locator("#data-problems")).to_contain_text(
        "no label column: this file has only one column; add a column with the label of each message", ignore_case=True
    )
    expect(page.locator("#start")).to_be_disabled()
    body = page.inner_text("body")
    for word in ("null", "undefined", "NaN"):
        assert not re.search(rf"\b{word}\b", body), word
    shoot(page, "recovery-5-one-column")

    numbers = tmp_path / "numbers.csv"
    numbers.write_text("text,label\n" + "".join(f"message number {i},{i % 20}\n" for i in range(60)))
    page.set_input_files("#file-input", str(numbers))
    prompt = page.locator("#number-labels")
    expect(prompt).to_be_visible(timeout=30_000)
    expect(prompt).to_contain_text("Your labels are numbers (0–19). Name them so results read “Dividend”, not “")
    expect(page.locator("#label-names")).to_be_visible()  # the box is open, not under "optional"
    expect(page.locator("#start")).to_be_enabled()
    page.fill("#label-names", "a, b, c")
    expect(page.locator("#label-names-count")).to_have_text("3 of 20 named")
    assert not re.search(r"\b(null|undefined|NaN)\b", page.inner_text("body"))
    shoot(page, "recovery-6-number-labels")

    words = tmp_path / "words.csv"
    words.write_text("text,label\nhello,greeting\nbye,farewell\nhi,greeting\nciao,farewell\n")
    page.set_input_files("#file-input", str(words))
    expect(page.locator("#file-facts")).to_contain_text("4 rows", timeout=30_000)
    expect(page.locator("#number-labels")).to_be_hidden()
