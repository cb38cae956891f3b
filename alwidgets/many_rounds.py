"""Simulated pool-based active learning with an oracle, on cached backbone features.

Start from the labelled training split, then for ``rounds`` rounds: train a head,
measure it on the test set, let a strategy pick ``batch`` pool images, reveal
their labels (the oracle) and add them. Repeat over seeds. The test set is only
ever used to measure.

Strategies: ``random`` (the baseline), ``least_confidence``, ``smallest_margin``,
``entropy`` (top-``batch`` uncertainty), and ``k_center`` (core-set greedy: each
pick is the pool image farthest from everything labelled so far, so a batch
covers the feature space instead of piling near-duplicates).

Results are tidy rows — one dict per (strategy, seed, round) with ``labels_used``
and ``test_accuracy`` — easy to plot, tabulate or save as JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .criteria import CRITERIA, select

__all__ = [
    "STRATEGIES",
    "HeadTrainer",
    "run",
    "simulate",
    "k_center_greedy",
    "curves",
    "summary",
    "save_rows",
]

STRATEGIES = ("random", "least_confidence", "smallest_margin", "entropy", "k_center")


class HeadTrainer:
    """Trains a softmax head many times, fast: one compiled model, reset per fit.

    Full-batch Adam (one step per epoch) on standardised features: no shuffling,
    so the same seed always gives the same head, and no retracing between fits.
    """

    def __init__(self, dim: int, n_classes: int, epochs: int = 100, lr: float = 0.05):
        self.epochs = epochs
        inputs = keras.Input((dim,))
        outputs = keras.layers.Dense(n_classes, activation="softmax")(inputs)
        self.model = keras.Model(inputs, outputs)
        self.model.compile(
            optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy"
        )
        self._shapes = [w.shape for w in self.model.get_weights()]

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> keras.Model:
        rng = np.random.default_rng(seed)
        fan_in, fan_out = self._shapes[0]
        limit = np.sqrt(6 / (fan_in + fan_out))  # Glorot uniform, seeded
        self.model.set_weights(
            [
                rng.uniform(-limit, limit, self._shapes[0]).astype(np.float32),
                np.zeros(self._shapes[1], np.float32),
            ]
        )
        for v in self.model.optimizer.variables:  # fresh Adam state, same rate
            if not v.path.endswith("learning_rate"):
                v.assign(np.zeros(v.shape, v.dtype))
        # One Keras epoch of `epochs` full-batch steps: far less per-epoch overhead.
        full_batch = tf.data.Dataset.from_tensors((x, y)).repeat()
        self.model.fit(
            full_batch, epochs=1, steps_per_epoch=self.epochs, shuffle=False, verbose=0
        )
        return self.model

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(x, training=False), dtype=np.float64)


def k_center_greedy(pool: np.ndarray, labelled: np.ndarray, batch: int) -> np.ndarray:
    """Indices into ``pool`` of ``batch`` points picked by greedy k-center (core-set)."""
    if batch > len(pool):
        raise ValueError(f"batch ({batch}) is larger than the pool ({len(pool)})")
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


def _n_classes(features) -> int:
    return 1 + int(max(features[s][1].max() for s in ("train", "pool", "test")))


def _check(features, rounds, batch, initial) -> None:
    for split in ("train", "test", "pool"):
        if split not in features:
            raise ValueError(f"features needs a {split!r} split")
    for name, value in (("rounds", rounds), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    pool = len(features["pool"][0])
    if rounds * batch > pool:
        raise ValueError(
            f"rounds × batch = {rounds * batch} labels, but the pool has {pool}"
        )
    if initial is not None and not 1 <= initial <= len(features["train"][0]):
        raise ValueError(
            f"initial must be in [1, {len(features['train'][0])}], got {initial!r}"
        )


def simulate(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    strategy: str,
    rounds: int,
    batch: int,
    seed: int = 0,
    initial: int | None = None,
    trainer: HeadTrainer | None = None,
) -> list[dict]:
    """One strategy, one seed: ``rounds + 1`` rows (round 0 = no pool labels yet).

    ``initial``: start from that many training images, drawn with ``seed``
    (default: the whole training split). Each row also lists the pool indices
    picked so far, in ``picked``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    _check(features, rounds, batch, initial)
    x_train, y_train = features["train"]
    x_pool, y_pool = features["pool"]
    x_test, y_test = features["test"]
    rng = np.random.default_rng(seed)
    if initial is not None:
        start = rng.choice(len(x_train), size=initial, replace=False)
        x_train, y_train = x_train[start], y_train[start]
    # Standardise with statistics of every image we may see unlabelled (no labels used).
    everything = np.concatenate([x_train, x_pool])
    mean, std = everything.mean(0), everything.std(0) + 1e-6

    def scale(x):
        return ((x - mean) / std).astype(np.float32)

    x_train, x_pool, x_test = scale(x_train), scale(x_pool), scale(x_test)
    trainer = trainer or HeadTrainer(x_train.shape[1], _n_classes(features))
    picked = np.empty(0, dtype=np.int64)
    rows = []
    for r in range(rounds + 1):
        started = time.perf_counter()
        x = np.concatenate([x_train, x_pool[picked]])
        y = np.concatenate([y_train, y_pool[picked]])
        trainer.fit(x, y, seed=seed * 1000 + r)
        accuracy = float((trainer.predict(x_test).argmax(1) == y_test).mean())
        new = np.empty(0, dtype=np.int64)
        if r < rounds:
            remaining = np.setdiff1d(np.arange(len(x_pool)), picked)
            if strategy == "random":
                new = rng.choice(remaining, size=batch, replace=False)
            elif strategy == "k_center":
                new = remaining[k_center_greedy(x_pool[remaining], x, batch)]
            else:
                scores = CRITERIA[strategy](trainer.predict(x_pool[remaining]))
                new = remaining[select(scores, batch)]
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "round": r,
                "labels_used": int(len(picked)),
                "test_accuracy": accuracy,
                "seconds": time.perf_counter() - started,
                "picked": picked.tolist(),
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
) -> list[dict]:
    """Every strategy × seed, with a progress bar. Returns the tidy rows."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {STRATEGIES}")
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    _check(features, rounds, batch, initial)
    trainer = HeadTrainer(features["train"][0].shape[1], _n_classes(features))
    rows = []
    runs = [(s, seed) for s in strategies for seed in seeds]
    for strategy, seed in tqdm(runs, desc="simulations", unit="run"):
        rows += simulate(features, strategy, rounds, batch, seed, initial, trainer)
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
