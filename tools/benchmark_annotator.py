"""Benchmark the Python side of one "label → next image" step of ImageAnnotator.

Usage: python tools/benchmark_annotator.py
Images are 299×299 photos-like arrays; each step writes and fsyncs the label file.
"""

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from alwidgets import ImageAnnotator
from alwidgets.data import FLOWER_NAMES


def main(n: int = 200) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 299, 299, 3), dtype=np.uint8)
    probs = rng.dirichlet(np.ones(5), size=n)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        annotator = ImageAnnotator(
            images, FLOWER_NAMES, Path(folder) / "labels.jsonl", probs=probs
        )
        setup = time.perf_counter() - start
        steps = []
        for i in range(n - 1):
            start = time.perf_counter()
            annotator.press(str(1 + i % 5))
            steps.append(time.perf_counter() - start)
    steps_ms = sorted(1000 * s for s in steps)
    print(f"encode {n} images once: {setup:.2f} s")
    print(
        f"label -> next: median {statistics.median(steps_ms):.1f} ms, "
        f"95th percentile {steps_ms[int(0.95 * len(steps_ms))]:.1f} ms, "
        f"max {steps_ms[-1]:.1f} ms over {len(steps_ms)} steps"
    )


if __name__ == "__main__":
    main()
