"""The reliability diagram: its bins agree with the ECE, its title names the profile."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from alwidgets import heads, plots  # noqa: E402


def _table(n=400, k=4, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.3), size=n)
    y = rng.integers(0, k, size=n)
    return probs, y


def test_bins_weight_back_to_the_ece():
    probs, y = _table()
    conf, acc, count = plots.reliability_bins(probs, y, bins=10)
    assert count.sum() == len(y) and (count > 0).all()
    ece = np.sum(count / count.sum() * np.abs(acc - conf))
    assert ece == pytest.approx(heads.expected_calibration_error(probs, y, 10))


def test_a_perfect_oracle_sits_in_the_top_right_bin():
    y = np.array([0, 1, 2, 1])
    conf, acc, count = plots.reliability_bins(np.eye(3)[y], y)
    assert conf.tolist() == [1.0] and acc.tolist() == [1.0] and count.tolist() == [4]


def test_plot_reliability_title_and_legend():
    probs, y = _table()
    fig = plots.plot_reliability(
        {"before": probs, "after": np.full_like(probs, 0.25)}, y, "offline"
    )
    ax = fig.axes[0]
    assert ax.get_title() == "Reliability (offline profile)"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    ece = heads.expected_calibration_error(probs, y)
    assert labels[1] == f"before (ECE {ece:.3f})" and labels[2].startswith("after")
    plt.close(fig)


@pytest.mark.parametrize(
    "probs, y, profile, error",
    [
        ({}, [0], "offline", TypeError),
        ([[0.5, 0.5]], [0], "offline", TypeError),
        ({"a": [[0.5, 0.5]]}, [0], None, TypeError),
        ({"a": [[0.5, 0.5]]}, [0, 1], "offline", ValueError),
        ({"a": [[0.5, 0.5]]}, [2], "offline", ValueError),
    ],
)
def test_plot_reliability_refuses_bad_input(probs, y, profile, error):
    with pytest.raises(error):
        plots.plot_reliability(probs, y, profile)
    plt.close("all")


def _stamp_of(fig):
    return [t.get_text() for t in fig.texts]


def test_every_figure_says_which_profile_made_it(monkeypatch):
    monkeypatch.setenv("ALWIDGETS_PROFILE", "offline")
    probs, y = _table(k=3)
    images = [np.zeros((8, 8, 3), np.uint8)] * 3
    names = ["a", "b", "c"]
    rows = [
        {"strategy": "random", "seed": 0, "round": r, "labels_used": r,
         "test_accuracy": 0.5}
        for r in range(2)
    ]  # fmt: skip
    from alwidgets import many_rounds

    figures = [
        plots.show_images(images, names),
        plots.plot_class_balance({"train": np.array([1, 2, 3])}, names),
        plots.plot_history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.7]}),
        plots.plot_confusion(y, probs.argmax(1), names),
        plots.plot_probabilities(images, probs[:3], names),
        plots.plot_learning_curves(many_rounds.curves(rows)),
    ]
    for fig in figures:
        assert "offline profile · generated images, not tf_flowers" in _stamp_of(fig)
        plt.close(fig)
    fig = plots.plot_reliability({"head": probs}, y, "full")
    assert "full profile · tf_flowers" in _stamp_of(fig)
