"""The run page's insight in a real browser (insight.js): the yardstick beside the accuracy, the
"not sure" slider over the coverage curve (remembered, and sent with "try it"), and the words an
answer is explained by. One run is trained once for the module on the tiny test BERT."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from support.studio_page import shoot, skip_without_browser
from support.waiting import eventually

pytestmark = pytest.mark.browser
skip_without_browser()

from playwright.sync_api import expect  # noqa: E402

from textfit.data.labeled import TOPIC_LABELS  # noqa: E402

# The chosen "not sure" threshold, as other code reads it: insight.js's minConfidence() (the page's
# own module instance: a module is loaded once per page).
MIN_CONFIDENCE = "async () => (await import('/static/insight.js')).minConfidence()"


def call(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def run_url(studio_url, tiny_bert):
    """The page of a run trained through the studio (its worker process) on the sample data."""
    upload = call(studio_url + "api/uploads/sample", {})
    run = call(
        studio_url + "api/runs",
        {
            "upload_id": upload["upload"]["id"],
            "text_column": "text",
            "label_column": "label",
            "model": str(tiny_bert),
            "epochs": 2,
            "label_names": ", ".join(TOPIC_LABELS),
        },
    )
    status = eventually(
        lambda: call(f"{studio_url}api/runs/{run['id']}")["status"],
        until=lambda status: status not in ("queued", "running"),
        timeout=240,
        every=0.5,
        what="the run to finish",
    )
    assert status == "completed"
    return f"{studio_url}#run/{run['id']}"


def test_the_yardstick_stands_beside_the_accuracy(page, run_url):
    page.goto(run_url)
    expect(page.locator("#run-status")).to_have_text("ready", timeout=30_000)
    expect(page.locator("#yardstick")).to_be_visible()
    expect(page.locator("#yardstick-sentence")).to_contain_text(
        re.compile(r"lways answering ‘.+’ would score \d+\.\d%")
    )
    expect(page.locator("#metric-yardstick")).to_contain_text(re.compile(r"always answering ‘.+’ would score \d+\.\d%"))
    expect(page.locator("#epochs-yardstick")).to_contain_text("to clearly beat that")
    for box in ("#yardstick", "#metric-yardstick", "#epochs-yardstick"):
        assert not re.search(r"null|undefined|NaN", page.locator(box).inner_text())
    shoot(page, "insight-1-yardstick")


def test_the_runs_list_flags_a_model_no_better_than_the_yardstick(page, run_url, studio_url):
    run_id = run_url.rsplit("/", 1)[1]
    yardstick = call(f"{studio_url}api/runs/{run_id}")["yardstick"]
    insight = call(f"{studio_url}api/runs/{run_id}/insight")
    assert yardstick["label"] in TOPIC_LABELS and 0 < yardstick["accuracy"] < 1
    assert yardstick["beats"] is insight["yardstick"]["beats"]  # the run page's verdict, in the list
    page.goto(run_url)
    entry = page.locator(f'#runs-list a[data-run="{run_id}"]')
    expect(entry).to_be_visible(timeout=30_000)
    flag = f"no better than always “{yardstick['label']}”"
    if yardstick["beats"]:  # the sample is balanced: always answering one topic scores 4.5 %
        expect(entry).not_to_contain_text("no better than")
    else:
        expect(entry).to_contain_text(flag)
    assert not re.search(r"null|undefined|NaN", entry.inner_text())


def test_the_runs_list_says_when_a_model_is_no_better_than_always_one_label(page, tmp_path):
    from support.serving import served_in_a_thread
    from textfit.server.studio.app import create_studio_app
    from textfit.server.studio.store import RunStore

    store = RunStore(tmp_path / "studio.db")  # a finished run as the studio records it (Studio._finalize)
    store.add_run("run-20200101-000000-skewed", "Support tickets", None, "tickets.csv", {"epochs": 1})
    store.update_run(
        "run-20200101-000000-skewed",
        status="completed",
        metrics={"accuracy": 0.64, "macro_f1": 0.3},
        yardstick={"label": "Neutral", "accuracy": 0.633, "beats": False},
    )
    store.close()
    with served_in_a_thread(create_studio_app(tmp_path)) as url:
        page.goto(url)
        entry = page.locator('#runs-list a[data-run="run-20200101-000000-skewed"]')
        expect(entry).to_contain_text("accuracy 64.0", timeout=30_000)
        expect(entry).to_contain_text("no better than always “Neutral” (63.3")
        shoot(page, "insight-runs-list-flag")


def test_the_threshold_slider_changes_the_coverage_readout_and_is_remembered(page, run_url):
    page.goto(run_url)
    slider = page.locator("#min-confidence")
    expect(slider).to_be_visible(timeout=30_000)
    readout = page.locator("#coverage-readout")
    expect(readout).to_contain_text("At 0% (always answer): 100% of messages answered")
    expect(page.locator("#coverage-chart path.accuracy-line")).to_have_count(1)
    slider.fill("13")  # 65 %: the curve has a point every 5 %
    expect(page.locator("#min-confidence-value")).to_have_text("65% sure")
    slider.fill("18")  # 90 %
    expect(readout).to_contain_text(re.compile(r"^At 90%: "))
    expect(page.locator("#min-confidence-value")).to_have_text("90% sure")
    assert slider.get_attribute("data-min-confidence") == "0.9"
    assert page.evaluate(MIN_CONFIDENCE) == 0.9  # what other code reads
    assert not re.search(r"null|undefined|NaN", readout.inner_text())
    page.locator("#insight-threshold").scroll_into_view_if_needed()
    shoot(page, "insight-2-threshold")

    page.reload()
    expect(page.locator("#min-confidence")).to_have_value("18", timeout=30_000)  # remembered for this run
    expect(readout).to_contain_text("At 90%")

    # "try it" sends the threshold and shows a low-confidence answer as "not sure (best guess: ...)"
    page.fill("#try-text", "asdfgh qwerty")
    with page.expect_response(re.compile(r"/predict$")) as answered:
        page.click("#try-button")
    request = answered.value.request
    assert json.loads(request.post_data)["min_confidence"] == 0.9
    result = answered.value.json()
    if result.get("not_sure"):
        expect(page.locator("#try-label")).to_have_text("not sure")
        expect(page.locator("#try-result .answer-score")).to_contain_text(f"best guess: {result['guess']}")
    else:
        expect(page.locator("#try-label")).to_have_text(result["label"])
    slider.fill("0")
    assert page.evaluate(MIN_CONFIDENCE) is None  # 0: every message gets a label


def test_an_answer_is_explained_by_highlighted_words(page, run_url):
    page.goto(run_url)
    expect(page.locator("#results")).to_be_visible(timeout=30_000)
    page.fill("#try-text", "Oil prices fall as OPEC raises output")
    page.click("#try-button")
    words = page.locator(".why-words .why-word")
    expect(words).to_have_count(7, timeout=30_000)  # one per word, explained at once for one message
    weights = [float(w) for w in words.evaluate_all("nodes => nodes.map((n) => n.dataset.weight)")]
    coloured = words.evaluate_all("nodes => nodes.filter((n) => n.style.background).length")
    assert coloured == sum(1 for w in weights if w) > 0  # every word that mattered, and only those, is coloured
    expect(page.locator(".why-head")).to_contain_text("Why “")
    expect(page.locator(".why-legend")).to_contain_text("pushed toward")
    expect(page.locator(".why-lexical .why-word")).to_have_count(7)  # the n-gram part
    shoot(page, "insight-3-why")
