"""One way to refuse bad input, before any work is done.

``TypeError`` when the kind of value is wrong, ``ValueError`` when its value is;
every message starts with the argument's name (and the split, where there is one).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "integer",
    "number",
    "choice",
    "choices",
    "features",
    "labels",
    "indices",
    "feature_splits",
]


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        )
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def number(name: str, value, low: float, high: float) -> float:
    """``value`` as a finite ``float`` strictly inside ``(low, high)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not low < float(value) < high:
        raise ValueError(f"{name} must be in ({low}, {high}), got {value!r}")
    return float(value)


def choice(name: str, value, options: Sequence[str]) -> str:
    """``value`` if it is one of ``options``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(options)}")
    return value


def choices(name: str, values, options: Sequence[str]) -> list[str]:
    """A non-empty list of distinct ``options`` (a lone string is refused)."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise TypeError(
            f"{name} must be a list of names, e.g. ['random'], got {values!r}"
        )
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: give at least one of {list(options)}")
    for value in values:
        if not isinstance(value, str) or value not in options:
            raise ValueError(
                f"{name} has unknown {value!r}; choose from {list(options)}"
            )
    if len(set(values)) != len(values):
        raise ValueError(f"{name} has duplicates: {values}")
    return values


def features(name: str, x) -> np.ndarray:
    """A non-empty 2-D array of finite numbers, as float32."""
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 2-D array of numbers: {exc}") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be numbers, got dtype {array.dtype}")
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(
            f"{name} must be a non-empty 2-D array, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise ValueError(f"{name} has NaN or infinite values in {bad} rows")
    return array.astype(np.float32, copy=False)


def labels(name: str, y, n_classes: int, n: int | None = None) -> np.ndarray:
    """A 1-D array of class indices in ``[0, n_classes)`` (``n`` of them if given)."""
    return _integers(name, y, n_classes, n, "class indices")


def indices(name: str, values, size: int) -> np.ndarray:
    """A 1-D array of positions in ``[0, size)``; an empty list is fine."""
    return _integers(name, np.asarray(values).reshape(-1), size, None, "positions")


def _integers(name, values, upper, n, what) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:  # an empty list has no dtype to check
        array = array.astype(np.int64)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be integers ({what}), got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array)} labels for {n} rows of features")
    if len(array) and (array.min() < 0 or array.max() >= upper):
        raise ValueError(
            f"{name} must be {what} in [0, {upper}), got {array.min()}..{array.max()}"
        )
    return array.astype(np.int64, copy=False)


def feature_splits(
    data, n_classes: int, required: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A dict split -> ``(features, labels)``: checked, same width everywhere."""
    n_classes = integer("n_classes", n_classes, 2)
    if not isinstance(data, dict):
        raise TypeError(f"features must be a dict of split -> (x, y), got {type(data)}")
    missing = [s for s in required if s not in data]
    if missing:
        raise ValueError(f"features has no {missing} split; it has {sorted(data)}")
    out, width = {}, None
    for split, pair in data.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"features[{split!r}] must be a pair (x, y)")
        x = features(f"features[{split!r}]", pair[0])
        y = labels(f"labels of {split!r}", pair[1], n_classes, len(x))
        if width is not None and x.shape[1] != width:
            raise ValueError(
                f"features[{split!r}] has {x.shape[1]} columns, the others {width}"
            )
        width = x.shape[1]
        out[split] = (x, y)
    return out
