"""A model folder and checkpoints written before the move into subpackages (tests/fixtures/
before-the-move, made by its make.py at commit 1aa821c) still load, predict and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import SAMPLE_DATA
from textfit.training import checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "before-the-move"
OLD_PATHS = {"/tmp/old/src/textfit/sample_data/finance_topics.csv": "data", "/tmp/oldfix/out/base": "base"}


def test_a_model_folder_saved_before_the_move_loads_and_predicts():
    classifier = Classifier.load(FIXTURE / "model")
    assert len(classifier.label_names) == 20 and classifier.lexical is not None and classifier.calibration
    answers = classifier.top_k(["Acme Corp announces new CEO", "Oil falls"], k=2)
    assert [len(a) for a in answers] == [2, 2] and all(a[0]["label"] in classifier.label_names for a in answers)
    assert classifier.record["status"] == "interrupted"


def test_checkpoints_written_before_the_move_resume_to_the_end(tmp_path):
    copy = tmp_path / "before"
    shutil.copytree(FIXTURE, copy)
    run = copy / "model.checkpoints" / "run.json"
    here = {"data": str(SAMPLE_DATA), "base": str(copy / "base")}  # the same files, where they are now
    text = run.read_text()
    for old, which in OLD_PATHS.items():
        text = text.replace(json.dumps(old), json.dumps(here[which]))
    run.write_text(text)
    saved = checkpoint.latest(copy / "model")
    assert saved is not None and saved["step"] == 3

    result = train(TrainConfig.from_file(run), copy / "model", resume=True)

    assert result.record["resumed"][0]["from_step"] == 3 and result.record["status"] != "interrupted"
    assert not checkpoint.folder_for(copy / "model").exists()
