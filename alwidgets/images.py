"""Images in (arrays, tensors, PIL images, file paths, tf.data datasets), bytes or datasets out.

One home for what the annotator shows (:func:`encode_image`) and what goes back into
training (:func:`labelled_dataset`). TensorFlow is imported only by
:func:`labelled_dataset`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping

import numpy as np
from PIL import Image as PILImage

from . import checks

__all__ = [
    "DISPLAY_SIZE",
    "iter_images",
    "as_uint8",
    "encode_image",
    "labelled_dataset",
]

#: The longer side of a displayed image, in pixels.
DISPLAY_SIZE = 320


def iter_images(images) -> Iterator:
    """Yield images from an array, tensor, list (any sizes) or tf.data dataset
    (of images or ``(image, label)`` pairs)."""
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


def as_uint8(image, name: str = "an image") -> np.ndarray:
    """``image`` (array, PIL image or file path) as a uint8 (H, W, 3) array.

    Grey images get three channels and an alpha channel is dropped; floats must
    be in [0, 1]. ``name`` names the image in errors.
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            with PILImage.open(image) as pil:
                image = pil.convert("RGB")
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read image file {image}: {exc}") from exc
    if isinstance(image, PILImage.Image):
        image = image.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype == object:
        raise TypeError(f"{name} must be an array of numbers, not objects")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or 0 in arr.shape:
        raise ValueError(f"{name} must be (H, W, 3), got shape {arr.shape}")
    arr = np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr[..., :3]
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name}: float images must have values in [0, 1]")
        arr = (arr * 255).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise TypeError(f"{name}: must be uint8 or float in [0, 1], got {arr.dtype}")
    return arr


def encode_image(image, size: int = DISPLAY_SIZE) -> bytes:
    """One image (array, tensor, PIL image or file path) as JPEG bytes for display.

    Small images are scaled up (nearest neighbour, so pixels stay sharp) and large
    ones down, so that the longer side is ``size`` pixels. Any size goes in.
    """
    size = checks.integer("size", size, 1)
    pil = PILImage.fromarray(as_uint8(image))
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


def labelled_dataset(images, labels, classes, items=None, image_size=None):
    """A ``tf.data.Dataset`` of ``(uint8 image, int64 class index)``.

    Parameters
    ----------
    images
        The images (array, list of arrays of any sizes, tensor, tf.data dataset).
    labels
        Either a mapping item -> class name (``annotator.labels``; unlabelled
        images are left out) or one class index per image (-1: unlabelled).
    classes
        The class names, in index order.
    items
        An id per image (default ``0..n-1``), as given to the annotator.
    image_size
        ``None`` keeps each image's own size (element shape ``[None, None, 3]``
        when sizes differ); an int resizes every image to ``image_size`` square.
    """
    import tensorflow as tf

    from .labels import check_classes

    classes = check_classes(classes)
    if image_size is not None:
        image_size = checks.integer("image_size", image_size, 1)
    arrays = [as_uint8(x, f"image {k}") for k, x in enumerate(iter_images(images))]
    n = len(arrays)
    items = (
        list(range(n)) if items is None else [checks.integer("item", i) for i in items]
    )
    if len(items) != n:
        raise ValueError(f"{len(items)} items for {n} images")
    index = {c: k for k, c in enumerate(classes)}
    if isinstance(labels, Mapping):
        unknown = {c for c in labels.values() if c not in index}
        if unknown:
            raise ValueError(f"labels use unknown classes {sorted(map(str, unknown))}")
        y_all = np.array([index[labels[i]] if i in labels else -1 for i in items])
    else:
        y_all = np.asarray(labels).reshape(-1)
        if y_all.size and not np.issubdtype(y_all.dtype, np.integer):
            raise TypeError(f"labels must be class indices, got {y_all.dtype}")
        if y_all.size != n:
            raise ValueError(f"{y_all.size} labels for {n} images")
        if y_all.size and (y_all.min() < -1 or y_all.max() >= len(classes)):
            raise ValueError(f"labels must be in [0, {len(classes)}) or -1")
    chosen = [k for k in range(n) if y_all[k] >= 0]
    if not chosen:
        raise ValueError("no labelled images: label some first")
    x = [arrays[k] for k in chosen]
    y = y_all[chosen].astype(np.int64)
    if image_size is not None:
        size = (image_size, image_size)
        x = [
            tf.cast(
                tf.clip_by_value(
                    tf.round(tf.image.resize(a, size, antialias=True)), 0, 255
                ),
                tf.uint8,
            ).numpy()
            for a in x
        ]
    if len({a.shape for a in x}) == 1:  # one size: stacking is safe
        return tf.data.Dataset.from_tensor_slices((np.stack(x), y))
    dataset = tf.data.Dataset.from_generator(
        lambda: zip(x, y),
        output_signature=(
            tf.TensorSpec(shape=(None, None, 3), dtype=tf.uint8),
            tf.TensorSpec(shape=(), dtype=tf.int64),
        ),
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(len(y)))
