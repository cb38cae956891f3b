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

from . import checks, config
from .config import PROFILES, Profile, cache_dir, cached_arrays, check_network

__all__ = [
    "Splits",
    "load_splits",
    "split_slices",
    "make_offline_flowers",
    "preprocess",
    "labels_of",
    "images_at",
]

SPLITS = ("train", "validation", "test", "pool")
TF_FLOWERS_SIZE = 3670
OFFLINE_IMAGE_SIZE = 64
OFFLINE_SEED = 0
#: How far a mixed image moves towards its second class (0 = not at all, 0.5 = halfway).
MIX_STRENGTH = (0.15, 0.45)
COLOUR_JITTER = 0.12  # standard deviation of a per-image colour shift
PIXEL_NOISE = 0.05  # standard deviation of per-pixel noise
#: tf_flowers' label names, in its own order (the offline data reuses them).
FLOWER_NAMES = ["dandelion", "daisy", "tulips", "sunflowers", "roses"]


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
) -> Splits:
    """Load the four splits of the active profile (or of ``profile``)."""
    record = config.profile(profile)
    if record.name == "offline":
        if sizes is not None or data_dir is not None:
            raise ValueError("sizes and data_dir apply to the full profile only")
        return _offline_splits(record)
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


# --- offline profile: generated flowers ------------------------------------------

# Per class: petal RGB, centre RGB, number of petals, petal depth (0 = disc,
# 1 = separate petals), centre radius (share of the flower radius).
_PROTOTYPES = {
    "dandelion": ((0.98, 0.82, 0.10), (0.90, 0.70, 0.05), 28, 0.15, 0.12),
    "daisy": ((0.96, 0.96, 0.94), (0.95, 0.78, 0.10), 13, 0.55, 0.28),
    "tulips": ((0.92, 0.30, 0.45), (0.75, 0.20, 0.30), 3, 0.35, 0.05),
    "sunflowers": ((1.00, 0.72, 0.05), (0.30, 0.18, 0.05), 17, 0.45, 0.45),
    "roses": ((0.72, 0.03, 0.12), (0.45, 0.01, 0.06), 5, 0.25, 0.22),
}


def make_offline_flowers(
    n: int, seed: int = OFFLINE_SEED, size: int = OFFLINE_IMAGE_SIZE, mix: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate ``n`` flower-like images of 5 classes, deterministically.

    Each class has its own petal colour, centre colour, petal count and shape;
    every image gets a random position, size, rotation, colour jitter, background
    and pixel noise. A share ``mix`` of the images blends the look of its class
    with a second class (15-45 % of the way): genuinely ambiguous images, labelled
    with the class they are closest to.

    Returns ``images`` (n, size, size, 3) uint8, ``labels`` (n,) int64 in
    ``FLOWER_NAMES`` order, and ``mixed`` (n,) bool.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must be in [0, 1], got {mix!r}")
    rng = np.random.default_rng(seed)
    protos = [np.array(_flat(p)) for p in _PROTOTYPES.values()]
    k = len(protos)
    labels = rng.integers(0, k, size=n)
    mixed = rng.random(n) < mix
    other = (labels + rng.integers(1, k, size=n)) % k
    t = np.where(mixed, rng.uniform(*MIX_STRENGTH, size=n), 0.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1) * 2 - 1
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        p = (1 - t[i]) * protos[labels[i]] + t[i] * protos[other[i]]
        images[i] = _draw(p, xx, yy, rng)
    return images, labels.astype(np.int64), mixed


def _flat(proto) -> list[float]:
    petal, centre, count, depth, radius = proto
    return [*petal, *centre, count, depth, radius]


def _draw(p: np.ndarray, xx: np.ndarray, yy: np.ndarray, rng) -> np.ndarray:
    petal, centre = p[0:3], p[3:6]
    count, depth, centre_r = p[6], p[7], p[8]
    # Background: a random green/brown gradient.
    g0 = rng.uniform([0.10, 0.25, 0.05], [0.35, 0.55, 0.25])
    g1 = rng.uniform([0.05, 0.15, 0.05], [0.40, 0.45, 0.20])
    w = (yy + 1) / 2
    img = g0 * (1 - w[..., None]) + g1 * w[..., None]
    # The flower: a polar shape with `count` petals.
    cx, cy = rng.uniform(-0.25, 0.25, size=2)
    radius = rng.uniform(0.5, 0.85)
    phase = rng.uniform(0, 2 * np.pi)
    x, y = xx - cx, yy - cy
    r = np.hypot(x, y)
    theta = np.arctan2(y, x) + phase
    edge = radius * (1 - depth + depth * np.abs(np.cos(count * theta / 2)) ** 0.7)
    jitter = rng.normal(0, COLOUR_JITTER, size=3)
    shade = 0.75 + 0.25 * np.clip(1 - r / radius, 0, 1)[..., None]
    flower = r < edge
    img[flower] = (np.clip(petal + jitter, 0, 1) * shade)[flower]
    disc = r < centre_r * radius
    img[disc] = np.clip(centre + jitter / 2, 0, 1)
    img += rng.normal(0, PIXEL_NOISE, size=img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _offline_splits(record: Profile) -> Splits:
    total = sum(record.sizes.values())
    key = f"flowers-{OFFLINE_SEED}-{OFFLINE_IMAGE_SIZE}-{total}-v2"

    def generate():
        images, labels, _ = make_offline_flowers(total, seed=OFFLINE_SEED)
        return {"images": images, "labels": labels, "digest": _digest(images)}

    arrays = cached_arrays(
        cache_dir("data") / f"{key}.npz",
        key,
        generate,
        lambda a: (
            len(a["images"]) == len(a["labels"]) == total
            and _digest(a["images"]) == str(a["digest"])
        ),
    )
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
        class_names=list(FLOWER_NAMES),
        sizes=dict(record.sizes),
        profile=record,
        fingerprint=key,
    )


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
