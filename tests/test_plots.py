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


NAMES5 = ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
WHY = [
    "rare sub-type (dark purple tulip)",
    "rare sub-type (yellow rose); 23% towards daisy",
    "typical",
    "14% towards roses",
    "noisy (σ 0.07)",
]


def _title_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]


def test_gallery_titles_never_overlap_and_bars_say_what_they_show():
    rng = np.random.default_rng(0)
    images = [np.zeros((16, 16, 3), np.uint8)] * 10
    probs = rng.dirichlet(np.ones(5), size=10)
    titles = [f"true: tulips\nmax p = 0.49\n{w}" for w in WHY * 2]
    fig = plots.plot_probabilities(images, probs, NAMES5, titles=titles)
    boxes = _title_boxes(fig)
    assert len(boxes) == 10
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    bars = [ax for ax in fig.axes if not ax.get_title()]
    assert bars and all(ax.get_xlabel() == "predicted probability" for ax in bars)
    assert any(text.endswith("profile · generated images, not tf_flowers")
               or text.endswith("profile · tf_flowers") for text in _stamp_of(fig))  # fmt: skip
    plt.close(fig)


def test_image_grid_titles_are_wrapped_to_their_panel():
    images = [np.zeros((16, 16, 3), np.uint8)] * 6
    fig = plots.show_images(images, WHY + ["a"], ncols=6)
    boxes = _title_boxes(fig)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    plt.close(fig)


def test_wrap_title_keeps_lines_and_splits_at_semicolons():
    wrapped = plots.wrap_title(
        "true: roses\nrare sub-type (yellow rose); 23% towards daisy", 24
    )
    assert wrapped.split("\n")[0] == "true: roses"
    assert all(len(line) <= 24 for line in wrapped.split("\n"))
    assert "23% towards daisy" in wrapped.split("\n")


def test_class_balance_has_an_x_label():
    fig = plots.plot_class_balance({"train": np.array([1, 2, 3])}, ["a", "b", "c"])
    assert fig.axes[0].get_xlabel() == "class"
    plt.close(fig)


def test_accuracies_are_labelled_and_the_axis_says_where_it_starts(monkeypatch):
    monkeypatch.setenv("ALWIDGETS_PROFILE", "offline")
    fig, ax = plt.subplots()
    seeds = {
        "start": [0.905, 0.91, 0.915, 0.912, 0.918],
        "random": [0.92, 0.93, 0.925, 0.93, 0.935],
        "least_confidence": [0.95, 0.955, 0.952, 0.957, 0.956],
    }
    plots.plot_accuracies(ax, seeds, colors=["grey", "#7570b3", "#1b9e77"])
    plots.stamp(fig)
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("91.2 %") for t in texts)
    assert any(t.startswith("92.8 %") for t in texts)
    assert any(t.startswith("95.4 %") for t in texts)
    assert all("±" in t for t in texts)  # five seeds: a 95 % interval each
    left = ax.get_xlim()[0]
    assert 80 < left < 91.2  # zoomed on the values...
    assert f"axis starts at {left:g} %, not 0" in ax.get_xlabel()  # ...and says so
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "start",
        "random",
        "least confidence",
    ]  # fmt: skip (the first label on top)
    assert "offline profile · generated images, not tf_flowers" in _stamp_of(fig)
    plt.close(fig)


def test_one_accuracy_per_label_and_bad_input():
    fig, ax = plt.subplots()
    plots.plot_accuracies(ax, {"random": 0.928, "least confidence": 0.954})
    assert sorted(t.get_text() for t in ax.texts) == ["92.8 %", "95.4 %"]
    with pytest.raises(TypeError):
        plots.plot_accuracies(ax, [0.9])
    with pytest.raises(ValueError):
        plots.plot_accuracies(ax, {"random": 92.8})  # percent, not a fraction
    with pytest.raises(ValueError):
        plots.plot_accuracies(ax, {"a": 0.9}, colors=["red", "blue"])
    plt.close(fig)
