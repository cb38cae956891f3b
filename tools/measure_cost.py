"""Measure the full profile's CPU cost with random weights (same compute, no download).

Usage: python tools/measure_cost.py [batch_size]
Prints images/s and peak memory of the InceptionV3 feature pass at 299 px, and the
time to train a head on 1,000 cached 2,048-d features.
"""

import json
import resource
import sys
import time

import numpy as np
import tensorflow as tf

from alwidgets import models


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main(batch_size: int = 32, n: int = 128) -> None:
    backbone = models.get_backbone("inaturalist_inception_v3", pretrained=False)
    images = np.random.default_rng(0).random((n, 299, 299, 3), dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, np.zeros(n, np.int64)))
    ds = ds.batch(batch_size)
    models.extract_features(backbone, ds.take(1), desc="warm-up")
    start = time.perf_counter()
    models.extract_features(backbone, ds)
    forward = n / (time.perf_counter() - start)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 2048)).astype(np.float32)
    y = rng.integers(0, 5, 1000)
    start = time.perf_counter()
    models.train_head(x, y, 5, validation=(x[:500], y[:500]), progress=False)
    head = time.perf_counter() - start
    print(
        json.dumps(
            {
                "batch_size": batch_size,
                "feature_pass_images_per_s": round(forward, 1),
                "head_training_20_epochs_s": round(head, 2),
                "peak_rss_gb": round(peak_gb(), 2),
            }
        )
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
