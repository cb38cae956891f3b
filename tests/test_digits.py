"""The head and the loop on real images with few labels: scikit-learn's digits.

8x8 handwritten digits ship inside scikit-learn's wheel (no download). Few labels
and biased (actively chosen) labelled sets leave pixels that are constant in the
labelled images but not elsewhere: the case the offline profile's dense features
never show. The reference is scikit-learn's own ``LogisticRegression`` with its
strength chosen on the same validation split, by the same rule (log-loss).
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from alwidgets import many_rounds
from alwidgets.heads import L2_GRID, HeadTrainer, expected_calibration_error, log_loss

SIZES = (10, 20, 50, 100, 300, 1000)


def digits(seed: int, kind: str = "raw", per_class: int = 3) -> dict:
    """train (``per_class`` a class) / validation (25 a class) / test (500) / pool.

    ``kind``: ``raw`` pixels (0-16, many columns all zero in a few images),
    ``standardised`` over the unlabelled images (constant columns become constant
    non-zero floats), or ``sparse``: raw plus 4 columns that are zero in every
    train and pool image but not in validation and test.
    """
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    val = np.concatenate([np.flatnonzero(y == c)[:25] for c in range(10)])
    train = np.concatenate(
        [np.flatnonzero(y == c)[25 : 25 + per_class] for c in range(10)]
    )
    rest = np.setdiff1d(np.arange(len(x)), np.concatenate([val, train]))
    test, pool = rest[:500], rest[500:]
    if kind == "standardised":
        unlabelled = np.concatenate([pool, test])
        x = StandardScaler().fit(x[unlabelled]).transform(x).astype(np.float32)
    elif kind == "sparse":
        extra = np.random.default_rng(seed).normal(0, 8, (len(x), 4))
        extra[np.concatenate([train, pool])] = 0
        x = np.column_stack([x, extra]).astype(np.float32)
    split = {"train": train, "validation": val, "test": test, "pool": pool}
    return {name: (x[i], y[i]) for name, i in split.items()}


def reference(x, y, validation, x_test) -> np.ndarray:
    """LogisticRegression on StandardScaler'd features, C chosen on validation."""
    scaler = StandardScaler().fit(x)
    best = None
    for l2 in L2_GRID:  # C = 1 / (n l2): the same strengths as the head's grid
        lr = LogisticRegression(C=1 / (l2 * len(x)), max_iter=5000)
        lr.fit(scaler.transform(x), y)
        probs = np.zeros((len(validation[0]), 10))
        probs[:, lr.classes_] = lr.predict_proba(scaler.transform(validation[0]))
        loss = log_loss(probs, validation[1])
        if best is None or loss < best[0]:
            best = (loss, lr)
    probs = np.zeros((len(x_test), 10))
    probs[:, best[1].classes_] = best[1].predict_proba(scaler.transform(x_test))
    return probs


def labelled_sets(data, how: str, seed: int) -> dict[int, np.ndarray]:
    """Nested pool indices at every size in SIZES: drawn at random, or chosen by
    least confidence under a LogisticRegression (independent of the head tested)."""
    x_pool, y_pool = data["pool"]
    rng = np.random.default_rng(seed)
    picked = [int(rng.choice(np.flatnonzero(y_pool == c))) for c in range(10)]
    out = {}
    for size in SIZES:
        while len(picked) < size:
            k = min(size - len(picked), max(10, len(picked) // 2))
            rest = np.setdiff1d(np.arange(len(x_pool)), picked)
            if how == "random":
                new = rng.choice(rest, k, replace=False)
            else:
                scaler = StandardScaler().fit(x_pool[picked])
                lr = LogisticRegression(max_iter=5000)
                lr.fit(scaler.transform(x_pool[picked]), y_pool[picked])
                confidence = lr.predict_proba(scaler.transform(x_pool[rest])).max(1)
                new = rest[np.argsort(confidence, kind="stable")[:k]]
            picked += [int(i) for i in new]
        out[size] = np.array(picked)
    return out


@pytest.mark.parametrize("kind", ["raw", "standardised", "sparse"])
@pytest.mark.parametrize("how", ["random", "least_confidence"])
def test_head_matches_logistic_regression_at_every_size(kind, how):
    data = digits(0, kind)
    (x_pool, y_pool), (x_test, y_test) = data["pool"], data["test"]
    for size, idx in labelled_sets(data, how, seed=0).items():
        x, y = x_pool[idx], y_pool[idx]
        assert (x.std(0) == 0).any()  # constant columns in the labelled set
        head = HeadTrainer().fit(x, y, 10, data["validation"])
        ours = head.predict_proba(x_test)
        theirs = reference(x, y, data["validation"], x_test)
        acc_ours = (ours.argmax(1) == y_test).mean()
        acc_theirs = (theirs.argmax(1) == y_test).mean()
        assert acc_ours >= acc_theirs - 0.005, (size, acc_ours, acc_theirs)
        assert expected_calibration_error(ours, y_test) < 0.15, size
        assert np.abs(head.logits(x_test)).max() < 1e3, size  # no blown-up feature


@pytest.mark.parametrize("kind, seed", [("raw", 1), ("standardised", 7)])
def test_the_loop_on_digits_never_loses_to_its_own_head(kind, seed):
    """10 rounds of 20 from 3 labels a class. Random labels never cost the head more
    than 3 points between rounds. Actively chosen labels can: a biased batch at a
    cold start is a real effect (Hacohen et al. 2022) — on standardised digits, seed
    7, 20 least-confidence labels take scikit-learn's model from 80.8 % to 74.6 %
    too. What must never happen is a head artefact: at every round, on random and on
    actively chosen sets, the head is as good as LogisticRegression on the same
    images, and whenever the head drops more than 3 points, so does the reference."""
    data = digits(seed, kind)
    (x_train, y_train), (x_pool, y_pool) = data["train"], data["pool"]
    x_test, y_test = data["test"]
    for strategy in ("random", "least_confidence"):
        rows = many_rounds.simulate(data, strategy, 10, 20, seed, n_classes=10)
        ours = np.array([r["test_accuracy"] for r in rows])
        theirs = []
        for r in rows:
            picked = np.array(r["picked"], dtype=int)
            x = np.concatenate([x_train, x_pool[picked]])
            y = np.concatenate([y_train, y_pool[picked]])
            probs = reference(x, y, data["validation"], x_test)
            theirs.append((probs.argmax(1) == y_test).mean())
        theirs = np.array(theirs)
        # Per round within a point (the two can pick neighbouring strengths where
        # the 250 validation images nearly tie them), and as good on average.
        assert (ours >= theirs - 0.01).all(), (strategy, seed, ours, theirs)
        assert ours.mean() >= theirs.mean() - 0.0025, (strategy, seed)
        if strategy == "random":
            assert np.diff(ours).min() > -0.03, (seed, ours)
        big_drops = np.diff(ours) < -0.03
        assert (np.diff(theirs)[big_drops] < -0.02).all(), (seed, ours, theirs)
