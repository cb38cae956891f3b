"""Uncertainty criteria for pool-based active learning.

Every criterion takes an ``(n_samples, n_classes)`` array of class probabilities
(a numpy array, a list of lists or an eager TensorFlow tensor) and returns one
uncertainty score per sample: **higher means more uncertain**, so that
:func:`select` can always pick the highest scores, whatever the criterion.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "CRITERIA",
    "least_confidence",
    "smallest_margin",
    "entropy",
    "select",
    "check_probs",
]

#: How far a row may sum away from 1 (softmax outputs in float32 are not exact).
SUM_TOLERANCE = 1e-3


def check_probs(probs) -> np.ndarray:
    """Return ``probs`` as a float64 array after checking it is a probability table.

    Raises ``TypeError`` for non-numeric input and ``ValueError`` for anything that
    is not a non-empty 2-D table of finite, non-negative rows summing to 1.
    """
    try:
        arr = np.asarray(probs)
    except Exception as exc:  # e.g. ragged lists
        raise ValueError(f"probs could not be read as an array: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise TypeError(f"probs must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError("probs must be real numbers, got complex values")
    arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"probs must be 2-D (n_samples, n_classes), got {arr.ndim}-D "
            f"with shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError("probs is empty: it has no samples (shape[0] == 0)")
    if arr.shape[1] < 2:
        raise ValueError(f"probs needs at least 2 classes, got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"probs contains NaN or inf (first in row {bad})")
    if np.any(arr < 0):
        bad = int(np.argwhere(arr < 0)[0][0])
        raise ValueError(f"probs contains negative values (first in row {bad})")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if np.any(off):
        bad = int(np.argmax(off))
        raise ValueError(
            f"each row of probs must sum to 1 (tolerance {SUM_TOLERANCE}); "
            f"row {bad} sums to {sums[bad]:.6g}"
        )
    return arr


def least_confidence(probs) -> np.ndarray:
    """Uncertainty ``1 - max_k p_k``: 0 for a sure prediction, ``1 - 1/K`` at most."""
    p = check_probs(probs)
    return 1.0 - p.max(axis=1)


def smallest_margin(probs) -> np.ndarray:
    """Uncertainty ``1 - (p1 - p2)``, ``p1 >= p2`` the two largest probabilities."""
    p = check_probs(probs)
    top2 = np.partition(p, -2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(probs) -> np.ndarray:
    """Shannon entropy ``-sum_k p_k ln p_k`` in nats, with ``0 ln 0 = 0``."""
    p = check_probs(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.maximum(-terms.sum(axis=1), 0.0)


#: The three criteria by name, for code that lets the learner choose one.
CRITERIA = {
    "least_confidence": least_confidence,
    "smallest_margin": smallest_margin,
    "entropy": entropy,
}


def select(scores, budget: int) -> np.ndarray:
    """Indices of the ``budget`` highest scores, most uncertain first.

    Ties are broken by the lower index, so the same scores always give the same
    selection. Runs in linear time plus ``O(budget log budget)`` (``argpartition``,
    then a sort of the selected few only).
    """
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral):
        raise TypeError(f"budget must be an integer, got {type(budget).__name__}")
    budget = int(budget)
    arr = np.asarray(scores)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"scores must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("scores is empty: there is nothing to select from")
    if not np.all(np.isfinite(arr)):
        raise ValueError("scores contains NaN or inf")
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if budget > arr.size:
        raise ValueError(
            f"budget ({budget}) is larger than the pool ({arr.size} samples)"
        )
    if budget == 0:
        return np.empty(0, dtype=np.int64)
    n = arr.size
    if budget < n:
        # The budget-th largest score; everything strictly above it is in, and
        # ties at the threshold are filled by the lowest indices.
        threshold = np.partition(arr, n - budget)[n - budget]
        above = np.flatnonzero(arr > threshold)
        at = np.flatnonzero(arr == threshold)[: budget - above.size]
        chosen = np.concatenate([above, at])
    else:
        chosen = np.arange(n)
    # Sort the chosen few: score descending, then index ascending.
    order = np.lexsort((chosen, -arr[chosen]))
    return chosen[order].astype(np.int64)
