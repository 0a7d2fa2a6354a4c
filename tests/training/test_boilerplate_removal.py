"""A run removes the lines its training texts share under every label, in the saved tokenizer: every
reader of the folder (Classifier, plain transformers.pipeline) then reads an email as its message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textfit import Classifier, TrainConfig, train
from textfit.data.labeled import LabeledTexts

HEADER = "From: Market Desk Notifications <desk@example.com>"
DISCLAIMER = "This email and any attachments are confidential and may be legally privileged."
MESSAGES = {
    "metals": ["gold prices rose again", "copper climbs on demand", "silver gains as dollar slips"],
    "sport": ["the team won the final", "striker signs a new deal", "tennis star reaches semis"],
}


def email(message: str) -> str:
    return f"{HEADER}\n{DISCLAIMER}\n{message}"


def emails(repeats: int) -> LabeledTexts:
    texts, labels = [], []
    for label, messages in enumerate(MESSAGES.values()):
        for i in range(repeats):
            texts.append(email(f"{messages[i % 3]} {i}"))
            labels.append(label)
    return LabeledTexts(texts, labels, list(MESSAGES), "emails")


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    config = TrainConfig(data="unused", model=str(tiny_bert), strategy="finetune", epochs=1, lexical_weight=0)
    return train(config, tmp_path_factory.mktemp("boilerplate") / "model", data=(emails(8), emails(2)))


def test_the_record_and_card_name_the_lines_removed(trained):
    record = json.loads((trained.folder / "textfit.json").read_text())
    assert record["boilerplate"] == {"lines_removed": 2, "train_texts_with_them": 16, "lines": [DISCLAIMER, HEADER]}
    assert record["config"]["remove_boilerplate"] is True
    card = (trained.folder / "README.md").read_text()
    assert "removes 2 line(s)" in card and DISCLAIMER in card


def test_every_reader_of_the_folder_reads_an_email_as_its_message(trained):
    from transformers import pipeline

    classifier = Classifier.load(trained.folder)
    tokenizer = classifier.tokenizer
    assert tokenizer(email("gold prices rose"))["input_ids"] == tokenizer("gold prices rose")["input_ids"]
    np.testing.assert_allclose(
        classifier.predict_proba([email("gold prices rose")]), classifier.predict_proba(["gold prices rose"])
    )
    plain = pipeline("text-classification", model=str(trained.folder), top_k=None)
    with_lines, without = plain([email("the team won"), "the team won"])
    assert {s["label"]: round(s["score"], 5) for s in with_lines} == {s["label"]: round(s["score"], 5) for s in without}


def test_keep_boilerplate_reads_every_line(tiny_bert, tmp_path):
    config = TrainConfig(
        data="unused", model=str(tiny_bert), strategy="finetune", epochs=1, lexical_weight=0, remove_boilerplate=False
    )
    result = train(config, tmp_path / "model", data=(emails(8), emails(2)))
    assert "boilerplate" not in result.record
    tokenizer = Classifier.load(result.folder).tokenizer
    assert tokenizer(email("gold prices rose"))["input_ids"] != tokenizer("gold prices rose")["input_ids"]
