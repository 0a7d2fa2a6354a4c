"""Texts longer than the model reads: windows (model/windows.py) against cutting at max_length.

    .venv/bin/python benchmarks/long_texts.py [--only preamble,bbc] [--train 600] [--test 300] [--epochs 3]

preamble  Finance-topic messages (the benchmark split of ../shared/data/twitter-financial-news-topic)
          placed after a fixed ~330-word preamble (an email header and a disclaimer), against the bare
          messages: same settings (the default encoder and max_length rule, --epochs, n-grams off so the
          encoder is what is tested, no final fit). Rows: bare; with the preamble's lines kept
          (--keep-boilerplate), cut at max_length (max_windows 1: the encoder sees only the preamble)
          and read in windows; with the defaults (the preamble's lines found in every text under
          every label are boilerplate, removed: data/boilerplate.py). Goal: 97 % of the bare
          messages' accuracy.
bbc       BBC News full text (../shared/data/bbc-news/train.csv; evaluation use only, never committed),
          a stratified 80/20 split of that file (seed 7), sampled to --train / --test articles: a model
          trained on windows against one trained on the first max_length tokens, each read both ways.

Every windowed model is also read with its windows pooled by their maximum instead of their mean
(`pool`), which chooses the pooling. Accuracy is the machine's no matter how busy it is; the seconds
are this machine's at that moment (say "busy" when it is shared). Appends to benchmarks/results/long_texts.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import saved
from common import SEED, SHARED, TOPIC, split, split_labeled

BBC = SHARED / "bbc-news" / "train.csv"

# An email's header and its legal disclaimer: the same 330 words before every message.
PREAMBLE = """From: Market Desk Notifications <notifications@markets-desk.example.com>
To: Research Distribution List <research-all@client.example.com>
Cc: Compliance Monitoring <compliance@markets-desk.example.com>
Date: Monday, 7 December 2026 08:15 UTC
Subject: Automated forwarding of a monitored social media message
Message-ID: <20261207081500.4471@markets-desk.example.com>
Classification: Internal use only. Do not forward outside the organisation.

This message was forwarded to you automatically because you subscribe to the market monitoring
service. The item below was captured from a public source and has not been reviewed, edited or
verified by our research staff. Please read the following notice before acting on it.

IMPORTANT NOTICE: This communication is provided for information purposes only and does not
constitute an offer, a solicitation of an offer, or a recommendation to buy or sell any security,
commodity, currency or other financial instrument, or to adopt any investment strategy. Nothing in
this communication is investment, legal, tax or accounting advice. The information contained herein
has been obtained from sources believed to be reliable, but its accuracy, completeness and
timeliness are not guaranteed, and it may be changed without notice. Past performance is not a
guide to future results; the value of investments and the income from them can fall as well as
rise, and you may not get back the amount you invested. Any opinions expressed are those of the
original author and not necessarily those of the firm or any of its affiliates.

This email and any attachments are confidential and may be legally privileged. They are intended
solely for the use of the individual or entity to which they are addressed. If you are not the
intended recipient, please notify the sender immediately by replying to this message and delete it
from your system; you must not copy, distribute, disclose or otherwise use any part of it. Email
transmission cannot be guaranteed to be secure or free of errors or viruses. The sender therefore
accepts no liability for any loss or damage arising from its contents or from its transmission.
Communications with the firm may be recorded and monitored for regulatory, compliance and training
purposes, in accordance with applicable law. Registered office: 1 Example Square, London. Registered
in England and Wales under company number 01234567. Authorised and regulated by the relevant
financial authority.

Forwarded message follows:
"""


def with_preamble(data):
    from textfit.data.labeled import LabeledTexts

    return LabeledTexts([f"{PREAMBLE}\n{text}" for text in data.texts], data.labels, data.label_names, "preamble")


def sample(data, size: int | None, labels: int | None = None):
    """A stratified sample of `size` texts of `data`; with `labels`, of its most frequent labels only."""
    from textfit.data.labeled import LabeledTexts, stratified_split

    if labels:
        counts = np.bincount(data.labels, minlength=len(data.label_names))
        kept = sorted(np.argsort(-counts, kind="stable")[:labels])
        index = {int(old): new for new, old in enumerate(kept)}
        rows = [i for i, label in enumerate(data.labels) if label in index]
        names = [data.label_names[i] for i in kept]
        data = LabeledTexts([data.texts[i] for i in rows], [index[data.labels[i]] for i in rows], names, data.source)
    if not size or size >= len(data):
        return data
    return stratified_split(data, size / len(data), seed=SEED)[1]


def scores(classifier, data, **windows) -> dict:
    """Accuracy and macro-F1 of the encoder alone on `data`, read with the windows given (their mean,
    and where windows are read, their max)."""
    from textfit.model.evaluate import compute_metrics
    from textfit.model.windows import Windows

    kept = classifier.windows
    classifier.windows = Windows(**{"max_windows": kept.max_windows, "pooling": "mean", **windows})
    started = time.perf_counter()
    predictions = classifier.encoder_proba(data.texts).argmax(axis=1)
    seconds = time.perf_counter() - started
    classifier.windows = kept
    return {**compute_metrics(data.labels, predictions), "predict_s": round(seconds, 1)}


def train_row(name: str, config, train_data, test_data, folder: Path, reads: dict[str, dict]) -> list[dict]:
    """Train on `train_data` as `config` says (its best epoch chosen on a stratified 15 % of it, so
    `test_data` is seen only here); one row per way of reading `test_data` (`reads`)."""
    from textfit.data.labeled import stratified_split
    from textfit.model.windows import window_counts
    from textfit.training.setup import token_lengths
    from textfit.training.train import train

    started = time.perf_counter()
    fit, validation = stratified_split(train_data, 0.15, seed=SEED)
    result = train(config, folder / name.replace(" ", "-"), data=(fit, validation))
    train_s = round(time.perf_counter() - started)
    classifier, record = result.classifier, result.record
    counts = window_counts(
        classifier.tokenizer, token_lengths(classifier.tokenizer, test_data.texts), record["max_length"]
    )
    rows = []
    for read, windows in reads.items():
        measured = scores(classifier, test_data, **windows)
        rows.append(
            {
                "data": name,
                "trained": f"max_windows {config.max_windows}"
                + ("" if config.remove_boilerplate else ", boilerplate kept"),
                "read": read,
                "train": len(train_data),
                "test": len(test_data),
                "max_length": record["max_length"],
                "test_longer_than_one_window": int((counts > 1).sum()),
                "accuracy": round(measured["accuracy"], 4),
                "macro_f1": round(measured["macro_f1"], 4),
                "train_s": train_s,
                "predict_s": measured["predict_s"],
            }
        )
    return rows


WINDOWED = {"windows, mean": {}, "windows, max": {"pooling": "max"}, "cut at max_length": {"max_windows": 1}}
CUT = {"cut at max_length": {"max_windows": 1}, "windows, mean": {"max_windows": 16}}


def preamble_rows(config, args, folder: Path) -> list[dict]:
    pool, held_out = split(str(TOPIC))
    train_data, test_data = sample(pool, args.train, args.labels), sample(held_out, args.test, args.labels)
    rows = train_row("bare messages", config, train_data, test_data, folder, {"one window": {}})
    kept = replace(config, remove_boilerplate=False)  # what windows alone do with the preamble in every text
    rows += train_row(
        "after preamble",
        replace(kept, max_windows=1),
        with_preamble(train_data),
        with_preamble(test_data),
        folder,
        {"cut at max_length": {"max_windows": 1}},
    )
    rows += train_row("after preamble", kept, with_preamble(train_data), with_preamble(test_data), folder, WINDOWED)
    rows += train_row(  # the defaults: the preamble's lines are boilerplate (data/boilerplate.py)
        "after preamble", config, with_preamble(train_data), with_preamble(test_data), folder, {"windows, mean": {}}
    )
    bare = rows[0]["accuracy"]
    for row in rows:
        row["of_bare"] = round(row["accuracy"] / bare, 3) if bare else None
    return rows


def bbc_rows(config, args, folder: Path) -> list[dict]:
    from textfit.data.labeled import load_data

    pool, held_out = split_labeled(load_data(str(BBC)))
    train_data, test_data = sample(pool, args.train), sample(held_out, args.test)
    rows = train_row("BBC News", replace(config, max_windows=1), train_data, test_data, folder, CUT)
    rows += train_row("BBC News", config, train_data, test_data, folder, WINDOWED)
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'data':16} {'trained':>32} {'read':>18} {'train':>6} {'test':>5} {'len':>4} {'long':>5} "
        f"{'accuracy':>8} {'macro-F1':>8} {'of bare':>7} {'train s':>7} {'pred s':>6}"
    )
    for r in rows:
        of_bare = f"{r['of_bare']:.3f}" if r.get("of_bare") is not None else "–"
        print(
            f"{r['data']:16} {r['trained']:>32} {r['read']:>18} {r['train']:>6} {r['test']:>5} {r['max_length']:>4} "
            f"{r['test_longer_than_one_window']:>5} {r['accuracy']:>8.4f} {r['macro_f1']:>8.4f} {of_bare:>7} "
            f"{r['train_s']:>7} {r['predict_s']:>6}",
            flush=True,
        )


def main() -> None:
    from textfit.config import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="preamble,bbc")
    parser.add_argument("--train", type=int, default=600, help="training texts (a stratified sample)")
    parser.add_argument("--test", type=int, default=300, help="held-out texts (a stratified sample)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--labels", type=int, default=None, help="finance topics: only the N most frequent")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = TrainConfig(data="unused", epochs=args.epochs, lexical_weight=0, final_fit=False, strategy="finetune")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for which in args.only.split(","):
            data = {"preamble": TOPIC, "bbc": BBC}[which]
            if not data.is_file():
                print(f"skipped {which}: {data} is not here", file=sys.stderr)
                continue
            rows += (preamble_rows if which == "preamble" else bbc_rows)(config, args, Path(tmp))
            print_table(rows)
    saved.append("long_texts", [{**row, "settings": vars(args)} for row in rows])
    print("\ngoal: windows after the preamble >= 0.97 of the bare messages' accuracy", flush=True)


if __name__ == "__main__":
    main()
