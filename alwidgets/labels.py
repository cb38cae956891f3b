"""The label file: its format, one reducer, replay, repair, and one live writer.

Everything about labels that is not the widget lives here, without ipywidgets, so
the live session (:class:`alwidgets.ImageAnnotator`) and anything that reads the
file later use the *same* code and cannot drift:

* :func:`apply` is the reducer, ``apply(state, event) -> state``. The annotator
  calls it for every decision it makes; :func:`replay` calls it for every line of
  the file. Whatever a learner did, replaying the file gives exactly the state the
  live session had.
* :class:`LabelStore` is the one live writer of a file. It appends and fsyncs each
  event before the state changes (an error leaves the state as it was), repairs a
  last line cut short by a crash (keeping a copy of the cut bytes), re-creates a
  deleted file from the events it holds, and hands the file over to a newer store
  (in this kernel or another process) when one opens it.

File format (JSON Lines). The first line is a header::

    {"format": "alwidgets-labels", "version": 2, "classes": ["daisy", ...]}

then one event per line::

    {"item": 2503, "label": "roses", "time": "..."}             # labelled
    {"item": 2511, "skip": true, "time": "..."}                 # skipped
    {"item": 2511, "undo": true, "label": null, "skip": false,  # the last decision
     "time": "..."}                                             # taken back

An undo event carries the item's state from before the decision it takes back, so
even a reader that ignores ``"undo"`` gets the right labels. Version 1 files (no
undo events; ``{"item": i, "label": null}`` cleared a label) are read as before.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np

from . import checks

__all__ = [
    "append_line",
    "FORMAT",
    "VERSION",
    "LabelState",
    "LabelStore",
    "TakenOver",
    "apply",
    "check_classes",
    "check_event",
    "empty_state",
    "label_event",
    "labelled_dataset",
    "next_open",
    "read_labels",
    "read_state",
    "replay",
    "resume_position",
    "skip_event",
    "undo_event",
]

FORMAT = "alwidgets-labels"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_CLASSES = 9  # keys 1-9


class TakenOver(RuntimeError):
    """A newer :class:`LabelStore` took over the file; this one may not write."""


# -- input checks ----------------------------------------------------------------


def check_classes(classes) -> tuple[str, ...]:
    """Class names as a tuple, after checking there are 2-9 unique strings."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        raise TypeError(
            f"classes must be a list of strings, got {type(classes).__name__}"
        )
    classes = tuple(classes)
    if not all(isinstance(c, str) for c in classes):
        raise TypeError("classes must be a list of strings")
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise ValueError(f"need 2 to 9 classes (keys 1-9), got {len(classes)}")
    if len(set(classes)) != len(classes):
        raise ValueError("class names must be unique")
    if any(not c.strip() for c in classes):
        raise ValueError("class names must not be empty")
    return classes


def _check_item(item) -> int:
    return checks.integer("item", item)


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    return Path(path)


# -- the state and the reducer ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LabelState:
    """Everything the label file says, at one point in time.

    ``labels``: item -> class name. ``skipped``: items skipped (and not labelled
    since). ``history``: for each decision not yet undone, ``(item, label before,
    skipped before)``, oldest first — what :func:`undo_event` takes back.
    ``last``: ``(item, kind)`` of the latest event (``"label"``, ``"skip"``,
    ``"undo"`` or ``"clear"``), or ``None``; it says where the learner stopped.
    """

    classes: tuple[str, ...]
    labels: Mapping[int, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    skipped: frozenset[int] = frozenset()
    history: tuple[tuple[int, str | None, bool], ...] = ()
    last: tuple[int, str] | None = None

    def __eq__(self, other) -> bool:
        if not isinstance(other, LabelState):
            return NotImplemented
        return (
            self.classes == other.classes
            and dict(self.labels) == dict(other.labels)
            and self.skipped == other.skipped
            and self.history == other.history
            and self.last == other.last
        )

    __hash__ = None  # type: ignore[assignment]


def empty_state(classes) -> LabelState:
    """The state of a new label file for ``classes``."""
    return LabelState(classes=check_classes(classes))


def check_event(event, classes: Sequence[str]) -> dict:
    """``event`` as a plain dict after checking it is a label event for ``classes``.

    Raises ``TypeError``/``ValueError`` naming what is wrong.
    """
    if not isinstance(event, Mapping):
        raise TypeError(f"an event must be a dict, got {type(event).__name__}")
    if "item" not in event:
        raise ValueError("an event needs an 'item'")
    item = event["item"]
    if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
        raise ValueError(f"an event's item must be an integer, got {item!r}")
    out = {"item": int(item)}
    if "label" in event:
        label = event["label"]
        if label is not None and label not in classes:
            raise ValueError(
                f"unknown class {label!r}; the classes are {list(classes)}"
            )
        out["label"] = label
    if "skip" in event:
        if not isinstance(event["skip"], bool):
            raise ValueError(f"'skip' must be true or false, got {event['skip']!r}")
        out["skip"] = event["skip"]
    if "undo" in event:
        if event["undo"] is not True:
            raise ValueError(f"'undo' must be true, got {event['undo']!r}")
        if "label" not in out or "skip" not in out:
            raise ValueError("an undo event must give the item's 'label' and 'skip'")
        out["undo"] = True
    if "label" not in out and "skip" not in out:
        raise ValueError("an event needs a 'label' or 'skip'")
    if isinstance(event.get("time"), str):
        out["time"] = event["time"]  # kept, so a re-created file keeps its times
    if out.get("skip") is False and "undo" not in out:
        raise ValueError("'skip': false only appears in undo events")
    return out


def apply(state: LabelState, event) -> LabelState:
    """The reducer: the state after ``event``. Pure; ``state`` is not changed.

    Events (see the module docstring): a label ``{"item", "label": name}``, a skip
    ``{"item", "skip": true}``, an undo ``{"item", "undo": true, "label", "skip"}``
    and, from version 1 files, a clear ``{"item", "label": null}``.
    """
    if not isinstance(state, LabelState):
        raise TypeError(f"state must be a LabelState, got {type(state).__name__}")
    event = check_event(event, state.classes)
    item = event["item"]
    labels = dict(state.labels)
    skipped = set(state.skipped)
    history = state.history
    before = (item, labels.get(item), item in skipped)
    if event.get("undo"):
        kind = "undo"
        if history and history[-1][0] == item:
            history = history[:-1]
        _set(labels, skipped, item, event["label"], event["skip"])
    elif event.get("skip"):
        kind = "skip"
        history = (*history, before)
        skipped.add(item)
    elif event.get("label") is None:
        kind = "clear"  # version 1's undo: the label goes, the skip flag stays
        labels.pop(item, None)
    else:
        kind = "label"
        history = (*history, before)
        _set(labels, skipped, item, event["label"], False)
    return LabelState(
        classes=state.classes,
        labels=MappingProxyType(labels),
        skipped=frozenset(skipped),
        history=history,
        last=(item, kind),
    )


def _set(labels: dict, skipped: set, item: int, label, skip: bool) -> None:
    if label is None:
        labels.pop(item, None)
    else:
        labels[item] = label
    if skip:
        skipped.add(item)
    else:
        skipped.discard(item)


def label_event(item: int, label: str) -> dict:
    """The event that gives ``item`` the class ``label``."""
    if not isinstance(label, str):
        raise TypeError(f"label must be a class name, got {type(label).__name__}")
    return {"item": _check_item(item), "label": label}


def skip_event(item: int) -> dict:
    """The event that skips ``item`` (it stays unlabelled)."""
    return {"item": _check_item(item), "skip": True}


def undo_event(state: LabelState) -> dict | None:
    """The event that takes back the latest decision of ``state`` (None: nothing)."""
    if not isinstance(state, LabelState):
        raise TypeError(f"state must be a LabelState, got {type(state).__name__}")
    if not state.history:
        return None
    item, label, skip = state.history[-1]
    return {"item": item, "undo": True, "label": label, "skip": skip}


# -- where the learner is -------------------------------------------------------


def next_open(state: LabelState, items: Sequence[int], start: int = 0) -> int:
    """Queue position of the next image to show, searching from ``start`` onwards.

    Unlabelled, not skipped images come first, then skipped ones (wrapping round
    the queue); if everything is labelled, ``start`` (clipped to the queue).
    """
    n = len(items)
    if n == 0:
        raise ValueError("items is empty")
    start = min(max(int(start), 0), n)
    order = [*range(start, n), *range(start)]
    for k in order:
        item = items[k]
        if item not in state.labels and item not in state.skipped:
            return k
    for k in order:
        if items[k] not in state.labels:
            return k
    return min(start, n - 1)


def resume_position(state: LabelState, items: Sequence[int]) -> int:
    """Where the learner continues: after the latest decision, or on the image of
    the latest undo. Both the live session and a resumed one use this."""
    position = {item: k for k, item in enumerate(items)}
    if state.last is None or state.last[0] not in position:
        return next_open(state, items, 0)
    item, kind = state.last
    if kind == "undo":
        return position[item]
    return next_open(state, items, position[item] + 1)


# -- reading a file --------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(path: Path, raw: bytes, classes):
    """(header classes, events, tail): ``tail`` is a cut-off last line or b""."""
    end = raw.rfind(b"\n") + 1
    body, tail = raw[:end], raw[end:]
    lines = body.split(b"\n")[:-1] if body else []
    if not lines:  # even the header is cut short
        lines, tail = [tail], b""
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
    if header.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} has label-file version {header.get('version')!r}; this "
            f"alwidgets reads versions {list(READABLE_VERSIONS)}"
        )
    try:
        file_classes = check_classes(header["classes"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad classes in the header: {exc}") from None
    if classes is not None and tuple(classes) != file_classes:
        raise ValueError(
            f"{path} was made for classes {list(file_classes)}, not {list(classes)}"
        )
    events = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            events.append(check_event(json.loads(line), file_classes))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise ValueError(
                f"{path}, line {number}: not a label event ({exc})"
            ) from None
        except ValueError as exc:
            raise ValueError(f"{path}, line {number}: {exc}") from None
    if tail:
        try:  # a whole event that only lacks its newline is kept
            events.append(check_event(json.loads(tail), file_classes))
            tail = b""
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError):
            pass
    return file_classes, events, tail


def replay(events: Iterable, classes) -> LabelState:
    """The state after ``events`` (dicts), starting from an empty file."""
    state = empty_state(classes)
    for event in events:
        state = apply(state, event)
    return state


def read_state(path, classes=None) -> LabelState:
    """Replay a label file into a :class:`LabelState` (read-only; warns about a
    last line cut short by a crash, which it ignores)."""
    path = _check_path(path)
    if classes is not None:
        classes = check_classes(classes)
    file_classes, events, tail = _parse(path, path.read_bytes(), classes)
    if tail:
        warnings.warn(
            f"{path}: ignored a last line cut short by a crash ({len(tail)} bytes)"
        )
    return replay(events, file_classes)


def read_labels(path, classes: Sequence[str] | None = None):
    """Read a label file: ``(classes, labels, skipped)`` with the latest decisions.

    ``labels`` maps item -> class name; ``skipped`` is the set of items skipped and
    not labelled since. Raises ``ValueError`` for a file that is not an alwidgets
    label file, is corrupt, or (if given) has other ``classes``.
    """
    state = read_state(path, classes)
    return list(state.classes), dict(state.labels), set(state.skipped)


# -- the one live writer ---------------------------------------------------------

#: resolved path -> the live store for it, in this process.
_LIVE: dict[str, weakref.ref] = {}


class LabelStore:
    """The live writer of one label file: state in memory, every event on disk.

    Opening a file takes it over: a store opened earlier on the same file (in this
    kernel, or in another process) stops writing and raises :class:`TakenOver`;
    callbacks given to :meth:`on_taken_over` run at once for one in this kernel.
    """

    def __init__(self, path, classes) -> None:
        self.path = _check_path(path)
        self.classes = check_classes(classes)
        self.token = uuid.uuid4().hex
        self.messages: list[str] = []  # what happened on opening (repairs)
        self._callbacks: list[Callable[[], None]] = []
        self._retired = False
        if self.path.exists() and self.path.stat().st_size > 0:
            self._events = self._open_existing()
        else:
            self._events = []
            self._write_new_file(self._events)
        self.state = replay(self._events, self.classes)
        self._take_over()

    # -- opening

    def _open_existing(self) -> list[dict]:
        raw = self.path.read_bytes()
        _, events, tail = _parse(self.path, raw, self.classes)
        if tail:
            copy = self._keep_copy(tail)
            with open(self.path, "r+b") as f:
                f.truncate(len(raw) - len(tail))
                f.flush()
                os.fsync(f.fileno())
            message = (
                f"{self.path.name}: its last line was cut short by a crash; the "
                f"{len(tail)} cut bytes were moved to {copy.name} and the file "
                "continues from the last whole line."
            )
            self.messages.append(message)
            warnings.warn(message)
        elif not raw.endswith(b"\n"):
            with open(self.path, "ab") as f:  # a whole last event lacking "\n"
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
        return events

    def _keep_copy(self, data: bytes) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        copy = self.path.with_name(f"{self.path.name}.cut-{stamp}")
        with open(copy, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return copy

    def _write_new_file(self, events: list[dict]) -> None:
        """Write header + ``events`` to a temporary file and move it into place."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": FORMAT, "version": VERSION, "classes": list(self.classes)}
        text = "".join(json.dumps(e) + "\n" for e in [header, *events])
        tmp = self.path.with_name(f".{self.path.name}.{self.token}.tmp")
        try:
            with open(tmp, "w", encoding="utf8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()

    @property
    def _writer_file(self) -> Path:
        return self.path.with_name(self.path.name + ".writer")

    def _take_over(self) -> None:
        key = str(self.path.resolve())
        old = _LIVE.get(key)
        old = old() if old is not None else None
        _LIVE[key] = weakref.ref(self)
        self._claim()
        if old is not None and old is not self:
            old._retire()

    def _claim(self) -> None:
        info = {"token": self.token, "pid": os.getpid(), "time": _now()}
        tmp = self._writer_file.with_name(f".{self._writer_file.name}.{self.token}")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self._writer_file)

    def _retire(self) -> None:
        if self._retired:
            return
        self._retired = True
        for callback in self._callbacks:
            callback()

    def on_taken_over(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when a newer store takes this file over."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._callbacks.append(callback)

    @property
    def live(self) -> bool:
        """False once a newer store took the file over."""
        if not self._retired:
            try:
                token = json.loads(self._writer_file.read_text()).get("token")
            except FileNotFoundError:
                token = self.token  # the marker was deleted: nobody else claimed
            except (OSError, ValueError, AttributeError):
                token = None
            if token != self.token:
                self._retire()
        return not self._retired

    # -- writing

    def record(self, event) -> LabelState:
        """Append ``event`` to the file (fsynced), then apply it; the new state.

        The state changes only once the event is on disk: on ``OSError`` (disk
        full, file unwritable...) or :class:`TakenOver` nothing changes.
        """
        event = check_event(event, self.classes)
        new_state = apply(self.state, event)  # refuses a bad event before writing
        if not self.live:
            raise TakenOver(
                f"another annotator took over {self.path.name}; this one stopped"
            )
        self._events.append(self._append(event))
        self.state = new_state
        return new_state

    def _append(self, event: dict) -> dict:
        event = {**event, "time": _now()}
        line = (json.dumps(event) + "\n").encode("utf8")
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size == 0:  # deleted or emptied while live: re-create it, whole
            self._write_new_file(self._events)
            self.messages.append(
                f"{self.path.name} was deleted; it was re-created from the "
                f"{len(self._events)} events this annotator holds."
            )
            self._claim()
        append_line(self.path, line, on_cut=self._keep_copy)
        return event


def append_line(
    path: Path, line: bytes, on_cut: Callable[[bytes], None] | None = None
) -> None:
    """Append ``line`` (ending in a newline) in one small write and fsync it.

    A crash then leaves whole lines only. A part line left by an earlier failed
    write is cut first, after ``on_cut(part)`` when given (the label store keeps
    a copy of it).
    """
    with open(path, "a+b") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        if end:
            f.seek(end - 1)
            if f.read(1) != b"\n":
                f.seek(0)
                raw = f.read()
                cut = raw[raw.rfind(b"\n") + 1 :]
                if on_cut is not None:
                    on_cut(cut)
                f.truncate(end - len(cut))
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


# -- labelled images as a dataset ------------------------------------------------


def _iter_images(images):
    """Yield images from an array, tensor, list (any sizes) or tf.data dataset."""
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


def _as_uint8(image, k: int) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"image {k} must be (H, W, 3), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"image {k}: float images must have values in [0, 1]")
        arr = (arr * 255).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise TypeError(f"image {k}: must be uint8 or float in [0, 1], got {arr.dtype}")
    return arr


def labelled_dataset(images, labels, classes, items=None, image_size=None):
    """A ``tf.data.Dataset`` of ``(uint8 image, int64 class index)``.

    Parameters
    ----------
    images
        The images (array, list of arrays of any sizes, tensor, tf.data dataset).
    labels
        Either a mapping item -> class name (``annotator.labels``; unlabelled
        images are left out) or one class index per image.
    classes
        The class names, in index order.
    items
        An id per image (default ``0..n-1``), as given to the annotator.
    image_size
        ``None`` keeps each image's own size (element shape ``[None, None, 3]``
        when sizes differ); an int resizes every image to ``image_size`` square.
    """
    import tensorflow as tf

    classes = check_classes(classes)
    if image_size is not None:
        image_size = checks.integer("image_size", image_size, 1)
    arrays = [_as_uint8(image, k) for k, image in enumerate(_iter_images(images))]
    items = (
        list(range(len(arrays))) if items is None else [_check_item(i) for i in items]
    )
    if len(items) != len(arrays):
        raise ValueError(f"{len(items)} items for {len(arrays)} images")
    index = {c: k for k, c in enumerate(classes)}
    if isinstance(labels, Mapping):
        unknown = {c for c in labels.values() if c not in index}
        if unknown:
            raise ValueError(f"labels use unknown classes {sorted(map(str, unknown))}")
        chosen = [k for k, item in enumerate(items) if item in labels]
        y = [index[labels[items[k]]] for k in chosen]
    else:
        y_all = np.asarray(labels).reshape(-1)
        if y_all.size and not np.issubdtype(y_all.dtype, np.integer):
            raise TypeError(f"labels must be class indices, got {y_all.dtype}")
        if y_all.size != len(arrays):
            raise ValueError(f"{y_all.size} labels for {len(arrays)} images")
        if y_all.size and (y_all.min() < -1 or y_all.max() >= len(classes)):
            raise ValueError(f"labels must be in [0, {len(classes)}) or -1")
        chosen = [k for k in range(len(arrays)) if y_all[k] >= 0]
        y = [int(y_all[k]) for k in chosen]
    if not chosen:
        raise ValueError("no labelled images: label some first")
    x = [arrays[k] for k in chosen]
    if image_size is not None:
        size = int(image_size)
        x = [
            tf.cast(
                tf.clip_by_value(
                    tf.round(tf.image.resize(a, (size, size), antialias=True)), 0, 255
                ),
                tf.uint8,
            ).numpy()
            for a in x
        ]
    y = np.asarray(y, dtype=np.int64)
    shapes = {a.shape for a in x}
    if len(shapes) == 1:  # one size: stacking is safe
        return tf.data.Dataset.from_tensor_slices((np.stack(x), y))

    def pairs():
        yield from zip(x, y)

    dataset = tf.data.Dataset.from_generator(
        pairs,
        output_signature=(
            tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8),
            tf.TensorSpec(shape=(), dtype=tf.int64),
        ),
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(len(y)))
