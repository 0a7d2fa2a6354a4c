"""The studio after a crash, and the numbers it shows while training: the time left from the
measured pace (synthetic progress logs), a training process adopted across a studio restart,
"train again with the same settings", and the words for how a run ended."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from support.waiting import eventually  # noqa: E402
from textfit.server.studio.app import Studio, StudioLimits, create_studio_app  # noqa: E402
from textfit.server.studio.recovery.service import ADOPTED, again_name, is_orphan  # noqa: E402
from textfit.server.studio.runs import worker  # noqa: E402
from textfit.server.studio.runs.progress import read_progress  # noqa: E402

LIMITS = StudioLimits(max_upload_bytes=200_000)
DATA = "text,label\na,x\nb,y\nc,x\nd,y\n"


# --- the time left, from synthetic progress logs -------------------------------------------------
def training_log(total=600, step_s=0.3, every=100, eval_s=6.0, seed=0, stall=None, budget_s=None):
    """The progress.jsonl a run writes (JsonlLog: a step line at most every 0.5 s, so the logged
    steps jump by uneven amounts), and when its last evaluation ends. Batches cost 0.5-1.8x the
    mean (grouped by length), the first steps pay one-off costs, an evaluation pauses training
    every `every` steps; with `budget_s`, the plan shrinks to the budget at step 50 (as the
    trainer's planner does) and the run stops at the budget."""
    rng = random.Random(seed)
    start = 1000.0
    t = start + 2.0  # the n-gram model's fit, before the log begins
    events = [
        {
            "event": "begin",
            "time": t,
            "total_steps": total,
            "epochs": max(1, total // every),
            "examples": 16 * every,
            "batch_size": 16,
        }
    ]
    logged, step = -1e9, 0
    while step < total and not (budget_s and t - start > budget_s):
        step += 1
        t += step_s * rng.choice([0.5, 0.7, 1.0, 1.3, 1.8]) * (8 if step == 1 else 2 if step <= 5 else 1)
        if stall and step == stall[0]:
            t += stall[1]
        if budget_s and step == 50:
            total = min(total, step + int((start + budget_s - t - eval_s) / (step_s * 1.06 + eval_s / every)))
        if t - logged >= 0.5 or step == total:
            logged = t
            events.append(
                {"event": "step", "time": t, "step": step, "total_steps": total, "loss": 1.0, "epoch": step / every}
            )
        if step % every == 0 or step == total or (budget_s and t - start > budget_s):
            t += eval_s
            events.append(
                {
                    "event": "evaluate",
                    "time": t,
                    "step": step,
                    "epoch": step / every,
                    "loss": 1.0,
                    "accuracy": 0.5,
                    "macro_f1": 0.5,
                    "weighted_f1": 0.5,
                    "elapsed_s": round(t - start, 1),
                    "best": True,
                }
            )
    return events, t


def estimates(events, end, path: Path, budget_min=None, every=3):
    """(step, fraction done, time left shown, time truly left, now) as the page would poll it."""
    out = []
    last_step = max(e.get("step", 0) for e in events)
    for i, event in enumerate(events):
        if event["event"] != "step" or i % every or event["step"] >= last_step:
            continue
        path.write_text("\n".join(json.dumps(e) for e in events[: i + 1]) + "\n")
        for lag in (0.0, 0.4):  # the page polls between log lines too
            now = event["time"] + lag
            progress = read_progress(path, now=now, time_budget_min=budget_min)
            out.append((event["step"], event["step"] / last_step, progress["eta_s"], end - now, now))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "case",
    [
        dict(),  # steady, an evaluation every 100 of 600 steps
        dict(step_s=0.02, total=3000, every=1000, eval_s=4.0),  # fast steps: each log line jumps ~25 steps
        dict(stall=(300, 5.0)),  # a 5 s hiccup halfway
        dict(step_s=1.2, total=300, eval_s=20.0),  # slow steps, long evaluations
    ],
    ids=["steady", "jumps", "stall", "slow"],
)
def test_time_left_stays_within_25_percent_after_the_first_tenth(tmp_path, case, seed):
    events, end = training_log(seed=seed, **case)
    readings = estimates(events, end, tmp_path / "progress.jsonl")
    late = [(step, eta, truth) for step, done, eta, truth, _ in readings if done >= 0.1]
    assert len(late) > 20
    for step, eta, truth in late:
        assert abs(eta - truth) <= 0.25 * truth, (step, eta, truth)


def test_time_left_under_a_time_budget_is_never_past_its_end(tmp_path):
    """2 minutes of budget on data that would take 26 minutes: the plan (5000 steps) shrinks only
    at step 50, but the time left never passes the budget's end, and is right within 25 %."""
    events, end = training_log(total=5000, budget_s=120, seed=3)
    assert 110 < end - 1000 < 135  # the run took its budget
    readings = estimates(events, end, tmp_path / "progress.jsonl", budget_min=2, every=2)
    assert any(step < 50 for step, *_ in readings)
    budget_end = events[0]["time"] + 120  # as the studio sees it: from the log's first line
    for step, done, eta, truth, now in readings:
        assert eta <= budget_end - now + 0.1, (step, eta)  # never "26 min"
        if done >= 0.1:
            assert abs(eta - truth) <= 0.25 * truth, (step, eta, truth)


def test_time_left_counts_the_final_fit_that_follows(tmp_path):
    """A hold-out run on 1,600 examples followed by a final fit on 2,000 (its begin line says so):
    the time left, read during the hold-out run, reaches to the end of the final fit (which takes
    the planned steps x 2000/1600 at the same pace, no evaluations), within 25 %; without the
    final-fit note it would stop at the hold-out run's end, 44 % short."""
    events, holdout_end = training_log(total=600, every=200, seed=4)
    events[0].update(examples=1600, final_fit_examples=2000)
    end = holdout_end + 2.0 + 750 * 0.3 * 1.06  # the final fit: 750 steps at the mean pace
    readings = estimates(events, end, tmp_path / "progress.jsonl")
    late = [(step, eta, truth) for step, done, eta, truth, _ in readings if done >= 0.1]
    assert len(late) > 20
    for step, eta, truth in late:
        assert abs(eta - truth) <= 0.25 * truth, (step, eta, truth)
    assert read_progress(tmp_path / "progress.jsonl", now=end)["final_fit_follows"] is True


def test_an_ended_run_shows_how_long_it_ran_and_no_time_left(tmp_path):
    events, _ = training_log(total=200, every=100)
    cut = events[:40]  # killed mid-run: no 'end' line
    path = tmp_path / "progress.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in cut) + "\n")
    ended = read_progress(path, now=cut[-1]["time"] + 3600, live=False)
    assert ended["eta_s"] is None and ended["elapsed_s"] == round(cut[-1]["time"] - cut[0]["time"], 1)
    assert ended["step"] == cut[-1]["step"] and 0 < ended["fraction"] < 1
    live = read_progress(path, now=cut[-1]["time"] + 1)
    assert live["eta_s"] > 0


def test_a_resumed_run_measures_its_pace_afresh(tmp_path):
    """A run killed at step 150 and resumed two hours later (a new 'begin' line): the hours between
    and the steps before do not count in the pace after it."""
    events, end = training_log(total=400, every=400, seed=1)
    before = [e for e in events if e["event"] == "begin" or e["step"] <= 150]
    after = [{**e, "time": e["time"] + 7200} for e in events if e["event"] != "begin" and e["step"] > 150]
    resumed = before + [{**events[0], "time": after[0]["time"] - 1}] + after[:30]
    path = tmp_path / "progress.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in resumed) + "\n")
    now = resumed[-1]["time"]
    reading = read_progress(path, now=now)
    truth = end + 7200 - now
    assert reading["step"] == resumed[-1]["step"] > 150
    assert abs(reading["eta_s"] - truth) <= 0.25 * truth, (reading["eta_s"], truth)


# --- orphaned training processes ------------------------------------------------------------------
@pytest.fixture
def one_thread_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def fake_python(tmp_path) -> str:
    """A stand-in for the interpreter that runs `-m textfit.server.studio.runs.worker RUN_DIR`: it 'trains'
    until RUN_DIR/finish appears (or SIGINT/SIGTERM), then writes a result as the worker does."""
    script = tmp_path / "fake-python"
    script.write_text(
        f"#!{sys.executable}\n"
        + """
import json, os, signal, sys, time
from pathlib import Path
run_dir = Path(sys.argv[-1])
def stop(signum, frame):
    (run_dir / "result.json").write_text(json.dumps({"ok": False, "error": "stopped", "stopped": True}))
    sys.exit(130)
signal.signal(signal.SIGINT, stop)   # set explicitly, as the real worker does
signal.signal(signal.SIGTERM, stop)
(run_dir / "started").touch()
while not (run_dir / "finish").exists():
    time.sleep(0.05)
(run_dir / "result.json").write_text(json.dumps(
    {"ok": True, "status": "time budget reached", "metrics": {"accuracy": 0.75}}))
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def start_run(studio: Studio) -> dict:
    """A run of the fake worker, once it has set its signal handlers."""
    upload = studio.add_upload(io.BytesIO(DATA.encode()), "d.csv")["upload"]
    run = studio.start_run(upload["id"], "text", "label")
    eventually(
        lambda: (studio.run_dir(run["id"]) / "started").exists(),
        timeout=15,
        every=0.05,
        what="the fake worker to set its signal handlers",
    )
    return run


def test_a_worker_left_by_a_crashed_studio_is_adopted_and_finalized_when_it_exits(tmp_path, fake_python):
    workdir = tmp_path / "studio"
    crashed = Studio(workdir, LIMITS, python=fake_python)
    run = start_run(crashed)
    process = crashed.procs[run["id"]]  # the crashed studio's child, alive across the restart
    assert run["status"] == "running"
    # the studio dies without shutting down: nothing stops its worker
    restarted = Studio(workdir, LIMITS, python=fake_python)
    try:
        assert run["id"] in restarted.adopted and run["id"] not in restarted.procs
        seen = restarted.run_details(run["id"])
        assert seen["status"] == "running" and seen["message"] == ADOPTED
        (workdir / "runs" / run["id"] / "finish").touch()  # the training ends by itself
        process.wait(10)
        done = eventually(
            lambda: restarted.get_run(run["id"]),
            until=lambda r: r["status"] != "running",
            timeout=15,
            every=0.05,
            what="the adopted run to end",
        )
        assert done["status"] == "completed" and done["metrics"] == {"accuracy": 0.75}
        assert done["record_status"] == "time budget reached" and done["message"] == "stopped: time budget reached"
        assert done["pid"] is None and done["finished"]
    finally:
        restarted.shutdown()
        crashed.store.close()


def test_stop_works_on_an_adopted_worker_and_a_restart_stops_it_cleanly(tmp_path, fake_python):
    workdir = tmp_path / "studio"
    crashed = Studio(workdir, StudioLimits(max_concurrent_runs=2), python=fake_python)
    first, second = start_run(crashed), start_run(crashed)
    processes = [crashed.procs[first["id"]], crashed.procs[second["id"]]]
    restarted = Studio(workdir, LIMITS, python=fake_python)
    assert set(restarted.adopted) == {first["id"], second["id"]}
    restarted.stop_run(first["id"])  # SIGINT by pid: not our child
    processes[0].wait(10)
    stopped = eventually(
        lambda: restarted.get_run(first["id"]),
        until=lambda r: r["status"] != "running",
        timeout=15,
        every=0.05,
        what="the adopted run to stop",
    )
    assert stopped["status"] == "stopped", stopped
    restarted.shutdown(grace_s=5)  # an adopted worker is stopped with the studio, like its own
    assert processes[1].wait(10) == 130
    after = Studio(workdir, LIMITS, python=fake_python)
    try:
        left = after.get_run(second["id"])
        assert left["status"] == "interrupted" and not after.adopted
    finally:
        after.shutdown()
        crashed.store.close()


def test_a_worker_whose_studio_still_lives_is_not_an_orphan(tmp_path):
    """worker.json names the process that started the worker: while that one lives, another studio
    on the same folder follows the run but does not take it over; once it dies, the worker is
    reparented and counts as orphaned."""
    run_dir = tmp_path / "run-20200101-000000-abcdef"
    run_dir.mkdir()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time\n"
                "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                "print(child.pid, flush=True)\n"
                "time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    try:
        (run_dir / worker.IDENTITY).write_text(json.dumps({"pid": child, "parent": parent.pid}))
        assert not is_orphan(child, run_dir)
        parent.kill()
        parent.wait()
        eventually(lambda: is_orphan(child, run_dir), timeout=5, every=0.05, what="the worker to be orphaned")
        (run_dir / worker.IDENTITY).unlink()
        assert is_orphan(child, run_dir)  # no record: an older worker, taken as orphaned
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_real_worker_records_who_started_it(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    worker.write_json(run_dir / worker.SETTINGS, {"data": str(tmp_path / "missing.csv")})
    code = subprocess.run(
        [sys.executable, "-m", "textfit.server.studio.runs.worker", str(run_dir)],
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    ).returncode
    assert code == 1  # the data file is missing: a clear error, after the identity was written
    identity = json.loads((run_dir / worker.IDENTITY).read_text())
    assert identity["parent"] == os.getpid() and identity["pid"] != os.getpid()


# --- train again ----------------------------------------------------------------------------------
def test_train_again_queues_a_new_run_with_the_same_upload_and_settings(tmp_path, fake_python):
    app = create_studio_app(tmp_path / "studio", LIMITS)
    studio = app.state.studio
    studio.python = fake_python
    with TestClient(app) as client:
        numbered = "text,label\na,0\nb,1\nc,0\nd,1\n"
        upload = client.post(
            "/api/uploads", files={"file": ("d.csv", io.BytesIO(numbered.encode()), "text/csv")}
        ).json()
        body = {
            "upload_id": upload["upload"]["id"],
            "text_column": "text",
            "label_column": "label",
            "epochs": 3,
            "time_budget": 2.5,
            "name": "Tickets",
            "label_names": "no, yes",
        }
        run = client.post("/api/runs", json=body).json()
        assert run["status"] == "running", run
        busy = client.post(f"/api/runs/{run['id']}/train-again")
        assert busy.status_code == 409 and "still training" in busy.json()["error"]
        process = studio.procs[run["id"]]
        os.kill(run["pid"], signal.SIGKILL)  # a crash: interrupted, no model
        process.wait(10)
        ended = eventually(
            lambda: client.get(f"/api/runs/{run['id']}").json(),
            until=lambda r: r["status"] != "running",
            timeout=15,
            every=0.05,
            what="the killed run to end",
        )
        assert ended["status"] == "interrupted"

        again = client.post(f"/api/runs/{run['id']}/train-again")
        assert again.status_code == 201, again.text
        fresh = again.json()
        assert fresh["id"] != run["id"] and fresh["status"] in ("queued", "running")
        assert fresh["name"] == "Tickets (again)" and fresh["upload_id"] == run["upload_id"]
        keys = ("text_column", "label_column", "epochs", "time_budget", "label_names", "model", "examples")
        assert {k: fresh["settings"][k] for k in keys} == {k: run["settings"][k] for k in keys}
        assert fresh["settings"]["label_names"] == ["no", "yes"]
        on_disk = json.loads((studio.run_dir(fresh["id"]) / worker.SETTINGS).read_text())
        assert on_disk["time_budget"] == 2.5 and on_disk["data"] == str(studio.upload_path(upload["upload"]))
        assert client.post("/api/runs/run-20200101-000000-nosuch/train-again").status_code == 404

        # the data file is gone: said plainly
        studio.store.db.execute("UPDATE runs SET upload_id = NULL WHERE id = ?", (run["id"],))
        gone = client.post(f"/api/runs/{run['id']}/train-again")
        assert gone.status_code == 409 and "upload it again" in gone.json()["error"]
        client.post(f"/api/runs/{fresh['id']}/stop")


def test_again_names_count_up():
    assert again_name("Tickets") == "Tickets (again)"
    assert again_name("Tickets (again)") == "Tickets (again 2)"
    assert again_name("Tickets (again 2)") == "Tickets (again 3)"
