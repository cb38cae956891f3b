"""The one head trainer: a calibrated softmax classifier on cached features.

Every notebook, :mod:`alwidgets.one_round`, :mod:`alwidgets.many_rounds` and the live
session train their heads here, so their numbers agree. The head is multinomial
logistic regression — one Dense softmax layer, the article's head — fitted the way a
statistician would:

1. **standardised** features, with statistics from the labelled set only
   (scikit-learn's ``StandardScaler``: a feature that is constant there keeps scale 1,
   so it cannot blow up on other images);
2. **L2-regularised**, the strength chosen on the validation split from a small grid
   (the one giving the lowest validation log-loss), each fitted to convergence by
   SciPy's L-BFGS-B from the previous strength's weights: no mini-batch noise, so the
   same data always gives the same head (no seed needed);
3. **temperature scaling** on the validation split: one number that divides the
   logits so that the confidence matches the accuracy. It never changes which
   class wins (accuracy is unchanged), only how sure the head says it is —
   which matters here, since uncertainty sampling ranks images by those
   probabilities. :func:`expected_calibration_error` measures it.

The fitted :class:`Head` predicts with numpy; :meth:`Head.to_keras` gives the same
function as a Keras model (one Dense softmax layer on raw features).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from . import checks
from .config import cache_dir, cached_arrays

__all__ = [
    "Head",
    "HeadTrainer",
    "trained_head",
    "predict_proba",
    "L2_GRID",
    "expected_calibration_error",
    "log_loss",
]

#: Candidate L2 strengths (per-example loss scale), tried from strong to weak.
L2_GRID = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def log_loss(probs, y) -> float:
    """Mean negative log-likelihood of the true classes (lower is better)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))


def expected_calibration_error(probs, y, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over confidence bins.

    0 = perfectly calibrated: among images predicted with 80 % confidence, 80 %
    are right. Weighted by the share of images in each of ``bins`` equal bins.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise ValueError(f"probs {p.shape} and labels {y.shape} do not match")
    bins = checks.integer("bins", bins, 1)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.mean() * abs(
                correct[inside].mean() - confidence[inside].mean()
            )
    return float(gap)


@dataclasses.dataclass
class Head:
    """A fitted head: standardisation, weights, temperature, and how L2 was chosen."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (features, classes), on standardised features
    bias: np.ndarray
    temperature: float
    l2: float
    #: Validation log-loss for each L2 strength tried (empty when L2 was given).
    l2_scores: dict[float, float]

    @property
    def n_classes(self) -> int:
        return self.weights.shape[1]

    def logits(self, x) -> np.ndarray:
        """Raw class scores (before temperature and softmax)."""
        x = checks.features("x", x)
        if x.shape[1] != len(self.mean):
            raise ValueError(f"x has {x.shape[1]} features, the head {len(self.mean)}")
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def predict_proba(self, x) -> np.ndarray:
        """Calibrated class probabilities, float64, one row per example."""
        return _softmax(self.logits(x).astype(np.float64) / self.temperature)

    def to_keras(self):
        """The same function as a Keras model: one Dense softmax layer, raw features in."""
        import keras

        kernel = self.weights / self.scale[:, None] / self.temperature
        bias = (self.bias - (self.mean / self.scale) @ self.weights) / self.temperature
        inputs = keras.Input((len(self.mean),))
        dense = keras.layers.Dense(self.n_classes, activation="softmax", name="head")
        model = keras.Model(inputs, dense(inputs), name="head")
        dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        return model

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild the head, for ``np.savez``."""
        return {
            "mean": self.mean,
            "scale": self.scale,
            "weights": self.weights,
            "bias": self.bias,
            "temperature": np.array(self.temperature),
            "l2": np.array(self.l2),
            "l2_grid": np.array(list(self.l2_scores), dtype=np.float64),
            "l2_scores": np.array(list(self.l2_scores.values()), dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, a) -> Head:
        """The head :meth:`arrays` describes (e.g. read back with ``np.load``)."""
        return cls(
            np.asarray(a["mean"]),
            np.asarray(a["scale"]),
            np.asarray(a["weights"]),
            np.asarray(a["bias"]),
            float(a["temperature"]),
            float(a["l2"]),
            dict(
                zip(
                    np.asarray(a["l2_grid"]).tolist(),
                    np.asarray(a["l2_scores"]).tolist(),
                )
            ),
        )


class HeadTrainer:
    """Fits :class:`Head` s. One trainer, same settings, for every notebook and loop.

    ``l2``: a fixed strength, or ``None`` to choose it on the validation split
    from ``L2_GRID``. ``max_iter``: the most L-BFGS-B iterations per strength.
    ``calibrate``: temperature scaling on the validation split. Without a
    validation split: the fixed (or middle) strength and no temperature.
    """

    def __init__(
        self, l2: float | None = None, max_iter: int = 1000, calibrate: bool = True
    ) -> None:
        self.l2 = None if l2 is None else checks.number("l2", l2, 0, float("inf"))
        self.max_iter = checks.integer("max_iter", max_iter, 1)
        self.calibrate = bool(calibrate)

    def __repr__(self) -> str:
        return (
            f"HeadTrainer(l2={self.l2}, max_iter={self.max_iter}, "
            f"calibrate={self.calibrate})"
        )

    def fit(
        self,
        x,
        y,
        n_classes: int,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Head:
        """Fit on ``(x, y)``; choose L2 and calibrate on ``validation``."""
        from sklearn.preprocessing import StandardScaler

        n_classes = checks.integer("n_classes", n_classes, 2)
        x = checks.features("train features", x)
        y = checks.labels("train labels", y, n_classes, len(x))
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                raise TypeError("validation must be a pair (features, labels)")
            xv = checks.features("validation features", validation[0])
            yv = checks.labels("validation labels", validation[1], n_classes, len(xv))
            if xv.shape[1] != x.shape[1]:
                raise ValueError(
                    f"validation has {xv.shape[1]} features, train {x.shape[1]}"
                )
        scaler = StandardScaler().fit(x.astype(np.float64))
        mean, scale = scaler.mean_, scaler.scale_
        xs = (x - mean) / scale
        d = x.shape[1]
        w = np.zeros(d * n_classes + n_classes)
        if validation is None:
            l2 = self.l2 if self.l2 is not None else L2_GRID[len(L2_GRID) // 2]
            w = _lbfgs_fit(xs, y, n_classes, l2, w, self.max_iter)
            return Head(mean, scale, *_split(w, d, n_classes), 1.0, l2, {})
        xvs = (xv - mean) / scale
        grid: Sequence[float] = (self.l2,) if self.l2 is not None else L2_GRID
        scores, best = {}, None
        for l2 in grid:  # strong to weak, each from the last one's weights
            w = _lbfgs_fit(xs, y, n_classes, l2, w, self.max_iter)
            weights, bias = _split(w, d, n_classes)
            scores[l2] = _nll(xvs @ weights + bias, yv)
            if best is None or scores[l2] < best[0]:
                best = (scores[l2], l2, weights, bias)
        _, l2, weights, bias = best
        temperature = 1.0
        if self.calibrate:
            temperature = _fit_temperature(xvs @ weights + bias, yv)
        if self.l2 is not None:
            scores = {}
        return Head(mean, scale, weights, bias, temperature, l2, scores)


def _split(w: np.ndarray, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return w[: d * k].reshape(d, k).copy(), w[d * k :].copy()


def _lbfgs_fit(xs, y, k, l2, w0, max_iter) -> np.ndarray:
    """Mean cross-entropy + l2/2 |W|^2 (bias not penalised), minimised by L-BFGS-B."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    n, d = xs.shape
    onehot = np.eye(k)[y]

    def objective(w):
        W, b = w[: d * k].reshape(d, k), w[d * k :]
        z = xs @ W + b
        g = (_softmax(z) - onehot) / n
        loss = _nll(z, y) + 0.5 * l2 * float((W * W).sum())
        return loss, np.concatenate([(xs.T @ g + l2 * W).ravel(), g.sum(axis=0)])

    # One BLAS thread: these matrices are small, and extra threads only wait on
    # each other (10x slower on a busy two-core machine).
    with threadpool_limits(1, user_api="blas"):
        result = minimize(
            objective,
            w0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": 1e-6},
        )
    return result.x


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising validation log-loss (bounded search on log T)."""
    from scipy.optimize import minimize_scalar

    logits = logits.astype(np.float64)
    result = minimize_scalar(
        lambda log_t: _nll(logits / np.exp(log_t), y),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def trained_head(
    splits, features: dict | None = None, trainer: HeadTrainer | None = None
):
    """The head trained on the train split's cached features, cached on disk.

    What notebook 3 trains and notebooks 4-6 start from (round 0 of every loop
    is this same head): a second call, or a fresh kernel, loads it.
    """
    from .data import Splits
    from .features import cached_features

    if not isinstance(splits, Splits):
        raise TypeError(f"splits must come from load_splits(), got {type(splits)}")
    if features is None:
        features = cached_features(splits, split_names=("train", "validation"))
    n_classes = len(splits.class_names)
    data = checks.feature_splits(features, n_classes, ("train", "validation"))
    trainer = trainer or HeadTrainer()
    key = (
        f"head-v3-{splits.profile.backbone}-{splits.fingerprint}-{trainer.l2}-"
        f"{trainer.max_iter}-{trainer.calibrate}"
    )
    fitted: list[Head] = []

    def fit():
        fitted.append(trainer.fit(*data["train"], n_classes, data["validation"]))
        return fitted[0].arrays()

    arrays = cached_arrays(cache_dir("heads") / f"{key}.npz", key, fit)
    return fitted[0] if fitted else Head.from_arrays(arrays)


def predict_proba(model, x, batch_size: int = 256) -> np.ndarray:
    """Class probabilities of a :class:`Head` or a Keras model, float64."""
    if isinstance(model, Head):
        return model.predict_proba(x)
    if not callable(model):
        raise TypeError(f"model must be a Head or a Keras model, got {type(model)}")
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        raise ValueError("nothing to predict: x is empty")
    out = [
        model(x[i : i + batch_size], training=False)
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate([np.asarray(o) for o in out]).astype(np.float64)
