"""Download what the full profile needs and compute its cached features.

``python -m alwidgets.prefetch`` — run by ``binder/postBuild`` so that a Binder
launch starts ready, and useful before a workshop or a trip without network.
"""

from __future__ import annotations

from . import data, models
from .config import cache_dir


def main() -> None:
    splits = data.load_splits("full")  # tf_flowers, 218 MiB
    print("tf_flowers:", splits.sizes)
    # The backbone weights, then the features of every split (batch 8 keeps the
    # peak memory near 1 GB, within Binder's 2 GB).
    models.cached_features(splits, models.default_backbone("full"), batch_size=8)
    models.trained_head(splits)
    print("full profile ready in", cache_dir())


if __name__ == "__main__":
    main()
