"""Many rounds: simulated pool-based active learning with an oracle, on cached features.

Start from the labelled training split, then for ``rounds`` rounds: train a head
(the one trainer of :mod:`alwidgets.heads`, validated on the validation split),
measure it on the test set, let a strategy pick ``batch`` pool images, reveal
their labels (the oracle) and add them. Repeat over seeds. The test set is only
ever used to measure. One round, taught step by step, is :mod:`alwidgets.one_round`.

Strategies: ``random`` (the baseline), ``least_confidence``, ``smallest_margin``,
``entropy`` (top-``batch`` uncertainty), ``k_center`` (core-set greedy: each
pick is the pool image farthest from everything labelled so far, so a batch
covers the feature space instead of piling near-duplicates), and ``typiclust``
(a cold start: the typical images of uncovered k-means clusters while some class
has fewer than 3 labels, then least confidence; :mod:`alwidgets.cold_start`).

Results are tidy rows — one dict per (strategy, seed, round) with ``labels_used``
and ``test_accuracy`` — easy to plot, tabulate or save as JSON.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import checks
from .cold_start import needs_cold_start, typiclust
from .criteria import CRITERIA, select
from .heads import HeadTrainer, expected_calibration_error
from .one_round import retrain

__all__ = [
    "STRATEGIES",
    "seeds",
    "run",
    "simulate",
    "k_center_greedy",
    "curves",
    "summary",
    "save_rows",
    "aulc",
    "paired_difference",
    "t95",
]

STRATEGIES = (
    "random",
    "least_confidence",
    "smallest_margin",
    "entropy",
    "k_center",
    "typiclust",
)


def seeds(n: int) -> list[int]:
    """The ``n`` seeds an experiment runs: ``0 … n-1``, or the first ``n`` of
    ``ALWIDGETS_SEEDS`` when it is set (``"100-114"``, ``"3,8,21"`` or both mixed),
    so that every notebook's claims can be re-checked with seeds nobody tuned them on.
    """
    n = checks.integer("n", n, 1)
    text = os.environ.get("ALWIDGETS_SEEDS", "").strip()
    if not text:
        return list(range(n))
    chosen: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None or (match[2] and int(match[2]) < int(match[1])):
            raise ValueError(
                f"ALWIDGETS_SEEDS={text!r}: write seeds as '100-114' or '3,8,21'"
            )
        chosen += range(int(match[1]), int(match[2] or match[1]) + 1)
    chosen = list(dict.fromkeys(chosen))
    if len(chosen) < n:
        raise ValueError(
            f"ALWIDGETS_SEEDS={text!r} gives {len(chosen)} seeds; this needs {n}"
        )
    return chosen[:n]


def k_center_greedy(pool: np.ndarray, labelled: np.ndarray, batch: int) -> np.ndarray:
    """Indices into ``pool`` of ``batch`` points picked by greedy k-center (core-set)."""
    checks.integer("batch", batch, 1, len(pool))
    sq_pool = (pool**2).sum(1)

    def sq_dist(centres: np.ndarray) -> np.ndarray:
        d = sq_pool[:, None] - 2 * pool @ centres.T + (centres**2).sum(1)[None, :]
        return np.maximum(d, 0).min(axis=1)

    nearest = sq_dist(labelled) if len(labelled) else np.full(len(pool), np.inf)
    picked = []
    for _ in range(batch):
        i = int(np.argmax(nearest))  # ties: lowest index
        picked.append(i)
        nearest = np.minimum(nearest, sq_dist(pool[i : i + 1]))
        nearest[i] = -1.0
    return np.array(picked, dtype=np.int64)


def _check(features, n_classes, rounds, batch, initial):
    data = checks.feature_splits(
        features, n_classes, ("train", "validation", "test", "pool")
    )
    checks.integer("rounds", rounds, 1)
    checks.integer("batch", batch, 1)
    pool = len(data["pool"][0])
    if rounds * batch > pool:
        raise ValueError(
            f"rounds × batch = {rounds * batch} labels, but the pool has {pool}"
        )
    if initial is not None:
        checks.integer("initial", initial, 1, len(data["train"][0]))
    return data


def simulate(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    strategy: str,
    rounds: int,
    batch: int,
    seed: int = 0,
    initial: int | None = None,
    trainer: HeadTrainer | None = None,
    *,
    n_classes: int,
) -> list[dict]:
    """One strategy, one seed: ``rounds + 1`` rows (round 0 = no pool labels yet).

    ``initial``: start from that many training images, drawn with ``seed``
    (default: the whole training split, the same for every seed). Each row also
    lists the pool indices picked so far (``picked``), the test accuracy, the
    test ECE, the chosen L2 strength and how the next batch was picked
    (``picked_by``: the strategy, or for ``typiclust`` the phase it was in).
    """
    checks.choice("strategy", strategy, STRATEGIES)
    seed = checks.integer("seed", seed, 0)
    data = _check(features, n_classes, rounds, batch, initial)
    return _simulate(data, strategy, rounds, batch, seed, initial, trainer, n_classes)


def _simulate(data, strategy, rounds, batch, seed, initial, trainer, n_classes):
    x_train, y_train = data["train"]
    x_pool, y_pool = data["pool"]
    x_test, y_test = data["test"]
    rng = np.random.default_rng(seed)
    if initial is not None:
        start = rng.choice(len(x_train), size=initial, replace=False)
        x_train, y_train = x_train[start], y_train[start]
    trainer = trainer or HeadTrainer()
    picked = np.empty(0, dtype=np.int64)
    rows = []
    labelled = {**data, "train": (x_train, y_train)}
    for r in range(rounds + 1):
        started = time.perf_counter()
        head = retrain(labelled, picked, y_pool[picked], n_classes, trainer)
        probs_test = head.predict_proba(x_test)
        new = np.empty(0, dtype=np.int64)
        picked_by = None
        if r < rounds:
            remaining = np.setdiff1d(np.arange(len(x_pool)), picked)
            picked_by = strategy
            if strategy == "typiclust" and needs_cold_start(
                np.concatenate([y_train, y_pool[picked]]), n_classes
            ):
                # Clusters over train + pool: the training images cover theirs too.
                taken = np.zeros(len(x_train) + len(x_pool), dtype=bool)
                taken[: len(x_train)] = True
                taken[len(x_train) + picked] = True
                x_all = np.concatenate([x_train, x_pool])
                new = typiclust(x_all, taken, batch, seed) - len(x_train)
            elif strategy == "random":
                new = rng.choice(remaining, size=batch, replace=False)
            elif strategy == "k_center":
                x = np.concatenate([x_train, x_pool[picked]])
                scaled = (x_pool[remaining] - head.mean) / head.scale
                centres = (x - head.mean) / head.scale
                new = remaining[k_center_greedy(scaled, centres, batch)]
            else:
                criterion = "least_confidence" if strategy == "typiclust" else strategy
                picked_by = criterion
                scores = CRITERIA[criterion](head.predict_proba(x_pool[remaining]))
                new = remaining[select(scores, batch)]
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "round": r,
                "labels_used": int(len(picked)),
                "test_accuracy": float((probs_test.argmax(1) == y_test).mean()),
                "test_ece": expected_calibration_error(probs_test, y_test),
                "l2": head.l2,
                "seconds": time.perf_counter() - started,
                "picked": picked.tolist(),
                "picked_by": picked_by,
            }
        )
        picked = np.concatenate([picked, new.astype(np.int64)])
    return rows


def run(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    strategies: Sequence[str] = STRATEGIES,
    seeds: Sequence[int] = (0, 1, 2),
    rounds: int = 5,
    batch: int = 20,
    initial: int | None = None,
    trainer: HeadTrainer | None = None,
    *,
    n_classes: int,
) -> list[dict]:
    """Every strategy × seed, with a progress bar. Returns the tidy rows.

    ``features``: split -> ``(x, y)`` with ``train``, ``validation``, ``test`` and
    ``pool``; ``n_classes``: the number of classes (say ``len(class_names)``, never
    guessed from the labels). Everything is checked before any training.
    ``initial``: start each seed from that many training images drawn with the
    seed, so that seeds vary the starting labelled set too.
    """
    strategies = checks.choices("strategies", strategies, STRATEGIES)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of integers, got {seeds!r}")
    seeds = [checks.integer("seed", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    data = _check(features, n_classes, rounds, batch, initial)
    trainer = trainer or HeadTrainer()
    rows = []
    runs = [(s, seed) for s in strategies for seed in seeds]
    for strategy, seed in tqdm(runs, desc="simulations", unit="run"):
        rows += _simulate(
            data, strategy, rounds, batch, seed, initial, trainer, n_classes
        )
    return rows


def curves(rows: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per strategy: labels used per round, and accuracies (seeds × rounds)."""
    out = {}
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        mine = [r for r in rows if r["strategy"] == strategy]
        seeds = sorted({r["seed"] for r in mine})
        n_rounds = max(r["round"] for r in mine) + 1
        acc = np.full((len(seeds), n_rounds), np.nan)
        labels = np.zeros(n_rounds, dtype=np.int64)
        for r in mine:
            acc[seeds.index(r["seed"]), r["round"]] = r["test_accuracy"]
            labels[r["round"]] = r["labels_used"]
        out[strategy] = (labels, acc)
    return out


def summary(rows: list[dict], target: float | None = None) -> dict[str, dict]:
    """Per strategy: final accuracy and AULC (mean and std over seeds), and the
    labels needed for the mean curve to reach ``target`` (None if never).

    AULC is the area under the accuracy-vs-labels curve divided by the label
    span: the curve's average height, comparable across budgets.
    """
    out = {}
    for strategy, (labels, acc) in curves(rows).items():
        span = labels[-1] - labels[0]
        if span > 0:
            areas = np.trapezoid(acc, labels, axis=1) / span
        else:
            areas = acc[:, 0]
        mean_curve = acc.mean(0)
        reached = np.flatnonzero(mean_curve >= target) if target is not None else []
        out[strategy] = {
            "final_mean": float(acc[:, -1].mean()),
            "final_std": float(acc[:, -1].std()),
            "aulc_mean": float(areas.mean()),
            "aulc_std": float(areas.std()),
            "labels_to_target": int(labels[reached[0]]) if len(reached) else None,
        }
    return out


def save_rows(rows: list[dict], path: str | Path) -> Path:
    """Write the rows as JSON (one file, replaced atomically)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rows))
    tmp.replace(path)
    return path


def aulc(rows: list[dict]) -> dict[str, dict[int, float]]:
    """Per strategy and seed: the area under the learning curve / the label span."""
    out = {}
    for strategy, (labels, acc) in curves(rows).items():
        seeds = sorted({r["seed"] for r in rows if r["strategy"] == strategy})
        span = labels[-1] - labels[0]
        areas = np.trapezoid(acc, labels, axis=1) / span if span > 0 else acc[:, 0]
        out[strategy] = dict(zip(seeds, areas.tolist()))
    return out


# Two-sided 95 % quantiles of Student's t, by degrees of freedom (scipy is not needed
# for five to thirty seeds); beyond the table the normal 1.96 is close enough.
_T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


def t95(dof: int) -> float:
    """Two-sided 95 % Student-t quantile for ``dof`` degrees of freedom."""
    dof = checks.integer("dof", dof, 1)
    below = [d for d in _T95 if d <= dof]
    return _T95[max(below)] if dof <= 30 else 1.96


def paired_difference(
    rows: list[dict], strategy: str, baseline: str = "random", metric: str = "aulc"
) -> dict[str, object]:
    """``metric`` of ``strategy`` minus ``baseline``'s, seed by seed.

    ``metric``: ``"aulc"`` (area under the learning curve) or ``"final"`` (test
    accuracy after the last round). With the same seed both start from the same
    labelled images (``initial``), so the difference cancels the luck of the
    start: its spread over the seeds is the noise a claim must beat. Returns the
    per-seed ``differences``, their ``mean``, ``std`` (ddof=1), ``ci95`` (half-width
    of the 95 % confidence interval of the mean, Student's t) and ``seeds``.
    """
    checks.choice("metric", metric, ("aulc", "final"))
    if metric == "aulc":
        values = aulc(rows)
    else:
        values = {
            name: dict(
                zip(
                    sorted({r["seed"] for r in rows if r["strategy"] == name}),
                    acc[:, -1].tolist(),
                )
            )
            for name, (_, acc) in curves(rows).items()
        }
    for name in (strategy, baseline):
        if name not in values:
            raise ValueError(f"no rows for strategy {name!r}; have {list(values)}")
    seeds = sorted(set(values[strategy]) & set(values[baseline]))
    if len(seeds) < 2:
        raise ValueError("a paired difference needs at least two common seeds")
    diff = np.array([values[strategy][s] - values[baseline][s] for s in seeds])
    std = float(diff.std(ddof=1))
    return {
        "seeds": seeds,
        "differences": diff,
        "mean": float(diff.mean()),
        "std": std,
        "ci95": t95(len(seeds) - 1) * std / np.sqrt(len(seeds)),
    }
