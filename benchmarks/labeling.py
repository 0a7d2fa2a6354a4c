"""Label less (issue 14): zero-shot suggestions, the labeling order, the audit and the re-rank time,
on the finance topics with the benchmark's split (stratified 80/20, seed 7; common.split).

    .venv/bin/python benchmarks/labeling.py [DATA_CSV] [--seeds 3]

Everything runs on the embedded MiniLM's frozen vectors, embedded once and cached on disk
(textfit.labeling.vectors: a few minutes on 2 cores the first time). The simulated person answers
with the true labels of the 80 % pool; accuracy is measured on the 20 % held out.
1. zero-shot from the 20 label names (prompt templates compared; with and without descriptions):
   suggestions are made for all the file's texts (no labels used), scored on the held-out rows;
2. learning curves of the fast head (frozen vectors + logistic regression) after 40/80/160/320
   labels: one random label per class to start, then 20 at a time chosen at random, by plain margin
   sampling, or by textfit's session (uncertain x representative, diverse); and textfit's session
   from the names alone (no seed labels); mean of --seeds seeds;
3. audit: 10 % of 2,000 pool messages get a random wrong label; precision and recall of the 200
   most suspicious rows;
4. time to re-rank after a label (refit + next batch of 20) in a session over all 16,990 messages;
5. with --only ...,trained: `textfit train` on the labels the random and textfit orders chose after
   40/80/160/320 (the issue's goal: textfit's order at 160 as accurate as random at 320)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from common import TOPIC, one_label_a_topic, split

DESCRIPTIONS = {
    "Analyst Update": "An analyst upgrades, downgrades or sets a price target on a stock.",
    "Fed | Central Banks": "The Federal Reserve or another central bank on interest rates and monetary policy.",
    "Company | Product News": "A company announces a product, a contract, a partnership or other business news.",
    "Treasuries | Corporate Debt": "Bonds, treasury yields, credit ratings and corporate debt offerings.",
    "Dividend": "A company declares, raises or cuts its dividend payout to shareholders.",
    "Earnings": "A company reports quarterly earnings, revenue, profit or guidance.",
    "Energy | Oil": "Oil, natural gas and energy prices, OPEC and energy companies.",
    "Financials": "Banks, insurers and other financial institutions and their business.",
    "Currencies": "Exchange rates, the dollar, the euro, the yen, bitcoin and other currencies.",
    "General News | Opinion": "General news, commentary and opinion not about a specific market.",
    "Gold | Metals | Materials": "Gold, silver, copper, steel and other metals and raw materials.",
    "IPO": "A company goes public in an initial public offering or a stock market listing.",
    "Legal | Regulation": "Lawsuits, regulators, fines, investigations and new rules.",
    "M&A | Investments": "Mergers, acquisitions, takeovers, stake purchases and investments in companies.",
    "Macro": "The economy: GDP, inflation, jobs, unemployment and trade data.",
    "Markets": "Stock markets and indices overall: the S&P 500, the Dow, global markets.",
    "Politics": "Governments, elections, politicians, trade wars and policy.",
    "Personnel Change": "An executive is hired, appointed, resigns or is fired: CEO, CFO, board changes.",
    "Stock Commentary": "Opinion and analysis about whether to buy or sell a particular stock.",
    "Stock Movement": "A stock's price rises or falls, hits a high or low, or trades actively.",
}
CHECKPOINTS = (40, 80, 160, 320)
BATCH = 20


def metrics(predicted, truth) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    return float((predicted == truth).mean()), float(f1_score(truth, predicted, average="macro"))


def zero_shot(vectors, held_rows, truth, names, model=None, title="") -> None:
    from textfit.labeling import zeroshot as z

    variants = [
        ("bare names (issue's 0.26)", ("{name}",), False, False, False, None),
        ("bare names", ("{name}",), True, True, False, None),
        ('"This message is about {name}."', ("This message is about {name}.",), False, False, False, None),
        ('"This message is about {name}."', ("This message is about {name}.",), True, True, False, None),
        ('"This tweet is about {name}."', ("This tweet is about {name}.",), True, True, False, None),
        ('"Financial news about {name}."', ("Financial news about {name}.",), True, True, False, None),
        ("name + message sentence", z.TEMPLATES, False, False, False, None),
        ("name + message sentence", z.TEMPLATES, True, True, False, None),
        ("name + message sentence (default: `suggest`)", z.TEMPLATES, False, False, True, None),
        ("name + message sentence", z.TEMPLATES, True, True, True, None),
        ("with descriptions", z.TEMPLATES, False, False, False, DESCRIPTIONS),
        ("with descriptions (`suggest(..., descriptions)`)", z.TEMPLATES, False, False, True, DESCRIPTIONS),
        ("with descriptions", z.TEMPLATES, True, True, True, DESCRIPTIONS),
    ]
    print(f"\n### Zero-shot from the 20 label names (held-out 3,398 messages){title}\n")
    print("| label vectors | centred + standardised | self-training | accuracy | macro-F1 |\n|---|---|---|---|---|")
    for title, templates, center, standardise, self_training, descriptions in variants:
        described = [descriptions[n] for n in names] if descriptions else None
        label_vectors = z.label_vectors(names, described, templates=templates, model=model)
        p = z.softmax(
            z.similarity_scores(vectors, label_vectors, center=center, standardise=standardise),
            z.STANDARDISED_TEMPERATURE if standardise else z.TEMPERATURE,
        )
        if self_training:
            p = z.self_train(vectors, p)
        accuracy, f1 = metrics(p[held_rows].argmax(1), truth)
        print(
            f"| {title} | {'yes' if center else 'no'} | {'yes' if self_training else 'no'} "
            f"| {accuracy:.3f} | {f1:.3f} |",
            flush=True,
        )


def learning_curves(pool_vectors, pool_labels, held_vectors, held_truth, names, seeds) -> None:
    from textfit import LabelingSession
    from textfit.labeling import head, select

    k = len(names)
    texts = [str(i) for i in range(len(pool_labels))]  # the session needs texts; vectors are given

    def accuracy(indices):
        model = head.fit(pool_vectors[indices], pool_labels[indices])
        return float((model.predict(held_vectors) == held_truth).mean())

    def seed_labels(seed):
        return one_label_a_topic(pool_labels, k, seed)

    def baseline(seed, how):
        rng = np.random.default_rng(seed + 100)
        chosen, scores = seed_labels(seed), {}
        picked[(how, seed)] = {}
        while len(chosen) < CHECKPOINTS[-1]:
            rest = np.setdiff1d(np.arange(len(pool_labels)), chosen)
            if how == "random":
                chosen += rng.choice(rest, BATCH, replace=False).tolist()
            else:  # plain margin sampling
                p = head.probabilities(head.fit(pool_vectors[chosen], pool_labels[chosen]), pool_vectors[rest], k)
                chosen += rest[np.argsort(-select.uncertainty(p))[:BATCH]].tolist()
            if len(chosen) in CHECKPOINTS:
                scores[len(chosen)] = accuracy(chosen)
                picked[(how, seed)][len(chosen)] = list(chosen)
        return scores

    def session(seed, cold):
        with tempfile.TemporaryDirectory() as folder:
            s = LabelingSession(
                f"{folder}/s.sqlite", texts, names, vectors=pool_vectors, zero_shot=cold, refit_every=BATCH, seed=seed
            )
            if not cold:
                for i in seed_labels(seed):
                    s.add_label(i, int(pool_labels[i]))
            scores, estimates, order = {}, {}, "textfit order" if not cold else "textfit, from the names"
            picked[(order, seed)] = {}
            while (n := len(s.labels())) < CHECKPOINTS[-1]:
                for item in s.next_batch(BATCH):
                    s.add_label(item["index"], int(pool_labels[item["index"]]))
                n = len(s.labels())
                if n in CHECKPOINTS:
                    scores[n] = accuracy(np.array(list(s.labels())))
                    picked[(order, seed)][n] = list(s.labels())
                    estimates[n] = s.estimate()["accuracy"]
            return scores, estimates

    rows = {"random": [], "margin": [], "textfit order": [], "textfit order, from the names (no seed labels)": []}
    estimates, picked = [], {}
    for seed in seeds:
        rows["random"].append(baseline(seed, "random"))
        rows["margin"].append(baseline(seed, "margin"))
        scores, estimated = session(seed, cold=False)
        rows["textfit order"].append(scores)
        estimates.append(estimated)
        rows["textfit order, from the names (no seed labels)"].append(session(seed, cold=True)[0])
        print(f"  seed {seed} done", file=sys.stderr, flush=True)
    print(
        "\n### Learning curves: fast head (frozen vectors + logistic regression), held-out accuracy, "
        f"mean of {len(seeds)} seeds\n"
    )
    print("| order | " + " | ".join(f"{n} labels" for n in CHECKPOINTS) + " |\n|---|" + "---|" * len(CHECKPOINTS))
    for name, runs in rows.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([r[n] for r in runs]):.3f}" for n in CHECKPOINTS) + " |")
    print(
        "| session's own estimate (cross-validated on its labels), textfit order | "
        + " | ".join(f"{np.mean([e[n] for e in estimates]):.3f}" for n in CHECKPOINTS)
        + " |"
    )
    return picked


def trained_curves(pool, held_out, picked: dict, orders=("random", "textfit order")) -> None:
    """The issue's goal: `textfit train` (every choice its own: few-shot below 16 per class) on the
    labels each order had chosen after 40/80/160/320, scored on the held-out 20 %."""
    from textfit import TrainConfig, train

    rows = {order: {} for order in orders}
    with tempfile.TemporaryDirectory() as folder:
        for (order, seed), sets in sorted(picked.items()):
            if order not in orders:
                continue
            for n, chosen in sorted(sets.items()):
                started = time.perf_counter()
                # no final fit: the held-out 20 % is the score's, and a final fit would train on it
                config = TrainConfig(label_names=pool.label_names, seed=seed, final_fit=False)
                result = train(config, f"{folder}/{n}", data=(pool.subset(sorted(chosen)), held_out))
                accuracy = result.report.metrics["accuracy"]
                rows[order].setdefault(n, []).append(accuracy)
                print(
                    f"  textfit train, {order}, seed {seed}, {n} labels: {accuracy:.3f} ({result.record['strategy']}, "
                    f"{time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    print(
        "\n### Learning curves: `textfit train` on the labels chosen, held-out accuracy, "
        f"mean of {len(next(iter(rows.values()))[CHECKPOINTS[0]])} seeds\n"
    )
    print("| order | " + " | ".join(f"{n} labels" for n in CHECKPOINTS) + " |\n|---|" + "---|" * len(CHECKPOINTS))
    for order, by_size in rows.items():
        print(
            f"| {order} | "
            + " | ".join(
                f"{np.mean(by_size[n]):.3f} ({min(by_size[n]):.3f}-{max(by_size[n]):.3f})" for n in CHECKPOINTS
            )
            + " |"
        )


def audit_rows(pool_texts, pool_vectors, pool_labels, seeds) -> None:
    from textfit.data.labeled import LabeledTexts
    from textfit.labeling import audit

    print("\n### Audit: 2,000 pool messages, 10 % of labels flipped at random; the 200 most suspicious rows\n")
    print(
        "| seed | rows flagged likely mislabeled | precision = recall of the top 200 (200 were flipped) "
        "| the same, ranked by margin alone |\n|---|---|---|---|"
    )
    results = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(pool_labels), 2000, replace=False)
        given = pool_labels[rows].copy()
        flipped = rng.choice(2000, 200, replace=False)
        given[flipped] = (given[flipped] + rng.integers(1, 20, 200)) % 20
        data = LabeledTexts([pool_texts[i] for i in rows], given.tolist(), [str(i) for i in range(20)], "benchmark")
        report = audit(data, vectors=pool_vectors[rows], seed=seed)
        is_flipped = np.zeros(2000, bool)
        is_flipped[flipped] = True
        precision = is_flipped[report.order[:200]].mean()
        others = report.probabilities.copy()
        others[np.arange(2000), given] = -1
        margin = others.max(1) - report.given_probability  # best other label's probability - the given one's
        by_margin = is_flipped[np.argsort(-margin)[:200]].mean()
        results.append((precision, by_margin))
        print(f"| {seed} | {int(report.flagged.sum())} | {precision:.3f} | {by_margin:.3f} |", flush=True)
    print(f"| mean | | {np.mean([r[0] for r in results]):.3f} | {np.mean([r[1] for r in results]):.3f} |")


def rerank_time(vectors, labels, names) -> None:
    from textfit import LabelingSession

    texts = [str(i) for i in range(len(labels))]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        session = LabelingSession(f"{folder}/s.sqlite", texts, names, vectors=vectors, refit_every=1)
        opened = time.perf_counter() - started
        rng = np.random.default_rng(0)
        for i in rng.choice(len(labels), 60, replace=False):
            session.add_label(int(i), int(labels[i]))
        times = []
        for _ in range(7):
            started = time.perf_counter()
            batch = session.next_batch(BATCH)  # refits (a label came since) and re-ranks every message
            times.append(time.perf_counter() - started)
            session.add_label(batch[0]["index"], int(labels[batch[0]["index"]]))
    print(f"\n### Re-rank after a label, {len(labels):,} messages (refit on 60-66 labels + next batch of {BATCH})\n")
    print(
        f"median {np.median(times):.2f} s, max {max(times):.2f} s over {len(times)} re-ranks; opening the session "
        f"(zero-shot start + density, vectors cached) {opened:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default=str(TOPIC))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--zeroshot-model",
        help="also zero-shot with this encoder (e.g. all-mpnet-base-v2), on the "
        "held-out messages only, beside MiniLM on the same messages",
    )
    parser.add_argument(
        "--only",
        default="zeroshot,curves,audit,time",
        help="also: trained (`textfit train` on each order's labels: about 20 minutes more)",
    )
    args = parser.parse_args()
    if not os.path.exists(args.data):
        print(f"skipped: {args.data} is not here (the finance topics train.csv; see ../shared/data/README.md)")
        return
    from textfit.labeling.vectors import embed

    pool, held_out = split(args.data)
    names = list(pool.label_names)
    started = time.perf_counter()
    vectors = embed(pool.texts + held_out.texts, progress=None)
    print(
        f"vectors of {len(vectors):,} messages in {time.perf_counter() - started:.0f} s (cached after the first run); "
        f"{os.cpu_count()} CPUs"
    )
    pool_vectors, held_vectors = vectors[: len(pool)], vectors[len(pool) :]
    pool_labels, held_truth = np.array(pool.labels), np.array(held_out.labels)
    held_rows = np.arange(len(pool), len(vectors))
    only, seeds = args.only.split(","), list(range(7, 7 + args.seeds))
    if "zeroshot" in only:
        zero_shot(vectors, held_rows, held_truth, names)
    if args.zeroshot_model:  # another encoder: its vectors of the held-out messages only (an hour for all on 2 cores)
        held = np.arange(len(held_out))
        title = ", suggestions and self-training on those messages only"
        zero_shot(held_vectors, held, held_truth, names, title=f"{title}: the embedded MiniLM")
        zero_shot(
            embed(held_out.texts, args.zeroshot_model, progress=None),
            held,
            held_truth,
            names,
            model=args.zeroshot_model,
            title=f"{title}: {args.zeroshot_model}",
        )
    if "audit" in only:
        audit_rows(pool.texts, pool_vectors, pool_labels, seeds)
    if "time" in only:
        rerank_time(vectors, np.concatenate([pool_labels, held_truth]), names)
    if "curves" in only or "trained" in only:
        picked = learning_curves(pool_vectors, pool_labels, held_vectors, held_truth, names, seeds)
        if "trained" in only:
            trained_curves(pool, held_out, picked)


if __name__ == "__main__":
    main()
