"""The studio's "Label messages" at the API level (server/labeling.py, labeling_projects.py): a project
from an upload and label names, its texts embedded in the background, the next messages, labels
stored at once (a new request and a restarted studio see them), skips never offered again, the
head refitted in the background, the estimate, training on the labels, classifying the rest, the
label check and a relabel; renaming a project, and deleting it (its folder only, never while busy).
The encoder is the tiny random BERT: fast, meaningless vectors."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from support.studio import NAMES, tickets  # noqa: E402
from support.waiting import eventually  # noqa: E402
from textfit import LabelingSession  # noqa: E402
from textfit.server.studio.app import create_studio_app  # noqa: E402


@pytest.fixture(autouse=True)
def quiet_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTFIT_CACHE", str(tmp_path / "cache"))  # vectors are cached here, not in ~/.cache
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the training and classifying processes inherit it


@pytest.fixture
def workdir(tmp_path):
    return tmp_path / "studio"


@pytest.fixture
def client(workdir):
    with TestClient(create_studio_app(workdir)) as client:
        yield client


def upload(client, frame: pd.DataFrame, name: str = "tickets.csv") -> dict:
    response = client.put("/api/uploads", params={"filename": name}, content=frame.to_csv(index=False).encode())
    assert response.status_code == 200, response.text
    return response.json()["upload"]


def create(client, tiny_bert, frame=None, **changes) -> dict:
    frame = tickets() if frame is None else frame
    body = {
        "upload_id": upload(client, frame)["id"],
        "text_column": "message",
        "label_names": NAMES,
        "descriptions": ["money, invoices and refunds", None, ""],
        "model": str(tiny_bert),
        "name": "Support",
        **changes,
    }
    response = client.post("/api/labeling", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_ready(client, project_id: str) -> dict:
    """The project once its texts are read (a failed reading fails the test at once)."""

    def project() -> dict:
        project = client.get(f"/api/labeling/{project_id}").json()
        assert project["phase"] != "failed", project["error"]
        return project

    return eventually(project, until=lambda p: p["phase"] == "ready", timeout=120, what="the texts to be read")


def next_items(client, project_id: str, n: int = 5, release=()) -> list[dict]:
    response = client.post(f"/api/labeling/{project_id}/next", json={"n": n, "release": list(release)})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def truth(index: int) -> str:
    return tickets()["truth"][index]  # every message has text: message i is row i


def label(client, project_id: str, index: int, name: str) -> dict:
    response = client.post(f"/api/labeling/{project_id}/labels", json={"index": index, "label": name})
    assert response.status_code == 200, response.text
    return response.json()


def label_some(client, project_id: str, count: int) -> list[int]:
    done = []
    while len(done) < count:
        for item in next_items(client, project_id, min(5, count - len(done))):
            label(client, project_id, item["index"], truth(item["index"]))
            done.append(item["index"])
    return done


# --- the engine's additions the studio needs ----------------------------------------------------------
def test_session_bulk_labels_release_and_a_batch_without_refit(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    session = LabelingSession(
        tmp_path / "s.sqlite", [f"text {i}" for i in range(40)], ["a", "b"], vectors=vectors, zero_shot=False
    )
    status = session.add_labels({0: "a", 1: "b", 2: 1})
    assert status["labeled"] == 3 and session.labels() == {0: "a", 1: "b", 2: "b"}
    batch = [item["index"] for item in session.next_batch(5, refit=False)]
    assert session.fitted_labels == -1  # ranked with the head as it was: no refit
    assert not set(batch) & {0, 1, 2}
    others = [item["index"] for item in session.next_batch(30, refit=False)]
    assert not set(others) & set(batch)  # leased
    session.release(batch)
    assert set(batch) <= {item["index"] for item in session.next_batch(40, refit=False)}  # given back
    with pytest.raises(Exception, match="unknown label"):
        session.add_labels({5: "c"})
    assert session.status()["labeled"] == 3  # nothing of a refused bulk is stored


def test_a_session_looking_for_a_rare_category_offers_messages_like_its_few_examples_first(tmp_path):
    """Three clusters of 30 messages; "c" has one example: looking for it, the batch comes from its
    cluster, each message with "c" suggested, though the head would rather ask about a or b."""
    rng = np.random.default_rng(1)
    centres = np.eye(3, 8, dtype=np.float32)
    vectors = np.concatenate([centres[k] + 0.3 * rng.normal(size=(30, 8)) for k in range(3)]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    session = LabelingSession(
        tmp_path / "s.sqlite", [f"text {i}" for i in range(90)], ["a", "b", "c"], vectors=vectors, zero_shot=False
    )
    session.add_labels({**{i: "a" for i in range(5)}, **{30 + i: "b" for i in range(5)}, 60: "c"})
    found = session.next_batch(6, focus=["c"])
    assert all(60 < item["index"] < 90 for item in found), [item["index"] for item in found]  # c's cluster
    assert all(item["looking_for"] == item["suggestion"] == "c" for item in found)
    usual = session.next_batch(6)
    assert all("looking_for" not in item for item in usual)


# --- the loop ---------------------------------------------------------------------------------------
def test_a_project_is_created_embedded_and_labeled_and_a_skip_never_comes_back(client, tiny_bert):
    project = create(client, tiny_bert)
    assert project["phase"] in ("loading", "reading", "suggesting", "ready")
    assert project["messages"] == 60 and project["label_names"] == NAMES
    assert project["descriptions"] == ["money, invoices and refunds", None, None]
    ready = wait_ready(client, project["id"])
    assert ready["status"]["total"] == 60 and ready["status"]["labeled"] == 0

    items = next_items(client, project["id"], 5)
    assert len(items) == 5 and len({i["index"] for i in items}) == 5
    first = items[0]
    assert first["text"] == tickets()["message"][first["index"]]
    assert first["suggestion"] in NAMES and 0 < first["confidence"] <= 1 and len(first["top"]) == 3
    answer = label(client, project["id"], first["index"], "shipping")
    assert answer["status"]["labeled"] == 1 and answer["status"]["per_label"]["shipping"] == 1
    label(client, project["id"], first["index"], "billing")  # a correction replaces the label
    skipped = items[1]["index"]
    assert client.post(f"/api/labeling/{project['id']}/skip", json={"index": skipped}).json()["status"]["skipped"] == 1

    # a reload: a new request sees the labels
    again = client.get(f"/api/labeling/{project['id']}").json()["status"]
    assert again["labeled"] == 1 and again["per_label"] == {"billing": 1, "shipping": 0, "account": 0}
    session = client.app.state.studio.labeling.get(project["id"]).session
    assert session.labels() == {first["index"]: "billing"}

    # every other message comes exactly once, the skipped and the labeled one never again
    seen = [i["index"] for i in items[2:]]
    while batch := next_items(client, project["id"], 10):
        seen += [i["index"] for i in batch]
    assert sorted(seen) == sorted(set(range(60)) - {first["index"], skipped})
    # messages a page gives back come again
    assert {i["index"] for i in next_items(client, project["id"], 10, release=seen[:3])} == set(seen[:3])

    # labeling after an undo of a skipped message, and skipping a labeled one, leave one answer each
    label(client, project["id"], skipped, "account")
    status = client.post(f"/api/labeling/{project['id']}/skip", json={"index": first["index"]}).json()["status"]
    assert status["labeled"] == 1 and status["skipped"] == 1 and session.labels() == {skipped: "account"}


def test_the_page_hears_how_far_the_reading_has_come(client, tiny_bert, monkeypatch):
    from textfit.labeling import vectors

    gate, real = threading.Event(), vectors.Encoder.encode

    def held(self, texts, progress=None):  # stops after the first batch until the test has looked
        def report(done, total):
            progress(done, total)
            if done < total:
                gate.wait(60)

        return real(self, texts, report if progress else None)

    monkeypatch.setattr(vectors.Encoder, "encode", held)
    project = create(client, tiny_bert, tickets(per_label=40))
    try:
        reading = eventually(
            lambda: client.get(f"/api/labeling/{project['id']}").json(),
            until=lambda p: p["phase"] == "reading",
            timeout=120,
            every=0.2,
            what="the first batch to be read",
        )
        assert reading["done"] == vectors.BATCH_SIZE and reading["messages"] == 120 and reading["status"] is None
        refused = client.post(f"/api/labeling/{project['id']}/next", json={"n": 5})
        assert refused.status_code == 409 and "still being read" in refused.json()["error"]
    finally:
        gate.set()
    assert wait_ready(client, project["id"])["done"] == 120


def test_refit_runs_in_the_background_and_the_estimate_appears_after_ten_labels(client, tiny_bert):
    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    session = client.app.state.studio.labeling.get(project["id"]).session
    real_refit = session.refit
    session.refit = lambda force=False: (time.sleep(1.5), real_refit(force))[1]  # a slow refit
    stand = client.get(f"/api/labeling/{project['id']}/stand").json()
    assert stand["status"]["labeled"] == 0

    item = next_items(client, project["id"], 1)[0]
    started = time.time()
    answer = label(client, project["id"], item["index"], truth(item["index"]))
    assert time.time() - started < 1.0, "the label waited for the refit"
    assert answer["head"]["refitting"]
    eventually(
        lambda: client.get(f"/api/labeling/{project['id']}").json()["head"]["version"] >= 1,
        timeout=120,
        every=0.2,
        what="the first refit",
    )
    assert session.fitted_labels == 1
    session.refit = real_refit

    label_some(client, project["id"], 11)
    version = client.get(f"/api/labeling/{project['id']}").json()["head"]["version"]
    assert version >= 2, "refitted again after more labels"
    stand = eventually(
        lambda: client.get(f"/api/labeling/{project['id']}/stand").json(),
        until=lambda s: s["current"],
        timeout=120,
        every=0.2,
        what="a current stand",
    )
    assert stand["status"]["labeled"] == 12 and sum(stand["status"]["per_label"].values()) == 12
    estimate = stand["estimate"]
    assert estimate["labels"] == 12 and 0 <= estimate["low"] <= estimate["accuracy"] <= estimate["high"] <= 1
    assert stand["curve"]["points"][-1]["labels"] == 12 and stand["curve"]["verdict"]


def test_train_on_the_labels_then_classify_the_rest_into_a_file_that_keeps_the_labeled_rows(
    client, tiny_bert, tmp_path
):
    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    labeled = label_some(client, project["id"], 15)
    response = client.post(f"/api/labeling/{project['id']}/train", json={"epochs": 1})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["name"] == "Support · 15 labels" and run["settings"]["examples"] == 15
    assert run["settings"]["model"] == str(tiny_bert) and run["settings"]["epochs"] == 1
    assert client.get(f"/api/labeling/{project['id']}").json()["run"]["id"] == run["id"]
    refused = client.post(f"/api/labeling/{project['id']}/classify-rest")
    assert refused.status_code == 409 and "training" in refused.json()["error"]

    done = eventually(
        lambda: client.get(f"/api/runs/{run['id']}").json(),
        until=lambda r: r["status"] not in ("queued", "running"),
        timeout=300,
        every=0.5,
        what="the run to finish",
    )
    assert done["status"] == "completed", done
    response = client.post(f"/api/labeling/{project['id']}/classify-rest")
    assert response.status_code == 202, response.text
    job = eventually(
        lambda: client.get(f"/api/labeling/{project['id']}").json()["classify"]["job"],
        until=lambda j: j and j["status"] != "running",
        timeout=300,
        every=0.5,
        what="the rest to be classified",
    )
    assert job["status"] == "completed", job
    described = client.get(f"/api/labeling/{project['id']}").json()["classify"]
    assert described["messages"] == 60 and described["labeled"] == 15 and described["run"] == run["id"]
    result = pd.read_csv(io.BytesIO(client.get(f"/api/runs/{run['id']}/classify/download?format=csv").content))
    frame = tickets()
    assert result["ticket"].tolist() == frame["ticket"].tolist()  # every message, in the file's order
    assert result["message"].tolist() == frame["message"].tolist()
    mine = result["your label"].notna()  # the labeled rows, marked with the label given
    assert sorted(np.flatnonzero(mine)) == sorted(labeled)
    assert (result.loc[mine, "your label"] == frame.loc[mine, "truth"]).all()
    assert set(result["predicted label"]) <= set(NAMES) and result["confidence"].between(0, 1).all()


def test_the_queue_looks_for_a_category_short_of_examples_by_its_name_and_its_few_examples(client, tiny_bert):
    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    assert client.get(f"/api/labeling/{project['id']}").json()["min_examples"] == 3
    for index in np.flatnonzero(tickets()["truth"] == "billing")[:4]:
        label(client, project["id"], int(index), "billing")
    label(client, project["id"], int(np.flatnonzero(tickets()["truth"] == "shipping")[0]), "shipping")
    refused = client.post(f"/api/labeling/{project['id']}/focus", json={"categories": ["refunds"]})
    assert refused.status_code == 400 and "no category 'refunds'" in refused.json()["error"]
    focused = client.post(f"/api/labeling/{project['id']}/focus", json={"categories": ["shipping", "account"]})
    assert focused.json()["focus"] == ["shipping", "account"]
    items = next_items(client, project["id"], 4)
    assert {item["looking_for"] for item in items} == {"shipping", "account"}  # each category in turn
    assert all(item["suggestion"] == item["looking_for"] for item in items)  # pre-selected: Enter says yes
    for item in items:
        label(client, project["id"], item["index"], truth(item["index"]))
    for item in next_items(client, project["id"], 6):
        label(client, project["id"], item["index"], truth(item["index"]))
    counts = client.get(f"/api/labeling/{project['id']}").json()["status"]["per_label"]
    answer = client.post(f"/api/labeling/{project['id']}/next", json={"n": 2}).json()
    assert answer["focus"] == [n for n in ("shipping", "account") if counts[n] < 3]  # enough examples: it drops out
    stopped = client.post(f"/api/labeling/{project['id']}/focus", json={"categories": []}).json()
    assert stopped["focus"] == [] and all("looking_for" not in i for i in next_items(client, project["id"], 3))


def test_train_without_the_categories_short_of_examples_names_them_on_the_run(client, tiny_bert):
    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    frame = tickets()
    for name, given in (("billing", 5), ("account", 3), ("shipping", 2)):
        for index in np.flatnonzero(frame["truth"] == name)[:given]:
            label(client, project["id"], int(index), name)
    unknown = client.post(f"/api/labeling/{project['id']}/train", json={"without": ["refunds"]})
    assert unknown.status_code == 400 and "no category 'refunds'" in unknown.json()["error"]
    alone = client.post(f"/api/labeling/{project['id']}/train", json={"without": ["shipping", "account"]})
    assert alone.status_code == 400 and "at least two kinds" in alone.json()["error"]  # billing alone is no model

    body = {"epochs": 1, "use_unlabeled": False, "without": ["shipping"]}
    run = client.post(f"/api/labeling/{project['id']}/train", json=body).json()
    assert run["settings"]["examples"] == 8 and run["settings"]["labels"] == 2  # shipping's 2 examples left out
    assert run["settings"]["extra"]["categories_left_out"] == {"shipping": 2}
    assert client.get(f"/api/labeling/{project['id']}").json()["run"]["left_out"] == {"shipping": 2}
    client.post(f"/api/runs/{run['id']}/stop")  # its model is not needed here


def test_check_the_labels_lists_suspicious_ones_and_a_relabel_is_stored(client, tiny_bert):
    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    few = label_some(client, project["id"], 5)
    refused = client.post(f"/api/labeling/{project['id']}/audit")
    assert refused.status_code == 400 and "at least 10" in refused.json()["error"]
    done = few + label_some(client, project["id"], 25)
    wrong = done[:3]
    for index in wrong:  # three labels given wrongly
        label(client, project["id"], index, NAMES[(NAMES.index(truth(index)) + 1) % 3])
    assert client.post(f"/api/labeling/{project['id']}/audit").status_code == 202
    result = eventually(
        lambda: client.get(f"/api/labeling/{project['id']}/audit").json(),
        until=lambda a: a["status"] != "running",
        timeout=120,
        every=0.2,
        what="the audit to finish",
    )
    assert result["status"] == "done", result
    rows = result["rows"]
    assert len(rows) == 25 and result["labels"] == 30
    assert [r["suspicion"] for r in rows] == sorted((r["suspicion"] for r in rows), reverse=True)
    session = client.app.state.studio.labeling.get(project["id"]).session
    for row in rows:
        assert row["text"] == session.texts[row["index"]] and row["label"] == session.labels()[row["index"]]
        assert row["suggested_label"] in NAMES and "row " not in row["reason"]
    target = next(r for r in rows if r["index"] in wrong)  # each of the 30 is listed but five
    label(client, project["id"], target["index"], truth(target["index"]))
    assert session.labels()[target["index"]] == truth(target["index"])
    assert client.get(f"/api/labeling/{project['id']}").json()["status"]["labeled"] == 30


def test_a_restarted_studio_finds_the_project_and_its_labels(workdir, tiny_bert):
    with TestClient(create_studio_app(workdir)) as client:
        project = create(client, tiny_bert)
        wait_ready(client, project["id"])
        labeled = label_some(client, project["id"], 4)
    with TestClient(create_studio_app(workdir)) as client:
        listed = client.get("/api/labeling").json()["projects"]
        assert [(p["id"], p["name"], p["messages"], p["phase"]) for p in listed] == [
            (project["id"], "Support", 60, "closed")
        ]
        reopened = wait_ready(client, project["id"])  # the vectors come from the cache
        assert reopened["status"]["labeled"] == 4 and reopened["descriptions"] == project["descriptions"]
        offered = []
        while batch := next_items(client, project["id"], 20):
            offered += [i["index"] for i in batch]
        assert sorted(offered) == sorted(set(range(60)) - set(labeled))


def test_a_file_with_labels_and_empty_rows_imports_the_known_labels(client, tiny_bert):
    frame = tickets()
    frame.loc[[0, 1, 2], "truth"] = None  # no label
    frame.loc[3, "truth"] = "refunds"  # not one of the names: left unlabeled
    frame.loc[4, "message"] = " "  # no text: not a message to label
    project = create(client, tiny_bert, frame, label_column="truth")
    assert project["messages"] == 59 and project["imported"] == 55
    ready = wait_ready(client, project["id"])
    assert ready["status"]["labeled"] == 55
    session = client.app.state.studio.labeling.get(project["id"]).session
    assert session.texts[4] == frame["message"][5]  # row 4 left out
    assert session.labels()[4] == frame["truth"][5]


@pytest.mark.parametrize(
    "changes, status, words",
    [
        ({"label_names": ["only"]}, 400, "at least two"),
        ({"label_names": ["a", "a"]}, 400, "repeat"),
        ({"text_column": "nope"}, 400, "no column 'nope'"),
        ({"label_column": "nope"}, 400, "no column 'nope'"),
        ({"descriptions": ["x"]}, 400, "1 descriptions for 3 labels"),
        ({"upload_id": "data-00000000-000000-000000"}, 404, "upload"),
        ({"model": "/no/such/model/folder"}, 400, "model"),
    ],
)
def test_a_project_that_cannot_start_says_why(client, tiny_bert, changes, status, words):
    body = {
        "upload_id": upload(client, tickets())["id"],
        "text_column": "message",
        "label_names": NAMES,
        "model": str(tiny_bert),
        **changes,
    }
    response = client.post("/api/labeling", json=body)
    assert response.status_code == status and words in response.json()["error"], response.json()
    assert client.get("/api/labeling").json()["projects"] == []


def test_unknown_projects_labels_and_messages_are_refused(client, tiny_bert):
    assert client.get("/api/labeling/label-00000000-000000-000000").status_code == 404
    assert client.get("/api/labeling/..%2F..%2Fetc").status_code == 404
    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    wrong_label = client.post(f"/api/labeling/{project['id']}/labels", json={"index": 0, "label": "other"})
    assert wrong_label.status_code == 400 and "billing, shipping, account" in wrong_label.json()["error"]
    wrong_index = client.post(f"/api/labeling/{project['id']}/labels", json={"index": 60, "label": "billing"})
    assert wrong_index.status_code == 400 and "0 to 59" in wrong_index.json()["error"]
    refused = client.post(f"/api/labeling/{project['id']}/classify-rest")
    assert refused.status_code == 409 and "train the model first" in refused.json()["error"]
    one_kind = client.post(f"/api/labeling/{project['id']}/train", json={})
    assert one_kind.status_code == 400 and "two kinds" in one_kind.json()["error"]


def test_a_text_only_file_gets_its_text_column_found(client):
    frame = tickets()[["ticket", "message"]]
    described = client.get(f"/api/labeling/uploads/{upload(client, frame)['id']}").json()
    assert described["text_column"] == "message" and described["columns"] == ["ticket", "message"]
    single = client.get(f"/api/labeling/uploads/{upload(client, frame[['message']])['id']}").json()
    assert single["text_column"] == "message"


# --- rename and delete ---------------------------------------------------------------------------------
def test_rename_is_cleaned_kept_across_a_restart_and_never_opens_a_closed_project(workdir, tiny_bert):
    with TestClient(create_studio_app(workdir)) as client:
        project = create(client, tiny_bert)
        wait_ready(client, project["id"])
        renamed = client.patch(f"/api/labeling/{project['id']}", json={"name": "  Support\ttickets\n March  "})
        assert renamed.status_code == 200 and renamed.json()["name"] == "Support tickets March"
        assert client.get(f"/api/labeling/{project['id']}").json()["name"] == "Support tickets March"
        assert client.get("/api/labeling").json()["projects"][0]["name"] == "Support tickets March"
        for name, words in (
            (" \n\t ", "cannot be empty"),
            ("\x00\x07", "cannot be empty"),
            ("x" * 101, "at most 100 characters (this one has 101)"),
        ):
            refused = client.patch(f"/api/labeling/{project['id']}", json={"name": name})
            assert refused.status_code == 400 and words in refused.json()["error"], refused.json()
        assert client.patch(f"/api/labeling/{project['id']}", json={}).status_code in (400, 422)
        assert client.patch("/api/labeling/label-00000000-000000-000000", json={"name": "a"}).status_code == 404
        label_some(client, project["id"], 4)
    with TestClient(create_studio_app(workdir)) as client:
        listed = client.get("/api/labeling").json()["projects"]
        assert [(p["name"], p["phase"]) for p in listed] == [("Support tickets March", "closed")]
        again = client.patch(f"/api/labeling/{project['id']}", json={"name": "Tickets"})
        assert again.status_code == 200 and again.json()["phase"] == "closed"
        assert client.app.state.studio.labeling.open == {}  # renamed without reading its messages
        assert client.get("/api/labeling").json()["projects"][0]["name"] == "Tickets"
        deleted = client.delete(f"/api/labeling/{project['id']}")  # a closed project is not busy
        assert deleted.status_code == 200 and deleted.json()["name"] == "Tickets"
        assert client.get("/api/labeling").json()["projects"] == []


def test_delete_removes_the_project_folder_only_and_keeps_its_trained_model(client, tiny_bert, workdir, tmp_path):
    project, other = create(client, tiny_bert), create(client, tiny_bert, name="Other")
    wait_ready(client, project["id"])
    wait_ready(client, other["id"])
    label_some(client, project["id"], 15)
    run = client.post(f"/api/labeling/{project['id']}/train", json={"epochs": 1}).json()
    done = eventually(
        lambda: client.get(f"/api/runs/{run['id']}").json(),
        until=lambda r: r["status"] not in ("queued", "running"),
        timeout=300,
        every=0.5,
        what="the run to finish",
    )
    assert done["status"] == "completed", done
    folder = workdir / "labeling" / project["id"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    (folder / "a link").symlink_to(outside, target_is_directory=True)  # rmtree must not follow it
    uploads_before = sorted(p.name for p in (workdir / "uploads").iterdir())
    held = client.app.state.studio.labeling.get(project["id"])  # a request that holds the project meanwhile

    response = client.delete(f"/api/labeling/{project['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": project["id"], "name": "Support", "runs_kept": 1}
    assert not folder.exists() and (outside / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in (workdir / "labeling").iterdir()) == [other["id"]]
    assert [p["id"] for p in client.get("/api/labeling").json()["projects"]] == [other["id"]]
    assert project["id"] not in client.app.state.studio.labeling.open
    for method, path in (("get", ""), ("delete", ""), ("post", "/next"), ("get", "/stand")):
        answer = client.request(method, f"/api/labeling/{project['id']}{path}", json={} if method == "post" else None)
        assert answer.status_code == 404, (method, path, answer.text)
    with pytest.raises(Exception, match="was deleted") as refused:
        held.next_batch(5, [])
    assert refused.value.status == 404

    # the trained model, its upload and the file the project started from stay; the other project works on
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "completed"
    assert (workdir / "runs" / run["id"] / "model" / "config.json").is_file()
    assert sorted(p.name for p in (workdir / "uploads").iterdir()) == uploads_before
    assert client.post(f"/api/runs/{run['id']}/predict", json={"texts": ["refund please"]}).status_code == 200
    assert label(client, other["id"], 0, "billing")["status"]["labeled"] == 1


def test_delete_is_refused_while_the_messages_are_read_or_the_labels_checked(client, tiny_bert, monkeypatch, workdir):
    import textfit.labeling
    from textfit.labeling import vectors

    reading, checking = threading.Event(), threading.Event()
    real_encode, real_audit = vectors.Encoder.encode, textfit.labeling.audit

    def held(self, texts, progress=None):  # stops after the first batch until the test has looked
        def report(done, total):
            progress(done, total)
            if done < total:
                reading.wait(60)

        return real_encode(self, texts, report if progress else None)

    monkeypatch.setattr(vectors.Encoder, "encode", held)
    monkeypatch.setattr(textfit.labeling, "audit", lambda *a, **k: (checking.wait(60), real_audit(*a, **k))[1])
    project = create(client, tiny_bert, tickets(per_label=40))
    folder = workdir / "labeling" / project["id"]
    try:
        eventually(
            lambda: client.get(f"/api/labeling/{project['id']}").json()["phase"] == "reading",
            timeout=120,
            every=0.2,
            what="the reading to start",
        )
        refused = client.delete(f"/api/labeling/{project['id']}")
        assert refused.status_code == 409 and "“Support” are still being read" in refused.json()["error"]
        assert (folder / "project.json").is_file()
    finally:
        reading.set()
    wait_ready(client, project["id"])
    for index in range(12):  # the tickets' row i is NAMES[i % 3]: four of each (the queue's order may vary)
        label(client, project["id"], index, NAMES[index % 3])
    try:
        assert client.post(f"/api/labeling/{project['id']}/audit").status_code == 202
        refused = client.delete(f"/api/labeling/{project['id']}")
        assert refused.status_code == 409 and "are being checked" in refused.json()["error"]
        assert client.get(f"/api/labeling/{project['id']}").json()["status"]["labeled"] == 12
    finally:
        checking.set()
    eventually(
        lambda: client.get(f"/api/labeling/{project['id']}/audit").json()["status"] != "running",
        timeout=120,
        every=0.2,
        what="the audit to finish",
    )
    assert client.delete(f"/api/labeling/{project['id']}").status_code == 200
    assert not folder.exists()


def test_train_learns_from_the_messages_without_a_label_by_default(client, tiny_bert, workdir, monkeypatch, tmp_path):
    import json

    monkeypatch.setenv(
        "TEXTFIT_MODELS", str(tmp_path / "models")
    )  # no larger teacher downloaded: the model teaches itself

    project = create(client, tiny_bert)
    wait_ready(client, project["id"])
    labeled = label_some(client, project["id"], 15)
    run = client.post(f"/api/labeling/{project['id']}/train", json={"epochs": 1}).json()
    settings = json.loads((workdir / "runs" / run["id"] / "settings.json").read_text())
    without = pd.read_csv(settings["unlabeled"])["text"].tolist()
    assert without == tickets().drop(index=labeled)["message"].tolist()  # every unlabeled message, none labeled
    done = eventually(
        lambda: client.get(f"/api/runs/{run['id']}").json(),
        until=lambda r: r["status"] not in ("queued", "running"),
        timeout=300,
        every=0.5,
        what="the run to finish",
    )
    assert done["status"] == "completed", done
    record = json.loads((workdir / "runs" / run["id"] / "model" / "textfit.json").read_text())
    assert 0 < record["unlabeled"]["texts_used"] <= len(without)
    assert record["unlabeled"]["teacher"] == "the served model"

    alone = client.post(f"/api/labeling/{project['id']}/train", json={"epochs": 1, "use_unlabeled": False}).json()
    assert "unlabeled" not in json.loads((workdir / "runs" / alone["id"] / "settings.json").read_text())


def test_a_new_run_takes_an_optional_file_of_texts_without_labels(client, workdir):
    import json

    data = upload(client, tickets().rename(columns={"message": "text", "truth": "label"})[["text", "label"]])
    without = upload(client, pd.DataFrame({"text": ["where is my refund", "the app crashes"]}), "more.csv")
    body = {"upload_id": data["id"], "text_column": "text", "label_column": "label", "epochs": 1}
    refused = client.post("/api/runs", json={**body, "unlabeled_upload_id": "upload-missing"})
    assert refused.status_code in (400, 404) and "texts without labels" in refused.json()["error"]
    run = client.post("/api/runs", json={**body, "unlabeled_upload_id": without["id"]}).json()
    settings = json.loads((workdir / "runs" / run["id"] / "settings.json").read_text())
    assert pd.read_csv(settings["unlabeled"])["text"].tolist() == ["where is my refund", "the app crashes"]
    client.post(f"/api/runs/{run['id']}/stop")
