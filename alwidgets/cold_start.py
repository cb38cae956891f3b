"""A cold start: typical, diverse images first, uncertainty once every class has a few labels.

With a handful of labels the model's uncertainty means little, and picking by it
often loses to random picks (Hacohen, Dekel and Weinshall, ICML 2022,
"Active learning on a budget"). Their **TypiClust** picks the *typical* images
of *different* regions instead: cluster the features with k-means into
``labelled + batch`` clusters, and for each pick take the largest cluster that
holds no label yet and, in it, the image with the highest typicality (the
inverse of the mean distance to its ``k`` nearest neighbours in its cluster).

:func:`typiclust` does that on a feature matrix (scikit-learn's ``KMeans``,
seeded). :func:`cold_start_select` is the whole policy: TypiClust until every
class has ``per_class`` labels, then the chosen uncertainty criterion of
:mod:`alwidgets.criteria`.
"""

from __future__ import annotations

import numpy as np

from . import checks
from .criteria import CRITERIA, select

__all__ = ["typiclust", "typicality", "needs_cold_start", "cold_start_select"]

#: TypiClust's paper settings: at most 500 clusters, 20 neighbours for typicality,
#: clusters of fewer than 5 images left out while larger ones remain.
MAX_CLUSTERS = 500
NEIGHBOURS = 20
MIN_CLUSTER = 5


def typicality(features, k: int = NEIGHBOURS) -> np.ndarray:
    """``1 / mean distance to the k nearest other points``, per row of ``features``."""
    from sklearn.neighbors import NearestNeighbors

    x = checks.features("features", features)
    k = checks.integer("k", k, 1)
    if len(x) == 1:
        return np.ones(1)
    k = min(k, len(x) - 1)
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return 1.0 / (distances[:, 1:].mean(axis=1) + 1e-12)


def typiclust(
    features,
    labelled,
    batch: int,
    seed: int = 0,
    max_clusters: int = MAX_CLUSTERS,
    k: int = NEIGHBOURS,
) -> np.ndarray:
    """``batch`` pool indices picked by TypiClust, in the order picked.

    ``features``: (n, d) features of the whole pool; ``labelled``: indices of
    the rows already labelled, or a boolean mask of length n (they are never
    picked, but count as covering their cluster). Deterministic in ``seed``.
    """
    from sklearn.cluster import KMeans

    x = checks.features("features", features)
    n = len(x)
    mask = _mask(labelled, n)
    unlabelled = int((~mask).sum())
    batch = checks.integer("batch", batch, 1, unlabelled)
    seed = checks.integer("seed", seed, 0)
    max_clusters = checks.integer("max_clusters", max_clusters, 1)
    k = checks.integer("k", k, 1)
    n_clusters = min(int(mask.sum()) + batch, max_clusters, n)
    # Standardised features: no single wide feature decides the clusters.
    scale = x.std(axis=0)
    xs = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    clusters = KMeans(n_clusters, n_init=1, random_state=seed).fit_predict(xs)
    sizes = np.bincount(clusters, minlength=n_clusters)
    covered = np.bincount(clusters[mask], minlength=n_clusters)
    available = np.bincount(clusters[~mask], minlength=n_clusters)
    picked: list[int] = []
    taken = mask.copy()
    typical: dict[int, np.ndarray] = {}  # per cluster, computed once
    for _ in range(batch):
        open_ = available > 0
        big = open_ & (sizes >= MIN_CLUSTER)
        candidates = np.flatnonzero(big if big.any() else open_)
        # Fewest labels first, then the largest cluster, then the lowest number.
        c = candidates[
            np.lexsort((candidates, -sizes[candidates], covered[candidates]))[0]
        ]
        members = np.flatnonzero(clusters == c)
        if c not in typical:
            typical[c] = typicality(xs[members], k)
        scores = np.where(taken[members], -np.inf, typical[c])
        i = int(members[int(np.argmax(scores))])
        picked.append(i)
        taken[i] = True
        covered[c] += 1
        available[c] -= 1
    return np.array(picked, dtype=np.int64)


def _mask(labelled, n: int) -> np.ndarray:
    array = np.asarray(labelled)
    if array.dtype == bool:
        if array.shape != (n,):
            raise ValueError(f"labelled mask must have shape ({n},), got {array.shape}")
        return array.copy()
    index = checks.indices("labelled", array, n)
    mask = np.zeros(n, dtype=bool)
    mask[index] = True
    return mask


def needs_cold_start(labels, n_classes: int, per_class: int = 3) -> bool:
    """Whether some class has fewer than ``per_class`` of the ``labels`` given so far."""
    n_classes = checks.integer("n_classes", n_classes, 2)
    per_class = checks.integer("per_class", per_class, 1)
    y = checks.labels("labels", labels, n_classes)
    return bool(np.bincount(y, minlength=n_classes).min() < per_class)


def cold_start_select(
    features,
    labelled,
    labels,
    n_classes: int,
    batch: int,
    probs=None,
    criterion: str = "least_confidence",
    per_class: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """The next ``batch`` pool indices: TypiClust while a class has fewer than
    ``per_class`` labels, then the ``criterion``'s most uncertain unlabelled images.

    ``labelled``: pool indices already labelled (or a mask); ``labels``: the
    classes of every label so far (the training split's included) — only their
    counts are read. ``probs``: the current head's probabilities for the whole
    pool, needed once the uncertainty phase starts.
    """
    checks.choice("criterion", criterion, list(CRITERIA))
    x = checks.features("features", features)
    mask = _mask(labelled, len(x))
    if needs_cold_start(labels, n_classes, per_class):
        return typiclust(x, mask, batch, seed)
    if probs is None:
        raise ValueError(
            "probs is None: every class has its labels, uncertainty needs them"
        )
    scores = CRITERIA[criterion](probs)
    if len(scores) != len(x):
        raise ValueError(f"probs has {len(scores)} rows, features {len(x)}")
    remaining = np.flatnonzero(~mask)
    batch = checks.integer("batch", batch, 1, len(remaining))
    return remaining[select(scores[remaining], batch)]
