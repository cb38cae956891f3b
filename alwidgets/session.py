"""``ActiveLearningSession``: label, the head retrains, the queue re-ranks, the curve grows.

The annotator of :mod:`alwidgets.annotate` plus the loop, in one widget. The
learner labels pool images; every ``retrain_every`` labels (or on the key ``r``)
the one head trainer of :mod:`alwidgets.heads` retrains on the training split plus
the labels so far (cached features, one fixed L2 strength), the rest of the pool
is scored with the chosen criterion and the queue re-ranked: the next image shown
is the most uncertain one *now*. A plot beside the image shows validation accuracy
(and, in oracle mode, test accuracy) against labels spent, a random-sampling
reference, and the labels spent per class.

Nothing is lost: labels go through the same :class:`~alwidgets.labels.LabelStore`
(crash-safe, replayable) and every retrain appends one row to a history file
beside it (``labels.jsonl`` -> ``labels.history.jsonl``). Re-creating the session
on the same files retrains from the labels and continues.

The kernel does the retraining between two images (well under a second): while it
does, the widget says "updating", its buttons are disabled and the front end
(``static/session.js``) holds the keys instead of letting them label an image
the learner has not seen yet; it says how many it did not use.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets

from . import checks
from .annotate import STATIC, ImageAnnotator, probability_bars
from .config import get_profile
from .criteria import CRITERIA, select
from .heads import Head, HeadTrainer
from .jsonl import append_line
from .labels import check_classes, next_open

__all__ = [
    "ActiveLearningSession",
    "HISTORY_FORMAT",
    "history_path",
    "read_history",
    "random_reference",
]

HISTORY_FORMAT = "alwidgets-session-history"
HISTORY_VERSION = 1
#: Colour of each criterion in the plot.
COLOURS = {
    "least_confidence": "#1b9e77",
    "smallest_margin": "#d95f02",
    "entropy": "#7570b3",
}


class _Guard(anywidget.AnyWidget):
    """Front-end half of the session (``static/session.js``): holds keys while busy."""

    _esm = STATIC / "session.js"
    _css = STATIC / "session.css"
    busy = traitlets.Bool(False).tag(sync=True)
    #: The next label completes a batch: the front end holds keys from that key on.
    armed = traitlets.Bool(False).tag(sync=True)
    #: Incremented after every key the kernel handled.
    settled = traitlets.Int(0).tag(sync=True)
    handled_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)


# -- the history file ------------------------------------------------------------


def history_path(label_path) -> Path:
    """Where the retrain history of ``label_path`` lives (``x.jsonl`` -> ``x.history.jsonl``)."""
    if not isinstance(label_path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(label_path).__name__}")
    path = Path(label_path)
    return path.with_name(f"{path.stem}.history.jsonl")


def read_history(path, classes: Sequence[str] | None = None) -> list[dict]:
    """The retrain rows of a history file (a last line cut short by a crash is ignored)."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    try:
        header = json.loads(lines[0])
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != HISTORY_FORMAT:
        raise ValueError(
            f"{path} is not an alwidgets session history (no '{HISTORY_FORMAT}' "
            "header); it was left untouched. Choose another label file."
        )
    if classes is not None and header.get("classes") != list(classes):
        raise ValueError(
            f"{path} was made for classes {header.get('classes')}, not {list(classes)}"
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines):  # the last line, cut short by a crash
                warnings.warn(f"{path}: ignored a last line cut short by a crash")
                break
            raise ValueError(f"{path}, line {number}: not a history row") from None
        if not isinstance(row, dict) or "labels_used" not in row:
            raise ValueError(f"{path}, line {number}: not a history row")
        rows.append(row)
    return rows


def _json_line(row: dict) -> bytes:
    return (json.dumps(row) + "\n").encode("utf8")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(items: Sequence[int], labels: Sequence[int]) -> str:
    text = json.dumps([list(map(int, items)), list(map(int, labels))])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


# -- input checks -----------------------------------------------------------------


def _pair(name: str, pair, n_classes: int, width: int | None):
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name} must be a pair (features, labels)")
    x = checks.features(f"{name} features", pair[0])
    y = checks.labels(f"{name} labels", pair[1], n_classes, len(x))
    if width is not None and x.shape[1] != width:
        raise ValueError(f"{name} has {x.shape[1]} features, the pool {width}")
    return x, y


def _fixed_trainer(trainer, train, validation, n_classes) -> HeadTrainer:
    """``trainer`` with a fixed L2 strength (chosen once on validation if it has none)."""
    if trainer is None:
        trainer = HeadTrainer()
    if not isinstance(trainer, HeadTrainer):
        raise TypeError(f"trainer must be a HeadTrainer, got {type(trainer).__name__}")
    if trainer.l2 is not None:
        return trainer
    head = trainer.fit(*train, n_classes, validation)  # the grid, once
    return HeadTrainer(head.l2, trainer.max_iter, trainer.patience, trainer.calibrate)


# -- the random-sampling reference --------------------------------------------------


def random_reference(
    train,
    validation,
    pool_features,
    pool_labels,
    steps: Sequence[int],
    n_classes: int,
    seeds: Sequence[int] = (0, 1, 2),
    trainer: HeadTrainer | None = None,
    test=None,
) -> dict:
    """Accuracy of heads trained on ``train`` + ``n`` random pool labels (the oracle's).

    For each ``n`` in ``steps`` and each seed: ``validation_accuracy`` and, with
    ``test``, ``test_accuracy`` (arrays seeds × steps). The session plots their
    mean as the curve to beat. ``trainer`` should have a fixed L2 strength.
    """
    n_classes = checks.integer("n_classes", n_classes, 2)
    pool = checks.features("pool_features", pool_features)
    y_pool = checks.labels("pool_labels", pool_labels, n_classes, len(pool))
    train = _pair("train", train, n_classes, pool.shape[1])
    validation = _pair("validation", validation, n_classes, pool.shape[1])
    test = None if test is None else _pair("test", test, n_classes, pool.shape[1])
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise TypeError(f"steps must be a list of label counts, got {steps!r}")
    steps = [checks.integer("step", s, 0, len(pool)) for s in steps]
    if not steps:
        raise ValueError("steps is empty: give at least one label count")
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of integers, got {seeds!r}")
    seeds = [checks.integer("seed", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    trainer = _fixed_trainer(trainer, train, validation, n_classes)
    val = np.zeros((len(seeds), len(steps)))
    tst = np.zeros((len(seeds), len(steps)))
    for i, seed in enumerate(seeds):
        order = np.random.default_rng(seed).permutation(len(pool))
        for j, n in enumerate(steps):
            picked = order[:n]
            x = np.concatenate([train[0], pool[picked]])
            y = np.concatenate([train[1], y_pool[picked]])
            head = trainer.fit(x, y, n_classes, validation)
            val[i, j] = _accuracy(head, *validation)
            if test is not None:
                tst[i, j] = _accuracy(head, *test)
    out = {"labels_used": np.array(steps), "validation_accuracy": val}
    if test is not None:
        out["test_accuracy"] = tst
    return out


def _accuracy(head: Head, x, y) -> float:
    return float((head.predict_proba(x).argmax(1) == y).mean())


# -- the session ------------------------------------------------------------------


class ActiveLearningSession(ImageAnnotator):
    """Label pool images with the model in the loop: retrain, re-rank, plot.

    Parameters
    ----------
    images
        The pool's images, in pool order (anything :class:`ImageAnnotator` takes,
        e.g. the pool's ``tf.data`` dataset). Item ``i`` is pool image ``i``.
    classes
        Class names; keys ``1``…``9`` pick them in this order.
    path
        The label file (see :mod:`alwidgets.labels`); the retrain history goes
        beside it (:func:`history_path`). Existing files are resumed.
    pool_features
        (n, d) cached features of the pool images.
    train, validation
        ``(features, labels)`` of the labelled start and of the validation split
        (L2, early stopping, temperature and the plotted accuracy).
    criterion
        ``least_confidence``, ``smallest_margin`` or ``entropy``; switch with
        :meth:`set_criterion` or the buttons (each switch is recorded).
    retrain_every
        Retrain and re-rank after this many new labels (and on the key ``r``).
    budget
        Labels to spend (default: every pool image).
    trainer
        The :class:`~alwidgets.heads.HeadTrainer`; without a fixed ``l2`` it is
        chosen once, at the start, on the validation split.
    test
        Optional ``(features, labels)``: test accuracy on the plot (oracle mode).
    true_labels
        Optional pool labels: *oracle mode* (feedback per label, :meth:`oracle`).
    reference
        Optional :func:`random_reference` result, plotted as the curve to beat.
    profile
        Named on the plot (default: the active profile).
    """

    KEYMAP = {**ImageAnnotator.KEYMAP, "retrain": ("r",)}

    def __init__(
        self,
        images,
        classes: Sequence[str],
        path: str | os.PathLike,
        pool_features,
        train,
        validation,
        *,
        criterion: str = "least_confidence",
        retrain_every: int = 10,
        budget: int | None = None,
        trainer: HeadTrainer | None = None,
        test=None,
        true_labels=None,
        reference: dict | None = None,
        profile: str | None = None,
        autofocus: bool = True,
        debounce_s: float = 0.25,
    ) -> None:
        classes = list(check_classes(classes))
        n_classes = len(classes)
        pool = checks.features("pool_features", pool_features)
        self.criterion = checks.choice("criterion", criterion, list(CRITERIA))
        self.retrain_every = checks.integer("retrain_every", retrain_every, 1)
        self._train = _pair("train", train, n_classes, pool.shape[1])
        self._validation = _pair("validation", validation, n_classes, pool.shape[1])
        self._test = (
            None if test is None else _pair("test", test, n_classes, pool.shape[1])
        )
        if reference is not None:
            if not isinstance(reference, dict) or not {
                "labels_used",
                "validation_accuracy",
            } <= set(reference):
                raise ValueError(
                    "reference must come from random_reference() (labels_used, "
                    "validation_accuracy)"
                )
        if true_labels is not None:
            true_labels = checks.labels("true_labels", true_labels, n_classes)
            if len(true_labels) != len(pool):
                raise ValueError(
                    f"true_labels has {len(true_labels)} labels for {len(pool)} "
                    "pool images"
                )
        if profile is None:
            profile = get_profile()
        if not isinstance(profile, str):
            raise TypeError(f"profile must be a string, got {type(profile).__name__}")
        self.profile = profile
        self.reference = reference
        self._pool = pool
        self._trainer = _fixed_trainer(
            trainer, self._train, self._validation, n_classes
        )
        self._head: Head | None = None
        self._pool_probs = np.full((len(pool), n_classes), 1.0 / n_classes)
        self._scores = np.zeros(len(pool))
        self._defer = False
        self._labelled_at = 0
        self._pending = ""
        self.history: list[dict] = []
        #: Re-ranks done in this session (not counting the first ranking).
        self.reranks = 0
        self.plot_png = b""
        super().__init__(
            images,
            classes,
            path,
            items=None,
            probs=None,
            true_labels=true_labels,
            budget=budget,
            autofocus=autofocus,
            debounce_s=debounce_s,
        )
        if len(self.items) != len(pool):
            raise ValueError(f"{len(self.items)} images for {len(pool)} pool features")
        self._jpeg = list(self._encoded)  # pool order; the queue is a permutation
        self._true_pool = None if self._true is None else self._true.copy()
        self.history_path = history_path(self.path)
        self._open_history()
        self._extend_view()
        self._update("resume" if self.n_labelled else "start")

    # -- history ------------------------------------------------------------------------

    def _open_history(self) -> None:
        if self.history_path.exists() and self.history_path.stat().st_size > 0:
            self.history = read_history(self.history_path, self.classes)
            raw = self.history_path.read_bytes()
            if not raw.endswith(b"\n"):  # a line cut short by a crash: drop it
                with open(self.history_path, "r+b") as f:
                    f.truncate(raw.rfind(b"\n") + 1)
                    f.flush()
                    os.fsync(f.fileno())
            return
        header = {
            "format": HISTORY_FORMAT,
            "version": HISTORY_VERSION,
            "label_file": self.path.name,
            "classes": list(self.classes),
            "retrain_every": self.retrain_every,
        }
        append_line(self.history_path, header)
        self.history = []

    @property
    def head(self) -> Head | None:
        """The head trained on the labels of the latest retrain."""
        return self._head

    @property
    def labels_at_last_retrain(self) -> int:
        """Labels the current head was trained with (-1 before the first training)."""
        return self.history[-1]["labels_used"] if self.history else -1

    @property
    def queue(self) -> list[int]:
        """Unlabelled pool items in the current order, most uncertain first."""
        labels = self.state.labels
        return [i for i in self.items if i not in labels]

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Pool items labelled so far (in the order labelled) and their class indices."""
        index = {c: k for k, c in enumerate(self.classes)}
        labels = self.state.labels
        items = np.array(list(labels), dtype=np.int64)
        y = np.array([index[labels[i]] for i in items], dtype=np.int64)
        return items, y

    # -- the loop ----------------------------------------------------------------------

    def _due(self, n: int) -> bool:
        last = max(self.labels_at_last_retrain, 0)
        return n >= last + self.retrain_every or (n >= self.budget and n != last)

    def _update(self, reason: str) -> dict:
        """Retrain on train + labels, re-score the pool, re-rank the queue, plot."""
        items, y_new = self.labelled()
        n = len(items)
        self._set_busy(True, f"⟳ updating the model: retraining on {n} labels…")
        try:
            started = time.perf_counter()
            x = np.concatenate([self._train[0], self._pool[items]])
            y = np.concatenate([self._train[1], y_new])
            head = self._trainer.fit(x, y, len(self.classes), self._validation)
            trained = time.perf_counter()
            probs = head.predict_proba(self._pool)
            scores = CRITERIA[self.criterion](probs)
            before = self.queue[:10]
            self._head, self._pool_probs, self._scores = head, probs, scores
            self._reorder()
            ranked = time.perf_counter()
            row = {
                "retrain": len(self.history),
                "reason": reason,
                "labels_used": n,
                "criterion": self.criterion,
                "validation_accuracy": _accuracy(head, *self._validation),
                "test_accuracy": None
                if self._test is None
                else _accuracy(head, *self._test),
                "per_class": np.bincount(y_new, minlength=len(self.classes)).tolist(),
                "train_s": round(trained - started, 4),
                "rank_s": round(ranked - trained, 4),
                "time": _now(),
                "digest": _digest(items, y_new),
                "l2": head.l2,
            }
            last = self.history[-1] if self.history else None
            same = (
                last is not None
                and last["digest"] == row["digest"]
                and last["criterion"] == row["criterion"]
            )
            if not same:
                append_line(self.history_path, row)
                self.history.append(row)
            after = self.queue[:10]
            changed = len(set(after) - set(before))
            if reason not in ("start", "resume") and not same:
                self.reranks += 1
        except BaseException:
            self._set_busy(False, "⚠ the update failed: see the error in the cell")
            raise
        seconds = ranked - started
        if reason in ("start", "resume"):
            text = (
                f"Model trained on {n} labels in {seconds:.2f} s; the queue is "
                f"ranked by {self.criterion.replace('_', ' ')}."
            )
        elif same:
            text = f"The model is up to date with these {n} labels."
        else:
            text = (
                f"✓ retrained on {n} labels and re-ranked in {seconds:.2f} s "
                f"(re-rank #{self.reranks}, by {self.criterion.replace('_', ' ')}): "
                f"{changed} of the next 10 images changed; this one is the most "
                "uncertain now."
            )
        self._set_busy(False, text)
        self._render(self._pending)  # the next image first: it is what one waits for
        self._pending = ""
        self._guard.settled += 1  # it is on screen: the front end may send keys again
        self._draw_plot()
        return row

    def _reorder(self) -> None:
        """Queue = labelled items (in order), then the rest, most uncertain first."""
        labels = self.state.labels
        done = [i for i in labels]
        rest = np.setdiff1d(np.arange(len(self._pool)), np.array(done, dtype=np.int64))
        ranked = rest[select(self._scores[rest], len(rest))] if len(rest) else rest
        order = [*done, *ranked.tolist()]
        self.items = order
        self._position = {item: k for k, item in enumerate(order)}
        self._encoded = [self._jpeg[i] for i in order]
        if self._true_pool is not None:
            self._true = self._true_pool[order]
        self.current = next_open(self.state, self.items, len(done))

    # -- actions -------------------------------------------------------------------------

    def label(self, cls: str | int) -> None:
        """Give the current image class ``cls``; retrain and re-rank when a batch is full."""
        before = self.n_labelled
        self._labelled_at = self.current
        item = self.items[self.current]
        new = item not in self.state.labels and not self.done
        self._defer = new and self._due(before + 1)
        try:
            super().label(cls)
        finally:
            defer, self._defer = self._defer, False
        if self.n_labelled > before and self._due(self.n_labelled):
            self._update("budget" if self.done else "every")
        elif defer:  # not saved (the error is on screen): nothing was deferred
            self._pending = ""

    def retrain(self) -> None:
        """Retrain and re-rank now (the key ``r``)."""
        if not self.active:
            self._message(self._stopped_text(), "error")
            return
        self._update("key")

    def set_criterion(self, criterion: str) -> None:
        """Rank by ``criterion`` from now on (re-ranks at once; recorded)."""
        criterion = checks.choice("criterion", criterion, list(CRITERIA))
        if criterion != self._criterion_buttons.value:
            self._criterion_buttons.value = criterion  # comes back here
            return
        if criterion == self.criterion:
            return
        if not self.active:  # a newer session owns the files now
            self._message(self._stopped_text(), "error")
            self._criterion_buttons.value = self.criterion
            return
        self.criterion = criterion
        self._update("criterion")

    def oracle(self, n: int | None = None) -> list[dict]:
        """Label ``n`` more images (default: the rest of the budget) with the true
        labels, by pressing keys as the front end does. Needs ``true_labels``."""
        if self._true is None:
            raise ValueError("oracle() needs true_labels (oracle mode)")
        left = self.budget - self.n_labelled
        n = left if n is None else checks.integer("n", n, 0, left)
        for _ in range(n):
            position = self.current
            if self.items[position] in self.state.labels:
                break  # nothing open: the budget is spent
            self.press(str(int(self._true[position]) + 1))
            if self.last_error or self._stopped:
                break
        return self.history

    # -- the front end --------------------------------------------------------------------

    def _on_front_end_message(self, widget, content, buffers) -> None:
        try:
            super()._on_front_end_message(widget, content, buffers)
        finally:
            self._sync_guard(settle=True)

    def _sync_guard(self, settle: bool) -> None:
        """Tell the front end whether the next label retrains; ``settle``: a key
        was handled (the front end stops holding keys)."""
        item = self.items[self.current]
        open_ = item not in self.state.labels and not self.done
        self._guard.armed = bool(open_ and self._due(self.n_labelled + 1))
        if settle:
            self._guard.settled += 1

    def _set_busy(self, busy: bool, text: str) -> None:
        self._guard.busy = busy
        kind = "alw-busy" if busy else "alw-ready"
        self._status.value = f'<div class="alw-status {kind}">{html.escape(text)}</div>'
        if busy:
            for button in [*self._class_buttons, *self._nav_buttons.values()]:
                button.disabled = True

    def _extend_view(self) -> None:
        self._status = widgets.HTML()
        self._plot = widgets.Image(format="png", layout={"width": "480px"})
        self._plot.add_class("alw-plot")
        self._criterion_buttons = widgets.ToggleButtons(
            options=[(c.replace("_", " "), c) for c in CRITERIA],
            value=self.criterion,
            tooltips=["rank the queue by this criterion" for _ in CRITERIA],
            style={"button_width": "auto"},
        )
        self._criterion_buttons.observe(
            lambda change: self.set_criterion(change["new"]), names="value"
        )
        keys = [str(k + 1) for k in range(len(self.classes))]
        keys += [k for ks in self.KEYMAP.values() for k in ks]
        self._guard = _Guard(handled_keys=keys)
        children = list(self.children)
        image_row = children[1]
        children[1] = widgets.HBox(
            [
                *image_row.children,
                widgets.VBox([self._plot, self._criterion_buttons]),
            ]
        )
        children.insert(1, self._status)
        children.append(self._guard)
        self.children = children
        self.add_class("alwidgets-session")
        self._sync_guard(settle=False)

    def _render(self, feedback: str = "") -> None:
        if self._defer:  # a retrain follows: the next image comes after it; until
            self._pending = feedback  # then, the image just labelled, with its label
            following, self.current = self.current, self._labelled_at
            try:
                super()._render(feedback)
            finally:
                self.current = following
            return
        super()._render(feedback)
        if hasattr(self, "_guard"):
            self._sync_guard(settle=False)

    def _model_panel(self, item) -> str:
        current = self.state.labels.get(item)
        status = f"your label: <b>{html.escape(current)}</b>" if current else ""
        if item in self.state.skipped and not current:
            status = "skipped"
        rows = [f"<div>pool image {item} {('· ' + status) if status else ''}</div>"]
        if self._head is None:
            return "".join(rows)
        queue = self.queue
        criterion = html.escape(self.criterion.replace("_", " "))
        where = (
            f"rank {queue.index(item) + 1} of {len(queue)} unlabelled by {criterion}"
            if item in queue
            else "already labelled"
        )
        last = self.history[-1] if self.history else {"labels_used": 0}
        rows.append(
            f"<div><b>Model</b> after {last['labels_used']} labels · {where}</div>"
        )
        p = self._pool_probs[item]
        rows += probability_bars(self.classes, p)
        rows.append(
            f"<div><small>{criterion} score {self._scores[item]:.3f} (higher = more "
            "uncertain)</small></div>"
        )
        return "".join(rows)

    # -- the plot ----------------------------------------------------------------------

    def figure(self):
        """The live plot as a matplotlib ``Figure`` (no pyplot: it is not shown twice)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.2, 3.1), dpi=96)
        ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.2]})
        ref = self.reference
        if ref is not None:
            steps = np.asarray(ref["labels_used"])
            val = np.asarray(ref["validation_accuracy"])
            ax.plot(steps, val.mean(0), color="grey", lw=1, label="random (val.)")
            ax.fill_between(
                steps,
                val.mean(0) - val.std(0),
                val.mean(0) + val.std(0),
                color="grey",
                alpha=0.2,
                lw=0,
            )
            if "test_accuracy" in ref and self._test is not None:
                ax.plot(
                    steps,
                    np.asarray(ref["test_accuracy"]).mean(0),
                    color="grey",
                    lw=1,
                    ls="--",
                    label="random (test)",
                )
        rows = self.history
        if rows:
            used = [r["labels_used"] for r in rows]
            ax.plot(used, [r["validation_accuracy"] for r in rows], color="black", lw=1)
            for name, colour in COLOURS.items():
                mine = [r for r in rows if r["criterion"] == name]
                if mine:
                    ax.scatter(
                        [r["labels_used"] for r in mine],
                        [r["validation_accuracy"] for r in mine],
                        s=14,
                        color=colour,
                        zorder=3,
                        label=f"{name.replace('_', ' ')} (val.)",
                    )
            if self._test is not None:
                ax.plot(
                    used,
                    [r["test_accuracy"] for r in rows],
                    color="black",
                    lw=1,
                    ls="--",
                    label="test (oracle)",
                )
            for r in rows:
                if r["reason"] == "criterion":
                    ax.axvline(r["labels_used"], color="#999", lw=0.8, ls=":")
        ax.set_xlabel("labels spent")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, max(self.budget, 1))
        ax.legend(fontsize=6, loc="lower right")
        ax.set_title(f"Live session ({self.profile} profile)", fontsize=9)
        ax.tick_params(labelsize=7)
        counts = np.zeros(len(self.classes), dtype=int)
        _, y_new = self.labelled()
        if len(y_new):
            counts = np.bincount(y_new, minlength=len(self.classes))
        share = counts / max(counts.sum(), 1)
        bars.barh(range(len(self.classes)), share, color="#1b9e77")
        bars.set_yticks(range(len(self.classes)), self.classes, fontsize=7)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        bars.set_xlabel("share of labels", fontsize=7)
        bars.tick_params(labelsize=7)
        from .plots import stamp

        return stamp(fig, self.profile)

    def _draw_plot(self) -> None:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png")
        self.plot_png = buffer.getvalue()
        self._plot.value = self.plot_png
