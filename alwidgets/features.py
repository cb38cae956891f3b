"""Backbone features, computed once in batches, cached on disk and verified.

On CPU (and on Binder) the notebooks never run the backbone twice over the same
image: the features of every split are computed once, written as one file per
split, and loaded from then on.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from . import checks
from .backbones import BACKBONES, get_backbone, weights_digest
from .config import cache_dir, cached_arrays
from .data import SPLITS, Splits, preprocess

__all__ = ["extract_features", "cached_features"]


def extract_features(
    backbone: keras.Model, dataset: tf.data.Dataset, desc: str = "features"
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``backbone`` over batched ``(images, labels)``, with a progress bar."""
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset)}")
    n = dataset.cardinality().numpy()
    total = int(n) if n >= 0 else None
    # A compiled forward pass: on CPU it is about twice as fast as eager calls and
    # peaks at ~1.3 GB instead of ~5 GB for InceptionV3 at 299 px, batch 32.
    spec = tf.TensorSpec([None, *backbone.input_shape[1:]], tf.float32)
    forward = tf.function(lambda x: backbone(x, training=False), input_signature=[spec])
    feats, labels = [], []
    for images, y in tqdm(dataset, total=total, desc=desc, unit="batch"):
        feats.append(forward(images).numpy())
        labels.append(y.numpy())
    if not feats:
        raise ValueError("dataset is empty: no features to extract")
    return np.concatenate(feats).astype(np.float32), np.concatenate(labels)


def cached_features(
    splits: Splits,
    backbone_name: str | None = None,
    split_names=("train", "validation", "test", "pool"),
    batch_size: int = 16,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features and labels of each split, computed once and cached on disk.

    The cache key is (backbone and its shipped weights' digest, data fingerprint,
    split, image size). A file that cannot be read or does not match its key is
    computed again, with a warning.
    """
    if not isinstance(splits, Splits):
        raise TypeError(f"splits must come from load_splits(), got {type(splits)}")
    name = splits.profile.backbone if backbone_name is None else backbone_name
    checks.choice("backbone", name, list(BACKBONES))
    checks.choices("split_names", split_names, SPLITS)
    checks.integer("batch_size", batch_size, 1)
    size = BACKBONES[name].image_size
    version = weights_digest(name)
    result, backbone = {}, None
    for split in split_names:
        key = f"{name}{version and '-' + version}-{splits.fingerprint}-{split}-{size}px"

        def compute(split=split):
            nonlocal backbone
            backbone = backbone or get_backbone(name)
            ds = preprocess(splits[split], size, batch_size)
            x, y = extract_features(backbone, ds, desc=f"{split} features")
            return {"features": x, "labels": y}

        arrays = cached_arrays(
            cache_dir("features") / f"{key}.npz",
            key,
            compute,
            lambda a, n=splits.sizes[split]: (
                len(a["features"]) == len(a["labels"]) == n
                and bool(np.all(np.isfinite(a["features"])))
            ),
        )
        result[split] = (arrays["features"], arrays["labels"])
    return result
