"""One round of the article's loop on cached features: score, select, label, retrain.

Notebooks 4 and 5 teach these steps one by one; :func:`first_round` rebuilds
everything up to the selection in one call, so each notebook runs on its own.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from .config import get_profile
from .criteria import CRITERIA, select
from .data import Splits, load_splits
from .models import cached_features, predict_proba, train_head, trained_head

__all__ = [
    "LABEL_BUDGET",
    "Round",
    "first_round",
    "accuracy",
    "retrain",
    "random_selection",
]

#: The article's budget of 500 labels; offline, scaled like the pool (240 vs 1,170).
LABEL_BUDGET = {"full": 500, "offline": 100}


@dataclasses.dataclass
class Round:
    """Everything one round of selection needs and produces."""

    splits: Splits
    features: dict[str, tuple[np.ndarray, np.ndarray]]
    head: keras.Model
    pool_probs: np.ndarray
    criterion: str
    budget: int
    selection: np.ndarray  # pool indices, most uncertain first


def _check_criterion(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(
            f"unknown criterion {criterion!r}; choose one of {list(CRITERIA)}"
        )


def first_round(
    criterion: str = "least_confidence", budget: int | None = None
) -> Round:
    """Load data, features and the trained head (cached), score the pool, select."""
    _check_criterion(criterion)
    splits = load_splits()
    budget = LABEL_BUDGET[get_profile()] if budget is None else budget
    features = cached_features(splits)
    head, _ = trained_head(splits, features)
    probs = predict_proba(head, features["pool"][0])
    selection = select(CRITERIA[criterion](probs), budget)
    return Round(splits, features, head, probs, criterion, budget, selection)


def accuracy(head: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` whose predicted class is ``y``."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as samples (>0): {len(x)} vs {len(y)}")
    return float((predict_proba(head, x).argmax(axis=1) == np.asarray(y)).mean())


def retrain(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    pool_indices,
    pool_labels,
    n_classes: int,
    seed: int = 0,
    progress: bool = True,
) -> keras.Model:
    """Train a fresh head on the train split plus the newly labelled pool images.

    The cached-feature equivalent of concatenating the labelled images to the
    training dataset and retraining. Same settings as the first head.
    """
    idx = np.asarray(pool_indices, dtype=np.int64).reshape(-1)
    y_new = np.asarray(pool_labels).reshape(-1)
    x_pool = features["pool"][0]
    if len(idx) != len(y_new):
        raise ValueError(f"{len(idx)} pool indices for {len(y_new)} labels")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("pool_indices contains duplicates")
    if len(idx) and (idx.min() < 0 or idx.max() >= len(x_pool)):
        raise ValueError(f"pool_indices must be in [0, {len(x_pool)})")
    x_train, y_train = features["train"]
    x = np.concatenate([x_train, x_pool[idx]])
    y = np.concatenate([y_train, y_new.astype(y_train.dtype)])
    head, _ = train_head(
        x,
        y,
        n_classes,
        validation=features["validation"],
        seed=seed,
        progress=progress,
    )
    return head


def random_selection(pool_size: int, budget: int, seed: int) -> np.ndarray:
    """``budget`` distinct pool indices drawn uniformly at random (the control)."""
    if not 0 <= budget <= pool_size:
        raise ValueError(f"budget must be in [0, {pool_size}], got {budget}")
    return np.random.default_rng(seed).choice(pool_size, size=budget, replace=False)
