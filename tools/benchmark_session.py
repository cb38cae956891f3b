"""Time one update of the live session (retrain + re-score + re-rank) at full scale.

The full profile's shapes — train 1,000 + up to 500 labels, validation 500, pool
1,170, 2,048 float32 features, 5 classes — on ONE core (affinity set to CPU 0,
BLAS/OpenMP threads capped at 1). There is no real data offline, so the features
are synthetic: a 64-d class-structured latent space projected to 2,048 ReLU
features (correlated like a CNN's, hard enough that the head needs tens of L-BFGS
iterations). The session is the real one (``ActiveLearningSession``, driven by
its oracle); only the images are tiny placeholders.

Usage: python tools/benchmark_session.py [--out build/session_benchmark.json]
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SIZES = {"train": 1000, "validation": 500, "test": 1000, "pool": 1170}
DIM, CLASSES, LATENT = 2048, 5, 64
SEPARATION = 0.3  # test accuracy near 90 %, as the article's head on tf_flowers


def synthetic_features(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Class-structured, correlated, non-negative features of the full profile's shapes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, LATENT))
    projection = rng.normal(size=(LATENT, DIM)) / np.sqrt(LATENT)
    out = {}
    for split, n in SIZES.items():
        y = rng.integers(0, CLASSES, n)
        z = SEPARATION * centres[y] + rng.normal(size=(n, LATENT))
        x = np.maximum(z @ projection + 0.3 * rng.normal(size=(n, DIM)), 0)
        out[split] = (x.astype(np.float32), y)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build/session_benchmark.json")
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from alwidgets.heads import HeadTrainer
    from alwidgets.session import ActiveLearningSession

    features = synthetic_features()
    x_pool, y_pool = features["pool"]
    started = time.perf_counter()
    l2 = HeadTrainer().fit(*features["train"], CLASSES, features["validation"]).l2
    grid_s = time.perf_counter() - started
    images = np.zeros((len(x_pool), 8, 8, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        session = ActiveLearningSession(
            images,
            ["dandelion", "daisy", "tulips", "sunflowers", "roses"],
            Path(folder) / "labels.jsonl",
            x_pool,
            features["train"],
            features["validation"],
            retrain_every=args.every,
            budget=args.labels,
            trainer=HeadTrainer(l2=l2),
            test=features["test"],
            true_labels=y_pool,
            profile="full (synthetic features)",
        )
        session.oracle()
        plot = []
        for _ in range(5):
            t = time.perf_counter()
            session.plot.data = session.plot_data()  # the numbers the browser draws
            plot.append(time.perf_counter() - t)
        rows = session.history
        # The slowest a retrain can be: every one of max_iter L-BFGS iterations run.
        items, y_new = session.labelled()
        x = np.concatenate([features["train"][0], x_pool[items]])
        y = np.concatenate([features["train"][1], y_new])
        worst = HeadTrainer(l2=l2, max_iter=1000)
        t = time.perf_counter()
        worst.fit(x, y, CLASSES, features["validation"])
        worst_s = time.perf_counter() - t
        worst_iterations = worst.max_iter
    update = [r["train_s"] + r["rank_s"] for r in rows]
    result = {
        "shapes": {**SIZES, "features": DIM, "classes": CLASSES},
        "cores": 1,
        "l2": l2,
        "l2_grid_once_s": round(grid_s, 3),
        "labels_used": [r["labels_used"] for r in rows],
        "retrain_s": [r["train_s"] for r in rows],
        "rerank_s": [r["rank_s"] for r in rows],
        "update_s_median": round(float(np.median(update)), 3),
        "update_s_max": round(float(np.max(update)), 3),
        "plot_s_median": round(float(np.median(plot)), 3),
        "worst_case_retrain_s": round(worst_s, 3),
        "worst_case_iterations": worst_iterations,
        "test_accuracy": [r["test_accuracy"] for r in rows],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(
        f"one core, full-scale shapes (synthetic features), L2 {l2} chosen once in {grid_s:.2f} s"
    )
    print(f"{'labels':>7} {'retrain':>9} {'re-rank':>9} {'test acc.':>10}")
    for r in rows:
        print(
            f"{r['labels_used']:>7} {r['train_s']:>8.3f}s"
            f" {r['rank_s']:>8.3f}s {r['test_accuracy']:>10.1%}"
        )
    print(
        f"retrain + re-rank: median {result['update_s_median']:.3f} s, max "
        f"{result['update_s_max']:.3f} s; plot data {result['plot_s_median']:.3f} s"
    )
    print(
        f"worst case (up to {worst_iterations} L-BFGS iterations, no early stop,"
        f" {len(x)} rows):"
        f" {worst_s:.3f} s"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
