"""Plots the notebooks share: galleries, class balance, training curves, confusions, reliability."""

from __future__ import annotations

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
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    label = f"{profile} profile · {_SOURCES.get(profile, profile)}"
    fig.text(0.995, 0.005, label, ha="right", va="bottom", fontsize=7, color="0.4")
    return fig


def show_images(images, titles: Sequence[str] | None = None, ncols: int = 8, size=1.6):
    """A grid of images (uint8 or float in [0, 1]) with optional titles."""
    images = list(images)
    if not images:
        raise ValueError("no images to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(np.asarray(image))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
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
    fig, axes = plt.subplots(
        2 * nrows, ncols, figsize=(2.2 * ncols, 3.6 * nrows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, p) in enumerate(zip(images, probs)):
        r, c = divmod(i, ncols)
        axes[2 * r, c].imshow(np.asarray(image))
        if titles is not None:
            axes[2 * r, c].set_title(titles[i], fontsize=8)
        bar = axes[2 * r + 1, c]
        bar.axis("on")
        bar.barh(np.arange(len(class_names)), p, color="#1b9e77")
        bar.set_xlim(0, 1)
        bar.set_yticks(np.arange(len(class_names)), class_names, fontsize=7)
        bar.tick_params(axis="x", labelsize=7)
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
