import numpy as np
import pytest

from alwidgets import heads, one_round


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALWIDGETS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("ALWIDGETS_PROFILE", "offline")
        yield one_round.first_round("least_confidence")


def test_first_round_selects_the_least_confident(first, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_PROFILE", "offline")
    assert first.budget == first.splits.profile.budget == 100
    assert len(first.selection) == len(np.unique(first.selection)) == first.budget
    top = first.pool_probs.max(axis=1)
    others = np.setdiff1d(np.arange(len(top)), first.selection)
    assert top[first.selection].max() <= top[others].min() + 1e-12
    again = one_round.first_round("least_confidence")
    np.testing.assert_array_equal(again.selection, first.selection)  # same numbers


def test_retrain_uses_the_new_labels(first):
    x_pool, y_pool = first.features["pool"]
    x_test, y_test = first.features["test"]
    new = one_round.retrain(first.features, first.selection, y_pool[first.selection], 5)
    assert isinstance(new, heads.Head)
    before = one_round.accuracy(
        first.head, x_pool[first.selection], y_pool[first.selection]
    )
    after = one_round.accuracy(new, x_pool[first.selection], y_pool[first.selection])
    assert after > before  # it learned the images it was given
    # No new labels: the same head as notebook 3's (one trainer everywhere).
    same = one_round.retrain(first.features, [], [], 5)
    np.testing.assert_array_equal(
        same.predict_proba(x_test), first.head.predict_proba(x_test)
    )


@pytest.mark.parametrize(
    "indices, labels, error, words",
    [
        ([0, 0], [1, 1], ValueError, "duplicates"),
        ([0, 9999], [1, 1], ValueError, "pool_indices"),
        ([0, 1], [1], ValueError, "2 pool indices for 1 labels"),
        ([0, 1], [1.0, 2.0], TypeError, "pool_labels must be integers"),
        ([0, 1], [1, 5], ValueError, "pool_labels"),
        ([0.5], [1], TypeError, "pool_indices must be integers"),
    ],
)
def test_retrain_bad_input(first, indices, labels, error, words):
    with pytest.raises(error, match=words):
        one_round.retrain(first.features, indices, labels, 5)


def test_bad_round_input(first, monkeypatch):
    monkeypatch.setenv("ALWIDGETS_PROFILE", "offline")
    with pytest.raises(ValueError, match="unknown criterion"):
        one_round.first_round("bald")
    with pytest.raises(ValueError, match="budget"):
        one_round.first_round(budget=10_000)
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        one_round.accuracy(first.head, first.features["test"][0][:2], [0, 1, 2])
    assert len(set(one_round.random_selection(50, 10, seed=1))) == 10
    with pytest.raises(ValueError, match="budget"):
        one_round.random_selection(5, 10, seed=0)
