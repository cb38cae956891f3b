"""One round of the article's loop on cached features: score, select, label, retrain.

Notebooks 4 and 5 teach these steps one by one; :func:`first_round` rebuilds
everything up to the selection in one call, so each notebook runs on its own.
Many rounds, simulated with an oracle, are :mod:`alwidgets.many_rounds`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import checks
from .criteria import CRITERIA, select
from .data import Splits, load_splits
from .features import cached_features
from .heads import Head, HeadTrainer, predict_proba, trained_head

__all__ = ["Round", "first_round", "accuracy", "retrain", "random_selection"]


@dataclasses.dataclass
class Round:
    """Everything one round of selection needs and produces."""

    splits: Splits
    features: dict[str, tuple[np.ndarray, np.ndarray]]
    head: Head
    pool_probs: np.ndarray
    criterion: str
    budget: int
    selection: np.ndarray  # pool indices, most uncertain first


def first_round(
    criterion: str = "least_confidence", budget: int | None = None
) -> Round:
    """Load data, features and the trained head (cached), score the pool, select.

    ``budget`` defaults to the profile's (500 labels on tf_flowers).
    """
    checks.choice("criterion", criterion, list(CRITERIA))
    splits = load_splits()
    budget = splits.profile.budget if budget is None else budget
    checks.integer("budget", budget, 1, splits.sizes["pool"])
    features = cached_features(splits)
    head = trained_head(splits, features)
    probs = predict_proba(head, features["pool"][0])
    selection = select(CRITERIA[criterion](probs), budget)
    return Round(splits, features, head, probs, criterion, budget, selection)


def accuracy(head, x, y) -> float:
    """Share of ``x`` whose predicted class is ``y``."""
    probs = predict_proba(head, x)
    y = checks.labels("y", y, probs.shape[1], len(probs))
    return float((probs.argmax(axis=1) == y).mean())


def retrain(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    pool_indices,
    pool_labels,
    n_classes: int,
    trainer: HeadTrainer | None = None,
) -> Head:
    """A fresh head on the train split plus the newly labelled pool images.

    The cached-feature equivalent of concatenating the labelled images to the
    training dataset and retraining, with the same trainer as the first head
    (validation split for L2 and temperature).
    """
    data = checks.feature_splits(features, n_classes, ("train", "validation", "pool"))
    x_pool = data["pool"][0]
    idx = checks.indices("pool_indices", pool_indices, len(x_pool))
    y_new = checks.labels("pool_labels", np.asarray(pool_labels).reshape(-1), n_classes)
    if len(idx) != len(y_new):
        raise ValueError(f"{len(idx)} pool indices for {len(y_new)} labels")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("pool_indices contains duplicates")
    x_train, y_train = data["train"]
    x = np.concatenate([x_train, x_pool[idx]])
    y = np.concatenate([y_train, y_new])
    return (trainer or HeadTrainer()).fit(x, y, n_classes, data["validation"])


def random_selection(pool_size: int, budget: int, seed: int) -> np.ndarray:
    """``budget`` distinct pool indices drawn uniformly at random (the control)."""
    pool_size = checks.integer("pool_size", pool_size, 1)
    budget = checks.integer("budget", budget, 0, pool_size)
    seed = checks.integer("seed", seed, 0)
    return np.random.default_rng(seed).choice(pool_size, size=budget, replace=False)
