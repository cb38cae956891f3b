"""Your own images in: a folder, a list of paths or a CSV, and the files that are bad.

:func:`find_images` lists the images (sorted, nested folders allowed; class
sub-folders, when every image sits in one, become *known labels*, used to
evaluate only). :func:`load_image` decodes one file into a square RGB array of
the backbone's size, or says why it cannot: the same function serves the
in-process embedding (:mod:`alwidgets.embed`) and the Beam pipeline
(:mod:`alwidgets.beam_pipeline`), so both see the same pixels and skip the same
files for the same reasons.

Bad files are skipped, never fatal, each with a reason:

========================  ==================================================
``not an image``          Pillow cannot identify the file
``truncated or corrupt``  the header reads, the pixels do not
``CMYK``                  print colours: converting without the file's ICC
                          profile changes them, so convert it yourself
``16-bit``                more than 8 bits per channel (``I;16``, ``I``, ``F``)
``too small``             a side below ``min_side`` (default 8 px)
``too large``             more pixels than ``max_pixels`` (read from the
                          header, before any pixel is decoded)
========================  ==================================================

No TensorFlow here: a Beam driver imports this module and stays small.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageList",
    "BadFile",
    "IMAGE_EXTENSIONS",
    "BAD_KINDS",
    "find_images",
    "load_image",
    "read_bad_kind",
    "write_example_folder",
]

#: File extensions Pillow can open (lower case, with the dot).
IMAGE_EXTENSIONS = frozenset(
    ext.lower() for ext in Image.registered_extensions()
) | frozenset({".jpg", ".jpeg", ".png"})
#: The kinds of bad file, in the words of the reasons.
BAD_KINDS = (
    "not an image",
    "truncated or corrupt",
    "CMYK",
    "16-bit",
    "too small",
    "too large",
)
#: Default limits: a side of at least 8 px, at most 50 megapixels.
MIN_SIDE = 8
MAX_PIXELS = 50_000_000
_WIDE_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


@dataclasses.dataclass(frozen=True)
class BadFile:
    """A file that was skipped, and why."""

    path: str
    reason: str

    @property
    def kind(self) -> str:
        """The reason's kind, one of :data:`BAD_KINDS`."""
        return read_bad_kind(self.reason)


@dataclasses.dataclass
class ImageList:
    """The images to embed, in a fixed order, and their known labels if any.

    ``labels[i]`` is the index of ``paths[i]``'s class in ``class_names``, or -1
    when it is not known. The position of a path in ``paths`` is its id in the
    feature files.
    """

    paths: list[str]
    labels: np.ndarray
    class_names: list[str]
    root: str | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def has_labels(self) -> bool:
        """Whether every image came with a known class."""
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


def read_bad_kind(reason: str) -> str:
    """The kind (one of :data:`BAD_KINDS`) a reason string starts with."""
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a string, got {type(reason).__name__}")
    for kind in BAD_KINDS:
        if reason.startswith(kind):
            return kind
    raise ValueError(f"reason {reason!r} starts with none of {BAD_KINDS}")


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _walk(root: Path) -> list[str]:
    """Every file with an image extension under ``root``, sorted, hidden ones left out."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(folder, f)
            for f in files
            if not f.startswith(".") and _is_image_name(f)
        ]
    return sorted(found)


def find_images(source, class_folders: bool | None = None) -> ImageList:
    """The images of ``source``: a folder, a CSV file, or a list of paths.

    * a **folder**: every file with an image extension below it, nested folders
      included, sorted by path. If every image sits in a first-level sub-folder
      (``root/daisy/x.jpg``), the sub-folders are the classes (set
      ``class_folders=False`` to ignore them; ``True`` to insist on them);
    * a **CSV file** with a ``path`` column (relative paths are relative to the
      CSV's folder) and an optional ``label`` column of class names;
    * a **list of paths** (strings or ``Path``), kept in the order given.

    Known labels are for evaluation: the active-learning loop never reads them.
    """
    if class_folders is not None and not isinstance(class_folders, bool):
        raise TypeError(
            f"class_folders must be True, False or None, got {class_folders!r}"
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _from_folder(path, class_folders)
        if path.is_file() and path.suffix.lower() == ".csv":
            return _from_csv(path)
        if not path.exists():
            raise ValueError(f"source {str(path)!r} does not exist")
        raise ValueError(f"source {str(path)!r} is neither a folder nor a .csv file")
    if isinstance(source, Iterable) and not isinstance(source, (bytes, dict)):
        paths = list(source)
        if not paths:
            raise ValueError("source is an empty list: no images to read")
        for p in paths:
            if not isinstance(p, (str, os.PathLike)):
                raise TypeError(f"source must list paths, got {type(p).__name__}")
        if class_folders:
            raise ValueError("class_folders needs a folder, not a list of paths")
        return ImageList([str(p) for p in paths], np.full(len(paths), -1), [])
    raise TypeError(
        f"source must be a folder, a .csv file or a list of paths, got {type(source).__name__}"
    )


def _from_folder(root: Path, class_folders: bool | None) -> ImageList:
    paths = _walk(root)
    if not paths:
        raise ValueError(
            f"no image files under {str(root)!r} (looked for {sorted(IMAGE_EXTENSIONS)[:8]}...)"
        )
    parts = [Path(p).relative_to(root).parts for p in paths]
    nested = all(len(p) >= 2 for p in parts)
    if class_folders and not nested:
        loose = next(p for p in parts if len(p) < 2)
        raise ValueError(
            f"class_folders=True, but {loose[0]!r} is not in a class sub-folder"
        )
    if nested and class_folders is not False:
        names = sorted({p[0] for p in parts})
        labels = np.array([names.index(p[0]) for p in parts], dtype=np.int64)
        return ImageList(paths, labels, names, str(root))
    return ImageList(paths, np.full(len(paths), -1, dtype=np.int64), [], str(root))


def _from_csv(path: Path) -> ImageList:
    # Streamed: two lists, never a dict per row (10^5 rows stay a few MB).
    paths: list[str] = []
    names: list[str] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or "path" not in header:
            raise ValueError(f"{path} needs a 'path' column, has {header}")
        at, label_at = (
            header.index("path"),
            (header.index("label") if "label" in header else None),
        )
        for row in reader:
            p = row[at]
            paths.append(p if os.path.isabs(p) or "://" in p else str(path.parent / p))
            if label_at is not None:
                names.append(row[label_at] if label_at < len(row) else "")
    if not paths:
        raise ValueError(f"{path} lists no images")
    if names and all(names):
        classes = sorted(set(names))
        lookup = {name: i for i, name in enumerate(classes)}
        labels = np.fromiter((lookup[n] for n in names), np.int64, len(names))
        return ImageList(paths, labels, classes, str(path.parent))
    return ImageList(
        paths, np.full(len(paths), -1, dtype=np.int64), [], str(path.parent)
    )


def load_image(
    file: str | os.PathLike | BinaryIO | bytes,
    size: int,
    *,
    min_side: int = MIN_SIDE,
    max_pixels: int = MAX_PIXELS,
    opener: Callable[[str], BinaryIO] | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """Decode one image as ``(size, size, 3)`` uint8 RGB, or ``(None, reason)``.

    The image is turned upright (EXIF orientation), JPEGs are decoded at the
    smallest DCT scale still at least ``size`` (Pillow's ``draft``), alpha and
    palettes become RGB, and the picture is squashed to a square with bilinear
    filtering — like :func:`alwidgets.data.preprocess`. ``opener`` opens a path
    (e.g. Beam's ``FileSystems.open`` for ``gs://``); default: the local file.
    Never raises for a bad file: the reason says what is wrong (see the module
    docstring).
    """
    for name, value in (
        ("size", size),
        ("min_side", min_side),
        ("max_pixels", max_pixels),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(file, (str, os.PathLike, bytes)) and not hasattr(file, "read"):
        raise TypeError(
            f"file must be a path, bytes or a binary file object, got {type(file).__name__}"
        )
    if isinstance(file, bytes):
        stream: BinaryIO = io.BytesIO(file)
    elif isinstance(file, (str, os.PathLike)):
        try:
            name = os.fspath(file)
            stream = open(name, "rb") if opener is None else opener(name)
        except OSError as exc:
            return None, f"not an image: cannot open the file ({exc.strerror or exc})"
    else:
        stream = file
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode(stream, size, min_side, max_pixels)
    finally:
        if stream is not file:
            stream.close()


def _decode(stream, size, min_side, max_pixels):
    try:
        image = Image.open(stream)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        if isinstance(exc, Image.DecompressionBombError):
            return None, f"too large: {exc}"
        return None, "not an image: Pillow cannot identify it"
    except (OSError, SyntaxError, ValueError) as exc:
        return None, f"not an image: {exc}"
    with image:
        width, height = image.size
        if width * height > max_pixels:
            return None, (
                f"too large: {width}×{height} px = {width * height:,} pixels "
                f"(limit {max_pixels:,})"
            )
        if min(width, height) < min_side:
            return None, f"too small: {width}×{height} px (a side under {min_side} px)"
        if image.mode == "CMYK":
            return None, "CMYK: convert it to RGB with its ICC profile first"
        if image.mode in _WIDE_MODES or image.mode.endswith(";16"):
            return None, f"16-bit: mode {image.mode}; save it with 8 bits per channel"
        try:
            if image.format == "JPEG":
                image.draft("RGB", (size, size))
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (
                image.mode == "P" and "transparency" in image.info
            ):
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, rgba)
            rgb = image.convert("RGB")
            resized = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(resized, dtype=np.uint8), None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            return None, f"truncated or corrupt: {exc}"


# --- an example folder: generated "photos" and one bad file of each kind ----------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _huge_png(path: Path, side: int) -> None:
    """A valid black-and-white PNG ``side`` × ``side`` px, written without the pixels in memory."""
    import struct
    import zlib

    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + 1-bit pixels
    squeeze = zlib.compressobj(9)
    data = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _bad_files(rng: np.random.Generator) -> dict[str, Callable[[Path], None]]:
    """One writer per bad kind; each writes a file that :func:`load_image` refuses."""

    def photo(mode: str = "RGB") -> Image.Image:
        pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        return Image.fromarray(pixels).convert(mode)

    def truncated(path: Path) -> None:
        buffer = io.BytesIO()
        photo().save(buffer, "JPEG", quality=90)
        path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])

    def sixteen_bit(path: Path) -> None:
        values = rng.integers(0, 65536, (120, 160), dtype=np.uint16)
        Image.fromarray(values).save(path)  # mode I;16

    return {
        "truncated or corrupt": lambda p: truncated(p.with_suffix(".jpg")),
        "not an image": lambda p: p.with_suffix(".jpg").write_text("not a picture\n"),
        "CMYK": lambda p: photo("CMYK").save(p.with_suffix(".jpg"), "JPEG"),
        "16-bit": lambda p: sixteen_bit(p.with_suffix(".png")),
        "too small": lambda p: Image.new("RGB", (1, 1), (200, 30, 30)).save(
            p.with_suffix(".png")
        ),
        "too large": lambda p: _huge_png(p.with_suffix(".png"), 20_000),
    }


def write_example_folder(
    folder: str | os.PathLike,
    n: int = 300,
    seed: int = 0,
    n_bad: int = 6,
    sizes: tuple[int, int] = (48, 320),
    class_folders: bool = True,
    quality: int = 90,
    png_share: float = 0.1,
) -> dict[str, object]:
    """Write ``n`` generated flower photos and ``n_bad`` bad files as "your images".

    The photos come from the offline profile's generator, resized to random
    widths and heights in ``sizes`` and saved as JPEG (a share ``png_share`` as
    PNG); with
    ``class_folders`` they go to ``folder/<class>/``. The bad files cycle
    through :data:`BAD_KINDS` (one of each for ``n_bad=6``) and sit among the
    photos. Returns ``{"photos": n, "bad": {path: kind}}``. Deterministic in
    ``seed``; an existing folder is refused rather than mixed with.
    """
    from tqdm.auto import tqdm

    try:  # the generator is moving to its own module
        from .offline_images import FLOWER_NAMES, make_offline_flowers
    except ImportError:
        from .data import FLOWER_NAMES, make_offline_flowers

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(png_share, (int, float)) or not 0 <= png_share <= 1:
        raise ValueError(f"png_share must be in [0, 1], got {png_share!r}")
    if isinstance(n_bad, bool) or not isinstance(n_bad, int) or n_bad < 0:
        raise ValueError(f"n_bad must be an integer >= 0, got {n_bad!r}")
    if (
        not isinstance(sizes, tuple)
        or len(sizes) != 2
        or not all(isinstance(s, int) for s in sizes)
        or not 8 <= sizes[0] <= sizes[1]
    ):
        raise ValueError(
            f"sizes must be a pair (low, high) with 8 <= low <= high, got {sizes!r}"
        )
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} exists and is not empty: choose a new folder")
    rng = np.random.default_rng(seed)
    images, labels, _ = make_offline_flowers(n, seed=seed, size=64)
    for name in FLOWER_NAMES if class_folders else ["."]:
        (folder / name).mkdir(parents=True, exist_ok=True)
    width = len(str(n + n_bad))
    for i in tqdm(range(n), desc="writing images", unit="image", leave=False):
        w, h = (int(v) for v in rng.integers(sizes[0], sizes[1] + 1, size=2))
        sub = FLOWER_NAMES[labels[i]] if class_folders else "."
        image = Image.fromarray(images[i]).resize((w, h), Image.Resampling.BICUBIC)
        if png_share and i % round(1 / png_share) == round(1 / png_share) - 1:
            image.save(folder / sub / f"img{i:0{width}d}.png")
        else:
            image.save(folder / sub / f"img{i:0{width}d}.jpg", quality=quality)
    writers = _bad_files(rng)
    bad = {}
    for j in range(n_bad):
        kind = BAD_KINDS[j % len(BAD_KINDS)]
        sub = FLOWER_NAMES[j % len(FLOWER_NAMES)] if class_folders else "."
        stem = folder / sub / f"img{n + j:0{width}d}"
        before = set(stem.parent.iterdir())
        writers[kind](stem)
        (written,) = set(stem.parent.iterdir()) - before
        bad[str(written)] = kind
    return {"photos": n, "bad": bad}
