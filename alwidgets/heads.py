"""The one head trainer: a calibrated softmax classifier on cached features.

Every notebook, :mod:`alwidgets.loop` and :mod:`alwidgets.experiments` train their
heads here, so their numbers agree. The head is multinomial logistic regression
on standardised features — one Dense softmax layer, the article's head — fitted
the way a statistician would:

1. **L2-regularised**, with the strength chosen on the validation split from a
   small grid (the one giving the lowest validation log-loss);
2. **early stopping**: the weights of the iteration with the lowest validation
   log-loss are kept;
3. full-batch **L-BFGS** from zero weights: no mini-batch noise, so the same data
   always gives the same head (no seed needed), and fast on CPU;
4. **temperature scaling** on the validation split: one number that divides the
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
    """A fitted head: standardisation, weights, temperature, and how it was chosen."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (features, classes), on standardised features
    bias: np.ndarray
    temperature: float
    l2: float
    #: Per L-BFGS iteration of the final fit: loss, accuracy, val_loss, val_accuracy.
    history: dict[str, list[float]]
    #: Validation log-loss for each L2 strength tried.
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
        }


class HeadTrainer:
    """Fits :class:`Head` s. One trainer, same settings, for every notebook and loop.

    ``l2``: a fixed strength, or ``None`` to choose it on the validation split
    from ``L2_GRID``. ``calibrate``: temperature scaling on the validation split.
    Without a validation split: the fixed (or middle) strength, no early
    stopping, no temperature.
    """

    def __init__(
        self,
        l2: float | None = None,
        max_iter: int = 300,
        patience: int = 10,
        calibrate: bool = True,
    ) -> None:
        self.l2 = None if l2 is None else checks.number("l2", l2, 0, float("inf"))
        self.max_iter = checks.integer("max_iter", max_iter, 1)
        self.patience = checks.integer("patience", patience, 1)
        self.calibrate = bool(calibrate)

    def fit(
        self,
        x,
        y,
        n_classes: int,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Head:
        """Fit on ``(x, y)``; choose L2, stop early and calibrate on ``validation``."""
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
        mean = x.mean(axis=0)
        scale = x.std(axis=0) + 1e-6
        xs = (x - mean) / scale
        if validation is None:
            l2 = self.l2 if self.l2 is not None else L2_GRID[len(L2_GRID) // 2]
            w, history, _ = _lbfgs_fit(xs, y, n_classes, l2, None, self.max_iter, 0)
            return Head(
                mean, scale, *_split(w, x.shape[1], n_classes), 1.0, l2, history, {}
            )
        xvs = (xv - mean) / scale
        grid: Sequence[float] = (self.l2,) if self.l2 is not None else L2_GRID
        scores, best = {}, None
        for l2 in grid:
            w, history, val = _lbfgs_fit(
                xs, y, n_classes, l2, (xvs, yv), self.max_iter, self.patience
            )
            scores[l2] = val
            if best is None or val < best[0]:
                best = (val, l2, w, history)
        _, l2, w, history = best
        weights, bias = _split(w, x.shape[1], n_classes)
        temperature = 1.0
        if self.calibrate:
            temperature = _fit_temperature(xvs @ weights + bias, yv)
        return Head(mean, scale, weights, bias, temperature, l2, history, scores)


def _split(w: np.ndarray, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return w[: d * k].reshape(d, k).copy(), w[d * k :].copy()


def _lbfgs_fit(xs, y, k, l2, validation, max_iter, patience):
    """Full-batch L-BFGS on mean cross-entropy + l2/2 |W|^2, from zero weights.

    With ``validation``: keeps the iterate with the lowest validation log-loss and
    stops after ``patience`` iterations without improvement. Returns the weights
    (flat), the per-iteration history and the best validation log-loss.
    """
    n, d = xs.shape
    onehot = np.eye(k, dtype=np.float32)[y]

    def objective(w):
        W, b = w[: d * k].reshape(d, k), w[d * k :]
        z = xs @ W + b
        p = _softmax(z)
        loss = _nll(z, y) + 0.5 * l2 * float((W * W).sum())
        g = (p - onehot) / n
        grad = np.concatenate([(xs.T @ g + l2 * W).ravel(), g.sum(axis=0)])
        return loss, grad, z

    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if validation is not None:
        history.update(val_loss=[], val_accuracy=[])
    w = np.zeros(d * k + k, dtype=np.float32)
    f, g, z = objective(w)
    best = (np.inf, w, 0)
    memory: list[tuple[np.ndarray, np.ndarray, float]] = []
    for it in range(max_iter):
        # Two-loop recursion: the L-BFGS direction.
        q, alphas = g.copy(), []
        for s, t, rho in reversed(memory):
            a = rho * float(s @ q)
            q -= a * t
            alphas.append(a)
        if memory:
            s, t, _ = memory[-1]
            q *= float(s @ t) / float(t @ t)
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for (s, t, rho), a in zip(memory, reversed(alphas)):
            q += s * (a - rho * float(t @ q))
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            memory.clear()
            direction, slope = -g, -float(g @ g)
        step = 1.0
        while True:  # backtracking (Armijo)
            w_new = w + step * direction
            f_new, g_new, z_new = objective(w_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-8:
                break
            step *= 0.5
        s, t = w_new - w, g_new - g
        if float(s @ t) > 1e-10:
            memory.append((s, t, 1.0 / float(s @ t)))
            memory = memory[-10:]
        w, f, g, z = w_new, f_new, g_new, z_new
        history["loss"].append(_nll(z, y))
        history["accuracy"].append(float((z.argmax(1) == y).mean()))
        if validation is not None:
            xv, yv = validation
            zv = xv @ w[: d * k].reshape(d, k) + w[d * k :]
            val = _nll(zv, yv)
            history["val_loss"].append(val)
            history["val_accuracy"].append(float((zv.argmax(1) == yv).mean()))
            if val < best[0]:
                best = (val, w, it)
            elif it - best[2] >= patience:
                break
        if float(np.abs(g).max()) < 1e-5 or step < 1e-8:
            break
    if validation is None:
        return w, history, float("nan")
    # Keep the history up to the kept iterate, so the curves end where the head is.
    kept = best[2] + 1
    history = {key: values[:kept] for key, values in history.items()}
    return best[1], history, best[0]


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising validation log-loss (golden-section on log T)."""
    logits = logits.astype(np.float64)
    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(logits / np.exp(a), y), _nll(logits / np.exp(b), y)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _nll(logits / np.exp(a), y)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(logits / np.exp(b), y)
    return float(np.exp((lo + hi) / 2))


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
        f"head-v2-{splits.profile.backbone}-{splits.fingerprint}-{trainer.l2}-"
        f"{trainer.max_iter}-{trainer.patience}-{trainer.calibrate}"
    )
    fitted: list[Head] = []

    def fit():
        fitted.append(trainer.fit(*data["train"], n_classes, data["validation"]))
        return _to_arrays(fitted[0])

    arrays = cached_arrays(cache_dir("heads") / f"{key}.npz", key, fit)
    return fitted[0] if fitted else _from_arrays(arrays)


def _to_arrays(head: Head) -> dict[str, np.ndarray]:
    arrays = head.arrays()
    for name, values in head.history.items():
        arrays[f"history_{name}"] = np.asarray(values)
    arrays["l2_grid"] = np.array(list(head.l2_scores))
    arrays["l2_scores"] = np.array(list(head.l2_scores.values()))
    return arrays


def _from_arrays(a: dict[str, np.ndarray]) -> Head:
    history = {
        name[len("history_") :]: a[name].tolist()
        for name in a
        if name.startswith("history_")
    }
    return Head(
        a["mean"],
        a["scale"],
        a["weights"],
        a["bias"],
        float(a["temperature"]),
        float(a["l2"]),
        history,
        dict(zip(a["l2_grid"].tolist(), a["l2_scores"].tolist())),
    )


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
