"""GoEmotions (several labels per text): textfit with its defaults against a one-vs-rest TF-IDF
baseline, on the dev part, beside the paper's BERT-base.

    .venv/bin/python benchmarks/goemotions.py [--train-rows 6000] [--skip-textfit | --skip-baseline]

Data: ../shared/data/goemotions/ (its README: 43,410 train and 5,426 dev Reddit comments, 28
labels including neutral, names joined by ';'). textfit trains on the train part (or a seeded
sample of --train-rows of it) with the defaults: it holds out 20 % to choose the epoch and each
label's threshold, then the final fit learns from the rest too. Both are scored on the whole dev
part: macro-F1 (every label counts equally, the paper's figure), micro-F1, training time.

The TF-IDF baseline: word 1-2-grams and character 2-5-grams, one logistic regression per label,
thresholds chosen per label on the same 20 % hold-out as textfit's (model/thresholds.py), then
refitted on all the training rows. Paper (Demszky et al., ACL 2020, table 4): BERT-base, trained
on the whole train part, macro-F1 0.46 on the test split (not shipped here); dev and test behave
alike in the paper, but the rows are not the same.

Times are wall-clock on this machine; with a load above its cores they say "busy" beside them."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SEED, SHARED  # noqa: E402

GOEMOTIONS = SHARED / "goemotions"
PAPER_MACRO_F1 = 0.46


def busy() -> bool:
    return os.getloadavg()[0] > (os.cpu_count() or 1)


def timed(seconds: float, was_busy: bool) -> str:
    return f"{seconds:,.0f} s" + (" (busy)" if was_busy else "")


def load(train_rows: int | None):
    from textfit.data.labeled import load_data, sample

    names = (GOEMOTIONS / "labels.txt").read_text(encoding="utf-8").split()
    train = load_data(GOEMOTIONS / "train.csv", label_names=names)
    dev = load_data(GOEMOTIONS / "dev.csv", label_names=names, multi_label=True)
    if train_rows and train_rows < len(train):
        train = sample(train, train_rows, SEED)
    return train, dev


def scores_of(answers: np.ndarray, dev) -> dict:
    from textfit.model.multilabel_report import multilabel_metrics

    return multilabel_metrics(dev.label_matrix(), answers)


def tfidf_baseline(train, dev) -> tuple[dict, float]:
    """One-vs-rest logistic regressions on TF-IDF n-grams, thresholds per label from a 20 % hold-out."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from textfit.data.labeled import stratified_split
    from textfit.model import thresholds

    started = time.perf_counter()

    def fit(data):
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True, max_features=200_000
        )
        features = hstack([words.fit_transform(data.texts), chars.fit_transform(data.texts)]).tocsr()
        model = OneVsRestClassifier(LogisticRegression(C=4.0, max_iter=1000), n_jobs=1)
        model.fit(features, data.label_matrix().astype(int))
        return lambda texts: model.predict_proba(hstack([words.transform(texts), chars.transform(texts)]).tocsr())

    part, held_out = stratified_split(train, 0.2, SEED)
    chosen = thresholds.choose(fit(part)(held_out.texts), held_out.label_matrix())
    predict = fit(train)
    answers = (predict(dev.texts) >= chosen[None, :]).astype(int)
    return scores_of(answers, dev), time.perf_counter() - started


def textfit_run(train, dev, time_budget: float | None = None) -> tuple[dict, float, dict]:
    from textfit import Classifier, TrainConfig
    from textfit import train as run_training

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "train.csv"
        import pandas as pd

        pd.DataFrame(
            {"text": train.texts, "labels": [";".join(train.label_names[i] for i in s) for s in train.labels]}
        ).to_csv(data, index=False)
        result = run_training(
            TrainConfig(data=str(data), checkpoint_minutes=None, time_budget=time_budget), Path(folder) / "model"
        )
        classifier = Classifier.load(result.folder)
        names = classifier.label_names
        order = [names.index(n) for n in dev.label_names]
        scores = classifier.predict_proba(dev.texts)[:, order]
        answers = (scores >= classifier.thresholds[order][None, :]).astype(int)
        record = result.record
        return scores_of(answers, dev), record["timings"]["total_s"], record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-rows", type=int, default=None, help="a seeded sample of the train part (default: all)")
    parser.add_argument("--skip-textfit", action="store_true", help="the TF-IDF baseline alone")
    parser.add_argument("--skip-baseline", action="store_true", help="textfit alone (the baseline takes minutes)")
    parser.add_argument("--time-budget", type=float, default=None, help="textfit's --time-budget in minutes")
    args = parser.parse_args()
    if not (GOEMOTIONS / "train.csv").is_file():
        sys.exit(f"GoEmotions not found in {GOEMOTIONS}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # textfit's progress, on stderr
    train, dev = load(args.train_rows)
    rows = []
    if not args.skip_baseline:
        was_busy = busy()
        metrics, seconds = tfidf_baseline(train, dev)
        rows.append((f"TF-IDF one-vs-rest, {len(train):,} train rows", metrics, timed(seconds, was_busy or busy())))
        print("TF-IDF:", {k: round(v, 4) for k, v in metrics.items()}, rows[-1][2], flush=True)  # before the long part
    if not args.skip_textfit:
        was_busy = busy()
        metrics, seconds, record = textfit_run(train, dev, args.time_budget)
        fit = "final fit on all" if record["final_fit"]["done"] else "no final fit"
        budget = f", --time-budget {args.time_budget:g}" if args.time_budget else ""
        how = f"textfit defaults{budget} ({record['base_model']}, {record['training']['steps']} steps, {fit})"
        rows.append((f"{how}, {len(train):,} train rows", metrics, timed(seconds, was_busy or busy())))
        print_held_out_run(record)
    print(f"\nGoEmotions dev part: {len(dev):,} comments, {len(dev.label_names)} labels\n")
    print(f"| {'run':<90} | macro-F1 | micro-F1 | training time |")
    print(f"|{'-' * 92}|----------|----------|---------------|")
    for name, m, seconds in rows:
        print(f"| {name:<90} | {m['macro_f1']:8.3f} | {m['micro_f1']:8.3f} | {seconds:>13} |")
    paper = "BERT-base (paper, whole train part; test split)"
    print(f"| {paper:<90} | {PAPER_MACRO_F1:8.2f} | {'-':>8} | {'-':>13} |")
    out = ROOT / "benchmarks" / "results" / f"goemotions-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([{"run": name, "metrics": m, "time": t} for name, m, t in rows], indent=1))
    print(f"written to {out}")


def print_held_out_run(record: dict) -> None:
    """Each evaluation of the hold-out run (which epoch early stopping kept): whether the epochs were enough."""
    for entry in record["history"]:
        figures = ", ".join(f"{k} {entry[k]:.3f}" for k in ("macro_f1", "micro_f1") if k in entry)
        print(f"  epoch {entry['epoch']:g}: {figures}{' (kept)' if entry.get('best') else ''}", flush=True)
    print(f"  hold-out run: {record['status']}, {record['training']['epochs_planned']} epochs planned", flush=True)


if __name__ == "__main__":
    main()
