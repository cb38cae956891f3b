"""TypiClust cold start, then the uncertainty criterion."""

import numpy as np
import pytest

from alwidgets.cold_start import (
    cold_start_select,
    needs_cold_start,
    typicality,
    typiclust,
)
from alwidgets.criteria import least_confidence, select


def blobs(sizes=(60, 50, 40, 30, 20), seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (len(sizes), 8))
    x = np.concatenate([c + rng.normal(0, 1, (n, 8)) for c, n in zip(centres, sizes)])
    y = np.repeat(np.arange(len(sizes)), sizes)
    return x.astype(np.float32), y, centres


def test_one_typical_pick_per_cluster_largest_first():
    x, y, centres = blobs()
    picked = typiclust(x, [], 5, seed=0)
    assert len(set(picked.tolist())) == 5
    assert y[picked].tolist() == [0, 1, 2, 3, 4]  # every blob, largest first
    for i in picked:  # typical: nearer its blob's centre than most of the blob
        own = x[y == y[i]]
        distances = np.linalg.norm(own - centres[y[i]], axis=1)
        assert np.linalg.norm(x[i] - centres[y[i]]) <= np.quantile(distances, 0.25)


def test_covered_clusters_wait_and_labelled_are_never_picked():
    x, y, _ = blobs()
    labelled = np.flatnonzero(y == 0)[:3]
    picked = typiclust(x, labelled, 4, seed=1)
    assert not set(picked.tolist()) & set(labelled.tolist())
    assert sorted(y[picked].tolist()) == [1, 2, 3, 4]  # blob 0 already covered
    mask = np.zeros(len(x), bool)
    mask[labelled] = True
    assert typiclust(x, mask, 4, seed=1).tolist() == picked.tolist()  # mask = indices


def test_deterministic_in_seed():
    x, _, _ = blobs(seed=2)
    assert (
        typiclust(x, [], 10, seed=3).tolist() == typiclust(x, [], 10, seed=3).tolist()
    )


def test_typicality_is_high_in_dense_places():
    x = np.array([[0.0], [0.1], [0.2], [0.3], [5.0]])
    t = typicality(x, k=2)
    assert t.argmax() in (1, 2) and t.argmin() == 4


def test_switches_to_uncertainty_once_every_class_has_its_labels():
    x, y, _ = blobs()
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), len(x))
    few = np.array([0, 60, 110])  # three classes, one label each
    assert needs_cold_start(y[few], 5, per_class=1)
    cold = cold_start_select(x, few, y[few], 5, 4, probs, per_class=1, seed=0)
    assert cold.tolist() == typiclust(x, few, 4, seed=0).tolist()
    enough = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(5)])
    assert not needs_cold_start(y[enough], 5, per_class=2)
    warm = cold_start_select(x, enough, y[enough], 5, 4, probs, per_class=2)
    rest = np.setdiff1d(np.arange(len(x)), enough)
    assert warm.tolist() == rest[select(least_confidence(probs[rest]), 4)].tolist()
    with pytest.raises(ValueError, match="probs is None"):
        cold_start_select(x, enough, y[enough], 5, 4, None, per_class=2)


def test_input_checks():
    x, y, _ = blobs()
    with pytest.raises(ValueError, match="batch must be in"):
        typiclust(x, [], 0)
    with pytest.raises(ValueError, match="batch must be in"):
        typiclust(x, np.arange(len(x) - 2), 3)
    with pytest.raises(ValueError, match="labelled must be positions"):
        typiclust(x, [len(x)], 1)
    with pytest.raises(ValueError, match="labelled mask must have shape"):
        typiclust(x, np.zeros(3, bool), 1)
    with pytest.raises(TypeError, match="features must be numbers"):
        typiclust(np.array([["a"]]), [], 1)
    with pytest.raises(ValueError, match="unknown criterion"):
        cold_start_select(x, [], [], 5, 1, criterion="margin")
