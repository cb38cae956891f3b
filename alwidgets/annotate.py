"""``ImageAnnotator``: label images in the notebook, keyboard first, never losing a label.

The widget renders state and turns keys and clicks into events; the label file lives
in :mod:`alwidgets.labels`, images in :mod:`alwidgets.images`. Code built on it (the
live session) composes it through :meth:`~ImageAnnotator.on_decision`, ``add_key``,
``set_queue``, ``set_panel``, ``set_busy`` and ``message``.

The front end, ``static/annotator.js``, holds the images of the queue around the
current one and swaps the picture on the key itself. Every key names the image it was
pressed on, so it labels that image whatever the kernel is doing; it is pending until
the kernel has saved it (``view["acked"]``), and counts, budget and file only ever
show what is saved. Keys count only while the annotator is focused and on screen, and
only the keys of :attr:`~ImageAnnotator.KEYMAP` (JupyterLab's shortcuts keep working).
Tests send the same keys through :meth:`~ImageAnnotator.press`.
"""

from __future__ import annotations

import html
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from . import checks
from . import labels as store
from .criteria import check_probs, entropy, least_confidence, smallest_margin
from .images import encode_image, iter_images
from .labels import LabelStore, TakenOver, next_open, read_labels, resume_position

__all__ = ["ImageAnnotator", "read_labels", "encode_image", "probability_bars"]

STATIC = Path(__file__).parent / "static"
#: Queue positions the front end holds before and after the current image.
BEHIND, AHEAD = 10, 10


def probability_bars(classes, probs) -> str:
    """One HTML row per class: its name, a bar as long as its probability, the value."""
    return "".join(
        '<div class="alw-bar"><span>'
        f'{html.escape(name)}</span><span style="width:{120 * value:.0f}px"></span>'
        f"<span>{value:.2f}</span></div>"
        for name, value in zip(classes, probs)
    )


class ImageAnnotator(anywidget.AnyWidget):
    """Label a queue of images, one at a time, with keys or buttons.

    Parameters
    ----------
    images
        uint8 or [0, 1] float array (n, H, W, 3), tf tensor, list of arrays of any
        sizes / PIL images / file paths, or a tf.data dataset of images or
        ``(image, label)`` pairs. Encoded once, as JPEG, for display.
    classes
        Class names; keys ``1``…``9`` pick them in this order.
    path
        The label file (JSON Lines, see :mod:`alwidgets.labels`). Created if
        missing; an existing file for the same classes is resumed where the
        learner stopped; anything else is an error, never overwritten. One live
        annotator per file: a newer one takes over and this one stops.
    items
        An id per image, written to the label file (default ``0..n-1``); e.g. the
        pool indices of the selected images.
    probs
        Optional (n, n_classes) model probabilities, shown as bars with the
        image's uncertainty scores. The queue order is the selection rank.
    true_labels
        Optional true class indices: *oracle mode* shows after each decision
        whether it matched, and the annotator's accuracy at the end.
    budget
        How many labels may be spent (default: all images).
    autofocus
        Take the keyboard focus the first time the widget is on screen.
    debounce_s
        Clicks on a button closer together than this are one click.
    """

    _esm = STATIC / "annotator.js"
    _css = STATIC / "annotator.css"

    #: action -> keys: the one key map. The help line, the buttons' tooltips, the
    #: front end's list of keys and :meth:`press` all read it. Digits 1-9 label.
    KEYMAP = {
        "skip": ("s",),
        "undo": ("u", "Backspace"),
        "back": ("b", "ArrowLeft"),
        "next": ("n", "ArrowRight"),
    }

    #: Classes, key map and help line (what changes only with :meth:`add_key`).
    setup = traitlets.Dict().tag(sync=True)
    autofocus = traitlets.Bool(True).tag(sync=True)
    debounce_ms = traitlets.Float(250).tag(sync=True)
    label_file = traitlets.Unicode("").tag(sync=True)
    #: Everything the front end shows, in one trait so that it changes at once.
    view = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        images,
        classes: Sequence[str],
        path: str | os.PathLike,
        items: Sequence[int] | None = None,
        probs=None,
        true_labels=None,
        budget: int | None = None,
        autofocus: bool = True,
        debounce_s: float = 0.25,
    ) -> None:
        classes = list(store.check_classes(classes))
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {type(path).__name__}")
        if not isinstance(autofocus, bool):
            raise TypeError("autofocus must be True or False")
        if isinstance(debounce_s, bool) or not isinstance(debounce_s, (int, float)):
            raise TypeError("debounce_s must be a number of seconds")
        if not 0 <= debounce_s <= 60:
            raise ValueError(f"debounce_s must be in [0, 60] seconds, got {debounce_s}")
        encoded = [encode_image(image) for image in iter_images(images)]
        n = len(encoded)
        if n == 0:
            raise ValueError("images is empty: nothing to label")
        items = (
            list(range(n))
            if items is None
            else [checks.integer("item", i) for i in items]
        )
        if len(items) != n:
            raise ValueError(f"{len(items)} items for {n} images")
        if len(set(items)) != n:
            raise ValueError("items must be unique")
        if probs is not None:
            probs = check_probs(probs)
            if probs.shape != (n, len(classes)):
                raise ValueError(
                    f"probs must have shape ({n}, {len(classes)}), got {probs.shape}"
                )
        if true_labels is not None:
            true_labels = checks.labels("true_labels", true_labels, len(classes), n)
        budget = checks.integer("budget", n if budget is None else budget, 1, n)
        super().__init__(
            autofocus=autofocus,
            debounce_ms=1000 * debounce_s,
            label_file=str(path),
        )
        self.classes = classes
        self.items = items
        self.path = Path(path)
        self.budget = int(budget)
        # Per item, so that a re-ordered queue keeps them.
        self._jpeg = dict(zip(items, encoded))
        self._probs = None if probs is None else dict(zip(items, probs))
        self._rank = {item: k for k, item in enumerate(items)}
        self._true = None if true_labels is None else dict(zip(items, true_labels))
        self._position = dict(self._rank)
        self._store = self._open_store()
        self._stopped = False
        self._busy, self._status = False, ""
        self._feedback, self._kind = "", "info"
        self._seen_messages = 0
        self._acked, self._held, self._queue = 0, False, 0
        self._sent: set[int] = set()
        self._panel: Callable[[int], str] = self._default_panel
        self._decision_callbacks: list[Callable[[dict, store.LabelState], None]] = []
        self._extra: dict[str, tuple[str, Callable[[], None]]] = {}
        self.last_error: str | None = None
        self.current = resume_position(self.state, self.items)
        self._store.on_taken_over(self._stop)
        self.on_msg(self._on_front_end_message)
        self.setup = self._setup()
        self._render(self._opening_note())

    # -- the label file ---------------------------------------------------------------

    def _open_store(self) -> LabelStore:
        if self.path.exists() and self.path.stat().st_size > 0:
            with warnings.catch_warnings():  # the store reports a cut-off tail
                warnings.simplefilter("ignore")
                state = store.read_state(self.path, self.classes)  # check, then open
            unknown = sorted((set(state.labels) | set(state.skipped)) - set(self._rank))
            if unknown:
                raise ValueError(
                    f"{self.path} has labels for items {unknown[:5]} that are not in "
                    "this queue: is it the label file of another selection?"
                )
            if len(state.labels) > self.budget:
                raise ValueError(
                    f"{self.path} holds {len(state.labels)} labels, more than the "
                    f"budget ({self.budget})"
                )
        return LabelStore(self.path, self.classes)

    def _opening_note(self) -> str:
        notes = list(self._store.messages)
        self._seen_messages = len(notes)
        if self.state.last is not None:
            notes.append(
                f"Resumed from {self.path.name}: {self.n_labelled} labelled, "
                f"{len(self.skipped)} skipped; continuing at image "
                f"{self.current + 1}, after your last decision."
            )
        return "\n".join(notes)

    def _record(self, event: dict) -> bool:
        """Write ``event`` and apply it; on failure show why and change nothing."""
        if not self.active:
            self._stop()
            return False
        try:
            self._store.record(event)
        except TakenOver:
            self._stop()
            return False
        except OSError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.current = self._position[event["item"]]
            self.message(
                f"Could not save to {self.path}: {self.last_error}. This decision "
                "was NOT counted; fix the problem, then press the key again.",
                "error",
            )
            return False
        self.last_error = None
        return True

    def _stop(self) -> None:
        """A newer annotator took the label file over: stop taking input."""
        self._stopped = True
        self.message(
            f"A newer annotator took over {self.path.name} (the cell was re-run, or "
            "it is open elsewhere). This one no longer takes input: use the newest one.",
            "error",
        )

    # -- state --------------------------------------------------------------------------

    @property
    def state(self) -> store.LabelState:
        """The label state (:class:`alwidgets.labels.LabelState`), as replay gives it."""
        return self._store.state

    @property
    def active(self) -> bool:
        """False once a newer annotator took over the label file."""
        return not self._stopped and self._store.live

    @property
    def labels(self) -> dict[int, str]:
        """Item → class name, for every labelled item (a copy)."""
        labels = self.state.labels
        return {item: labels[item] for item in self.items if item in labels}

    @property
    def skipped(self) -> set[int]:
        """Items skipped and not labelled since (a copy)."""
        return {i for i in self.state.skipped if i not in self.state.labels}

    @property
    def n_labelled(self) -> int:
        return len(self.state.labels)

    @property
    def done(self) -> bool:
        """True once the budget is spent or every image is labelled."""
        return self.n_labelled >= self.budget

    @property
    def feedback(self) -> str:
        """The message line under the buttons (plain text), e.g. an error."""
        return self._feedback

    def image(self, item: int) -> bytes:
        """The JPEG bytes shown for ``item``."""
        if item not in self._jpeg:
            raise ValueError(f"item {item!r} is not in this queue")
        return self._jpeg[item]

    def panel(self, item: int) -> str:
        """The HTML shown beside the image of ``item`` (see :meth:`set_panel`)."""
        if item not in self._jpeg:
            raise ValueError(f"item {item!r} is not in this queue")
        return self._panel(item)

    def export(self) -> dict:
        """A plain dict: classes, items, labels (class index per queued image, in
        queue order; -1 where unlabelled) and counts per class."""
        index = {c: k for k, c in enumerate(self.classes)}
        got = self.state.labels
        labels = [index[got[i]] if i in got else -1 for i in self.items]
        return {
            "classes": list(self.classes),
            "items": list(self.items),
            "labels": labels,
            "counts": {c: labels.count(k) for k, c in enumerate(self.classes)},
        }

    def accuracy(self) -> float | None:
        """Share of labels that match ``true_labels`` (oracle mode), else ``None``."""
        labels = self.state.labels
        if self._true is None or not labels:
            return None
        index = {c: k for k, c in enumerate(self.classes)}
        return float(np.mean([index[c] == self._true[i] for i, c in labels.items()]))

    def true_label(self, item: int) -> int | None:
        """The true class index of ``item`` in oracle mode, else ``None``."""
        return None if self._true is None else int(self._true[item])

    # -- the public API for code that builds on the annotator ---------------------------

    def on_decision(self, callback: Callable[[dict, store.LabelState], None]) -> None:
        """Call ``callback(event, state)`` after each label, skip or undo is saved."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._decision_callbacks.append(callback)

    def add_key(self, key: str, name: str, callback: Callable[[], None]) -> None:
        """Key ``key`` calls ``callback()``; ``name`` goes in the help line."""
        if not isinstance(key, str) or len(key) != 1 or not key.isalpha():
            raise ValueError(f"key must be one letter, got {key!r}")
        if not isinstance(name, str) or not name:
            raise TypeError("name must be a non-empty string")
        if not callable(callback):
            raise TypeError("callback must be callable")
        key = key.lower()
        if any(key in keys for keys in self.KEYMAP.values()):
            raise ValueError(f"key {key!r} is taken")
        self._extra[key] = (name, callback)
        self.setup = self._setup()

    def set_queue(self, items: Sequence[int], current: int | None = None) -> None:
        """Show the same images in a new order (e.g. after a re-rank), from item
        ``current`` (default: the first open one)."""
        order = [checks.integer("item", i) for i in items]
        if sorted(order) != sorted(self._jpeg):
            raise ValueError("set_queue needs a new order of the same items")
        if current is not None and current not in self._jpeg:
            raise ValueError(f"current item {current!r} is not in the queue")
        self.items = order
        self._position = {item: k for k, item in enumerate(order)}
        self._queue += 1
        start = next_open(self.state, order, 0) if current is None else None
        self.current = self._position[current] if current is not None else start
        self._render()

    def set_panel(self, panel: Callable[[int], str]) -> None:
        """``panel(item)`` gives the HTML beside each image from now on."""
        if not callable(panel):
            raise TypeError("panel must be a function of the item")
        self._panel = panel
        self._render()

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Say on the status line that the kernel works (``busy``) or what it did."""
        if not isinstance(busy, bool) or not isinstance(text, str):
            raise TypeError("set_busy takes a bool and a string")
        self._busy, self._status = busy, text
        self._render(keep=True, flush=True)

    def message(self, text: str, kind: str = "info") -> None:
        """Show ``text`` (plain text) under the buttons; ``kind``: info, warn, error."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        self._kind = checks.choice("kind", kind, ["info", "warn", "error"])
        self._feedback = text
        self._render(keep=True)

    # -- actions (the buttons and keys call these) --------------------------------------

    def label(self, cls: str | int) -> None:
        """Give the current image class ``cls`` (name or index) and move on."""
        if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
            if not 0 <= cls < len(self.classes):
                raise ValueError(
                    f"class index {cls} is not in [0, {len(self.classes)})"
                )
            cls = self.classes[int(cls)]
        if not isinstance(cls, str):
            raise TypeError(f"cls must be a class name or index, got {type(cls)}")
        if cls not in self.classes:
            raise ValueError(f"unknown class {cls!r}; choose one of {self.classes}")
        item = self.items[self.current]
        if item not in self.state.labels and self.done:
            self.message(f"The budget of {self.budget} labels is spent.", "warn")
            return
        feedback = ""
        if self._true is not None:
            truth = self.classes[self._true[item]]
            verdict = (
                f"✓ {cls} is right"
                if truth == cls
                else f"✗ you said {cls}; the dataset says {truth}"
            )
            feedback = f"Image {self.current + 1} (item {item}): {verdict}"
        self._decide(store.label_event(item, cls), feedback)

    def skip(self) -> None:
        """Leave the current image unlabelled for now and move to the next one."""
        item = self.items[self.current]
        if item in self.state.labels:  # nothing to skip: just move on
            self.next()
            return
        self._decide(store.skip_event(item))

    def undo(self) -> None:
        """Take back the latest label or skip and return to its image."""
        event = store.undo_event(self.state)
        if event is None:
            self.message("Nothing to undo.", "warn")
            return
        self._decide(event)

    def _decide(self, event: dict, feedback: str = "") -> None:
        if not self._record(event):
            return
        self.current = resume_position(self.state, self.items)
        if event.get("undo"):
            feedback = f"Undone: image {self.current + 1} is back."
        self._render(feedback)
        for callback in self._decision_callbacks:
            callback(event, self.state)

    def back(self) -> None:
        """Show the previous image (to check or change its label)."""
        self.current = max(self.current - 1, 0)
        self._render()

    def next(self) -> None:
        """Show the following image without labelling the current one."""
        self.current = min(self.current + 1, len(self.items) - 1)
        self._render()

    def press(self, key: str, item: int | None = None) -> None:
        """Handle one key (see :attr:`KEYMAP`), pressed on the image of ``item``
        (default: the current one), as the front end sends it."""
        if not isinstance(key, str):
            raise TypeError(f"key must be a string, got {type(key).__name__}")
        key = key.lower() if len(key) == 1 else key
        if not self.active:
            self._stop()
            return
        shown, order = self.items[self.current], self.items
        if item in self._position:
            self.current = self._position[item]
        if key.isdigit() and 1 <= int(key) <= len(self.classes):
            self.label(int(key) - 1)
        elif key in self._extra:
            self._extra[key][1]()
        else:
            for action, keys in self.KEYMAP.items():
                if key in keys:
                    getattr(self, action)()
        decided = key.isdigit() or key in self.KEYMAP["skip"]
        moved = self.items is not order or self.last_error is not None
        if decided and item not in (None, shown) and not moved:
            # A key for an image the kernel no longer shows (a re-rank replaced the
            # queue): it labelled that image; the kernel stays where it was.
            self.current = self._position[shown]
            self._render(keep=True)

    @classmethod
    def keys_help(cls, n_classes: int, extra: dict[str, str] | None = None) -> str:
        """The help line, from :attr:`KEYMAP` (and ``extra``: key -> name)."""
        arrows = {"ArrowLeft": "←", "ArrowRight": "→"}
        parts = [f"1–{n_classes} label"] + [
            f"{' / '.join(arrows.get(k, k) for k in keys)} {action}"
            for action, keys in cls.KEYMAP.items()
        ]
        parts += [f"{k} {name}" for k, name in (extra or {}).items()]
        return " · ".join(parts)

    # -- the front end --------------------------------------------------------------------

    def _setup(self) -> dict:
        extra = {k: name for k, (name, _) in self._extra.items()}
        return {
            "classes": list(self.classes),
            "actions": {a: list(keys) for a, keys in self.KEYMAP.items()},
            "extra": extra,
            "help": self.keys_help(len(self.classes), extra),
        }

    def _on_front_end_message(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("event") == "need":
            self._send_images(content.get("items", []))
            return
        if content.get("event") != "keydown":
            return
        item = content.get("item")
        item = item if isinstance(item, int) and item in self._position else None
        if isinstance(content.get("seq"), int):
            self._acked = content["seq"]  # every view sent from now on includes it
        self._held = True  # one view for the key (unless set_busy says more)
        try:
            self.press(str(content.get("key", "")), item)
        finally:
            self._held = False
            self._render(keep=True)

    def _send_images(self, items) -> None:
        wanted = [i for i in items if isinstance(i, int) and i in self._jpeg][:50]
        if wanted:
            self.send({"images": wanted}, [self._jpeg[i] for i in wanted])

    def _default_panel(self, item: int) -> str:
        current = self.state.labels.get(item)
        status = (
            f"your label: <b>{html.escape(current)}</b>"
            if current
            else "skipped"
            if item in self.state.skipped
            else "not labelled yet"
        )
        rows = f"<div>item {item} · {status}</div>"
        if self._probs is not None:
            p = self._probs[item]
            row, top2 = p[None, :], np.sort(p)[-2:]
            rows += (
                f"<div><b>Model</b> (rank {self._rank[item] + 1} of {len(self.items)} "
                "in the selection)</div>"
                + probability_bars(self.classes, p)
                + "<div><small>scores (higher = more uncertain): least confidence "
                f"{least_confidence(row)[0]:.3f} · margin score "
                f"{smallest_margin(row)[0]:.3f} (margin p₁ − p₂ = "
                f"{top2[1] - top2[0]:.3f}) · entropy {entropy(row)[0]:.3f}"
                "</small></div>"
            )
        return rows

    def _render(
        self, feedback: str = "", keep: bool = False, flush: bool = False
    ) -> None:
        """Send the view: the queue around the current image, counts, lines.

        ``keep``: keep the message line as it is (else ``feedback`` and notes).
        While a key is handled only ``flush`` sends it; the key sends it at the end."""
        if not keep:
            notes = self._store.messages[self._seen_messages :]
            self._seen_messages = len(self._store.messages)
            if self.done:
                notes = [*notes, self._summary()]
            self._feedback = "\n".join(x for x in [feedback, *notes] if x)
            self._kind = "info"
        if self._held and not flush:
            return
        labels, skipped = self.state.labels, self.state.skipped
        lo, hi = max(self.current - BEHIND, 0), self.current + AHEAD + 1
        entries = [
            {
                "item": item,
                "position": lo + k,
                "label": labels.get(item),
                "skipped": item in skipped,
                "panel": self._panel(item),
            }
            for k, item in enumerate(self.items[lo:hi])
        ]
        # The images that came into the window (and the current one, so that a saved
        # notebook shows it too) travel with the view; a new view asks for the rest.
        current = self.items[self.current]
        new = [current] + [e["item"] for e in entries if e["item"] not in self._sent]
        new = list(dict.fromkeys(new))
        self._sent = {e["item"] for e in entries} | {current}
        counts = self.export()["counts"]
        last_undo = self.state.history[-1][0] if self.state.history else None
        self.view = {
            "current": self.items[self.current],
            "images": [[i, self._jpeg[i]] for i in new],
            "entries": entries,
            "acked": self._acked,
            "queue": self._queue,
            "n": len(self.items),
            "labelled": self.n_labelled,
            "budget": self.budget,
            "per_class": " · ".join(f"{c}: {v}" for c, v in counts.items()),
            "undo_item": last_undo,
            "status": self._status,
            "busy": self._busy,
            "message": self._feedback,
            "kind": self._kind,
            "active": not self._stopped,
        }

    def _summary(self) -> str:
        text = f"Done: {self.n_labelled} labels saved in {self.path}."
        accuracy = self.accuracy()
        if accuracy is not None:
            text += f" Your labels match the dataset's for {accuracy:.0%} of them."
        return text
