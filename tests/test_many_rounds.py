import numpy as np
import pytest

from alwidgets import experiments as E


@pytest.fixture(scope="module")
def features():
    """Three well-separated Gaussian classes in 16-d, plus a noisy direction."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2.0, size=(3, 16))

    def split(n):
        y = rng.integers(0, 3, n)
        return (centres[y] + rng.normal(0, 1.5, (n, 16))).astype(np.float32), y

    return {"train": split(30), "test": split(150), "pool": split(120)}


@pytest.mark.parametrize("strategy", E.STRATEGIES)
def test_invariants(features, strategy):
    rows = E.simulate(features, strategy, rounds=4, batch=10, seed=1)
    assert [r["round"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["labels_used"] for r in rows] == [0, 10, 20, 30, 40]
    picked = rows[-1]["picked"]
    assert len(picked) == len(set(picked)) == 40  # no index twice
    assert all(0 <= i < len(features["pool"][0]) for i in picked)
    for a, b in zip(rows, rows[1:]):
        assert b["picked"][: len(a["picked"])] == a["picked"]  # labels are kept
    assert all(0 <= r["test_accuracy"] <= 1 for r in rows)


@pytest.mark.parametrize("strategy", E.STRATEGIES)
def test_same_seed_same_result(features, strategy):
    a = E.simulate(features, strategy, rounds=3, batch=8, seed=5)
    b = E.simulate(features, strategy, rounds=3, batch=8, seed=5)
    assert [r["picked"] for r in a] == [r["picked"] for r in b]
    assert [r["test_accuracy"] for r in a] == [r["test_accuracy"] for r in b]


def test_random_differs_across_seeds(features):
    a = E.simulate(features, "random", rounds=1, batch=10, seed=0)
    b = E.simulate(features, "random", rounds=1, batch=10, seed=1)
    assert a[-1]["picked"] != b[-1]["picked"]


def test_uncertainty_picks_uncertain_points(features):
    rows = E.simulate(features, "least_confidence", rounds=1, batch=10, seed=0)
    picked = rows[-1]["picked"]
    # The head learns, and what it picks is less confidently predicted than the rest.
    assert rows[0]["test_accuracy"] > 0.6
    trainer = E.HeadTrainer(16, 3)
    x_train, y_train = features["train"]
    x_pool = features["pool"][0]
    stats = np.concatenate([x_train, x_pool])
    mean, std = stats.mean(0), stats.std(0) + 1e-6
    trainer.fit(((x_train - mean) / std).astype(np.float32), y_train, seed=0)
    top = trainer.predict(((x_pool - mean) / std).astype(np.float32)).max(1)
    others = np.setdiff1d(np.arange(len(x_pool)), picked)
    assert top[picked].max() <= top[others].min() + 1e-9


def test_k_center_spreads_out():
    pool = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5], [10, 0]])
    labelled = np.array([[0.0, 0.05]])
    picked = E.k_center_greedy(pool, labelled, 2)
    assert set(picked.tolist()) == {4, 2} or set(picked.tolist()) == {4, 3}
    assert picked[0] == 4  # the farthest point first


def test_run_summary_and_curves(features, tmp_path):
    rows = E.run(features, ("random", "entropy"), seeds=(0, 1), rounds=2, batch=5)
    assert len(rows) == 2 * 2 * 3
    curves = E.curves(rows)
    labels, acc = curves["entropy"]
    assert labels.tolist() == [0, 5, 10] and acc.shape == (2, 3)
    table = E.summary(rows, target=0.0)
    assert table["random"]["labels_to_target"] == 0
    assert 0 <= table["entropy"]["aulc_mean"] <= 1
    assert E.summary(rows, target=1.1)["random"]["labels_to_target"] is None
    path = E.save_rows(rows, tmp_path / "rows.json")
    assert path.read_text().startswith("[")


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"strategy": "bald"}, "unknown strategy"),
        ({"rounds": 0}, "rounds"),
        ({"batch": 100}, "pool has"),
        ({"initial": 0}, "initial"),
    ],
)
def test_bad_input(features, kwargs, words):
    args = {"strategy": "random", "rounds": 2, "batch": 10, **kwargs}
    with pytest.raises(ValueError, match=words):
        E.simulate(features, **args)


def test_bad_run_input(features):
    with pytest.raises(ValueError, match="unknown strategies"):
        E.run(features, ("random", "oracle"))
    with pytest.raises(ValueError, match="seeds"):
        E.run(features, seeds=())
