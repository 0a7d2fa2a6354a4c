""" "Classify a file", "try it" one message a line, and an Excel upload for training, in headless
Chromium (Playwright). The trained run is built directly (the tiny test model as its model folder),
so no training happens here. Skips where chromium or playwright is missing."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from support.serving import served_in_a_thread
from support.studio import RUN, add_trained_run
from support.studio_page import shoot, skip_without_browser

pytestmark = pytest.mark.browser
skip_without_browser()

from openpyxl import load_workbook  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from textfit.data.labeled import SAMPLE_DATA, TOPIC_LABELS  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402

ANSWERS = ["predicted label", "confidence", "2nd choice", "2nd confidence", "3rd choice", "3rd confidence"]


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory, tiny_model_dir):
    """A studio with one trained run (the tiny model), no training needed."""
    workdir = tmp_path_factory.mktemp("studio")
    add_trained_run(workdir, tiny_model_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # the classifying process inherits it
        with served_in_a_thread(create_studio_app(workdir)) as url:
            yield url


def messages(rows: int) -> pd.DataFrame:
    sample = pd.read_csv(SAMPLE_DATA)
    return pd.DataFrame({"ticket": [f"T{i:04d}" for i in range(rows)], "message": sample["text"][:rows].tolist()})


def download(page, selector: str, folder):
    """Click a download link; the file as the browser saved it, under the name it suggested."""
    with page.expect_download() as info:
        page.click(selector)
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def open_run(page, studio_url):
    page.goto(f"{studio_url}#run/{RUN}")
    expect(page.locator("#classify-card")).to_be_visible(timeout=30_000)


def test_classify_a_csv_and_download_it_as_excel_and_csv(page, studio_url, tmp_path):
    frame = messages(120)
    frame.to_csv(tmp_path / "tickets.csv", index=False)
    open_run(page, studio_url)
    page.set_input_files("#classify-file", str(tmp_path / "tickets.csv"))
    expect(page.locator("#classify-facts")).to_contain_text("tickets.csv")
    expect(page.locator("#classify-sheet-field")).to_be_hidden()
    expect(page.locator("#classify-column")).to_have_value("message")
    expect(page.locator("#classify-preview thead th")).to_have_text(["ticket", "message"])
    page.click("#classify-start")
    expect(page.locator("#classify-progress")).to_contain_text(
        "Done: 120 rows of “tickets.csv” classified", timeout=120_000
    )
    shoot(page, "classify-csv-done")
    bars = page.locator("#classify-counts .bar-row")
    assert bars.count() >= 1 and all(label in TOPIC_LABELS for label in bars.locator(".bar-label").all_text_contents())
    total = sum(
        int(re.match(r"([\d,]+) ·", text).group(1).replace(",", ""))
        for text in bars.locator(".bar-count").all_text_contents()
    )
    assert total == 120

    excel = download(page, "#classify-download-xlsx", tmp_path)
    assert excel.name == "tickets classified by tiny topics.xlsx"
    rows = list(load_workbook(excel, read_only=True)["predictions"].iter_rows(values_only=True))
    assert list(rows[0]) == ["ticket", "message", *ANSWERS] and len(rows) == 121
    assert [r[0] for r in rows[1:]] == frame["ticket"].tolist() and all(r[2] in TOPIC_LABELS for r in rows[1:])
    csv = download(page, "#classify-download-csv", tmp_path)
    assert csv.name == "tickets classified by tiny topics.csv"
    written = pd.read_csv(csv)
    assert list(written.columns) == ["ticket", "message", *ANSWERS]
    assert written["predicted label"].tolist() == [r[2] for r in rows[1:]]

    page.reload()  # the job is the studio's: a reloaded page finds it done
    expect(page.locator("#classify-progress")).to_contain_text("Done: 120 rows", timeout=30_000)
    expect(page.locator("#classify-download-xlsx")).to_be_visible()


def test_classify_a_chosen_sheet_of_an_excel_file(page, studio_url, tmp_path):
    book = tmp_path / "book.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"note": ["the messages are on the next sheet"]}).to_excel(writer, sheet_name="About", index=False)
        messages(30).to_excel(writer, sheet_name="Messages", index=False)
    open_run(page, studio_url)
    page.set_input_files("#classify-file", str(book))
    expect(page.locator("#classify-sheet-field")).to_be_visible()
    expect(page.locator("#classify-sheet")).to_have_value("About")
    page.select_option("#classify-sheet", "Messages")
    expect(page.locator("#classify-column")).to_have_value("message")
    expect(page.locator("#classify-preview tbody tr")).to_have_count(5)
    expect(page.locator("#classify-min-confidence")).to_have_value("")  # never filled in from the slider unasked
    page.fill("#classify-min-confidence", "99")
    shoot(page, "classify-excel-sheet")
    page.click("#classify-start")
    expect(page.locator("#classify-progress")).to_contain_text(
        "Done: 30 rows of “book.xlsx” (sheet “Messages”)", timeout=120_000
    )
    expect(page.locator("#classify-counts .bar-row.not-sure .bar-label")).to_have_text("not sure")  # below 99 %
    expect(page.locator("#classify-progress")).to_contain_text("“Not sure” below 99.0%")
    excel = download(page, "#classify-download-xlsx", tmp_path)
    assert excel.name == "book classified by tiny topics.xlsx"
    sheet = load_workbook(excel)["predictions"]
    rows = list(sheet.iter_rows(values_only=True))
    header = ["predicted label", "best guess", "confidence", *ANSWERS[2:], "not sure below"]
    assert list(rows[0]) == ["ticket", "message", *header]
    assert [r[:2] for r in rows[1:]] == list(messages(30).itertuples(index=False, name=None))
    # a "not sure" row keeps its best guess and that guess's confidence, and the file says the threshold
    for row in rows[1:]:
        assert row[3] in TOPIC_LABELS and row[9] == 0.99, row
        if abs(row[4] - 0.99) >= 5e-5:  # the file rounds to 4 places: at the threshold itself it may go either way
            assert (row[2] == "not sure") == (row[4] < 0.99), row
    assert any(r[2] == "not sure" for r in rows[1:])
    assert sheet.cell(2, 5).number_format == "0.0%"  # the confidence, a percentage in Excel


def test_try_it_answers_each_line(page, studio_url):
    open_run(page, studio_url)
    page.fill("#try-text", "Oil prices fall\nAcme Corp announces new CEO\n\nRates rise")
    page.click("#try-button")
    rows = page.locator("#try-lines tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1).locator("td").first).to_have_text("Acme Corp announces new CEO")
    expect(rows.nth(2).locator("td").nth(2)).to_have_text(re.compile(r"^\d+\.\d%$"))
    shoot(page, "try-lines")
    page.fill("#try-text", "Oil prices fall")  # one line: the answer as before
    page.click("#try-button")
    expect(page.locator("#try-label")).to_be_visible()
    expect(page.locator("#try-lines")).to_have_count(0)


def test_an_excel_file_for_training_is_accepted_and_previewed(page, studio_url, tmp_path):
    sample = pd.read_csv(SAMPLE_DATA).head(40)
    sample.to_excel(tmp_path / "examples.xlsx", index=False)
    page.goto(f"{studio_url}#new")
    assert ".xlsx" in page.get_attribute("#file-input", "accept").split(",")
    page.set_input_files("#file-input", str(tmp_path / "examples.xlsx"))
    expect(page.locator("#file-facts")).to_contain_text("40 rows")
    expect(page.locator("#preview-table thead th")).to_have_text(["text", "label"])
    expect(page.locator("#text-column")).to_have_value("text")
    expect(page.locator("#label-column")).to_have_value("label")
