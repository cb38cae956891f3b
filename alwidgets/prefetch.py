"""Download what the full profile needs and compute its cached features.

``python -m alwidgets.prefetch`` — run by ``binder/postBuild`` so that a Binder
launch starts ready, and useful before a workshop or a trip without network.
A flaky network gets three tries; if all fail, a marker file in the cache says
so, and the notebooks tell the learner that the files will download at first use.
"""

from __future__ import annotations

import sys
import time
import traceback

from . import data, features, heads
from .config import PREFETCH_MARKER, cache_dir


def prefetch() -> None:
    """tf_flowers, the backbone, the features of every split and the trained head."""
    splits = data.load_splits("full")  # tf_flowers, 218 MiB
    print("tf_flowers:", splits.sizes)
    heads.trained_head(splits, features.cached_features(splits))


def main(attempts: int = 3, wait: float = 30.0) -> int:
    marker = cache_dir() / PREFETCH_MARKER
    for attempt in range(1, attempts + 1):
        try:
            prefetch()
        except Exception as exc:  # report, wait, try again
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            print(f"prefetch attempt {attempt}/{attempts} failed: {error}")
            if attempt < attempts:
                time.sleep(wait * attempt)
        else:
            marker.unlink(missing_ok=True)
            print("full profile ready in", cache_dir())
            return 0
    marker.write_text(error + "\n")
    print(f"prefetch failed {attempts} times; wrote {marker}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
