"""The Ray engine (`predict_with_ray`): a local Ray with 2 actors x 1 CPU gives the plain path's
answers, every row exactly once, in the input's order."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

# Quiet and offline: no usage report, no dashboard, no prompt (set before Ray is imported).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_USAGE_STATS_PROMPT_ENABLED", "0")
os.environ.pop("RAY_ADDRESS", None)  # never a cluster the machine happens to have

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from textfit.data.labeled import SAMPLE_DATA  # noqa: E402
from textfit.errors import DataError, TextfitError  # noqa: E402
from textfit.predict.batch import BatchPredictor, predict_file  # noqa: E402
from textfit.predict.ray_engine import actors_that_fit, predict_with_ray, require_ray  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting it takes seconds): 2 actors x 1 CPU, and one CPU to read."""
    from textfit.predict.ray_engine import _init

    _init(ray, None, 3)  # textfit's own local start: loopback-only proxying, nothing leaves the machine
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def messages() -> pd.DataFrame:
    """The embedded sample three times over (1,320 rows), with a few empty texts."""
    texts = pd.read_csv(SAMPLE_DATA, dtype=str)["text"]
    frame = pd.DataFrame({"text": pd.concat([texts] * 3, ignore_index=True)})
    frame.loc[[5, 700, 1319], "text"] = ["", "   ", ""]
    return frame


def plain(model_dir, frame: pd.DataFrame, top_k: int) -> pd.DataFrame:
    return BatchPredictor(model_dir, top_k=top_k, threads=1)(frame)


def test_two_actors_equal_the_plain_path_row_for_row(local_ray, tiny_model_dir, messages, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for part, start in enumerate(range(0, len(messages), 500)):  # three files: the ids run across them
        messages.iloc[start : start + 500].to_csv(folder / f"part-{part}.csv", index=False)
    output = tmp_path / "labeled.csv"

    summary = predict_with_ray(tiny_model_dir, folder, output, actors=2, cpus_per_actor=1, top_k=2, batch_rows=128)

    got = pd.read_csv(
        output,
        dtype={"text": str, "label": str, "label_2": str},
        keep_default_na=False,
        na_values={"score": [""], "score_2": [""]},
    )
    assert list(got.columns) == ["row_id", "text", "label", "score", "label_2", "score_2"]
    assert got["row_id"].tolist() == list(range(len(messages)))  # each row once, in the input's order
    want = plain(tiny_model_dir, messages, top_k=2)
    assert got["text"].tolist() == want["text"].tolist()
    assert got["label"].tolist() == want["label"].tolist()
    assert got["label_2"].tolist() == want["label_2"].tolist()
    assert np.allclose(got["score"], want["score"], atol=1e-5, equal_nan=True)
    assert np.allclose(got["score_2"], want["score_2"], atol=1e-5, equal_nan=True)
    assert (got.loc[[5, 700, 1319], "label"] == "").all() and got.loc[[5, 700, 1319], "score"].isna().all()
    assert summary.rows == len(messages) and summary.empty_rows == 3
    assert summary.label_counts == want["label"][want["label"] != ""].value_counts().to_dict()
    assert not output.with_name(output.name + ".partial").exists()


def test_an_id_column_is_kept_and_parquet_in_and_out_leaving_nothing_behind(
    local_ray, tiny_model_dir, messages, tmp_path
):
    frame = messages.iloc[:300].assign(id=[f"m{i:04d}" for i in range(300)])[["id", "text"]]
    frame = frame.iloc[::-1].reset_index(drop=True)  # ids not in order: they are the input's, not positions
    source = tmp_path / "messages.parquet"
    frame.to_parquet(source, row_group_size=64)
    output = tmp_path / "labeled.parquet"

    summary = predict_with_ray(tiny_model_dir, source, output, batch_rows=50)  # actors: as many as fit

    assert sorted(p.name for p in tmp_path.iterdir()) == ["labeled.parquet", "messages.parquet"]  # no .partial
    got = pd.read_parquet(output)
    assert list(got.columns) == ["id", "text", "label", "score"]
    assert got["id"].tolist() == frame["id"].tolist()
    want = plain(tiny_model_dir, frame, top_k=1)
    assert got["label"].tolist() == want["label"].tolist()
    assert np.allclose(got["score"], want["score"], atol=1e-5, equal_nan=True)
    assert summary.rows == 300


def test_a_multi_label_model_answers_the_same_label_sets_on_ray(local_ray, tiny_bert, tmp_path):
    from support.multilabel import rows, write_joined
    from textfit import TrainConfig, train

    data = write_joined(tmp_path / "tickets.csv")
    config = TrainConfig(data=str(data), model=str(tiny_bert), epochs=2, learning_rate=1e-3, checkpoint_minutes=None)
    model = train(config, tmp_path / "model").folder
    frame = pd.DataFrame({"text": [text for text, _ in rows(300, seed=1)]})
    frame.to_csv(tmp_path / "in.csv", index=False)

    predict_with_ray(model, tmp_path / "in.csv", tmp_path / "out.csv", actors=2, cpus_per_actor=1, batch_rows=64)

    got = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    want = plain(model, frame, top_k=1)
    assert got["label"].tolist() == want["label"].tolist()  # every label at or above its threshold, joined by ';'
    assert got["score"].tolist() == want["score"].tolist()
    assert any(";" in labels for labels in got["label"])


def test_actors_that_leave_no_cpu_to_read_are_refused(local_ray, tiny_model_dir, tmp_path):
    source = tmp_path / "messages.csv"
    pd.DataFrame({"text": ["Oil falls"]}).to_csv(source, index=False)
    with pytest.raises(TextfitError, match="has 3 CPUs; 3 actors x 1 CPUs and one CPU to read the input need 4"):
        predict_with_ray(tiny_model_dir, source, tmp_path / "out.csv", actors=3)


class FakeCluster:
    def __init__(self, cpus: int):
        self.cpus = cpus

    def cluster_resources(self) -> dict:
        return {"CPU": float(self.cpus)}


def test_actors_by_default_fill_the_cluster_but_one_cpu_to_read():
    assert actors_that_fit(FakeCluster(17), cpus_per_actor=2) == 8  # the docs' example: 8 actors x 2 CPUs
    assert actors_that_fit(FakeCluster(2), cpus_per_actor=1) == 1  # a 2-CPU head runs one actor
    assert actors_that_fit(FakeCluster(1), cpus_per_actor=1) == 1  # too small: _check_cpus says so


def test_mistakes_are_named_before_ray_starts(tiny_model_dir, tmp_path):
    source = tmp_path / "messages.csv"
    pd.DataFrame({"text": ["Oil falls"], "label": ["x"], "predicted_label": ["x"]}).to_csv(source, index=False)
    with pytest.raises(DataError, match="already has column"):
        predict_with_ray(tiny_model_dir, source, tmp_path / "out.csv")
    with pytest.raises(DataError, match="no column 'body'"):
        predict_with_ray(tiny_model_dir, source, tmp_path / "out.csv", text_column="body")
    (tmp_path / "messages.jsonl").write_text('{"text": "Oil falls"}\n')
    with pytest.raises(DataError, match="Ray engine reads CSV, TSV or Parquet"):
        predict_with_ray(tiny_model_dir, tmp_path / "messages.jsonl", tmp_path / "out.csv")
    with pytest.raises(TextfitError, match="not a trained model folder"):
        predict_with_ray(tmp_path, source, tmp_path / "out.csv")
    with pytest.raises(TextfitError, match="actors must be at least 1"):
        predict_with_ray(tiny_model_dir, source, tmp_path / "out.csv", actors=0)


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(TextfitError, match=r"pip install 'textfit\[ray\]'"):
        require_ray()


def test_a_killed_ray_job_resumes_keeping_the_rows_it_wrote(local_ray, tiny_model_dir, messages, tmp_path, monkeypatch):
    suffix = ".csv"  # a block a file: the job stops part-way (Ray reads small Parquet files as one block)
    from textfit.predict import ray_engine

    folder = tmp_path / "in"
    folder.mkdir()
    for part, start in enumerate(range(0, len(messages), 500)):  # three files; the job stops part-way
        chunk = messages.iloc[start : start + 500]
        chunk.to_csv(folder / f"part-{part}.csv", index=False)
    # The reference is the plain path (Ray equals it row for row: test_two_actors_equal_the_plain_path_row_for_row).
    whole = predict_file(tiny_model_dir, folder, tmp_path / f"whole{suffix}", batch_rows=100)
    output = tmp_path / f"labeled{suffix}"
    original, written = ray_engine.write_sidecar, []

    def killed_after_two_blocks(sidecar, state):
        if len(written) == 3:  # the record before the first block, and after two: killed at the third
            raise KeyboardInterrupt
        written.append(state["rows"])
        original(sidecar, state)

    monkeypatch.setattr(ray_engine, "write_sidecar", killed_after_two_blocks)
    with pytest.raises(KeyboardInterrupt):
        predict_with_ray(tiny_model_dir, folder, output, actors=2, batch_rows=100)
    monkeypatch.setattr(ray_engine, "write_sidecar", original)
    done = written[-1]
    assert 0 < done < len(messages) and not output.exists(), written
    with pytest.raises(TextfitError, match="unfinished job.*--resume"):
        predict_with_ray(tiny_model_dir, folder, output, actors=2)

    summary = predict_with_ray(tiny_model_dir, folder, output, actors=2, batch_rows=100, resume=True)

    assert summary.resumed_rows == done and summary.rows == len(messages) == whole.rows
    read = pd.read_csv if suffix == ".csv" else pd.read_parquet
    got, want = read(output), read(tmp_path / f"whole{suffix}")
    assert got["row_id"].tolist() == list(range(len(messages)))  # every row once, in order
    assert got["label"].fillna("").tolist() == want["label"].fillna("").tolist()
    assert summary.label_counts == whole.label_counts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", f"labeled{suffix}", f"whole{suffix}"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_resumed_job_reads_the_input_less_the_rows_written(local_ray, messages, tmp_path, suffix, monkeypatch):
    from textfit.data.streaming import Source
    from textfit.predict.ray_engine import _read

    folder = tmp_path / "in"
    folder.mkdir()
    for part, start in enumerate(range(0, len(messages), 500)):
        chunk = messages.iloc[start : start + 500]
        if suffix == ".csv":
            chunk.to_csv(folder / f"part-{part}{suffix}", index=False)
        else:
            chunk.to_parquet(folder / f"part-{part}{suffix}")
    kind = suffix[1:]
    monkeypatch.setattr(ray.data.DataContext.get_current().execution_options, "preserve_order", True)  # as the job does
    for skip in (0, 499, 500, 700, 1319):
        rest = _read(ray, Source(folder), kind, ["text"], skip=skip).to_pandas()
        assert rest["text"].fillna("").tolist() == messages["text"].iloc[skip:].fillna("").tolist(), skip
    with pytest.raises(TextfitError, match="fewer rows than the job had written"):
        _read(ray, Source(folder), kind, ["text"], skip=len(messages))
