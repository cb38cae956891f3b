"""Wall-clock checks kept out of the test suite (a busy CI machine is not a bug).

Usage: python tools/benchmark.py
Prints each timing against its target; exits 1 if one misses it. The heavy
full-profile costs (InceptionV3 feature pass, head fit and one active-learning
round at full scale) are in tools/measure_cost.py.
"""

import sys
import time

import numpy as np

from alwidgets.criteria import select
from alwidgets.data import make_offline_flowers


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    scores = np.random.default_rng(2).random(10_000_000)
    checks = [
        ("select 500 of 10^7 scores", timed(lambda: select(scores, 500)), 1.0),
        ("generate 300 offline flowers", timed(lambda: make_offline_flowers(300)), 5.0),
    ]
    failed = False
    for name, seconds, target in checks:
        ok = seconds <= target
        failed |= not ok
        print(
            f"{name:<32} {seconds:6.2f} s (target ≤ {target} s) {'ok' if ok else 'SLOW'}"
        )
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
