"""Leave with your data: labels as CSV and as a class folder tree, the model as one file.

* :func:`labels_to_csv`: ``path,label`` rows, readable by anything;
* :func:`labels_to_folders`: ``out/<class>/<file>``, what
  ``keras.utils.image_dataset_from_directory`` (and ``torchvision``'s
  ``ImageFolder``) read. Files are copied (or hard-linked), never moved;
* :func:`export_model`: the backbone and the head as one Keras model saved as a
  ``.keras`` file: image in (float32 in [0, 1], the backbone's size), class
  probabilities out. :func:`predict_images` runs it on image files, decoded the
  way the features were (:func:`alwidgets.images_in.load_image`).
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import checks
from .images_in import load_image

__all__ = ["labels_to_csv", "labels_to_folders", "export_model", "predict_images"]


def _check_labels(
    paths, labels, class_names
) -> tuple[list[str], np.ndarray, list[str]]:
    if isinstance(paths, (str, bytes)) or not isinstance(paths, Sequence):
        raise TypeError(f"paths must be a list of paths, got {type(paths).__name__}")
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError("class_names must be a list of names")
    names = [str(c) for c in class_names]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(
            f"class_names must be at least two distinct names, got {names}"
        )
    for name in names:
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            raise ValueError(f"class name {name!r} cannot be a folder name")
    y = checks.labels("labels", labels, len(names), len(paths))
    return [os.fspath(p) for p in paths], y, names


def labels_to_csv(paths, labels, class_names, out: str | os.PathLike) -> Path:
    """Write ``path,label`` (the class name) for each labelled image; returns the file."""
    paths, y, names = _check_labels(paths, labels, class_names)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        writer.writerows((p, names[c]) for p, c in zip(paths, y))
    tmp.replace(out)
    return out


def labels_to_folders(
    paths, labels, class_names, out: str | os.PathLike, link: bool = False
) -> dict[str, int]:
    """Copy each labelled image to ``out/<class>/<file name>``; returns counts per class.

    Two files with the same name get ``name-1.jpg``, ``name-2.jpg``...; every
    class gets a folder, even an empty one, so the class order (alphabetical,
    Keras' rule) is the same whatever was labelled. ``link=True`` hard-links
    instead of copying (same file system only). ``out`` must be new or empty.
    """
    paths, y, names = _check_labels(paths, labels, class_names)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty: choose a new folder")
    for name in names:
        (out / name).mkdir(parents=True, exist_ok=True)
    used: set[Path] = set()
    for path, c in zip(paths, y):
        source = Path(path)
        target = out / names[c] / source.name
        k = 0
        while target in used:
            k += 1
            target = out / names[c] / f"{source.stem}-{k}{source.suffix}"
        used.add(target)
        if link:
            os.link(source, target)
        else:
            shutil.copy2(source, target)
    return {name: int((y == i).sum()) for i, name in enumerate(names)}


def export_model(backbone, head, path: str | os.PathLike, class_names=None):
    """Backbone + head as one Keras model, saved to ``path`` (``.keras``); returns it.

    ``backbone``: a backbone name (:data:`alwidgets.backbones.BACKBONES`) or the
    Keras backbone model itself; ``head``: an :class:`alwidgets.heads.Head`
    (its :meth:`~alwidgets.heads.Head.to_keras`) or a Keras model on features.
    Reload with ``keras.models.load_model(path)``.
    """
    import keras

    from .backbones import BACKBONES, get_backbone
    from .heads import Head

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"path must end in .keras, got {path.name!r}")
    if isinstance(backbone, str):
        checks.choice("backbone", backbone, list(BACKBONES))
        backbone = get_backbone(backbone)
    if not isinstance(backbone, keras.Model):
        raise TypeError(
            f"backbone must be a name or a keras.Model, got {type(backbone)}"
        )
    if isinstance(head, Head):
        head = head.to_keras()
    if not isinstance(head, keras.Model):
        raise TypeError(f"head must be a Head or a keras.Model, got {type(head)}")
    width = backbone.output_shape[-1]
    if head.input_shape[-1] != width:
        raise ValueError(
            f"the head takes {head.input_shape[-1]} features, the backbone gives {width}"
        )
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    outputs = head(backbone(inputs, training=False))
    model = keras.Model(inputs, outputs, name="classifier")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    if class_names is not None:
        names = [str(c) for c in class_names]
        if len(names) != head.output_shape[-1]:
            raise ValueError(
                f"{len(names)} class_names for {head.output_shape[-1]} outputs"
            )
        path.with_suffix(".classes.txt").write_text("\n".join(names) + "\n")
    return model


def predict_images(model, paths, batch_size: int = 32) -> tuple[np.ndarray, list]:
    """Class probabilities of ``model`` (e.g. from :func:`export_model`) for image files.

    Returns ``(probs, bad)``: one row per readable file, in order, and the
    ``(path, reason)`` of the files that could not be read (no row for them).
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model)}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("paths is empty: nothing to predict")
    batch_size = checks.integer("batch_size", batch_size, 1)
    size = model.input_shape[1]
    rows, bad, batch = [], [], []

    def flush():
        if batch:
            x = np.stack(batch).astype(np.float32) / 255.0
            rows.append(np.asarray(model(x, training=False)))
            batch.clear()

    for p in paths:
        array, reason = load_image(p, size)
        if reason is not None:
            bad.append((p, reason))
            continue
        batch.append(array)
        if len(batch) == batch_size:
            flush()
    flush()
    n = model.output_shape[-1]
    probs = np.concatenate(rows) if rows else np.zeros((0, n), np.float32)
    return probs.astype(np.float64), bad
