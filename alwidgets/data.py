"""The ``tf_flowers`` splits (full profile) and a generated stand-in (offline profile).

Both profiles give the same thing: four unbatched ``tf.data`` datasets of
``(uint8 image, int64 label)`` — ``train``, ``validation``, ``test`` and the
unlabelled ``pool`` — plus the class names. :func:`preprocess` turns one into
batches for a backbone without ever holding a whole split as float32 in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import tensorflow as tf

from . import checks, config, offline_images
from .config import PROFILES, Profile, cache_dir, cached_arrays, check_network
from .offline_images import (  # noqa: F401  (data.make_offline_flowers etc. still work)
    FLOWER_NAMES,
    INFO_DTYPE,
    MAX_CLASSES,
    OFFLINE_IMAGE_SIZE,
    OFFLINE_SEED,
    SOURCE_CLASSES,
    flower_names,
    hard_kinds,
    make_offline_flowers,
    make_source_shapes,
    why_hard,
)

__all__ = [
    "Splits",
    "load_splits",
    "split_slices",
    "offline_info",
    "preprocess",
    "labels_of",
    "images_at",
]

SPLITS = ("train", "validation", "test", "pool")
TF_FLOWERS_SIZE = 3670


@dataclasses.dataclass(frozen=True)
class Splits:
    """Four unbatched datasets of ``(image uint8 [H, W, 3], label int64)``."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    pool: tf.data.Dataset
    class_names: list[str]
    sizes: dict[str, int]
    profile: Profile
    #: Identifies the data, for cache keys (profile, sizes, version or seed).
    fingerprint: str

    def __getitem__(self, name: str) -> tf.data.Dataset:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; choose one of {SPLITS}")
        return getattr(self, name)


def split_slices(total: int, sizes: dict[str, int] | None = None) -> dict[str, str]:
    """TFDS slice strings for consecutive train/validation/test parts and the pool.

    >>> split_slices(3670)["test"]
    'train[1500:2500]'
    """
    if sizes is None:
        sizes = {s: n for s, n in PROFILES["full"].sizes.items() if s != "pool"}
    if not isinstance(sizes, dict) or set(sizes) != {"train", "validation", "test"}:
        raise ValueError(
            f"sizes must give exactly train, validation and test, got {sizes!r}"
        )
    for name, n in sizes.items():
        checks.integer(f"size of {name!r}", n, 1)
    if checks.integer("total", total, 1) <= sum(sizes.values()):
        raise ValueError(
            f"train + validation + test = {sum(sizes.values())} leaves no pool "
            f"out of {total} examples"
        )
    a = sizes["train"]
    b = a + sizes["validation"]
    c = b + sizes["test"]
    return {
        "train": f"train[:{a}]",
        "validation": f"train[{a}:{b}]",
        "test": f"train[{b}:{c}]",
        "pool": f"train[{c}:]",
    }


def load_splits(
    profile: str | None = None,
    sizes: dict[str, int] | None = None,
    data_dir: str | None = None,
    classes: int = len(FLOWER_NAMES),
) -> Splits:
    """Load the four splits of the active profile (or of ``profile``).

    ``classes``: tf_flowers has 5; the offline profile can generate more, up to
    :data:`~alwidgets.offline_images.MAX_CLASSES` (the five, then other kinds of
    flowers: :func:`~alwidgets.offline_images.flower_names`), with the same split
    sizes, cached apart. ``cached_features(load_splits("offline", classes=15))``
    embeds them with the offline backbone.
    """
    record = config.profile(profile)
    classes = checks.integer("classes", classes, len(FLOWER_NAMES), MAX_CLASSES)
    if record.name == "offline":
        if sizes is not None or data_dir is not None:
            raise ValueError("sizes and data_dir apply to the full profile only")
        return _offline_splits(record, classes)
    if classes != len(FLOWER_NAMES):
        raise ValueError(
            f"classes={classes} needs the offline profile (generated data): "
            f"tf_flowers has {len(FLOWER_NAMES)} classes"
        )
    return _tfds_splits(record, sizes, data_dir)


def _tfds_splits(
    record: Profile, sizes: dict[str, int] | None, data_dir: str | None
) -> Splits:
    import tensorflow_datasets as tfds

    slices = split_slices(TF_FLOWERS_SIZE, sizes)

    def load(download: bool):
        return tfds.load(
            "tf_flowers",
            split=[slices[s] for s in SPLITS],
            as_supervised=True,
            with_info=True,
            data_dir=data_dir,  # None: TFDS_DATA_DIR, else ~/tensorflow_datasets
            download=download,
            shuffle_files=False,
            # tf_flowers (222 MiB) is under TFDS's 250 MiB auto-cache threshold:
            # without this, every decoded image stays in RAM (+1.7 GB).
            read_config=tfds.ReadConfig(try_autocache=False),
        )

    try:
        datasets, info = load(download=False)  # present: no network check at all
    except (tfds.core.DatasetNotFoundError, AssertionError):
        datasets = None
    if datasets is None:
        # Not downloaded yet: fail within seconds without network, instead of
        # minutes of retries, then download (218 MiB, once). Outside the except
        # block, so TFDS's "pass download=True" error is not chained to ours.
        check_network("download.tensorflow.org")
        datasets, info = load(download=True)
    total = info.splits["train"].num_examples
    if total != TF_FLOWERS_SIZE:
        raise ValueError(
            f"tf_flowers has {total} examples, expected {TF_FLOWERS_SIZE}: "
            f"is {data_dir or 'the TFDS data folder'} a different version?"
        )
    counts = {s: info.splits[slices[s]].num_examples for s in SPLITS}
    return Splits(
        *datasets,
        class_names=list(info.features["label"].names),
        sizes=counts,
        profile=record,
        fingerprint=f"tf_flowers-{info.version}-"
        + "-".join(str(counts[s]) for s in SPLITS),
    )


def _offline_splits(record: Profile, classes: int = len(FLOWER_NAMES)) -> Splits:
    arrays = _offline_arrays(record, classes)
    images, labels = arrays["images"], arrays["labels"]
    datasets, start = [], 0
    for name in SPLITS:
        stop = start + record.sizes[name]
        datasets.append(
            tf.data.Dataset.from_tensor_slices((images[start:stop], labels[start:stop]))
        )
        start = stop
    return Splits(
        *datasets,
        class_names=flower_names(classes),
        sizes=dict(record.sizes),
        profile=record,
        fingerprint=_offline_key(record, classes),
    )


def _offline_key(record: Profile, classes: int = len(FLOWER_NAMES)) -> str:
    total = sum(record.sizes.values())
    key = f"flowers-{OFFLINE_SEED}-{OFFLINE_IMAGE_SIZE}-{total}-v4"
    if classes == len(FLOWER_NAMES):
        return key  # the offline profile's own data: its key never changes
    # More classes: the key names the kinds drawn, so editing one of them
    # (offline_images.MORE_KINDS) never reuses stale images or features.
    kinds = [offline_images.ALL_KINDS[name] for name in flower_names(classes)]
    digest = hashlib.sha1(repr(kinds).encode("utf8")).hexdigest()[:8]
    return f"{key}-{classes}classes-{digest}"


def _offline_arrays(
    record: Profile, classes: int = len(FLOWER_NAMES)
) -> dict[str, np.ndarray]:
    total = sum(record.sizes.values())
    key = _offline_key(record, classes)

    def generate():
        images, labels, info = make_offline_flowers(
            total, seed=OFFLINE_SEED, classes=classes
        )
        return {
            "images": images,
            "labels": labels,
            "info": info,
            "digest": _digest(images),
        }

    return cached_arrays(
        cache_dir("data") / f"{key}.npz",
        key,
        generate,
        lambda a: (
            len(a["images"]) == len(a["labels"]) == len(a.get("info", ())) == total
            and _digest(a["images"]) == str(a["digest"])
        ),
    )


def offline_info(
    split: str = "pool", profile: str | None = None, classes: int = len(FLOWER_NAMES)
) -> np.ndarray:
    """Why each image of an offline ``split`` is hard: the rows of :data:`INFO_DTYPE`.

    In the split's order, so ``offline_info("pool")[i]`` describes pool image ``i``
    (see :func:`why_hard` and :func:`hard_kinds`); ``classes`` as in
    :func:`load_splits`. Offline profile only: real photos come with no such record.
    """
    record = config.profile(profile)
    if record.name != "offline":
        raise ValueError("offline_info needs the offline profile (generated data)")
    checks.choice("split", split, list(SPLITS))
    classes = checks.integer("classes", classes, len(FLOWER_NAMES), MAX_CLASSES)
    info = _offline_arrays(record, classes)["info"]
    start = 0
    for name in SPLITS:
        stop = start + record.sizes[name]
        if name == split:
            return info[start:stop].copy()
        start = stop
    raise AssertionError("unreachable")


def _digest(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


# --- pipelines --------------------------------------------------------------------


def preprocess(
    dataset: tf.data.Dataset, image_size: int, batch_size: int = 32
) -> tf.data.Dataset:
    """Resize to ``image_size`` squared, scale to [0, 1] float32, batch and prefetch."""
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset)}")
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def prepare(image, label):
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
        return tf.clip_by_value(image / 255.0, 0.0, 1.0), label

    return (
        dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def labels_of(dataset: tf.data.Dataset) -> np.ndarray:
    """The labels of an unbatched ``(image, label)`` dataset, as an int64 array."""
    return np.fromiter(
        (int(y) for y in dataset.map(lambda x, y: y).as_numpy_iterator()),
        dtype=np.int64,
    )


def images_at(dataset: tf.data.Dataset, indices) -> list[np.ndarray]:
    """The uint8 images at ``indices`` (in that order) of an unbatched dataset.

    A list, not one array: real photos have different sizes (tf_flowers: 240-500
    px a side). Streams the dataset once; keeps only the requested images.
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset)}")
    wanted = np.asarray(indices).reshape(-1)
    if wanted.size and not np.issubdtype(wanted.dtype, np.integer):
        raise TypeError(f"indices must be integers, got {wanted.dtype}")
    if wanted.size and wanted.min() < 0:
        raise ValueError("indices must be >= 0")
    position = {int(i): k for k, i in enumerate(wanted)}
    found: dict[int, np.ndarray] = {}
    for i, (image, _) in enumerate(dataset.as_numpy_iterator()):
        if i in position:
            found[i] = image
            if len(found) == len(position):
                break
    missing = sorted(set(position) - set(found))
    if missing:
        raise ValueError(f"indices {missing[:5]} are beyond the dataset's end")
    return [found[int(i)] for i in wanted]
