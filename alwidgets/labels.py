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
from pathlib import Path
from types import MappingProxyType

import numpy as np

from . import checks, jsonl
from .images import labelled_dataset  # noqa: F401  (its home is images.py)

__all__ = [
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
    return {"item": checks.integer("item", item), "label": label}


def skip_event(item: int) -> dict:
    """The event that skips ``item`` (it stays unlabelled)."""
    return {"item": checks.integer("item", item), "skip": True}


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


def _parse(path: Path, classes):
    """(file classes, events, tail): ``tail`` is a cut-off last line or b""."""
    header, rows, tail = jsonl.read(path, FORMAT, "label file")
    if header.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} has label-file version {header.get('version')!r}; this "
            f"alwidgets reads versions {list(READABLE_VERSIONS)}"
        )
    try:
        file_classes = check_classes(header.get("classes"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad classes in the header: {exc}") from None
    if classes is not None and tuple(classes) != file_classes:
        raise ValueError(
            f"{path} was made for classes {list(file_classes)}, not {list(classes)}"
        )
    events = []
    for number, row in enumerate(rows, start=2):
        try:
            events.append(check_event(row, file_classes))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}, event {number - 1}: {exc}") from None
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
    file_classes, events, tail = _parse(path, classes)
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
        _, events, tail = _parse(self.path, self.classes)
        if tail:
            copy = jsonl.cut_tail(self.path, len(tail))
            message = (
                f"{self.path.name}: its last line was cut short by a crash; the "
                f"{len(tail)} cut bytes were moved to {copy.name} and the file "
                "continues from the last whole line."
            )
            self.messages.append(message)
            warnings.warn(message)
        return events

    def _write_new_file(self, events: list[dict]) -> None:
        """Header + ``events``, written whole (atomically)."""
        header = {"format": FORMAT, "version": VERSION, "classes": list(self.classes)}
        jsonl.atomic_write(
            self.path, "".join(json.dumps(e) + "\n" for e in [header, *events])
        )

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
        info = {"token": self.token, "pid": os.getpid(), "time": jsonl.now()}
        jsonl.atomic_write(self._writer_file, json.dumps(info))

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
        event = {**event, "time": jsonl.now()}
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
        jsonl.append_line(self.path, event)
        return event
