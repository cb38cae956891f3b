"""``ImageAnnotator``: label images in the notebook, keyboard first, never losing a label.

Technology: ipywidgets 8 composition (``Image``, ``HTML``, ``Button``) for
everything you see, plus one tiny anywidget (an ES module string, no build step)
that listens to the keyboard. Why the mix:

* ipywidgets' core widgets render wherever widgets render at all — JupyterLab,
  Notebook 7, VS Code, Colab — so buttons keep working where custom front-end
  code might not, and tests drive them with ``Button.click()``.
* Keys need front-end code. The anywidget marks the annotator's box with
  ``data-lm-suppress-shortcuts`` (so JupyterLab 4 does not turn digits into
  "change cell to heading"), makes it focusable, focuses it when shown, and sends
  each key to Python, where :meth:`ImageAnnotator.press` handles it. Tests send
  the same message.

Label file: JSON Lines, appended and flushed to disk at every decision, so a
kernel restart or ``kill -9`` loses nothing. The first line is a header::

    {"format": "alwidgets-labels", "version": 1, "classes": ["daisy", ...]}

then one event per line, the latest for an item wins::

    {"item": 2503, "label": "roses", "time": "2026-11-29T05:30:12Z"}
    {"item": 2503, "label": null, "time": ...}      # undone
    {"item": 2511, "skip": true, "time": ...}        # skipped, still unlabelled
"""

from __future__ import annotations

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
from PIL import Image as PILImage

from .criteria import check_probs, entropy, least_confidence, smallest_margin

__all__ = ["ImageAnnotator", "read_labels", "labelled_dataset", "encode_image"]

FORMAT = "alwidgets-labels"
VERSION = 1
DISPLAY_SIZE = 320

_KEY_ESM = """
function render({ model, el }) {
  const badge = document.createElement("div");
  badge.className = "alw-keys";
  el.appendChild(badge);
  let box = null;
  const show = (on) => {
    badge.textContent = on
      ? "⌨ keys active"
      : "⌨ keys paused: click the annotator once to use them";
    badge.classList.toggle("alw-on", on);
  };
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (!model.get("handled_keys").includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ event: "keydown", key: event.key });
  };
  const onIn = () => show(true);
  const onOut = (event) => {
    if (!box.contains(event.relatedTarget)) show(false);
  };
  const attach = (tries) => {
    box = el.closest(".alwidgets-annotator");
    if (!box && tries > 0) {
      requestAnimationFrame(() => attach(tries - 1));
      return;
    }
    box = box || el;
    box.setAttribute("data-lm-suppress-shortcuts", "true");
    box.setAttribute("tabindex", "0");
    box.addEventListener("keydown", onKey);
    box.addEventListener("focusin", onIn);
    box.addEventListener("focusout", onOut);
    show(false);
    if (model.get("autofocus")) box.focus({ preventScroll: true });
  };
  attach(120);
  return () => {
    if (!box) return;
    box.removeEventListener("keydown", onKey);
    box.removeEventListener("focusin", onIn);
    box.removeEventListener("focusout", onOut);
  };
}
export default { render };
"""

_KEY_CSS = """
.alw-keys { font-size: 12px; color: #888; padding: 2px 0; }
.alw-keys.alw-on { color: #1b9e77; }
.alwidgets-annotator:focus { outline: 2px solid #1b9e77; outline-offset: 2px; }
"""


class _KeyListener(anywidget.AnyWidget):
    """Front-end half of the keyboard: forwards key presses to Python."""

    _esm = traitlets.Unicode(_KEY_ESM).tag(sync=True)
    _css = traitlets.Unicode(_KEY_CSS).tag(sync=True)
    handled_keys = traitlets.List(traitlets.Unicode()).tag(sync=True)
    autofocus = traitlets.Bool(True).tag(sync=True)


def encode_image(image, size: int = DISPLAY_SIZE) -> bytes:
    """One image (array, tensor, PIL image or file path) as JPEG bytes for display.

    Small images are scaled up (nearest neighbour, so pixels stay sharp) and large
    ones down, so that the longer side is ``size`` pixels.
    """
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
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
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


def _iter_images(images):
    """Yield images from an array, tensor, list, or tf.data dataset."""
    if type(images).__module__.startswith("tensorflow") and hasattr(
        images, "as_numpy_iterator"
    ):
        for element in images.as_numpy_iterator():
            yield element[0] if isinstance(element, tuple) else element
        return
    if isinstance(images, (str, bytes)) or not hasattr(images, "__len__"):
        raise TypeError(
            "images must be an array, a list of images or paths, or a tf.data "
            f"dataset, got {type(images).__name__}"
        )
    if hasattr(images, "numpy"):  # a tf tensor
        images = images.numpy()
    yield from images


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_labels(path: str | os.PathLike, classes: Sequence[str] | None = None):
    """Read a label file: ``(classes, labels, skipped)`` with the latest decisions.

    ``labels`` maps item → class name. Raises ``ValueError`` for a file that is not
    an alwidgets label file, is corrupt, or (if given) has other ``classes``.
    A last line cut short by a crash is ignored with a warning.
    """
    path = Path(path)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete = raw.endswith(b"\n")
    try:
        header = json.loads(lines[0])
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if (
        not isinstance(header, dict)
        or header.get("format") != FORMAT
        or not isinstance(header.get("classes"), list)
    ):
        raise ValueError(
            f"{path} is not an alwidgets label file (its first line is not a "
            f"'{FORMAT}' header); it was left untouched. Choose another path."
        )
    if header.get("version") != VERSION:
        raise ValueError(f"{path} has label-file version {header.get('version')}")
    file_classes = header["classes"]
    if classes is not None and list(classes) != file_classes:
        raise ValueError(
            f"{path} was made for classes {file_classes}, not {list(classes)}"
        )
    labels: dict[int, str] = {}
    skipped: set[int] = set()
    body = lines[1:]
    for number, line in enumerate(body, start=2):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            item = event["item"]
            if not isinstance(item, int) or isinstance(item, bool):
                raise KeyError("item")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            if number == len(lines) and not complete:
                warnings.warn(f"{path}: ignored a last line cut short by a crash")
                break
            raise ValueError(f"{path}, line {number}: not a label event") from None
        if event.get("skip"):
            skipped.add(item)
            continue
        label = event.get("label")
        if label is None:
            labels.pop(item, None)
        elif label in file_classes:
            labels[item] = label
            skipped.discard(item)
        else:
            raise ValueError(f"{path}, line {number}: unknown class {label!r}")
    return file_classes, labels, skipped


class ImageAnnotator(widgets.VBox):
    """Label a queue of images, one at a time, with keys or buttons.

    Parameters
    ----------
    images
        uint8 or [0, 1] float array (n, H, W, 3), tf tensor, list of arrays /
        PIL images / file paths, or a tf.data dataset of images or
        ``(image, label)`` pairs. Encoded once, as JPEG, for display.
    classes
        Class names; keys ``1``…``9`` pick them in this order.
    path
        The label file (JSON Lines). Created if missing; an existing file for the
        same classes is resumed; anything else is an error, never overwritten.
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
    """

    KEYS_HELP = "s skip · u / Backspace undo · ← / b back · → / n next"

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
        classes = self._check_classes(classes)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {type(path).__name__}")
        encoded = [encode_image(image) for image in _iter_images(images)]
        n = len(encoded)
        if n == 0:
            raise ValueError("images is empty: nothing to label")
        items = list(range(n)) if items is None else [int(i) for i in items]
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
        if budget is None:
            budget = n
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
            raise TypeError(f"budget must be an integer, got {type(budget).__name__}")
        if not 0 < budget <= n:
            raise ValueError(f"budget must be in [1, {n}], got {budget}")

        self.classes = classes
        self.items = items
        self.path = Path(path)
        self.budget = int(budget)
        self._encoded = encoded
        self._probs = probs
        self._true = true_labels
        self._position = {item: k for k, item in enumerate(items)}
        self._debounce_s = debounce_s
        self._last_click = -1e9
        self._history: list[tuple[int, str | None, bool]] = []
        self._labels, self._skipped = self._open_label_file()
        self.current = self._first_open()

        self._build_view(autofocus)
        self._render()

    # -- input checks and the label file -------------------------------------------

    @staticmethod
    def _check_classes(classes) -> list[str]:
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
            raise TypeError("classes must be a list of strings")
        classes = list(classes)
        if not 2 <= len(classes) <= 9:
            raise ValueError(f"need 2 to 9 classes (keys 1-9), got {len(classes)}")
        if len(set(classes)) != len(classes):
            raise ValueError("class names must be unique")
        return classes

    def _open_label_file(self) -> tuple[dict[int, str], set[int]]:
        if self.path.exists() and self.path.stat().st_size > 0:
            _, labels, skipped = read_labels(self.path, self.classes)
            unknown = sorted((set(labels) | skipped) - set(self._position))
            if unknown:
                raise ValueError(
                    f"{self.path} has labels for items {unknown[:5]} that are not in "
                    "this queue: is it the label file of another selection?"
                )
            if len(labels) > self.budget:
                raise ValueError(
                    f"{self.path} holds {len(labels)} labels, more than the budget "
                    f"({self.budget})"
                )
            return labels, skipped
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": FORMAT, "version": VERSION, "classes": self.classes}
        with open(self.path, "x", encoding="utf8") as f:
            f.write(json.dumps(header) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return {}, set()

    def _append(self, event: dict) -> None:
        line = json.dumps({**event, "time": _now()}) + "\n"
        with open(self.path, "a", encoding="utf8") as f:
            f.write(line)  # one small write: a crash leaves whole lines only
            f.flush()
            os.fsync(f.fileno())

    # -- state ----------------------------------------------------------------------

    @property
    def labels(self) -> dict[int, str]:
        """Item → class name, for every labelled item (a copy)."""
        return {item: self._labels[item] for item in self.items if item in self._labels}

    @property
    def n_labelled(self) -> int:
        return len(self._labels)

    @property
    def done(self) -> bool:
        """True once the budget is spent or every image is labelled."""
        return self.n_labelled >= self.budget

    def label_array(self) -> np.ndarray:
        """Class index per queued image, in queue order; -1 where unlabelled."""
        index = {c: k for k, c in enumerate(self.classes)}
        return np.array(
            [index[self._labels[i]] if i in self._labels else -1 for i in self.items],
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
        if self._true is None or not self._labels:
            return None
        labels = self.label_array()
        mask = labels >= 0
        return float((labels[mask] == self._true[mask]).mean())

    def _first_open(self, start: int = 0) -> int:
        n = len(self.items)
        order = list(range(start, n)) + list(range(start))
        for k in order:  # unlabelled and not skipped first, then skipped ones
            item = self.items[k]
            if item not in self._labels and item not in self._skipped:
                return k
        for k in order:
            if self.items[k] not in self._labels:
                return k
        return min(start, n - 1)

    # -- actions (the buttons and keys call these) ----------------------------------

    def label(self, cls: str | int) -> None:
        """Give the current image class ``cls`` (name or index) and move on."""
        if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
            if not 0 <= cls < len(self.classes):
                raise ValueError(
                    f"class index {cls} is not in [0, {len(self.classes)})"
                )
            cls = self.classes[int(cls)]
        if cls not in self.classes:
            raise ValueError(f"unknown class {cls!r}; choose one of {self.classes}")
        item = self.items[self.current]
        previous = self._labels.get(item)
        if previous is None and self.done:
            self._message(f"The budget of {self.budget} labels is spent.", "warn")
            return
        self._append({"item": item, "label": cls})
        self._history.append((item, previous, item in self._skipped))
        self._labels[item] = cls
        self._skipped.discard(item)
        feedback = ""
        if self._true is not None:
            truth = self.classes[self._true[self.current]]
            feedback = (
                f"✓ {cls} is right"
                if truth == cls
                else f"✗ you said {cls}; the dataset says {truth}"
            )
        if not self.done:
            self.current = self._first_open(self.current + 1)
        self._render(feedback)

    def skip(self) -> None:
        """Leave the current image unlabelled for now and move to the next one."""
        item = self.items[self.current]
        if item not in self._labels:
            self._append({"item": item, "skip": True})
            self._history.append((item, None, item in self._skipped))
            self._skipped.add(item)
        self.current = self._first_open(self.current + 1)
        self._render()

    def undo(self) -> None:
        """Take back the last label or skip of this session and return to its image."""
        if not self._history:
            self._message("Nothing to undo in this session.", "warn")
            return
        item, previous, was_skipped = self._history.pop()
        self._append({"item": item, "label": previous})
        if previous is None:
            self._labels.pop(item, None)
        else:
            self._labels[item] = previous
        if was_skipped:
            self._skipped.add(item)
        else:
            self._skipped.discard(item)
        self.current = self._position[item]
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
        """Handle one key, as sent by the front end (see ``KEYS_HELP``)."""
        if key.isdigit() and 1 <= int(key) <= len(self.classes):
            self.label(int(key) - 1)
        elif key in ("s", "S"):
            self.skip()
        elif key in ("u", "U", "Backspace"):
            self.undo()
        elif key in ("b", "B", "ArrowLeft"):
            self.back()
        elif key in ("n", "N", "ArrowRight"):
            self.next()

    # -- view -----------------------------------------------------------------------

    def _build_view(self, autofocus: bool) -> None:
        self._progress = widgets.HTML()
        self._image = widgets.Image(
            format="jpeg", layout={"width": f"{DISPLAY_SIZE}px"}
        )
        self._model_view = widgets.HTML(layout={"width": "300px"})
        self._class_buttons = []
        for k, name in enumerate(self.classes):
            button = widgets.Button(
                description=f"{k + 1} · {name}",
                tooltip=f"key {k + 1}",
                layout={"width": "auto"},
            )
            button.on_click(lambda _, k=k: self._click(lambda: self.label(k)))
            self._class_buttons.append(button)
        nav = {
            "← back": ("b / ←", self.back),
            "skip": ("s", self.skip),
            "undo": ("u / Backspace", self.undo),
            "next →": ("n / →", self.next),
        }
        self._nav_buttons = {}
        for text, (key, action) in nav.items():
            button = widgets.Button(description=text, tooltip=f"key {key}")
            button.on_click(lambda _, action=action: self._click(action))
            self._nav_buttons[text] = button
        self._feedback = widgets.HTML()
        self._keys = _KeyListener(
            handled_keys=[str(k + 1) for k in range(len(self.classes))]
            + ["s", "S", "u", "U", "Backspace", "b", "B", "ArrowLeft"]
            + ["n", "N", "ArrowRight"],
            autofocus=autofocus,
        )
        self._keys.on_msg(self._on_front_end_message)
        super().__init__(
            [
                self._progress,
                widgets.HBox([self._image, self._model_view]),
                widgets.HBox(self._class_buttons, layout={"flex_flow": "row wrap"}),
                widgets.HBox(list(self._nav_buttons.values())),
                self._feedback,
                widgets.HTML(
                    f"<small>Keys: 1–{len(self.classes)} label · {self.KEYS_HELP}</small>"
                ),
                self._keys,
            ]
        )
        self.add_class("alwidgets-annotator")

    def _on_front_end_message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") == "keydown":
            self.press(str(content.get("key", "")))

    def _click(self, action) -> None:
        now = time.monotonic()
        if now - self._last_click < self._debounce_s:
            self._message("Ignored a double click.", "warn")
            return
        self._last_click = now
        action()

    def _message(self, text: str, kind: str = "info") -> None:
        colour = {"info": "#555", "warn": "#d95f02"}[kind]
        self._feedback.value = f'<span style="color:{colour}">{text}</span>'

    def _render(self, feedback: str = "") -> None:
        n = len(self.items)
        item = self.items[self.current]
        counts = self.export()["counts"]
        spent = self.n_labelled / self.budget
        meter = (
            f'<progress value="{self.n_labelled}" max="{self.budget}" '
            f'style="width:240px"></progress>'
        )
        per_class = " · ".join(f"{c}: {v}" for c, v in counts.items())
        state = "done ✔" if self.done else f"image {self.current + 1} of {n}"
        self._progress.value = (
            f"<b>{self.n_labelled} of {self.budget} labelled</b> "
            f"({spent:.0%} of the budget) {meter} — {state}<br>"
            f"<small>{per_class}</small>"
        )
        self._image.value = self._encoded[self.current]
        self._model_view.value = self._model_panel(item)
        for k, button in enumerate(self._class_buttons):
            chosen = self._labels.get(item) == self.classes[k]
            button.button_style = "success" if chosen else ""
            button.disabled = self.done and item not in self._labels
        self._nav_buttons["skip"].disabled = self.done
        if self.done:
            feedback = (feedback + "<br>" if feedback else "") + self._summary()
        self._feedback.value = feedback

    def _model_panel(self, item) -> str:
        current = self._labels.get(item)
        status = f"your label: <b>{current}</b>" if current else "not labelled yet"
        if item in self._skipped and not current:
            status = "skipped"
        html = [f"<div>item {item} · {status}</div>"]
        if self._probs is not None:
            p = self._probs[self.current]
            html.append(
                f"<div><b>Model</b> (rank {self.current + 1} of {len(self.items)} in the selection)</div>"
            )
            for name, value in zip(self.classes, p):
                html.append(
                    '<div style="display:flex;gap:4px;align-items:center">'
                    f'<span style="width:7em">{name}</span>'
                    f'<span style="display:inline-block;height:10px;width:{120 * value:.0f}px;'
                    f'background:#1b9e77"></span><span>{value:.2f}</span></div>'
                )
            row = p[None, :]
            html.append(
                "<div><small>least confidence "
                f"{least_confidence(row)[0]:.3f} · margin {smallest_margin(row)[0]:.3f}"
                f" · entropy {entropy(row)[0]:.3f}</small></div>"
            )
        return "".join(html)

    def _summary(self) -> str:
        text = (
            f"<b>Done:</b> {self.n_labelled} labels saved in <code>{self.path}</code>."
        )
        accuracy = self.accuracy()
        if accuracy is not None:
            text += f" Your labels match the dataset's for {accuracy:.0%} of them."
        return text


def labelled_dataset(
    images, labels: dict[int, str], classes: Sequence[str], items=None
):
    """A ``tf.data.Dataset`` of ``(image, class index)`` for the labelled images.

    ``images`` and ``items`` are what the annotator was given; ``labels`` is its
    ``labels`` (item → class name). Unlabelled images are left out.
    """
    import tensorflow as tf

    arrays = [np.asarray(image) for image in _iter_images(images)]
    items = list(range(len(arrays))) if items is None else list(items)
    if len(items) != len(arrays):
        raise ValueError(f"{len(items)} items for {len(arrays)} images")
    index = {c: k for k, c in enumerate(classes)}
    unknown = {c for c in labels.values() if c not in index}
    if unknown:
        raise ValueError(f"labels use unknown classes {sorted(unknown)}")
    chosen = [k for k, item in enumerate(items) if item in labels]
    if not chosen:
        raise ValueError("no labelled images: label some first")
    x = np.stack([arrays[k] for k in chosen])
    y = np.array([index[labels[items[k]]] for k in chosen], dtype=np.int64)
    return tf.data.Dataset.from_tensor_slices((x, y))
