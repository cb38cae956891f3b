"""The generated flowers of the offline profile: 5 (or more) shape-defined classes, numpy.

:func:`make_offline_flowers` draws the offline profile's images (with a record of why
each one is hard: :data:`INFO_DTYPE`, :func:`why_hard`, :func:`hard_kinds`); with
``classes=`` up to :data:`MAX_CLASSES` it adds more kinds of flowers after the five
(:func:`flower_names`), the article's "more classes". :func:`make_source_shapes` draws
the other shapes the offline backbone is pre-trained on. :mod:`alwidgets.data` caches
them and cuts them into splits.
"""

from __future__ import annotations

import numpy as np

from . import checks

__all__ = [
    "FLOWER_NAMES",
    "MAX_CLASSES",
    "INFO_DTYPE",
    "flower_names",
    "make_offline_flowers",
    "make_source_shapes",
    "why_hard",
    "hard_kinds",
]

OFFLINE_IMAGE_SIZE = 64
OFFLINE_SEED = 0
#: tf_flowers' label names, in its own order (the offline data reuses them).
FLOWER_NAMES = ["dandelion", "daisy", "tulips", "sunflowers", "roses"]

# --- offline profile: generated flowers ------------------------------------------

# The five kinds differ mainly in SHAPE; their colours overlap (yellow dandelions,
# sunflowers and tulips; white daisies, tulips and roses; red roses and tulips), so
# a backbone that sees only colour cannot tell them apart, while one that learned
# shapes can. Per class: number of petals, petal depth (0 = disc, 1 = separate
# petals), centre radius (share of the flower radius), common colours (petal RGB,
# centre RGB), and one rare sub-type (a name and its colours).
KINDS = {
    "dandelion": (
        28,
        0.18,
        0.10,
        [
            ((0.98, 0.82, 0.10), (0.90, 0.70, 0.05)),
            ((0.95, 0.66, 0.08), (0.85, 0.55, 0.05)),
        ],
        ("white seed head", (0.92, 0.92, 0.88), (0.60, 0.55, 0.45)),
    ),
    "daisy": (
        12,
        0.60,
        0.28,
        [
            ((0.96, 0.96, 0.94), (0.95, 0.78, 0.10)),
            ((0.98, 0.85, 0.20), (0.95, 0.70, 0.10)),
        ],
        ("pink daisy", (0.90, 0.45, 0.65), (0.95, 0.78, 0.10)),
    ),
    "tulips": (
        3,
        0.45,
        0.05,
        [
            ((0.92, 0.25, 0.35), (0.70, 0.15, 0.25)),
            ((0.98, 0.85, 0.20), (0.85, 0.65, 0.10)),
            ((0.96, 0.94, 0.92), (0.85, 0.85, 0.70)),
        ],
        ("dark purple tulip", (0.35, 0.10, 0.40), (0.20, 0.05, 0.25)),
    ),
    "sunflowers": (
        18,
        0.45,
        0.45,
        [
            ((1.00, 0.75, 0.05), (0.30, 0.18, 0.05)),
            ((0.98, 0.60, 0.05), (0.35, 0.20, 0.08)),
        ],
        ("red sunflower", (0.70, 0.12, 0.08), (0.25, 0.12, 0.05)),
    ),
    "roses": (
        7,
        0.22,
        0.20,
        [
            ((0.72, 0.03, 0.12), (0.45, 0.01, 0.06)),
            ((0.95, 0.55, 0.65), (0.80, 0.35, 0.45)),
            ((0.96, 0.94, 0.92), (0.85, 0.85, 0.70)),
        ],
        ("yellow rose", (0.98, 0.85, 0.25), (0.90, 0.70, 0.15)),
    ),
}
# More kinds, for more classes than tf_flowers' five (``classes=`` of
# make_offline_flowers): the same knobs, in the same spirit. Their petal counts are
# none of the source task's (SOURCE_COUNTS), so the offline backbone has never seen
# them either; their colours overlap the five's and each other's, and several shapes
# sit near one of the five (asters near daisies, marigolds between dandelions and
# sunflowers, coneflowers near sunflowers, poppies and anemones near roses). In the
# order they are added: ``classes=10`` gives the five and the first five of these.
MORE_KINDS = {
    "buttercups": (
        5,
        0.50,
        0.22,
        [
            ((0.98, 0.88, 0.15), (0.85, 0.80, 0.25)),
            ((0.98, 0.70, 0.10), (0.85, 0.65, 0.15)),
        ],
        ("white buttercup", (0.95, 0.95, 0.92), (0.90, 0.80, 0.20)),
    ),
    "anemones": (
        9,
        0.35,
        0.25,
        [
            ((0.96, 0.95, 0.93), (0.12, 0.10, 0.18)),
            ((0.82, 0.10, 0.18), (0.12, 0.08, 0.15)),
            ((0.55, 0.25, 0.65), (0.12, 0.08, 0.15)),
        ],
        ("blue anemone", (0.25, 0.35, 0.85), (0.10, 0.10, 0.20)),
    ),
    "asters": (
        16,
        0.55,
        0.30,
        [
            ((0.60, 0.40, 0.85), (0.95, 0.78, 0.10)),
            ((0.90, 0.50, 0.75), (0.95, 0.78, 0.10)),
        ],
        ("white aster", (0.96, 0.96, 0.94), (0.95, 0.78, 0.10)),
    ),
    "marigolds": (
        20,
        0.30,
        0.18,
        [
            ((1.00, 0.55, 0.05), (0.90, 0.45, 0.05)),
            ((0.98, 0.80, 0.10), (0.90, 0.65, 0.05)),
        ],
        ("red marigold", (0.75, 0.18, 0.08), (0.60, 0.10, 0.05)),
    ),
    "poppies": (
        5,
        0.15,
        0.18,
        [
            ((0.90, 0.15, 0.08), (0.08, 0.06, 0.06)),
            ((0.98, 0.50, 0.08), (0.08, 0.06, 0.06)),
        ],
        ("white poppy", (0.96, 0.94, 0.92), (0.10, 0.10, 0.10)),
    ),
    "cosmos": (
        9,
        0.65,
        0.15,
        [
            ((0.92, 0.50, 0.72), (0.95, 0.75, 0.10)),
            ((0.80, 0.15, 0.50), (0.95, 0.75, 0.10)),
            ((0.96, 0.95, 0.93), (0.95, 0.75, 0.10)),
        ],
        ("chocolate cosmos", (0.35, 0.12, 0.10), (0.25, 0.10, 0.05)),
    ),
    "coneflowers": (
        13,
        0.45,
        0.42,
        [
            ((0.85, 0.45, 0.65), (0.45, 0.22, 0.08)),
            ((0.95, 0.95, 0.92), (0.45, 0.25, 0.08)),
        ],
        ("yellow coneflower", (0.98, 0.80, 0.15), (0.40, 0.22, 0.08)),
    ),
    "zinnias": (
        14,
        0.25,
        0.30,
        [
            ((0.85, 0.15, 0.45), (0.90, 0.75, 0.15)),
            ((1.00, 0.50, 0.10), (0.90, 0.70, 0.15)),
            ((0.80, 0.10, 0.12), (0.85, 0.70, 0.15)),
        ],
        ("green zinnia", (0.60, 0.85, 0.40), (0.85, 0.75, 0.20)),
    ),
    "cornflowers": (
        24,
        0.40,
        0.12,
        [
            ((0.30, 0.40, 0.85), (0.20, 0.25, 0.60)),
            ((0.50, 0.35, 0.80), (0.30, 0.20, 0.55)),
        ],
        ("pink cornflower", (0.92, 0.55, 0.72), (0.60, 0.30, 0.45)),
    ),
    "chrysanthemums": (
        30,
        0.55,
        0.12,
        [
            ((0.98, 0.85, 0.20), (0.90, 0.70, 0.10)),
            ((0.80, 0.45, 0.15), (0.65, 0.35, 0.10)),
            ((0.96, 0.95, 0.92), (0.90, 0.88, 0.70)),
        ],
        ("purple chrysanthemum", (0.60, 0.30, 0.65), (0.45, 0.20, 0.50)),
    ),
}
#: Every kind, name -> (petal count, depth, centre, colours, rare sub-type).
ALL_KINDS = {**KINDS, **MORE_KINDS}
#: Every kind the generator can draw: tf_flowers' five first, then MORE_KINDS.
ALL_NAMES = [*FLOWER_NAMES, *MORE_KINDS]
#: The most classes ``make_offline_flowers`` draws (``classes=``).
MAX_CLASSES = len(ALL_NAMES)
#: Share of images of a rare sub-type (each class has one, in another class's colour).
RARE_SHARE = 0.12
#: Share of near-boundary images, and how far their shape moves towards a second
#: class (0 = not at all, 0.5 = halfway: still labelled with the closer class).
MIX_SHARE = 0.15
MIX_STRENGTH = (0.1, 0.3)
#: Share of noisy images, and their per-pixel noise (the others get PIXEL_NOISE).
NOISY_SHARE = 0.1
NOISY_PIXEL_NOISE = (0.05, 0.08)
COLOUR_JITTER = 0.08  # standard deviation of a per-image colour shift
PIXEL_NOISE = 0.03  # standard deviation of per-pixel noise of ordinary images
#: The per-image record of why an image is hard (see :func:`why_hard`).
INFO_DTYPE = np.dtype(
    [
        ("mix", np.float32),  # how far the shape moved towards `mix_with` (0: not)
        ("mix_with", np.int8),  # the second class, -1 if none
        ("rare", np.bool_),  # a rare sub-type (see RARE_SUBTYPES)
        ("noise", np.float32),  # per-pixel noise standard deviation
        ("radius", np.float32),  # flower radius, share of half the image
    ]
)
#: The rare sub-type of each class, in ``ALL_NAMES`` order (``FLOWER_NAMES`` first).
RARE_SUBTYPES = [ALL_KINDS[name][4][0] for name in ALL_NAMES]


def flower_names(classes: int = len(FLOWER_NAMES)) -> list[str]:
    """The names of the first ``classes`` kinds: tf_flowers' five, then more.

    >>> flower_names(7)[5:]
    ['buttercups', 'anemones']
    """
    classes = checks.integer("classes", classes, len(FLOWER_NAMES), MAX_CLASSES)
    return ALL_NAMES[:classes]


def make_offline_flowers(
    n: int,
    seed: int = OFFLINE_SEED,
    size: int = OFFLINE_IMAGE_SIZE,
    mix: float = MIX_SHARE,
    rare: float = RARE_SHARE,
    noisy: float = NOISY_SHARE,
    classes: int = len(FLOWER_NAMES),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate ``n`` flower-like images of ``classes`` classes, deterministically.

    The classes differ in shape (petal count, petal depth, centre size) more than
    in colour: several share colours. Every image gets a random position, size,
    rotation, colour jitter and background. Three kinds of hard images, each
    recorded per image:

    * a share ``mix`` is **near a class boundary**: its shape moves 10-30 % of the
      way towards a second class (labelled with the class it is closer to);
    * a share ``rare`` is a **rare sub-type**: its class's shape in another class's
      colour (a white dandelion seed head, a yellow rose...);
    * a share ``noisy`` is **noisy**: per-pixel noise of 0.05-0.08 instead of 0.03.

    ``classes`` (5 to :data:`MAX_CLASSES`): the default is tf_flowers' five; more
    adds the kinds of ``MORE_KINDS`` in order (:func:`flower_names` gives their
    names), drawn the same way. ``classes=5`` draws exactly the offline profile's
    data, as it did before the option existed (same random stream).

    Returns ``images`` (n, size, size, 3) uint8, ``labels`` (n,) int64 in
    :func:`flower_names` order, and ``info`` (n,), a structured array of
    :data:`INFO_DTYPE`: ``mix``, ``mix_with``, ``rare``, ``noise``, ``radius``.
    :func:`why_hard` turns a row into words.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    for name, share in (("mix", mix), ("rare", rare), ("noisy", noisy)):
        if not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {share!r}")
    names = flower_names(classes)
    rng = np.random.default_rng(seed)
    kinds = [ALL_KINDS[name] for name in names]
    k = len(kinds)
    labels = rng.integers(0, k, size=n)
    info = np.zeros(n, dtype=INFO_DTYPE)
    mixed = rng.random(n) < mix
    info["mix_with"] = np.where(mixed, (labels + rng.integers(1, k, size=n)) % k, -1)
    info["mix"] = np.where(mixed, rng.uniform(*MIX_STRENGTH, size=n), 0.0)
    info["rare"] = rng.random(n) < rare
    is_noisy = rng.random(n) < noisy
    info["noise"] = np.where(
        is_noisy, rng.uniform(*NOISY_PIXEL_NOISE, size=n), PIXEL_NOISE
    )
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1) * 2 - 1
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        count, depth, centre_r, colours, subtype = kinds[labels[i]]
        shape = np.array([count, depth, centre_r], dtype=np.float64)
        if info["mix_with"][i] >= 0:
            t = float(info["mix"][i])
            shape = (1 - t) * shape + t * np.array(kinds[info["mix_with"][i]][:3])
        if info["rare"][i]:
            petal, centre = subtype[1], subtype[2]
        else:
            petal, centre = colours[rng.integers(len(colours))]
        images[i], info["radius"][i] = _draw(
            np.array(petal),
            np.array(centre),
            round(shape[0]),
            shape[1],
            shape[2],
            float(info["noise"][i]),
            xx,
            yy,
            rng,
        )
    return images, labels.astype(np.int64), info


def why_hard(info, labels=None) -> list[str]:
    """Why each image of ``info`` (from :func:`make_offline_flowers`) may be hard.

    One short phrase per image, e.g. ``"rare sub-type; 28% towards daisy"`` or,
    given the images' ``labels``, ``"rare sub-type (yellow rose); ..."``;
    ``"typical"`` when nothing makes it hard. Ground truth that real photos never
    come with.
    """
    info = np.asarray(info)
    if info.dtype != INFO_DTYPE:
        raise TypeError("info must come from make_offline_flowers or offline_info")
    info = info.reshape(-1)
    if labels is not None:
        labels = checks.labels("labels", labels, MAX_CLASSES, len(info))
    out = []
    for i, row in enumerate(info):
        reasons = []
        if row["rare"]:
            reasons.append(
                "rare sub-type"
                if labels is None
                else f"rare sub-type ({RARE_SUBTYPES[int(labels[i])]})"
            )
        if row["mix_with"] >= 0:
            reasons.append(
                f"{row['mix']:.0%} towards {ALL_NAMES[int(row['mix_with'])]}"
            )
        if row["noise"] > PIXEL_NOISE:
            reasons.append(f"noisy (σ {row['noise']:.2f})")
        out.append("; ".join(reasons) or "typical")
    return out


def hard_kinds(info) -> dict[str, np.ndarray]:
    """Boolean masks of the kinds of hard images: ``rare``, ``near boundary``,
    ``noisy`` and ``typical`` (none of the three). An image may be of several."""
    info = np.asarray(info)
    if info.dtype != INFO_DTYPE:
        raise TypeError("info must come from make_offline_flowers or offline_info")
    masks = {
        "rare sub-type": info["rare"].astype(bool),
        "near boundary": info["mix_with"] >= 0,
        "noisy": info["noise"] > PIXEL_NOISE,
    }
    masks["typical"] = ~(
        masks["rare sub-type"] | masks["near boundary"] | masks["noisy"]
    )
    return masks


def _draw(petal, centre, count, depth, centre_r, noise, xx, yy, rng):
    # Background: a random green/brown gradient.
    g0 = rng.uniform([0.10, 0.25, 0.05], [0.35, 0.55, 0.25])
    g1 = rng.uniform([0.05, 0.15, 0.05], [0.40, 0.45, 0.20])
    w = (yy + 1) / 2
    img = g0 * (1 - w[..., None]) + g1 * w[..., None]
    # The flower: a polar shape with `count` petals.
    cx, cy = rng.uniform(-0.2, 0.2, size=2)
    radius = rng.uniform(0.55, 0.85)
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
    img += rng.normal(0, noise, size=img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), radius


# --- the source task of the offline backbone's pre-training ----------------------

#: Petal counts and depths of the source task: none is one of the five flowers.
SOURCE_COUNTS = (2, 4, 6, 8, 10, 15, 22, 34)
SOURCE_DEPTHS = (0.2, 0.6)
SOURCE_CENTRES = (0.1, 0.4)
SOURCE_CLASSES = len(SOURCE_COUNTS) * len(SOURCE_DEPTHS) * len(SOURCE_CENTRES)


def make_source_shapes(
    n: int, seed: int = 1, size: int = OFFLINE_IMAGE_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The offline backbone's pre-training task: ``SOURCE_CLASSES`` other flowers.

    Like iNaturalist for tf_flowers: many kinds of flower-like shapes (petal
    counts, depths and centre sizes of :data:`SOURCE_COUNTS` etc., none of them
    one of the five target flowers) in random colours, so that what the network
    learns is shape, not the target classes' colours. Returns ``images`` uint8 and
    ``labels`` int64 in ``[0, SOURCE_CLASSES)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    grid = [
        (c, d, r) for c in SOURCE_COUNTS for d in SOURCE_DEPTHS for r in SOURCE_CENTRES
    ]
    labels = rng.integers(0, len(grid), size=n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1) * 2 - 1
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        count, depth, centre_r = grid[labels[i]]
        noise = PIXEL_NOISE if rng.random() > 0.15 else rng.uniform(0.08, 0.2)
        images[i], _ = _draw(
            rng.uniform(0, 1, 3),
            rng.uniform(0, 1, 3),
            count,
            depth,
            centre_r,
            noise,
            xx,
            yy,
            rng,
        )
    return images, labels.astype(np.int64)
