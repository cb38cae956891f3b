"""Embed your own images into sharded, resumable feature files.

:func:`embed` runs a backbone over an :class:`~alwidgets.images_in.ImageList` (or
anything :func:`~alwidgets.images_in.find_images` reads) and writes, in one
output folder:

* ``index.json``: the backbone, its weights' digest, the image size, the shard
  size, the number of images and a digest of their paths — what a resumed run
  must match;
* ``paths.csv``: ``id,path,label`` for every image (``id`` is its position);
* ``shard-00000.npz``, ...: shard ``k`` holds the images with ids in
  ``[k * shard_size, (k + 1) * shard_size)``: ``ids`` and ``features`` of the
  good ones, ``bad_ids`` and ``bad_reasons`` of the skipped ones.

A shard is written to a temporary file and renamed (atomic), so a run killed at
any moment (``kill -9``) leaves only whole shards; the next run skips them and
does the rest: no image lost, none done twice. Memory is one shard of features
plus a batch or two of images, whatever the number of images. The Beam pipeline
(:mod:`alwidgets.beam_pipeline`) writes the same files. :func:`read_features`
reads them back.

TensorFlow is imported only when :func:`embed` runs.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL

from .images_in import BadFile, ImageList, find_images, load_image

__all__ = [
    "FORMAT",
    "Features",
    "embed",
    "index_for",
    "read_features",
    "prepare_folder",
    "shard_name",
    "shards_done",
    "write_shard",
    "write_arrays",
    "read_arrays",
]

FORMAT = "alwidgets-features-1"
INDEX = "index.json"
PATHS = "paths.csv"


def shard_name(shard: int) -> str:
    """The file name of shard number ``shard``."""
    return f"shard-{shard:05d}.npz"


def _digest(paths: list[str]) -> str:
    sha = hashlib.sha1()
    for p in paths:
        sha.update(p.encode() + b"\n")
    return sha.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def index_for(images: ImageList, backbone: str, shard_size: int) -> dict:
    """What ``index.json`` records for embedding ``images`` with ``backbone``."""
    from .backbones import BACKBONES, weights_digest  # noqa: PLC0415 (TensorFlow)

    return {
        "format": FORMAT,
        "backbone": backbone,
        "weights": weights_digest(backbone),
        "image_size": BACKBONES[backbone].image_size,
        "shard_size": shard_size,
        "n_images": len(images),
        "paths_sha1": _digest(images.paths),
        "class_names": images.class_names,
        # Decoding depends on it: Pillow 12.3 and 13.0 give JPEG pixels (and so
        # features) that differ, so a folder is never resumed with another one.
        "pillow": PIL.__version__,
    }


def prepare_folder(folder: str | os.PathLike, images: ImageList, index: dict) -> Path:
    """Create ``folder`` with its index and path list, or check a started one.

    A folder that already holds an ``index.json`` must have been started with
    the same images, backbone, weights and shard size (then it resumes);
    otherwise ``ValueError``. Leftover temporary files of a killed run are removed.
    """
    folder = Path(folder)
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ValueError(f"index must be a dict of format {FORMAT!r}")
    existing = folder / INDEX
    if existing.exists():
        old = json.loads(existing.read_text())
        changed = sorted(k for k in index if old.get(k) != index[k])
        if changed:
            raise ValueError(
                f"{folder} holds features of another run (different {changed}): "
                "choose a new folder"
            )
    elif folder.exists() and any(
        p for p in folder.iterdir() if not p.name.startswith(".")
    ):
        raise ValueError(
            f"{folder} is not empty and holds no {INDEX}: choose a new folder"
        )
    for tmp in folder.glob(".*.tmp") if folder.exists() else []:
        tmp.unlink(missing_ok=True)
    if not existing.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{PATHS}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:  # streamed
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["id", "path", "label"])
            for i, (path, label) in enumerate(zip(images.paths, images.labels)):
                writer.writerow(
                    [i, path, images.class_names[label] if label >= 0 else ""]
                )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / PATHS)
        _atomic_write(existing, json.dumps(index, indent=1).encode())
    return folder


def _shard_bytes(ids, features, bad_ids, bad_reasons, dim: int) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.asarray(ids, dtype=np.int64),
        features=np.asarray(features, dtype=np.float32).reshape(len(ids), dim),
        bad_ids=np.asarray(bad_ids, dtype=np.int64),
        bad_reasons=np.asarray(list(bad_reasons), dtype=str),
    )
    return buffer.getvalue()


def write_arrays(
    path: str | os.PathLike, ids, features, bad_ids=(), bad_reasons=()
) -> Path:
    """Write ids, features and bad files to ``path`` atomically, rows sorted by id.

    ``features``: (len(ids), dim) (a (0, 0) array when there is no good image).
    """
    features = np.asarray(features, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    if features.ndim != 2 or len(features) != len(ids):
        raise ValueError(
            f"features must have one row per id, got {features.shape} for {len(ids)} ids"
        )
    bad_ids = np.asarray(bad_ids, dtype=np.int64)
    bad_reasons = list(bad_reasons)
    if len(bad_ids) != len(bad_reasons):
        raise ValueError("bad_ids and bad_reasons must have the same length")
    order = np.argsort(ids, kind="stable")
    bad_order = np.argsort(bad_ids, kind="stable")
    path = Path(path)
    _atomic_write(
        path,
        _shard_bytes(
            ids[order],
            features[order],
            bad_ids[bad_order],
            [bad_reasons[i] for i in bad_order],
            features.shape[1],
        ),
    )
    return path


def write_shard(
    folder: str | os.PathLike, shard: int, ids, features, bad_ids, bad_reasons
) -> Path:
    """Write shard number ``shard`` of ``folder`` (see :func:`write_arrays`)."""
    return write_arrays(
        Path(folder) / shard_name(shard), ids, features, bad_ids, bad_reasons
    )


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays of a shard (or part) file, or ``None`` if it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in ("ids", "features", "bad_ids", "bad_reasons")}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _expected_ids(index: dict, shard: int) -> np.ndarray:
    size = index["shard_size"]
    return np.arange(shard * size, min((shard + 1) * size, index["n_images"]))


def _shard_ok(index: dict, shard: int, arrays: dict | None) -> bool:
    if arrays is None:
        return False
    got = np.sort(np.concatenate([arrays["ids"], arrays["bad_ids"]]))
    return np.array_equal(got, _expected_ids(index, shard))


def shards_done(folder: str | os.PathLike) -> list[int]:
    """The shards of ``folder`` that are complete (every id of the shard, once)."""
    folder = Path(folder)
    if not (folder / INDEX).exists():
        raise ValueError(f"{folder} holds no {INDEX}: not an embedding folder")
    index = json.loads((folder / INDEX).read_text())
    n_shards = -(-index["n_images"] // index["shard_size"])
    return [
        k
        for k in range(n_shards)
        if (folder / shard_name(k)).exists()
        and _shard_ok(index, k, read_arrays(folder / shard_name(k)))
    ]


def _batches(
    paths: list[str], ids: np.ndarray, size: int, batch_size: int, threads: int
) -> Iterator[tuple[list[int], np.ndarray, list[tuple[int, str]]]]:
    """Decoded batches ``(good ids, uint8 images, [(bad id, reason)])``, one ahead."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:

        def submit(chunk):
            return [(int(i), pool.submit(load_image, paths[i], size)) for i in chunk]

        chunks = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        pending = submit(chunks[0]) if chunks else []
        for k in range(len(chunks)):
            current = pending
            pending = submit(chunks[k + 1]) if k + 1 < len(chunks) else []
            good, arrays, bad = [], [], []
            for i, future in current:
                array, reason = future.result()
                if reason is None:
                    good.append(i)
                    arrays.append(array)
                else:
                    bad.append((i, reason))
            yield good, np.stack(arrays) if arrays else None, bad


def embed(
    source,
    folder: str | os.PathLike,
    backbone: str | None = None,
    batch_size: int = 64,
    shard_size: int = 1024,
    threads: int | None = None,
    progress: bool = True,
) -> Features:
    """Embed the images of ``source`` with ``backbone`` into ``folder``; resume if started.

    ``source``: an :class:`ImageList`, or a folder, CSV or list of paths (see
    :func:`~alwidgets.images_in.find_images`). ``backbone``: a name of
    :data:`alwidgets.backbones.BACKBONES` (default: the profile's). Bad files are
    skipped and listed (``Features.bad``). Returns :func:`read_features` of the folder.
    """
    from .backbones import BACKBONES, default_backbone, get_backbone
    from .checks import choice, integer

    images = source if isinstance(source, ImageList) else find_images(source)
    backbone = default_backbone() if backbone is None else backbone
    choice("backbone", backbone, list(BACKBONES))
    batch_size = integer("batch_size", batch_size, 1)
    shard_size = integer("shard_size", shard_size, 1)
    threads = integer("threads", threads or min(4, os.cpu_count() or 1), 1)
    index = index_for(images, backbone, shard_size)
    folder = prepare_folder(folder, images, index)
    done = set(shards_done(folder))
    n_shards = -(-len(images) // shard_size)
    todo = [k for k in range(n_shards) if k not in done]
    if todo:
        import tensorflow as tf
        from tqdm.auto import tqdm

        model = get_backbone(backbone)
        size = index["image_size"]
        spec = tf.TensorSpec([None, size, size, 3], tf.uint8)
        forward = tf.function(
            lambda x: model(tf.cast(x, tf.float32) / 255.0, training=False),
            input_signature=[spec],
        )
        finished = len(images) - sum(len(_expected_ids(index, k)) for k in todo)
        bar = tqdm(
            total=len(images),
            initial=finished,
            desc=f"embedding ({backbone})",
            unit="image",
            disable=not progress,
        )
        dim = None
        for k in todo:
            ids, feats, bad_ids, reasons = [], [], [], []
            for good, batch, bad in _batches(
                images.paths, _expected_ids(index, k), size, batch_size, threads
            ):
                if batch is not None:
                    out = forward(batch).numpy()
                    dim = out.shape[1]
                    feats.append(out)
                    ids += good
                for i, reason in bad:
                    bad_ids.append(i)
                    reasons.append(reason)
                bar.update(len(good) + len(bad))
            if dim is None:  # a shard of bad files only: the width from the model
                dim = int(model.output_shape[-1])
            features = (
                np.concatenate(feats) if feats else np.zeros((0, dim), np.float32)
            )
            write_shard(folder, k, ids, features, bad_ids, reasons)
        bar.close()
    return read_features(folder)


@dataclasses.dataclass
class Features:
    """What an embedding folder holds: the good images' features, and the bad files."""

    #: Ids (positions in ``paths.csv``) of the embedded images, ascending.
    ids: np.ndarray
    #: One float32 row per id.
    features: np.ndarray
    #: The path of each embedded image (same order as ``ids``).
    paths: list[str]
    #: Known class of each embedded image (-1: unknown), for evaluation only.
    labels: np.ndarray
    class_names: list[str]
    #: The skipped files, by id, with their reasons.
    bad: list[BadFile]
    index: dict

    def __len__(self) -> int:
        return len(self.ids)


def read_features(folder: str | os.PathLike) -> Features:
    """Read an embedding folder written by :func:`embed` or the Beam pipeline.

    Refuses (``ValueError``) a folder whose shards are not all there: resume it
    with the same call first.
    """
    folder = Path(folder)
    if not (folder / INDEX).exists():
        raise ValueError(f"{folder} holds no {INDEX}: not an embedding folder")
    index = json.loads((folder / INDEX).read_text())
    n_shards = -(-index["n_images"] // index["shard_size"])
    shards = []
    for k in range(n_shards):
        arrays = read_arrays(folder / shard_name(k))
        if not _shard_ok(index, k, arrays):
            missing = n_shards - len(shards_done(folder))
            raise ValueError(
                f"{folder} is not complete: {missing} of {n_shards} shards missing "
                "(run embed() again with the same arguments to finish it)"
            )
        shards.append(arrays)
    with open(folder / PATHS, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    all_paths = [r[1] for r in rows]
    names = index["class_names"]
    all_labels = np.array([names.index(r[2]) if r[2] else -1 for r in rows], np.int64)
    ids = np.concatenate([s["ids"] for s in shards])
    # A shard of bad files only may hold a (0, 0) array: leave it out.
    features = np.concatenate([s["features"] for s in shards if len(s["features"])])
    bad_ids = np.concatenate([s["bad_ids"] for s in shards])
    reasons = np.concatenate([s["bad_reasons"] for s in shards]).tolist()
    return Features(
        ids=ids,
        features=features,
        paths=[all_paths[i] for i in ids],
        labels=all_labels[ids],
        class_names=names,
        bad=[BadFile(all_paths[i], r) for i, r in zip(bad_ids, reasons)],
        index=index,
    )
