"""Fine-tuning on texts longer than one window: one example a text, its loss on its pooled logits."""

from __future__ import annotations

import pytest

from support.long_texts import long_text
from support.models import build_tiny_bert
from textfit.model.base_models import load_tokenizer
from textfit.model.windows import Windows
from textfit.training.whole_texts import WholeTextCollator, parts, pooled_loss, text_examples, tokens_in


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("default")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    folder = build_tiny_bert(tmp_path_factory.mktemp("whole-texts-bert"))
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    model.eval()  # no dropout: the same windows give the same logits, run whole or in parts
    return model


def test_a_long_text_is_one_example_holding_all_its_windows(tokenizer):
    examples = text_examples(tokenizer, ["short one", long_text("gold", 6)], [0, 1], 32, Windows())
    short, long = examples
    assert short["labels"] == 0 and isinstance(short["input_ids"][0], int)
    assert long["labels"] == 1 and len(long["input_ids"]) > 3 and len(long["attention_mask"]) == len(long["input_ids"])
    assert all(len(window) <= 32 for window in long["input_ids"])
    assert tokenizer.decode(long["input_ids"][-1]).split()[-2] == "gold"  # the last window holds the text's end
    assert tokens_in(long) == sum(len(window) for window in long["input_ids"])
    capped = text_examples(tokenizer, [long_text("gold", 6)], [1], 32, Windows(max_windows=2))
    assert len(capped[0]["input_ids"]) == 2
    cut = text_examples(tokenizer, [long_text("gold", 6)], [1], 32, Windows(max_windows=1))
    assert isinstance(cut[0]["input_ids"][0], int) and len(cut[0]["input_ids"]) == 32


def test_a_batch_of_short_texts_is_padded_as_before_and_one_with_a_long_text_has_a_windows_axis(tokenizer):
    collate = WholeTextCollator(tokenizer)
    short = text_examples(tokenizer, ["short one", "a slightly longer short one"], [0, 1], 32, Windows())
    flat = collate(short)
    assert flat["input_ids"].shape == (2, 8) and flat["labels"].tolist() == [0, 1]
    mixed = collate(short + text_examples(tokenizer, [long_text("gold", 6)], [1], 32, Windows()))
    texts, windows, width = mixed["input_ids"].shape
    assert texts == 3 and windows > 3 and width == 32
    present = mixed["attention_mask"][:, :, 0].sum(dim=1).tolist()
    assert present == [1, 1, windows]  # the short texts' other windows are empty padding
    assert mixed["input_ids"][0, 0, : len(short[0]["input_ids"])].tolist() == short[0]["input_ids"]


def test_a_batch_is_cut_into_parts_of_whole_texts_that_share_the_loss_by_their_texts(tokenizer):
    collate = WholeTextCollator(tokenizer)
    examples = text_examples(
        tokenizer,
        ["short one", long_text("gold", 6), "another short", long_text("tennis", 3)],
        [0, 1, 0, 1],
        32,
        Windows(),
    )
    batch = collate(examples)
    windows = batch["attention_mask"][:, :, 0].sum(dim=1).tolist()
    cut = parts(batch, max_rows=3)
    assert sum(share for _, share in cut) == pytest.approx(1.0)
    for part, share in cut:
        rows = part["attention_mask"][:, :, 0].sum().item()
        assert rows <= 3 or len(part["labels"]) == 1  # a text longer than the budget is a part of its own
        assert share == len(part["labels"]) / 4
    assert sorted(sum((part["labels"].tolist() for part, _ in cut), [])) == [0, 0, 1, 1]
    assert max(windows) > 3 and len(cut) == 3
    flat = collate(examples[:1] + examples[2:3])
    assert parts(flat, max_rows=1) == [(flat, 1.0)]


def test_a_long_texts_loss_is_taken_on_the_mean_of_its_windows_logits(tokenizer, tiny_model):
    import torch
    import torch.nn.functional as F

    examples = text_examples(tokenizer, [long_text("gold", 4), "short one"], [1, 0], 32, Windows())
    batch = WholeTextCollator(tokenizer)(examples)
    with torch.no_grad():
        loss = pooled_loss(tiny_model, batch, multi_label=False)
        long_windows = torch.tensor(examples[0]["input_ids"])
        first = tiny_model(input_ids=long_windows, attention_mask=torch.ones_like(long_windows)).logits.mean(dim=0)
        short = torch.tensor([examples[1]["input_ids"]])
        second = tiny_model(input_ids=short, attention_mask=torch.ones_like(short)).logits[0]
    expected = F.cross_entropy(torch.stack([first, second]), torch.tensor([1, 0]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_batch_run_in_parts_gives_the_gradient_of_the_whole_batch(tokenizer, tiny_model):
    texts = [long_text("gold", 4), "short one", long_text("tennis match", 3), "silver"]
    batch = WholeTextCollator(tokenizer)(text_examples(tokenizer, texts, [1, 0, 0, 1], 32, Windows()))

    def gradient(max_rows: int):
        tiny_model.zero_grad()
        for part, share in parts(batch, max_rows):
            (pooled_loss(tiny_model, part, multi_label=False) * share).backward()
        return tiny_model.classifier.weight.grad.clone()

    whole, in_parts = gradient(max_rows=100), gradient(max_rows=3)
    assert len(parts(batch, 3)) > 1 and whole.abs().sum() > 0
    assert (whole - in_parts).abs().max().item() < 1e-6
