import numpy as np
import pytest

from alwidgets import many_rounds
from alwidgets.heads import HeadTrainer


@pytest.fixture(scope="module")
def features():
    """Three well-separated Gaussian classes in 16-d, plus a noisy direction."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2.0, size=(3, 16))

    def split(n):
        y = rng.integers(0, 3, n)
        return (centres[y] + rng.normal(0, 1.5, (n, 16))).astype(np.float32), y

    return {
        "train": split(30),
        "validation": split(60),
        "test": split(150),
        "pool": split(120),
    }


@pytest.mark.parametrize("strategy", many_rounds.STRATEGIES)
def test_invariants(features, strategy):
    rows = many_rounds.simulate(
        features, strategy, rounds=4, batch=10, seed=1, n_classes=3
    )
    assert [r["round"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["labels_used"] for r in rows] == [0, 10, 20, 30, 40]
    picked = rows[-1]["picked"]
    assert len(picked) == len(set(picked)) == 40  # no index twice
    assert all(0 <= i < len(features["pool"][0]) for i in picked)
    for a, b in zip(rows, rows[1:]):
        assert b["picked"][: len(a["picked"])] == a["picked"]  # labels are kept
    assert all(0 <= r["test_accuracy"] <= 1 for r in rows)


@pytest.mark.parametrize("strategy", many_rounds.STRATEGIES)
def test_same_seed_same_result(features, strategy):
    a = many_rounds.simulate(features, strategy, rounds=3, batch=8, seed=5, n_classes=3)
    b = many_rounds.simulate(features, strategy, rounds=3, batch=8, seed=5, n_classes=3)
    assert [r["picked"] for r in a] == [r["picked"] for r in b]
    assert [r["test_accuracy"] for r in a] == [r["test_accuracy"] for r in b]


def test_random_differs_across_seeds(features):
    a = many_rounds.simulate(
        features, "random", rounds=1, batch=10, seed=0, n_classes=3
    )
    b = many_rounds.simulate(
        features, "random", rounds=1, batch=10, seed=1, n_classes=3
    )
    assert a[-1]["picked"] != b[-1]["picked"]


def test_uncertainty_picks_uncertain_points(features):
    rows = many_rounds.simulate(
        features, "least_confidence", rounds=1, batch=10, seed=0, n_classes=3
    )
    picked = rows[-1]["picked"]
    # The head learns, and what it picks is less confidently predicted than the rest.
    assert rows[0]["test_accuracy"] > 0.6
    head = HeadTrainer().fit(*features["train"], 3, features["validation"])
    x_pool = features["pool"][0]
    top = head.predict_proba(x_pool).max(1)
    others = np.setdiff1d(np.arange(len(x_pool)), picked)
    assert top[picked].max() <= top[others].min() + 1e-9


def test_k_center_spreads_out():
    pool = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5], [10, 0]])
    labelled = np.array([[0.0, 0.05]])
    picked = many_rounds.k_center_greedy(pool, labelled, 2)
    assert set(picked.tolist()) == {4, 2} or set(picked.tolist()) == {4, 3}
    assert picked[0] == 4  # the farthest point first


def test_run_summary_and_curves(features, tmp_path):
    rows = many_rounds.run(
        features, ("random", "entropy"), seeds=(0, 1), rounds=2, batch=5, n_classes=3
    )
    assert all(0 <= r["test_ece"] <= 1 and r["l2"] > 0 for r in rows)
    assert len(rows) == 2 * 2 * 3
    curves = many_rounds.curves(rows)
    labels, acc = curves["entropy"]
    assert labels.tolist() == [0, 5, 10] and acc.shape == (2, 3)
    table = many_rounds.summary(rows, target=0.0)
    assert table["random"]["labels_to_target"] == 0
    assert 0 <= table["entropy"]["aulc_mean"] <= 1
    assert many_rounds.summary(rows, target=1.1)["random"]["labels_to_target"] is None
    path = many_rounds.save_rows(rows, tmp_path / "rows.json")
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
        many_rounds.simulate(features, **args, n_classes=3)


def _with(features, split, x=None, y=None):
    out = dict(features)
    fx, fy = features[split]
    out[split] = (fx if x is None else x, fy if y is None else y)
    return out


def _bad_inputs(f):
    x_pool, y_pool = f["pool"]
    nan_pool = x_pool.copy()
    nan_pool[3, 2] = np.nan
    y_neg = f["train"][1].copy()
    y_neg[0] = -1
    return [
        (_with(f, "pool", x=nan_pool), ValueError, r"features\['pool'\] has NaN"),
        (_with(f, "pool", y=y_pool + 3), ValueError, r"labels of 'pool'.*\[0, 3\)"),
        (_with(f, "test", y=f["test"][1] * 2 + 1), ValueError, "labels of 'test'"),
        (_with(f, "train", y=y_neg), ValueError, "labels of 'train'"),
        (_with(f, "train", y=f["train"][1].astype(float)), TypeError, "integers"),
        (_with(f, "pool", y=y_pool[:-1]), ValueError, "labels for 120 rows"),
        (_with(f, "test", x=f["test"][0][:, :8]), ValueError, "8 columns"),
        ({k: v for k, v in f.items() if k != "validation"}, ValueError, "validation"),
    ]


@pytest.mark.parametrize("case", range(8))
@pytest.mark.parametrize("strategy", ["random", "k_center", "entropy"])
def test_bad_features_are_refused_before_any_training(
    features, case, strategy, monkeypatch
):
    bad, error, words = _bad_inputs(features)[case]

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the input")

    monkeypatch.setattr(HeadTrainer, "fit", no_training)
    with pytest.raises(error, match=words):
        many_rounds.run(bad, [strategy], seeds=(0,), rounds=1, batch=5, n_classes=3)


def test_bad_run_input(features):
    with pytest.raises(ValueError, match="unknown 'oracle'"):
        many_rounds.run(features, ("random", "oracle"), n_classes=3)
    with pytest.raises(TypeError, match="list of names"):
        many_rounds.run(features, "entropy", n_classes=3)
    with pytest.raises(ValueError, match="seeds"):
        many_rounds.run(features, seeds=(), n_classes=3)
    with pytest.raises(TypeError, match="n_classes"):
        many_rounds.run(features, ("random",))
    with pytest.raises(ValueError, match="n_classes"):
        many_rounds.run(features, ("random",), n_classes=1)


def test_seeds_vary_the_starting_set_with_initial(features):
    rows = many_rounds.run(
        features, ["random"], seeds=(0, 1), rounds=1, batch=5, initial=10, n_classes=3
    )
    first = [r for r in rows if r["round"] == 0]
    assert first[0]["test_accuracy"] != first[1]["test_accuracy"] or (
        first[0]["picked"] != first[1]["picked"]
    )


def test_seeds_come_from_the_environment_when_set(monkeypatch):
    from alwidgets.many_rounds import seeds

    monkeypatch.delenv("ALWIDGETS_SEEDS", raising=False)
    assert seeds(5) == [0, 1, 2, 3, 4]
    monkeypatch.setenv("ALWIDGETS_SEEDS", "100-114")
    assert seeds(5) == [100, 101, 102, 103, 104] and len(seeds(15)) == 15
    monkeypatch.setenv("ALWIDGETS_SEEDS", "3, 8,20-22,8")
    assert seeds(5) == [3, 8, 20, 21, 22]
    with pytest.raises(ValueError, match="gives 5 seeds; this needs 6"):
        seeds(6)
    for bad in ("five", "9-2", "1;2", "-3"):
        monkeypatch.setenv("ALWIDGETS_SEEDS", bad)
        with pytest.raises(ValueError, match="ALWIDGETS_SEEDS"):
            seeds(1)


def test_typiclust_cold_start_then_least_confidence(features):
    rows = many_rounds.simulate(
        features, "typiclust", rounds=4, batch=6, seed=0, initial=4, n_classes=3
    )
    phases = [r["picked_by"] for r in rows]
    assert phases[0] == "typiclust" and phases[-1] is None
    switch = phases.index("least_confidence")  # once every class has 3 labels
    assert all(p == "typiclust" for p in phases[:switch])
    assert all(p == "least_confidence" for p in phases[switch:-1])
    lc = many_rounds.simulate(
        features, "least_confidence", rounds=4, batch=6, seed=0, initial=4, n_classes=3
    )
    assert rows[0]["test_accuracy"] == lc[0]["test_accuracy"]  # the same start
    assert rows[0]["picked"] == [] and rows[1]["picked"] != lc[1]["picked"]
    assert len(set(rows[-1]["picked"])) == 24
