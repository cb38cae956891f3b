"""Cold start from zero labels: TypiClust-then-uncertainty against random and least confidence.

Each seed starts with **no** label and spends the budget in batches of
``--batch`` (default 10) up to ``--budget`` (default 100); after each batch a
head is trained on the labels so far and measured on the test set: scikit-learn's
``LogisticRegression`` (fixed ``C``, no validation split: a cold start has none)
on features standardised with the whole pool's mean and spread (unsupervised,
so allowed; with a handful of labels many features are constant among them, and
a scale taken from the labels alone would blow those up). Strategies:

* ``random``: random pool images;
* ``least_confidence``: the first batch random (no model yet), then the least
  confident images under the current head;
* ``cold_start``: :func:`alwidgets.cold_start.cold_start_select` — TypiClust
  until every class has 3 labels, then least confidence;
* ``typiclust``: TypiClust for the whole budget.

Same seed = same random generator for every strategy, so differences are
paired. Data: ``digits`` (scikit-learn's 1,797 real 8×8 handwritten digits, 64
pixel features; a seeded 1,297/500 pool/test split per seed) and ``offline``
(the offline profile's cached backbone features: pool and test splits).

Usage::

    python tools/benchmark_cold_start.py --data digits offline --seeds 20

Prints one JSON object: per data set and strategy the mean test accuracy at each
budget, and per budget the paired difference cold_start − random and
cold_start − least_confidence with its 95 % confidence interval (Student's t).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from alwidgets.cold_start import cold_start_select, typiclust  # noqa: E402
from alwidgets.criteria import least_confidence, select  # noqa: E402
from alwidgets.many_rounds import t95  # noqa: E402

STRATEGIES = ("random", "least_confidence", "cold_start", "typiclust")


def load(name: str, seed: int):
    """``(x_pool, y_pool, x_test, y_test, n_classes)`` of data set ``name``."""
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        order = np.random.default_rng(1000 + seed).permutation(len(x))
        x, y = x[order].astype(np.float32), y[order].astype(np.int64)
        return x[500:], y[500:], x[:500], y[:500], 10
    if name == "offline":
        from alwidgets import data
        from alwidgets.features import cached_features

        splits = data.load_splits("offline")
        f = cached_features(splits, split_names=("pool", "test"))
        return (*f["pool"], *f["test"], len(splits.class_names))
    raise ValueError(f"unknown data set {name!r}")


class Head:
    """Logistic regression on the labels so far; probabilities for every class."""

    def __init__(self, x, y, n_classes: int, c: float) -> None:
        from sklearn.linear_model import LogisticRegression

        self.n_classes, self.classes = n_classes, np.unique(y)
        self.model = None
        if len(self.classes) > 1:
            self.model = LogisticRegression(C=c, max_iter=2000).fit(x, y)

    def predict_proba(self, x) -> np.ndarray:
        probs = np.zeros((len(x), self.n_classes))
        if self.model is None:
            probs[:, self.classes[0]] = 1.0
        else:
            probs[:, self.model.classes_] = self.model.predict_proba(x)
        return probs


def standardise(x, xt):
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    return (x - mean) / scale, (xt - mean) / scale


def run_one(strategy, x, y, xt, yt, n_classes, budget, batch, seed, c):
    rng = np.random.default_rng(seed)
    picked = np.empty(0, dtype=np.int64)
    accuracy = {}
    head = None
    while len(picked) < budget:
        remaining = np.setdiff1d(np.arange(len(x)), picked)
        if strategy == "random" or (strategy == "least_confidence" and head is None):
            new = rng.choice(remaining, size=batch, replace=False)
        elif strategy == "least_confidence":
            scores = least_confidence(head.predict_proba(x[remaining]))
            new = remaining[select(scores, batch)]
        elif strategy == "typiclust":
            new = typiclust(x, picked, batch, seed)
        else:
            probs = None if head is None else head.predict_proba(x)
            new = cold_start_select(
                x, picked, y[picked], n_classes, batch, probs, seed=seed
            )
        picked = np.concatenate([picked, new])
        head = Head(x[picked], y[picked], n_classes, c)
        accuracy[len(picked)] = float((head.predict_proba(xt).argmax(1) == yt).mean())
    return accuracy


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits", "offline"])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    args = parser.parse_args(argv)
    out = {"seeds": args.seeds, "batch": args.batch, "C": args.c, "data": {}}
    for name in args.data:
        started = time.perf_counter()
        acc = {s: [] for s in STRATEGIES}
        for seed in tqdm(range(args.seeds), desc=name, unit="seed"):
            x, y, xt, yt, k = load(name, seed)
            x, xt = standardise(x, xt)
            for s in STRATEGIES:
                acc[s].append(
                    run_one(s, x, y, xt, yt, k, args.budget, args.batch, seed, args.c)
                )
        budgets = sorted(acc["random"][0])
        table = {
            s: {b: round(float(np.mean([r[b] for r in acc[s]])), 4) for b in budgets}
            for s in STRATEGIES
        }
        paired = {}
        for other in ("random", "least_confidence"):
            rows = {}
            for b in budgets:
                d = np.array(
                    [c[b] - o[b] for c, o in zip(acc["cold_start"], acc[other])]
                )
                half = t95(len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
                rows[b] = {
                    "mean": round(float(d.mean()), 4),
                    "ci95": round(float(half), 4),
                    "wins": int((d > 0).sum()),
                    "losses": int((d < 0).sum()),
                }
            paired[f"cold_start-{other}"] = rows
        out["data"][name] = {
            "pool": len(x),
            "test": len(xt),
            "mean_accuracy": table,
            "paired": paired,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(json.dumps({name: out["data"][name]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
