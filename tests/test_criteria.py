import numpy as np
import pytest
import tensorflow as tf

from alwidgets import entropy, least_confidence, select, smallest_margin

CRITERIA = [least_confidence, smallest_margin, entropy]


def test_known_values():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(least_confidence(p), [0.3, 0.5])
    np.testing.assert_allclose(smallest_margin(p), [0.5, 1.0])
    expected = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(entropy(p), [expected, np.log(2)])


def test_toy_example_outcome():
    probs = [
        [0.45, 0.44, 0.05, 0.03, 0.03],
        [0.40, 0.15, 0.15, 0.15, 0.15],
        [0.80, 0.10, 0.05, 0.03, 0.02],
    ]
    assert select(least_confidence(probs), 1).tolist() == [1]
    assert select(entropy(probs), 1).tolist() == [1]
    assert select(smallest_margin(probs), 1).tolist() == [0]


@pytest.mark.parametrize("fn", CRITERIA)
def test_uniform_is_most_uncertain_and_one_hot_is_zero(fn):
    rng = np.random.default_rng(0)
    random_rows = rng.dirichlet(np.ones(5), size=200)
    uniform = np.full((1, 5), 0.2)
    assert fn(uniform)[0] >= fn(random_rows).max() - 1e-12
    np.testing.assert_allclose(fn(np.eye(5)), 0.0, atol=1e-12)


@pytest.mark.parametrize("fn", CRITERIA)
def test_accepts_tf_tensors_and_lists(fn):
    p = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]
    expected = fn(np.array(p))
    np.testing.assert_allclose(fn(tf.constant(p, tf.float32)), expected, atol=1e-6)
    assert fn(p).shape == (2,) and fn(p).dtype == np.float64


@pytest.mark.parametrize("fn", CRITERIA)
@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.array([0.5, 0.5]), ValueError, "2-D"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.ones((2, 1)), ValueError, "at least 2 classes"),
        (np.array([[0.5, np.nan]]), ValueError, "NaN"),
        (np.array([[1.5, -0.5]]), ValueError, "negative"),
        (np.array([[0.5, 0.6]]), ValueError, "sum to 1"),
        (np.array([["a", "b"]]), TypeError, "numeric"),
        (np.array([[np.inf, 0.0]]), ValueError, "inf"),
    ],
)
def test_bad_probs(fn, bad, error, words):
    with pytest.raises(error, match=words):
        fn(bad)


def test_select_order_and_ties():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.5, 0.0])
    assert select(scores, 3).tolist() == [1, 3, 2]
    assert select(scores, 6).tolist() == [1, 3, 2, 4, 0, 5]
    assert select(scores, 0).tolist() == []
    assert select(np.zeros(5), 2).tolist() == [0, 1]


def test_select_matches_full_sort():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 20, size=1000).astype(float)  # many ties
    for budget in (1, 17, 500, 999, 1000):
        expected = sorted(range(1000), key=lambda i: (-scores[i], i))[:budget]
        assert select(scores, budget).tolist() == expected


def test_select_on_a_big_pool():  # its time: tools/benchmark.py
    scores = np.random.default_rng(2).random(10_000_000)
    chosen = select(scores, 500)
    assert len(chosen) == 500 and len(set(chosen.tolist())) == 500
    assert scores[chosen].min() >= np.partition(scores, -500)[-500]


@pytest.mark.parametrize(
    "budget, error, words",
    [
        (-1, ValueError, ">= 0"),
        (4, ValueError, "larger than the pool"),
        (1.0, TypeError, "integer"),
        ("2", TypeError, "integer"),
        (True, TypeError, "integer"),
    ],
)
def test_select_bad_budget(budget, error, words):
    with pytest.raises(error, match=words):
        select(np.array([0.1, 0.2, 0.3]), budget)


@pytest.mark.parametrize(
    "scores, error, words",
    [
        (np.zeros((2, 2)), ValueError, "1-D"),
        (np.array([]), ValueError, "empty"),
        (np.array([0.1, np.nan]), ValueError, "NaN"),
        (np.array(["a"]), TypeError, "numeric"),
    ],
)
def test_select_bad_scores(scores, error, words):
    with pytest.raises(error, match=words):
        select(scores, 1)


def test_select_accepts_numpy_integer_budget():
    assert select(np.array([0.2, 0.8]), np.int64(1)).tolist() == [1]
