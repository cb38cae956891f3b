"""Plots the notebooks share: galleries, class balance, training curves, confusions, reliability."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from . import checks, config
from .heads import expected_calibration_error

__all__ = [
    "stamp",
    "show_images",
    "plot_class_balance",
    "plot_history",
    "confusion_matrix",
    "plot_confusion",
    "plot_probabilities",
    "plot_learning_curves",
    "plot_accuracies",
    "wrap_title",
    "reliability_bins",
    "plot_reliability",
]

_SOURCES = {"offline": "generated images, not tf_flowers", "full": "tf_flowers"}


def stamp(fig, profile: str | None = None):
    """Lay the figure out and write in its corner which profile made it.

    Every figure of the tutorial carries it, so a plot of the offline profile's
    generated images is never taken for a tf_flowers result.
    """
    profile = profile or config.get_profile()
    if all(ax.get_subplotspec() is not None for ax in fig.axes):
        fig.tight_layout(rect=(0, 0.04, 1, 1))  # figures laid out by hand keep theirs
    label = f"{profile} profile · {_SOURCES.get(profile, profile)}"
    fig.text(0.995, 0.005, label, ha="right", va="bottom", fontsize=7, color="0.4")
    return fig


def wrap_title(title: str, width: int) -> str:
    """``title`` with each line (and each ``"; "``-separated part) wrapped to
    ``width`` characters, so that neighbouring panels' titles never overlap."""
    lines = []
    for line in str(title).split("\n"):
        for part in line.split("; "):
            lines += textwrap.wrap(part, width, break_long_words=False) or [""]
    return "\n".join(lines)


def _title_width(panel_inches: float, fontsize: float) -> int:
    """Characters of a ``fontsize`` title that fit in a panel ``panel_inches`` wide."""
    return max(8, int(panel_inches * 72 / (0.6 * fontsize)) - 3)


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size=1.6):
    """A grid of images (uint8 or float in [0, 1]) with optional titles."""
    images = list(images)
    if not images:
        raise ValueError("no images to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    width = _title_width(size, 8)
    wrapped = None if titles is None else [wrap_title(t, width) for t in titles]
    lines = 0 if wrapped is None else max(t.count("\n") + 1 for t in wrapped)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, (size + 0.15 * lines) * nrows + 0.3),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(np.asarray(image))
        if wrapped is not None:
            ax.set_title(wrapped[i], fontsize=8)
    return stamp(fig)


def plot_class_balance(counts: dict[str, np.ndarray], class_names: Sequence[str]):
    """Grouped bars: the share of each class in each split."""
    fig, ax = plt.subplots(figsize=(8, 3))
    width = 0.8 / len(counts)
    x = np.arange(len(class_names))
    for i, (split, c) in enumerate(counts.items()):
        c = np.asarray(c, dtype=float)
        ax.bar(x + i * width, c / c.sum(), width, label=f"{split} ({int(c.sum())})")
    ax.set_xticks(x + width * (len(counts) - 1) / 2, class_names)
    ax.set_xlabel("class")
    ax.set_ylabel("share of the split")
    ax.legend(fontsize=8, ncols=len(counts))
    ax.set_title("Class balance of each split")
    return stamp(fig)


def plot_history(
    history: dict[str, list[float]], title: str = "Training curves", xlabel="epoch"
):
    """Loss and accuracy per epoch, train and validation; stage 2 shaded if present."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], "o-", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "o-", label="validation")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        stages = np.asarray(history.get("stage", []))
        if (stages == 2).any():
            start = epochs[stages == 2][0] - 0.5
            ax.axvspan(start, epochs[-1] + 0.5, color="grey", alpha=0.15)
            ax.text(start + 0.1, ax.get_ylim()[1], "fine-tuning", va="top", fontsize=8)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return stamp(fig)


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shapes differ: {y_true.shape} and {y_pred.shape}")
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def plot_confusion(y_true, y_pred, class_names: Sequence[str], title="Test set"):
    """Confusion matrix with counts in the cells."""
    m = confusion_matrix(y_true, y_pred, len(class_names))
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        colour = "white" if v > m.max() / 2 else "black"
        ax.text(j, i, str(v), ha="center", va="center", color=colour, fontsize=8)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(m) / max(m.sum(), 1)
    ax.set_title(f"{title}: accuracy {accuracy:.1%}")
    return stamp(fig)


def plot_probabilities(images, probs, class_names, titles=None, ncols: int = 5):
    """Each image above a bar chart of its predicted class probabilities."""
    images, probs = list(images), np.asarray(probs)
    if len(images) != len(probs):
        raise ValueError(f"{len(images)} images for {len(probs)} rows of probs")
    nrows = -(-len(images) // ncols)
    ncols = min(ncols, len(images))
    k = len(class_names)
    # Laid out in inches, panel by panel: each image sits right above its bars, and
    # the wrapped titles get the height they need (tight_layout would put the same
    # gap between an image and its own bars as between two rows).
    panel, image = 2.3, 1.3
    width = _title_width(panel - 0.2, 8)
    wrapped = None if titles is None else [wrap_title(t, width) for t in titles]
    lines = 0 if wrapped is None else max(t.count("\n") + 1 for t in wrapped)
    title_h, bar_h, below = 0.15 * lines + 0.08, 0.12 * k + 0.1, 0.45
    row_h = title_h + image + 0.08 + bar_h + below + 0.12
    fig_w, fig_h = panel * ncols, row_h * nrows + 0.25
    fig = plt.figure(figsize=(fig_w, fig_h))

    def box(left, top, w, h):  # inches from the top-left corner -> figure fractions
        return [left / fig_w, 1 - (top + h) / fig_h, w / fig_w, h / fig_h]

    for i, (img, p) in enumerate(zip(images, probs)):
        r, c = divmod(i, ncols)
        x0, y0 = c * panel, r * row_h
        ax = fig.add_axes(box(x0 + (panel - image) / 2, y0 + title_h, image, image))
        ax.imshow(np.asarray(img))
        ax.axis("off")
        if wrapped is not None:
            ax.set_title(wrapped[i], fontsize=8)
        bar = fig.add_axes(
            box(x0 + 0.8, y0 + title_h + image + 0.08, panel - 0.95, bar_h)
        )
        bar.barh(np.arange(k), p, color="#1b9e77")
        bar.set_xlim(0, 1)
        bar.set_yticks(np.arange(k), class_names, fontsize=7)
        bar.tick_params(axis="x", labelsize=7)
        bar.set_xlabel("predicted probability", fontsize=7)
        bar.invert_yaxis()
    return stamp(fig)


def plot_learning_curves(curves: dict, title: str = "Test accuracy vs labels used"):
    """Mean accuracy per strategy with a band of ± one standard deviation over seeds.

    ``curves`` is what ``experiments.curves(rows)`` returns.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    for strategy, (labels, acc) in curves.items():
        mean, std = acc.mean(0), acc.std(0)
        colour = {"color": "black"} if strategy == "random" else {}
        ls = "--" if strategy == "random" else "-"
        name = strategy.replace("_", " ")
        line = ax.plot(labels, mean, marker="o", ls=ls, label=name, ms=3, **colour)
        ax.fill_between(
            labels, mean - std, mean + std, alpha=0.15, color=line[0].get_color()
        )
    ax.set_xlabel("labels bought from the pool")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return stamp(fig)


def plot_accuracies(
    ax,
    accuracies: dict,
    colors: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str = "test accuracy",
):
    """A dot plot of accuracies that stay readable when they differ by a point.

    ``accuracies`` maps a label (e.g. ``"random"``) to one accuracy or to one per
    seed (fractions in [0, 1]). Each label gets a row: a small dot per seed, a large
    dot at the mean with its value printed beside it, and, with two or more seeds,
    the 95 % confidence interval of the mean (Student's t). The axis is zoomed on
    the values, and its label says where it starts when that is not 0, so a gap of
    one point is visible without exaggerating it silently. Draws on ``ax`` (from
    ``plt.subplots``) and returns it; call :func:`stamp` on the figure.
    """
    from .many_rounds import t95

    if not isinstance(accuracies, dict) or not accuracies:
        raise TypeError("accuracies must be a non-empty dict label -> accuracies")
    values = {
        str(k): np.atleast_1d(np.asarray(v, dtype=np.float64)).reshape(-1)
        for k, v in accuracies.items()
    }
    for label, v in values.items():
        if not len(v) or not np.all((v >= 0) & (v <= 1)):
            raise ValueError(f"accuracies of {label!r} must be fractions in [0, 1]")
    if colors is not None and len(colors) != len(values):
        raise ValueError(f"{len(colors)} colors for {len(values)} rows")
    rows = np.arange(len(values))[::-1]  # the first label on top
    lows, highs = [], []
    for k, (y, v) in enumerate(zip(rows, values.values())):
        colour = None if colors is None else colors[k]
        mean = v.mean()
        half = t95(len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0
        if len(v) > 1:
            ax.plot(100 * v, np.full(len(v), y + 0.18), "o", ms=3, alpha=0.5,
                    color=colour)  # fmt: skip
            ax.errorbar(100 * mean, y, xerr=100 * half, fmt="none", capsize=4,
                        color=colour or "black")  # fmt: skip
        dot = ax.plot(100 * mean, y, "o", ms=8, color=colour)[0]
        text = f"{100 * mean:.1f} %" + (f" ± {100 * half:.1f}" if len(v) > 1 else "")
        ax.annotate(text, (100 * (mean + half), y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8,
                    color=dot.get_color())  # fmt: skip
        lows.append(min(v.min(), mean - half))
        highs.append(max(v.max(), mean + half))
    low, high = 100 * min(lows), 100 * max(highs)
    pad = max(0.5, 0.15 * (high - low))
    left = max(0.0, np.floor(low - pad))
    ax.set_xlim(left, min(100.0, high + 3 * pad) if high < 100 else 100.5)
    ax.set_yticks(rows, [label.replace("_", " ") for label in values])
    ax.set_ylim(rows.min() - 0.6, rows.max() + 0.6)
    seeds = max(len(v) for v in values.values())
    where = f"axis starts at {left:g} %, not 0" if left > 0 else "axis starts at 0"
    detail = f"{where}; mean over {seeds} seeds, 95 % interval" if seeds > 1 else where
    ax.set_xlabel(f"{xlabel} (%) · {detail}")
    ax.grid(axis="x", alpha=0.3)
    if title is not None:
        ax.set_title(title)
    return ax


def reliability_bins(probs, y_true, bins: int = 15):
    """Per confidence bin: mean confidence, accuracy and count (empty bins dropped).

    The same equal-width bins as :func:`alwidgets.heads.expected_calibration_error`.
    """
    p = checks.features("probs", probs).astype(np.float64)
    y = checks.labels("y_true", y_true, p.shape[1], len(p))
    bins = checks.integer("bins", bins, 1)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = [
        (confidence[which == b].mean(), correct[which == b].mean(), (which == b).sum())
        for b in range(bins)
        if (which == b).any()
    ]
    conf, acc, count = (np.array(column) for column in zip(*rows))
    return conf, acc, count.astype(np.int64)


def plot_reliability(
    probs: dict, y_true, profile: str, bins: int = 15, title: str = "Reliability"
):
    """Reliability diagram: accuracy against confidence, one line per model.

    ``probs`` maps a label (e.g. "before temperature scaling") to an
    ``(n, n_classes)`` table of probabilities on the same images ``y_true``. The
    diagonal is perfect calibration; each legend entry carries the model's ECE,
    and the title names the ``profile`` the numbers come from.
    """
    if not isinstance(probs, dict) or not probs:
        raise TypeError("probs must be a non-empty dict label -> probabilities")
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a string, got {type(profile).__name__}")
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfect calibration")
    for label, p in probs.items():
        conf, acc, count = reliability_bins(p, y_true, bins)
        ece = expected_calibration_error(p, y_true, bins)
        ax.plot(conf, acc, "o-", ms=3, label=f"{label} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"confidence (largest probability, {bins} bins)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(f"{title} ({profile} profile)")
    ax.legend(fontsize=8, loc="upper left")
    return stamp(fig, profile)
