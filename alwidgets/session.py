"""``ActiveLearningSession``: label, the head retrains, the queue re-ranks, the curve grows.

The session *holds* an :class:`~alwidgets.annotate.ImageAnnotator`, the loop and a
plot, and reacts to the annotator's decisions. The learner labels pool images;
every ``retrain_every`` labels (or on the key ``r``) the head retrains on the
training split plus the labels so far (:func:`alwidgets.one_round.retrain`, one
fixed L2 strength), the rest of the pool is scored with the chosen criterion and
the queue re-ranked (:meth:`ImageAnnotator.set_queue`): the next image is the most
uncertain one *now*. The plot beside it (drawn in the browser from a few numbers,
``static/session.js``) shows validation accuracy (and, in oracle mode, test
accuracy) against labels spent, the random-sampling reference
(:func:`random_reference`, i.e. :func:`alwidgets.many_rounds.simulate` with
``"random"``) and the share of labels per class.

Nothing is lost: labels go through the annotator's
:class:`~alwidgets.labels.LabelStore` and every retrain appends one row to a
history file beside it (``labels.jsonl`` -> ``labels.history.jsonl``, see
:mod:`alwidgets.jsonl`). Re-creating the session on the same files retrains from
the labels and continues. The front end shows the next image on the key itself;
the retrain runs in the kernel meanwhile and the re-ranked queue replaces the
images it holds.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets

from . import checks, jsonl
from .annotate import STATIC, ImageAnnotator, probability_bars
from .config import get_profile
from .criteria import CRITERIA, select
from .heads import Head, HeadTrainer
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


class SessionPlot(anywidget.AnyWidget):
    """The session's plot, drawn by ``static/session.js`` from :attr:`data`."""

    _esm = STATIC / "session.js"
    _css = STATIC / "session.css"
    #: Curves and class shares (see :meth:`ActiveLearningSession.plot_data`).
    data = traitlets.Dict().tag(sync=True)


# -- the history file ------------------------------------------------------------


def history_path(label_path) -> Path:
    """Where the retrain history of ``label_path`` lives (``x.jsonl`` -> ``x.history.jsonl``)."""
    if not isinstance(label_path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(label_path).__name__}")
    path = Path(label_path)
    return path.with_name(f"{path.stem}.history.jsonl")


def _history_row(row):
    if not isinstance(row, dict) or "labels_used" not in row:
        raise ValueError("not a history row")
    return row


def read_history(path, classes: Sequence[str] | None = None) -> list[dict]:
    """The retrain rows of a history file (a last line cut short by a crash is
    ignored, with a warning)."""
    header, rows, tail = jsonl.read(
        path, HISTORY_FORMAT, "session history", _history_row
    )
    if classes is not None and header.get("classes") != list(classes):
        raise ValueError(
            f"{path} was made for classes {header.get('classes')}, not {list(classes)}"
        )
    if tail:
        warnings.warn(f"{path}: ignored a last line cut short by a crash")
    return rows


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
    return HeadTrainer(
        l2=head.l2, max_iter=trainer.max_iter, calibrate=trainer.calibrate
    )


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

    :func:`alwidgets.many_rounds.simulate` with ``"random"``, one run per seed.
    ``steps`` must be ``0, b, 2b, …`` (batches of ``b``). Returns ``labels_used``,
    ``validation_accuracy`` and, with ``test``, ``test_accuracy`` (arrays seeds ×
    steps); the session plots their mean as the curve to beat. ``trainer`` should
    have a fixed L2 strength (one is chosen on validation if not).
    """
    from .many_rounds import simulate

    n_classes = checks.integer("n_classes", n_classes, 2)
    pool = checks.features("pool_features", pool_features)
    y_pool = checks.labels("pool_labels", pool_labels, n_classes, len(pool))
    train = _pair("train", train, n_classes, pool.shape[1])
    validation = _pair("validation", validation, n_classes, pool.shape[1])
    test = None if test is None else _pair("test", test, n_classes, pool.shape[1])
    steps = checks.indices("steps", steps, len(pool) + 1).tolist()
    if (
        len(steps) < 2
        or steps[0] != 0
        or steps[1] <= 0
        or len(set(np.diff(steps))) != 1
    ):
        raise ValueError(f"steps must be 0, b, 2b, … (at least two), got {steps}")
    seeds = checks.indices("seeds", seeds, 2**32).tolist()
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    trainer = _fixed_trainer(trainer, train, validation, n_classes)
    measured = {"validation_accuracy": validation} | (
        {} if test is None else {"test_accuracy": test}
    )
    out = {"labels_used": np.array(steps)}
    for name, split in measured.items():  # the same seed picks the same images
        features = {
            "train": train,
            "validation": validation,
            "test": split,
            "pool": (pool, y_pool),
        }
        out[name] = np.array(
            [
                [
                    row["test_accuracy"]
                    for row in simulate(
                        features,
                        "random",
                        len(steps) - 1,
                        steps[1],
                        seed=seed,
                        trainer=trainer,
                        n_classes=n_classes,
                    )
                ]
                for seed in seeds
            ]
        )
    return out


# -- the session ------------------------------------------------------------------


class ActiveLearningSession(widgets.HBox):
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
        (L2, temperature and the plotted accuracy).
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
        width = pool.shape[1]
        self._features = {
            "train": _pair("train", train, n_classes, width),
            "validation": _pair("validation", validation, n_classes, width),
            "pool": (pool, np.zeros(len(pool), dtype=np.int64)),  # labels: not used
        }
        self._test = None if test is None else _pair("test", test, n_classes, width)
        if reference is not None and (
            not isinstance(reference, dict)
            or not {"labels_used", "validation_accuracy"} <= set(reference)
        ):
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
        profile = get_profile() if profile is None else profile
        if not isinstance(profile, str):
            raise TypeError(f"profile must be a string, got {type(profile).__name__}")
        self.profile = profile
        self.reference = reference
        self._trainer = _fixed_trainer(
            trainer, self._features["train"], self._features["validation"], n_classes
        )
        self.annotator = ImageAnnotator(
            images,
            classes,
            path,
            true_labels=true_labels,
            budget=budget,
            autofocus=autofocus,
            debounce_s=debounce_s,
        )
        if len(self.annotator.items) != len(pool):
            raise ValueError(
                f"{len(self.annotator.items)} images for {len(pool)} pool features"
            )
        self.classes = classes
        self.path = self.annotator.path
        self.budget = self.annotator.budget
        self._head: Head | None = None
        self._probs = np.full((len(pool), n_classes), 1.0 / n_classes)
        self._scores = np.zeros(len(pool))
        self._rank: dict[int, int] = {}
        self._counted = self.annotator.n_labelled
        self.history: list[dict] = []
        #: Re-ranks done in this session (not counting the first ranking).
        self.reranks = 0
        self.history_path = history_path(self.path)
        self._open_history()
        self.plot = SessionPlot()
        self.criterion_buttons = widgets.ToggleButtons(
            options=[(c.replace("_", " "), c) for c in CRITERIA],
            value=self.criterion,
            tooltips=["rank the queue by this criterion" for _ in CRITERIA],
            style={"button_width": "auto"},
        )
        self.criterion_buttons.observe(
            lambda change: self.set_criterion(change["new"]), names="value"
        )
        super().__init__(
            [self.annotator, widgets.VBox([self.plot, self.criterion_buttons])]
        )
        self.add_class("alwidgets-session")
        self.annotator.add_key("r", "retrain", self.retrain)
        self.annotator.on_decision(self._on_decision)
        self.annotator.set_panel(self._panel)
        self._update("resume" if self.n_labelled else "start")

    #: What the session reads from its annotator (``session.n_labelled`` is
    #: ``session.annotator.n_labelled``): the queue order, the position shown, the
    #: labels, counts and state, and ``press`` (a key on the image shown).
    FROM_ANNOTATOR = frozenset(
        ["items", "current", "n_labelled", "labels", "skipped", "done", "active"]
        + ["accuracy", "press", "state", "feedback", "last_error"]
    )

    def __getattr__(self, name):
        if (
            name in ActiveLearningSession.FROM_ANNOTATOR
            and "annotator" in self.__dict__
        ):
            return getattr(self.__dict__["annotator"], name)
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    @property
    def head(self) -> Head | None:
        """The head trained on the labels of the latest retrain."""
        return self._head

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
        return items, np.array([index[labels[i]] for i in items], dtype=np.int64)

    # -- history ------------------------------------------------------------------------

    def _open_history(self) -> None:
        if self.history_path.exists() and self.history_path.stat().st_size > 0:
            self.history = read_history(self.history_path, self.classes)
            return
        header = {
            "format": HISTORY_FORMAT,
            "version": HISTORY_VERSION,
            "label_file": self.path.name,
            "classes": list(self.classes),
            "retrain_every": self.retrain_every,
        }
        jsonl.append_line(self.history_path, header)

    # -- the loop ----------------------------------------------------------------------

    def _due(self, n: int) -> bool:
        last = self.history[-1]["labels_used"] if self.history else 0
        return n >= last + self.retrain_every or (n >= self.budget and n != last)

    def _on_decision(self, event: dict, state) -> None:
        n, before = len(state.labels), self._counted
        self._counted = n
        if n > before and self._due(n):
            self._update("budget" if self.done else "every")

    def _update(self, reason: str) -> dict:
        """Retrain on train + labels, re-score the pool, re-rank the queue, plot."""
        from .one_round import accuracy, retrain

        items, y_new = self.labelled()
        n = len(items)
        self.annotator.set_busy(
            True, f"⟳ updating the model: retraining on {n} labels…"
        )
        try:
            started = time.perf_counter()
            k = len(self.classes)
            head = retrain(self._features, items, y_new, k, self._trainer)
            trained = time.perf_counter()
            probs = head.predict_proba(self._features["pool"][0])
            scores = CRITERIA[self.criterion](probs)
            before = self.queue[:10]
            self._head, self._probs, self._scores = head, probs, scores
            rest = np.setdiff1d(np.arange(len(probs)), items)
            ranked = rest[select(scores[rest], len(rest))] if len(rest) else rest
            self._rank = {int(item): r for r, item in enumerate(ranked)}
            order = [*items.tolist(), *ranked.tolist()]
            start = next_open(self.annotator.state, order, n)
            self.annotator.set_queue(order, current=order[start])
            ranked_at = time.perf_counter()
            row = {
                "retrain": len(self.history),
                "reason": reason,
                "labels_used": n,
                "criterion": self.criterion,
                "validation_accuracy": accuracy(head, *self._features["validation"]),
                "test_accuracy": None
                if self._test is None
                else accuracy(head, *self._test),
                "per_class": np.bincount(y_new, minlength=k).tolist(),
                "train_s": round(trained - started, 4),
                "rank_s": round(ranked_at - trained, 4),
                "time": jsonl.now(),
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
                jsonl.append_line(self.history_path, row)
                self.history.append(row)
                if reason not in ("start", "resume"):
                    self.reranks += 1
            changed = len(set(self.queue[:10]) - set(before))
        except BaseException:
            self.annotator.set_busy(
                False, "⚠ the update failed: see the error in the cell"
            )
            raise
        how = self.criterion.replace("_", " ")
        seconds = ranked_at - started
        if reason in ("start", "resume"):
            text = f"Model trained on {n} labels in {seconds:.2f} s; the queue is ranked by {how}."
        elif same:
            text = f"The model is up to date with these {n} labels."
        else:
            text = (
                f"✓ retrained on {n} labels and re-ranked in {seconds:.2f} s "
                f"(re-rank #{self.reranks}, by {how}): {changed} of the next 10 "
                "images changed."
            )
        self.annotator.set_busy(False, text)
        self.plot.data = self.plot_data()
        return row

    # -- actions -------------------------------------------------------------------------

    def _refuse_if_stopped(self) -> bool:
        if self.active:
            return False
        self.annotator.message(
            f"A newer session took over {self.path.name}: this one no longer "
            "retrains or re-ranks; use the newest one.",
            "error",
        )
        return True

    def retrain(self) -> None:
        """Retrain and re-rank now (the key ``r``)."""
        if not self._refuse_if_stopped():
            self._update("key")

    def set_criterion(self, criterion: str) -> None:
        """Rank by ``criterion`` from now on (re-ranks at once; recorded)."""
        criterion = checks.choice("criterion", criterion, list(CRITERIA))
        if criterion != self.criterion_buttons.value:
            self.criterion_buttons.value = criterion  # comes back here
            return
        if criterion == self.criterion:
            return
        if self._refuse_if_stopped():
            self.criterion_buttons.value = self.criterion
            return
        self.criterion = criterion
        self._update("criterion")

    def oracle(self, n: int | None = None) -> list[dict]:
        """Label ``n`` more images (default: the rest of the budget) with the true
        labels, by pressing keys as the front end does. Needs ``true_labels``."""
        annotator = self.annotator
        if annotator.true_label(self.items[0]) is None:
            raise ValueError("oracle() needs true_labels (oracle mode)")
        left = self.budget - self.n_labelled
        n = left if n is None else checks.integer("n", n, 0, left)
        for _ in range(n):
            item = self.items[self.current]
            if item in annotator.state.labels:
                break  # nothing open: the budget is spent
            annotator.press(str(annotator.true_label(item) + 1), item)
            if annotator.last_error or not annotator.active:
                break
        return self.history

    # -- what is shown -------------------------------------------------------------------

    def _panel(self, item: int) -> str:
        current = self.state.labels.get(item)
        status = f"your label: <b>{html.escape(current)}</b>" if current else ""
        if item in self.state.skipped and not current:
            status = "skipped"
        rows = f"<div>pool image {item} {('· ' + status) if status else ''}</div>"
        if self._head is None:
            return rows
        how = html.escape(self.criterion.replace("_", " "))
        rank = self._rank.get(item)
        where = (
            f"rank {rank + 1} of {len(self._rank)} unlabelled by {how}"
            if rank is not None and not current
            else "already labelled"
        )
        last = self.history[-1] if self.history else {"labels_used": 0}
        return (
            rows
            + f"<div><b>Model</b> after {last['labels_used']} labels · {where}</div>"
            + probability_bars(self.classes, self._probs[item])
            + f"<div><small>{how} score {self._scores[item]:.3f} (higher = more "
            "uncertain)</small></div>"
        )

    def plot_data(self) -> dict:
        """The numbers the plot is drawn from: curves and the share of labels per class."""
        _, y = self.labelled()
        counts = np.bincount(y, minlength=len(self.classes))
        data = {
            "title": f"Live session ({self.profile} profile)",
            "budget": self.budget,
            "classes": list(self.classes),
            "shares": (counts / max(counts.sum(), 1)).tolist(),
            "colours": COLOURS,
            "rows": [
                {
                    key: r[key]
                    for key in (
                        "labels_used",
                        "validation_accuracy",
                        "criterion",
                        "reason",
                    )
                }
                | {
                    "test_accuracy": r["test_accuracy"]
                    if self._test is not None
                    else None
                }
                for r in self.history
            ],
            "reference": None,
        }
        ref = self.reference
        if ref is not None:
            val = np.asarray(ref["validation_accuracy"])
            test = ref.get("test_accuracy") if self._test is not None else None
            data["reference"] = {
                "steps": np.asarray(ref["labels_used"]).tolist(),
                "mean": val.mean(0).tolist(),
                "low": (val.mean(0) - val.std(0)).tolist(),
                "high": (val.mean(0) + val.std(0)).tolist(),
                "test": None if test is None else np.asarray(test).mean(0).tolist(),
            }
        return data
