"""``ImageAnnotator``: label images in the notebook, keyboard first, never losing a label.

The widget only renders state and turns keys and clicks into events; the label
file, the reducer and replay live in :mod:`alwidgets.labels`.

Technology: ipywidgets 8 composition (``Image``, ``HTML``, ``Button``) for
everything you see, plus one small anywidget whose front end is
``static/annotator.js`` (no build step). Why the mix:

* ipywidgets' core widgets render wherever widgets render at all — JupyterLab,
  Notebook 7, VS Code, Colab — so buttons keep working where custom front-end
  code might not, and tests drive them with ``Button.click()``.
* Keys need front-end code. ``annotator.js`` takes a key only while the
  annotator is focused and on screen, takes only the keys of :attr:`KEYMAP`
  (so JupyterLab's own shortcuts keep working), says when the kernel has stopped,
  and sends each key to :meth:`ImageAnnotator.press`. Tests send the same message.
"""

from __future__ import annotations

import html
import io
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image as PILImage

from . import checks
from . import labels as store
from .criteria import check_probs, entropy, least_confidence, smallest_margin
from .images import iter_images as _iter_images
from .labels import (
    LabelStore,
    TakenOver,
    labelled_dataset,
    read_labels,
    resume_position,
)

__all__ = ["ImageAnnotator", "read_labels", "labelled_dataset", "encode_image"]

DISPLAY_SIZE = 320
STATIC = Path(__file__).parent / "static"


class _Keyboard(anywidget.AnyWidget):
    """Front-end half of the keyboard (``static/annotator.js``)."""

    _esm = STATIC / "annotator.js"
    _css = STATIC / "annotator.css"
    handled_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)
    autofocus = traitlets.Bool(True).tag(sync=True)
    active = traitlets.Bool(True).tag(sync=True)
    label_file = traitlets.Unicode("").tag(sync=True)


def encode_image(image, size: int = DISPLAY_SIZE) -> bytes:
    """One image (array, tensor, PIL image or file path) as JPEG bytes for display.

    Small images are scaled up (nearest neighbour, so pixels stay sharp) and large
    ones down, so that the longer side is ``size`` pixels. Any size goes in.
    """
    size = checks.integer("size", size, 1)
    if isinstance(image, (str, os.PathLike)):
        try:
            pil = PILImage.open(image)
            pil.load()
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read image file {image}: {exc}") from exc
    elif isinstance(image, PILImage.Image):
        pil = image
    else:
        arr = np.asarray(image)
        if arr.dtype == object:
            raise TypeError("an image must be an array of numbers, not objects")
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or 0 in arr.shape:
            raise ValueError(f"an image must be (H, W, 3), got shape {arr.shape}")
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
                raise ValueError("float images must have values in [0, 1]")
            arr = (arr * 255).round().astype(np.uint8)
        elif arr.dtype != np.uint8:
            raise TypeError(f"images must be uint8 or float in [0, 1], got {arr.dtype}")
        pil = PILImage.fromarray(arr)
    pil = pil.convert("RGB")
    scale = size / max(pil.size)
    if scale != 1:
        new = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
        smooth = (
            PILImage.Resampling.LANCZOS if scale < 1 else PILImage.Resampling.NEAREST
        )
        pil = pil.resize(new, smooth)
    out = io.BytesIO()
    pil.save(out, format="JPEG", quality=90)
    return out.getvalue()


def _key_name(key: str) -> str:
    return {"ArrowLeft": "←", "ArrowRight": "→"}.get(key, key)


def probability_bars(classes, probs) -> list[str]:
    """One HTML row per class: its name, a bar as long as its probability, the value."""
    return [
        '<div style="display:flex;gap:4px;align-items:center">'
        f'<span style="width:7em">{html.escape(name)}</span>'
        f'<span style="display:inline-block;height:10px;'
        f'width:{120 * value:.0f}px;background:#1b9e77"></span>'
        f"<span>{value:.2f}</span></div>"
        for name, value in zip(classes, probs)
    ]


class ImageAnnotator(widgets.VBox):
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

    #: action -> keys: the one key map. The help line, the buttons' tooltips, the
    #: front end's list of keys and :meth:`press` all read it. Digits 1-9 label.
    KEYMAP = {
        "skip": ("s",),
        "undo": ("u", "Backspace"),
        "back": ("b", "ArrowLeft"),
        "next": ("n", "ArrowRight"),
    }

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
        encoded = [encode_image(image) for image in _iter_images(images)]
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
            true_labels = np.asarray(true_labels)
            if true_labels.shape != (n,) or not np.issubdtype(
                true_labels.dtype, np.integer
            ):
                raise ValueError(f"true_labels must be {n} class indices")
            if true_labels.min() < 0 or true_labels.max() >= len(classes):
                raise ValueError(f"true_labels must be in [0, {len(classes)})")
        budget = checks.integer("budget", n if budget is None else budget, 1, n)

        self.classes = classes
        self.items = items
        self.path = Path(path)
        self.budget = int(budget)
        self._encoded = encoded
        self._probs = probs
        self._true = true_labels
        self._position = {item: k for k, item in enumerate(items)}
        self._debounce_s = float(debounce_s)
        self._last_click = -1e9
        self._store = self._open_store()
        self._seen_messages = 0
        self._stopped = False
        self.last_error: str | None = None
        self.current = resume_position(self.state, self.items)

        self._build_view(autofocus)
        self._store.on_taken_over(self._stop)
        self._render(self._opening_note())

    # -- the label file ---------------------------------------------------------------

    def _open_store(self) -> LabelStore:
        if self.path.exists() and self.path.stat().st_size > 0:
            with warnings.catch_warnings():  # the store reports a cut-off tail
                warnings.simplefilter("ignore")
                state = store.read_state(self.path, self.classes)  # check, then open
            unknown = sorted(
                (set(state.labels) | set(state.skipped)) - set(self._position)
            )
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
        notes = [html.escape(m) for m in self._store.messages]
        self._seen_messages = len(self._store.messages)
        if self.state.last is not None:
            notes.append(
                f"Resumed from {html.escape(self.path.name)}: {self.n_labelled} "
                f"labelled, {len(self.skipped)} skipped; continuing at image "
                f"{self.current + 1}, after your last decision."
            )
        return "<br>".join(notes)

    def _record(self, event: dict) -> bool:
        """Write ``event`` and apply it; on failure show why and change nothing."""
        if self._stopped:
            self._message(self._stopped_text(), "error")
            return False
        try:
            self._store.record(event)
        except TakenOver:
            self._stop()
            return False
        except OSError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._message(
                f"Could not save to {html.escape(str(self.path))}: "
                f"{html.escape(self.last_error)}. This decision was NOT counted; "
                "fix the problem, then press the key again.",
                "error",
            )
            return False
        self.last_error = None
        return True

    def _stopped_text(self) -> str:
        return (
            f"A newer annotator took over {html.escape(self.path.name)} (the cell "
            "was re-run, or it is open elsewhere). This one no longer takes input: "
            "use the newest one."
        )

    def _stop(self) -> None:
        """A newer annotator took the label file over: stop taking input."""
        self._stopped = True
        self._keys.active = False
        for button in [*self._class_buttons, *self._nav_buttons.values()]:
            button.disabled = True
        self._message(self._stopped_text(), "error")

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

    def label_array(self) -> np.ndarray:
        """Class index per queued image, in queue order; -1 where unlabelled."""
        index = {c: k for k, c in enumerate(self.classes)}
        labels = self.state.labels
        return np.array(
            [index[labels[i]] if i in labels else -1 for i in self.items],
            dtype=np.int64,
        )

    def export(self) -> dict:
        """A plain dict: classes, items, labels (class index or -1) and counts."""
        labels = self.label_array()
        return {
            "classes": list(self.classes),
            "items": list(self.items),
            "labels": labels.tolist(),
            "counts": {c: int((labels == k).sum()) for k, c in enumerate(self.classes)},
        }

    def accuracy(self) -> float | None:
        """Share of labels that match ``true_labels`` (oracle mode), else ``None``."""
        if self._true is None or not self.state.labels:
            return None
        labels = self.label_array()
        mask = labels >= 0
        return float((labels[mask] == self._true[mask]).mean())

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
        position = self.current
        item = self.items[position]
        if item not in self.state.labels and self.done:
            self._message(f"The budget of {self.budget} labels is spent.", "warn")
            return
        if not self._record(store.label_event(item, cls)):
            return
        feedback = ""
        if self._true is not None:
            truth = self.classes[self._true[position]]
            verdict = (
                f"✓ {cls} is right"
                if truth == cls
                else f"✗ you said {cls}; the dataset says {truth}"
            )
            feedback = html.escape(f"Image {position + 1} (item {item}): {verdict}")
        self.current = resume_position(self.state, self.items)
        self._render(feedback)

    def skip(self) -> None:
        """Leave the current image unlabelled for now and move to the next one."""
        item = self.items[self.current]
        if item in self.state.labels:  # nothing to skip: just move on
            self.next()
            return
        if not self._record(store.skip_event(item)):
            return
        self.current = resume_position(self.state, self.items)
        self._render()

    def undo(self) -> None:
        """Take back the latest label or skip and return to its image."""
        event = store.undo_event(self.state)
        if event is None:
            self._message("Nothing to undo.", "warn")
            return
        if not self._record(event):
            return
        self.current = resume_position(self.state, self.items)
        self._render(f"Undone: image {self.current + 1} is back.")

    def back(self) -> None:
        """Show the previous image (to check or change its label)."""
        self.current = max(self.current - 1, 0)
        self._render()

    def next(self) -> None:
        """Show the following image without labelling the current one."""
        self.current = min(self.current + 1, len(self.items) - 1)
        self._render()

    def press(self, key: str) -> None:
        """Handle one key, as sent by the front end (see :attr:`KEYMAP`)."""
        if not isinstance(key, str):
            raise TypeError(f"key must be a string, got {type(key).__name__}")
        key = key.lower() if len(key) == 1 else key
        if self._stopped:
            self._message(self._stopped_text(), "error")
            return
        if key.isdigit() and 1 <= int(key) <= len(self.classes):
            self.label(int(key) - 1)
            return
        for action, keys in self.KEYMAP.items():
            if key in keys:
                getattr(self, action)()
                return

    # -- view ---------------------------------------------------------------------------

    @classmethod
    def keys_help(cls, n_classes: int) -> str:
        """The help line, from :attr:`KEYMAP`."""
        parts = [f"1–{n_classes} label"] + [
            f"{' / '.join(_key_name(k) for k in keys)} {action}"
            for action, keys in cls.KEYMAP.items()
        ]
        return " · ".join(parts)

    def _build_view(self, autofocus: bool) -> None:
        self._progress = widgets.HTML()
        self._image = widgets.Image(
            format="jpeg", layout={"width": f"{DISPLAY_SIZE}px"}
        )
        self._model_view = widgets.HTML(layout={"width": "340px"})
        self._class_buttons = []
        for k, name in enumerate(self.classes):
            button = widgets.Button(
                description=f"{k + 1} · {name}",
                tooltip=f"key {k + 1}",
                layout={"width": "auto"},
            )
            button.on_click(lambda _, k=k: self._click(lambda: self.label(k)))
            self._class_buttons.append(button)
        texts = {"back": "← back", "skip": "skip", "undo": "undo", "next": "next →"}
        self._nav_buttons = {}
        for action in ("back", "skip", "undo", "next"):
            keys = " / ".join(_key_name(k) for k in self.KEYMAP[action])
            button = widgets.Button(description=texts[action], tooltip=f"key {keys}")
            button.on_click(lambda _, a=action: self._click(getattr(self, a)))
            self._nav_buttons[texts[action]] = button
        self._feedback = widgets.HTML()
        keys = [str(k + 1) for k in range(len(self.classes))]
        keys += [k for ks in self.KEYMAP.values() for k in ks]
        self._keys = _Keyboard(
            handled_keys=keys, autofocus=autofocus, label_file=str(self.path)
        )
        self._keys.add_class("alw-keyboard")
        self._keys.on_msg(self._on_front_end_message)
        super().__init__(
            [
                self._progress,
                widgets.HBox([self._image, self._model_view]),
                widgets.HBox(self._class_buttons, layout={"flex_flow": "row wrap"}),
                widgets.HBox(list(self._nav_buttons.values())),
                self._feedback,
                widgets.HTML(
                    f"<small>Keys: {html.escape(self.keys_help(len(self.classes)))}"
                    "</small>"
                ),
                self._keys,
            ]
        )
        self.add_class("alwidgets-annotator")

    def _on_front_end_message(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict) or content.get("event") != "keydown":
            return
        try:
            self.press(str(content.get("key", "")))
        finally:
            if "seq" in content:
                self._keys.send({"ack": content["seq"]})

    def _click(self, action) -> None:
        now = time.monotonic()
        if now - self._last_click < self._debounce_s:
            self._message("Ignored a double click.", "warn")
            return
        self._last_click = now
        action()

    def _message(self, text: str, kind: str = "info") -> None:
        """Show ``text`` (already HTML-escaped) under the buttons."""
        if kind == "error":
            self._feedback.value = f'<span class="alw-error">⚠ {text}</span>'
            return
        colour = {"info": "#555", "warn": "#d95f02"}[kind]
        self._feedback.value = f'<span style="color:{colour}">{text}</span>'

    def _render(self, feedback: str = "") -> None:
        self._image.value = self._encoded[
            self.current
        ]  # first: it is what one waits for
        n = len(self.items)
        item = self.items[self.current]
        counts = self.export()["counts"]
        spent = self.n_labelled / self.budget
        meter = (
            f'<progress value="{self.n_labelled}" max="{self.budget}" '
            f'style="width:240px"></progress>'
        )
        per_class = html.escape(" · ".join(f"{c}: {v}" for c, v in counts.items()))
        state = "done ✔" if self.done else f"image {self.current + 1} of {n}"
        self._progress.value = (
            f"<b>{self.n_labelled} of {self.budget} labelled</b> "
            f"({spent:.0%} of the budget) {meter} — {state}<br>"
            f"<small>{per_class}</small>"
        )
        self._model_view.value = self._model_panel(item)
        labels = self.state.labels
        for k, button in enumerate(self._class_buttons):
            chosen = labels.get(item) == self.classes[k]
            button.button_style = "success" if chosen else ""
            button.disabled = self._stopped or (self.done and item not in labels)
        for button in self._nav_buttons.values():
            button.disabled = self._stopped
        self._nav_buttons["skip"].disabled = self._stopped or self.done
        notes = [html.escape(m) for m in self._store.messages[self._seen_messages :]]
        self._seen_messages = len(self._store.messages)
        if self.done:
            notes.append(self._summary())
        self._feedback.value = "<br>".join(x for x in [feedback, *notes] if x)

    def _model_panel(self, item) -> str:
        current = self.state.labels.get(item)
        status = (
            f"your label: <b>{html.escape(current)}</b>"
            if current
            else "not labelled yet"
        )
        if item in self.state.skipped and not current:
            status = "skipped"
        rows = [f"<div>item {item} · {status}</div>"]
        if self._probs is not None:
            p = self._probs[self.current]
            rows.append(
                f"<div><b>Model</b> (rank {self.current + 1} of {len(self.items)} "
                "in the selection)</div>"
            )
            rows += probability_bars(self.classes, p)
            row = p[None, :]
            top2 = np.sort(p)[-2:]
            rows.append(
                "<div><small>scores (higher = more uncertain): least confidence "
                f"{least_confidence(row)[0]:.3f} · margin score "
                f"{smallest_margin(row)[0]:.3f} (margin p₁ − p₂ = "
                f"{top2[1] - top2[0]:.3f}) · entropy {entropy(row)[0]:.3f}"
                "</small></div>"
            )
        return "".join(rows)

    def _summary(self) -> str:
        text = (
            f"<b>Done:</b> {self.n_labelled} labels saved in "
            f"<code>{html.escape(str(self.path))}</code>."
        )
        accuracy = self.accuracy()
        if accuracy is not None:
            text += f" Your labels match the dataset's for {accuracy:.0%} of them."
        return text
