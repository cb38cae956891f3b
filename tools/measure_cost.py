"""Measure the full profile's CPU cost with random weights (same compute, no download).

Usage: python tools/measure_cost.py [batch_size]
Prints images/s and peak memory of the InceptionV3 feature pass at 299 px, the
time to fit the head (L2 chosen on validation, temperature) on
1,000 features of 2,048 dimensions, and the time of one active-learning round at
full scale (fit on 1,500 labelled, score and select from 1,170). Run it with
binder/start's thread caps and `taskset -c 0` to measure one core.
"""

import json
import resource
import sys
import time

import numpy as np
import tensorflow as tf

from alwidgets import backbones, features, heads
from alwidgets.criteria import least_confidence, select


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main(batch_size: int = 16, n: int = 64) -> None:
    backbone = backbones.get_backbone("inaturalist_inception_v3", pretrained=False)
    images = np.random.default_rng(0).random((n, 299, 299, 3), dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, np.zeros(n, np.int64)))
    ds = ds.batch(batch_size)
    features.extract_features(backbone, ds.take(1), desc="warm-up")
    start = time.perf_counter()
    features.extract_features(backbone, ds)
    forward = n / (time.perf_counter() - start)

    rng = np.random.default_rng(1)
    w = rng.normal(size=(2048, 5))

    def split(m):
        x = rng.normal(size=(m, 2048)).astype(np.float32)
        return x, (x @ w + rng.normal(0, 30, (m, 5))).argmax(1)

    train, val, pool = split(1000), split(500), split(1170)
    start = time.perf_counter()
    heads.HeadTrainer().fit(*train, 5, val)
    head_s = time.perf_counter() - start
    start = time.perf_counter()
    x = np.concatenate([train[0], pool[0][:500]])
    y = np.concatenate([train[1], pool[1][:500]])
    head = heads.HeadTrainer().fit(x, y, 5, val)
    select(least_confidence(head.predict_proba(pool[0])), 100)
    round_s = time.perf_counter() - start
    print(
        json.dumps(
            {
                "batch_size": batch_size,
                "feature_pass_images_per_s": round(forward, 1),
                "head_fit_1000x2048_s": round(head_s, 2),
                "al_round_1500_labelled_s": round(round_s, 2),
                "peak_rss_gb": round(peak_gb(), 2),
            }
        )
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
