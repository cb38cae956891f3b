"""Self-checking exercises: run the learner's answer on hidden cases, explain a miss.

A check that passes prints one ``✓`` line and returns ``True``. A check that misses
raises :class:`NotYet`, whose message is ``✗`` what it found and a ``Hint:`` about
that mistake; Jupyter shows just those lines, in the cell's error area, and no
traceback (``NotYet`` defines IPython's ``_render_traceback_``). The cell stops
there and so does "Run All", as a failed ``assert`` would (``NotYet`` is an
``AssertionError``, so ``assert exercises.check_x(...)`` reads the same either way).
Whatever the learner hands in — a list, a tuple or a numpy array, a function that
raises or returns ``None``, a dict with a missing key, the placeholder ``None`` or
``...`` — the miss names that mistake, never with a traceback. Every correct answer
passes: lists and arrays alike, ties in any order, equivalent formulas.

To show a miss without stopping the cell (a demonstration of what a check
catches)::

    try:
        exercises.check_criterion("smallest_margin", margin_only)
    except exercises.NotYet as miss:
        print(miss)

Only the arguments the notebook itself passes (a criterion's name, the sizes, the
budget) are validated the library's way: ``TypeError`` for the type, ``ValueError``
for the value, naming the argument.

No TensorFlow is imported here.
"""

from __future__ import annotations

import re
import sysconfig
import traceback
from pathlib import Path

import numpy as np

from . import checks
from .criteria import CRITERIA, check_probs, select

__all__ = [
    "NotYet",
    "check_criterion",
    "check_disagreement",
    "check_new_criterion",
    "check_slices",
    "check_pool_size",
    "check_selection",
    "check_retrain",
    "check_min_overlap",
    "check_loop",
    "check_finals",
    "check_queue",
    "check_sharpened",
    "check_two_stage",
    "hidden_cases",
]

#: How close the learner's scores must be to ``alwidgets.criteria``'s. Loose enough
#: for ``np.log(p + 1e-6)`` in the entropy, far tighter than any wrong formula.
TOLERANCE = 1e-4

#: How close a learner's accuracy must be to the library's (float32 arithmetic is fine).
ACCURACY_TOLERANCE = 1e-6

_FORMULAS = {
    "least_confidence": "1 - p1, with p1 = p.max(axis=1)",
    "smallest_margin": "1 - (p1 - p2), p1 and p2 the two largest of each row",
    "entropy": "-(p * ln p).sum(axis=1), counting 0 * ln 0 as 0",
}


class NotYet(AssertionError):
    """A check's miss: ``✗ what`` and ``Hint: hint``, shown without a traceback.

    ``NotYet(what, hint)``; further ``(what, hint)`` pairs may follow, for a check
    that misses on several counts. ``str(miss)`` is the verdict, one ``✗`` line and
    one ``Hint:`` line per miss; ``miss.misses`` the pairs. In IPython and Jupyter,
    :meth:`_render_traceback_` makes those lines the whole error output.
    """

    def __init__(self, what: str, hint: str, *more: tuple[str, str]):
        misses = [(what, hint), *more]
        for pair in misses:
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or not all(isinstance(text, str) for text in pair)
            ):
                raise TypeError(
                    "NotYet takes what and hint as strings, then (what, hint) pairs "
                    f"of strings; got {pair!r}"
                )
        self.misses = misses
        super().__init__(
            "\n".join(f"✗ {what}\n  Hint: {hint}" for what, hint in misses)
        )

    def __reduce__(self):
        (what, hint), *more = self.misses
        return type(self), (what, hint, *more)

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: the lines to show instead of a traceback."""
        return str(self).split("\n")


# -- shared helpers -------------------------------------------------------------------


def _is_placeholder(value) -> bool:
    return value is None or value is Ellipsis


def _shown(value) -> str:
    """The placeholder ``value`` as the notebook shows it."""
    return "`...`" if value is Ellipsis else repr(value)


_PLACEHOLDER = (
    "replace None (or the `...` under '# Write your code here.') with your answer, "
    "run that cell, then this one again."
)
_NO_RETURN = (
    "replace the `...` under '# Write your code here.' with the function's code, "
    "ending in a `return` line."
)


def _unwritten(what: str, value, hint: str = _PLACEHOLDER) -> NotYet:
    """The miss of an answer still at its placeholder ``value`` (None or ``...``)."""
    return NotYet(f"{what} is not written yet (it is still {_shown(value)}).", hint)


def _numbers(value, what: str) -> np.ndarray | str:
    """``value`` (list, tuple, array, scalar) as a float array, or why it is not one."""
    if _is_placeholder(value):
        return f"{what} is {value!r}, not an answer yet"
    if isinstance(value, (str, bytes, dict, set)):
        return f"{what} is a {type(value).__name__}; numbers are expected"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        return f"{what} could not be read as numbers ({exc})"
    return arr


def _one_number(answer, what: str, unreadable: str, several: str) -> float:
    """The learner's single number; :class:`NotYet` saying what is wrong with it."""
    if _is_placeholder(answer):
        raise _unwritten(what, answer)
    value = _numbers(answer, what)
    if isinstance(value, str):
        raise NotYet(f"{value}.", unreadable)
    if value.size != 1:
        raise NotYet(f"{what} has {value.size} values.", several)
    return float(value.reshape(-1)[0])


def _positions(value, what: str, size: int) -> np.ndarray | str:
    """``value`` as a 1-D int array of positions in ``range(size)``, or why not.

    Lists, tuples, arrays of any integer dtype, floats that are whole numbers and a
    boolean mask of length ``size`` are all accepted.
    """
    if _is_placeholder(value):
        return f"{what} is {value!r}, not an answer yet"
    if isinstance(value, (str, bytes, dict)):
        return f"{what} is a {type(value).__name__}, not a list of positions"
    if isinstance(value, set):
        value = sorted(value)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        return f"{what} could not be read as positions ({exc})"
    if arr.dtype == object:
        return f"{what} mixes several kinds of values; give a list of positions"
    arr = arr.reshape(-1)
    if arr.dtype == bool:
        if len(arr) != size:
            return f"{what} is a mask of {len(arr)} booleans for {size} images"
        return np.flatnonzero(arr).astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if (
        arr.dtype.kind == "f"
        and np.all(np.isfinite(arr))
        and np.all(arr == np.round(arr))
    ):
        return arr.astype(np.int64)
    return (
        f"{what} holds {arr.dtype} values such as {arr[:3].round(3).tolist()}, not "
        "positions: select the positions (np.argsort or select give them), not the "
        "scores themselves"
    )


def _exception_hint(exc: BaseException, formula: str | None) -> str:
    """A hint about the learner's mistake behind the exception ``exc``; ``formula``:
    the criterion's formula, to recall after the hint (None: none to recall)."""
    text = str(exc)
    then = f" The formula is {formula}." if formula else ""
    if isinstance(exc, NameError):
        return (
            f"{text}: use only the function's argument (p) and numpy, or run the "
            "cell that defines that name first."
        )
    if type(exc).__name__ == "AxisError":
        return (
            "a table of probabilities has two axes: axis=0 runs over the samples "
            f"(rows), axis=1 over the classes.{then}"
        )
    if isinstance(exc, IndexError):
        return (
            "an index is out of range: after np.sort(p, axis=1) the favourite is "
            f"[:, -1] and the runner-up [:, -2].{then}"
        )
    if "NoneType" in text:
        return (
            "something in your function is None: a helper without a `return`, or a "
            "placeholder `...` left in."
        )
    if isinstance(exc, (TypeError, AttributeError)) and "list" in text:
        return (
            "work on the numpy table as a whole (p.max(axis=1), np.sort(p, axis=1)) "
            f"rather than on Python lists.{then}"
        )
    return (
        f"your function stops with {type(exc).__name__} before it returns the "
        f"scores.{then}"
    )


def _in_library(filename: str) -> bool:
    """Whether ``filename`` is Python's, an installed package's or alwidgets' file."""
    path = Path(filename).resolve()
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    paths = sysconfig.get_paths()
    roots = [Path(__file__).resolve().parent] + [
        Path(paths[key]).resolve() for key in ("stdlib", "platstdlib")
    ]
    return any(path.is_relative_to(root) for root in roots)


def _raised(exc: BaseException) -> str:
    """``Type: message``, then the learner's line where ``exc`` was raised.

    The line is the innermost frame outside Python's, numpy's and alwidgets' files
    (a notebook cell, or the learner's own module); the traceback itself is never
    shown, so this is how the learner finds the line.
    """
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not _in_library(frame.filename)
    ]
    if not frames or not frames[-1].line:
        return text
    frame = frames[-1]
    return f"{text}, in {frame.name} at `{frame.line.strip()}`"


def _same_order(a: np.ndarray, b: np.ndarray, tol: float = 1e-9) -> bool:
    """Whether ``a`` and ``b`` order every pair of entries alike (ties included)."""
    da = np.sign(np.round((a[:, None] - a[None, :]) / tol))
    db = np.sign(np.round((b[:, None] - b[None, :]) / tol))
    return bool(np.array_equal(da, db))


# -- notebook 1: the three criteria ------------------------------------------------------


def hidden_cases() -> list[tuple[str, np.ndarray]]:
    """The probability tables every criterion is checked on: ``(what, probs)``."""
    rng = np.random.default_rng(13)
    return [
        (
            "4 rows over 3 classes",
            np.array(
                [
                    [0.7, 0.2, 0.1],
                    [0.1, 0.3, 0.6],
                    [0.25, 0.5, 0.25],
                    [0.05, 0.05, 0.9],
                ]
            ),
        ),
        (
            "rows where two classes may tie for the top",
            np.array(
                [
                    [0.35, 0.35, 0.2, 0.05, 0.05],
                    [0.6, 0.2, 0.1, 0.05, 0.05],
                    [0.1, 0.4, 0.4, 0.05, 0.05],
                ]
            ),
        ),
        ("one-hot rows (the model is sure)", np.eye(4)[[2, 0, 3]]),
        ("uniform rows (the model knows nothing)", np.full((2, 5), 0.2)),
        ("a single row", np.array([[0.05, 0.6, 0.1, 0.2, 0.05]])),
        ("2 classes", np.array([[0.5, 0.5], [0.9, 0.1], [0.0, 1.0]])),
        ("50 random rows over 10 classes", rng.dirichlet(np.full(10, 0.5), size=50)),
    ]


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=TOLERANCE))


def _orders_like(fn, name: str) -> bool:
    """Whether ``fn`` ranks every hidden case's rows like criterion ``name``."""
    for _, probs in hidden_cases():
        try:
            with np.errstate(all="ignore"):
                got = np.asarray(fn(probs.copy()), dtype=np.float64).reshape(-1)
        except Exception:
            return False
        want = CRITERIA[name](probs)
        if got.shape != want.shape or not _same_order(got, want):
            return False
    return True


def _formula(name: str, p: np.ndarray) -> np.ndarray:
    """Criterion ``name``'s formula on any table, rows summing to 1 or not."""
    top = np.sort(p, axis=1)
    if name == "least_confidence":
        return 1 - top[:, -1]
    if name == "smallest_margin":
        return 1 - (top[:, -1] - top[:, -2])
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)


def _hint(
    name: str, probs: np.ndarray, got: np.ndarray, want: np.ndarray, fn=None
) -> str:
    """The most likely mistake behind ``got`` (same shape as ``want``)."""
    nan = np.isnan(got)
    if nan.any():
        at_zero = (probs == 0).any(axis=1)[nan].all()
        if name == "entropy" and at_zero:
            return (
                "NaN where a probability is 0: numpy computes 0 * np.log(0) as "
                "0 * -inf = nan, but the entropy counts 0 * ln 0 as 0. Keep the log "
                "away from 0: np.log(p + 1e-12), np.log(np.where(p > 0, p, 1.0)), "
                "or scipy.special.entr(p).sum(axis=1)."
            )
        if at_zero:
            return (
                "NaN on rows with a probability of 0: a log or a division meets "
                f"that 0. The formula is {_FORMULAS[name]}."
            )
        return "your scores contain NaN; every row of probabilities has a score."
    if np.any(want != 0) and _close(got, -want):
        return "the sign is flipped: higher must mean more uncertain."
    if name == "least_confidence" and _close(got, 1 - want):
        return (
            "that is the confidence p1 itself; the uncertainty score is 1 - p1, "
            "so that higher means more uncertain."
        )
    if name == "smallest_margin" and _close(got, 1 - want):
        return (
            "that is the margin p1 - p2 itself; the score is 1 - (p1 - p2), "
            "so that higher means more uncertain."
        )
    if name == "entropy":
        for base, label in ((2.0, "np.log2"), (10.0, "np.log10")):
            if _close(got, want / np.log(base)):
                return f"you used {label}; the criterion uses the natural log, np.log."
        k = probs.shape[1]
        if _close(got, want / np.log(k)):
            return (
                f"you divided by ln K (ln {k} here): that is the normalised entropy; "
                "the criterion is the plain sum -(p * ln p).sum(axis=1)."
            )
    for other, reference in CRITERIA.items():
        if other != name and _close(got, reference(probs)):
            return f"these are the scores of {other}, not {name}."
    if name == "smallest_margin":
        top = np.sort(probs, axis=1)
        tied = top[:, -1] == top[:, -2]
        right = np.isclose(got, want, rtol=0, atol=TOLERANCE)
        if tied.any() and (~tied).any() and right[~tied].all():
            return (
                "when two classes tie for the top, p2 = p1 and the margin is 0: "
                "take the two largest values of the row, even if they are equal."
            )
        if _close(got, 1 - (top[:, -1] - top[:, 1])):
            return (
                "p2 is the second *largest* probability, np.sort(p, axis=1)[:, -2], "
                "not the second smallest."
            )
    k = probs.shape[1]
    for m in range(1, k):
        for columns, which in ((slice(None, m), "first"), (slice(k - m, None), "last")):
            part = probs[:, columns]
            if (m > 1 or name == "least_confidence") and _close(
                got, _formula(name, part)
            ):
                return (
                    f"your function reads only the {which} {m} of the {k} classes "
                    "(columns) of each row: a criterion uses the whole row, every "
                    "class, whatever their number."
                )
    if len(want) > 1 and _same_order(got, want) and _orders_like(fn, name):
        return (
            "your scores put the rows in the right order, but their values differ: "
            f"the exercise asks for the score itself, {_FORMULAS[name]}."
        )
    return f"the formula is {_FORMULAS[name]}."


def _shape_hint(probs: np.ndarray, got: np.ndarray) -> str:
    n, k = probs.shape
    if got.ndim == 0:
        return (
            "one number for the whole table: reduce each row over its classes only "
            "(axis=1), which gives one score per row."
        )
    if got.shape == probs.shape:
        return (
            "one value per probability: reduce each row to one score "
            "(.max(axis=1), .sum(axis=1), …)."
        )
    if got.shape == (k,):
        return (
            "one value per class: you reduced over the samples (axis=0); reduce over "
            "the classes instead, axis=1."
        )
    return "one score per row: reduce over the classes, axis=1."


def check_criterion(name: str, fn) -> bool:
    """Check the learner's criterion ``fn`` against ``alwidgets.criteria.<name>``.

    ``fn`` takes an ``(n_samples, n_classes)`` array of probabilities and returns
    one score per row (a list, a 1-D array or an ``(n, 1)`` column). It runs on
    :func:`hidden_cases` (ties, one-hot rows, uniform rows, 2 to 10 classes).
    Every case right: prints one ``✓`` line and returns ``True``. Otherwise raises
    :class:`NotYet` with the case, a row it got wrong and a hint about the mistake.
    """
    checks.choice("name", name, list(CRITERIA))
    if _is_placeholder(fn):
        raise _unwritten(f"{name}: the function", fn)
    if not callable(fn):
        raise TypeError(f"fn must be a function of probs, got {type(fn).__name__}")
    reference = CRITERIA[name]
    cases = hidden_cases()
    for what, probs in cases:
        want = reference(probs)
        try:
            with np.errstate(all="ignore"):
                raw = fn(probs.copy())
        except Exception as exc:  # the learner's bug: report it, don't dump it
            raise NotYet(
                f"{name}: on {what} your function raised {_raised(exc)}.",
                _exception_hint(exc, _FORMULAS[name]),
            ) from None
        if _is_placeholder(raw):
            raise NotYet(f"{name}: your function returned {_shown(raw)}.", _NO_RETURN)
        got = _numbers(raw, "its result")
        if isinstance(got, str):
            raise NotYet(f"{name}: on {what}, {got}.", "return one number per row.")
        if got.shape == (len(want), 1):
            got = got[:, 0]  # a column of the right scores is a right answer
        if got.shape != want.shape:
            raise NotYet(
                f"{name}: on {what} (shape {probs.shape}) your function returned "
                f"shape {got.shape}, expected {want.shape}.",
                _shape_hint(probs, got),
            )
        if not _close(got, want):
            row = int(np.argmax(~np.isclose(got, want, rtol=0, atol=TOLERANCE)))
            raise NotYet(
                f"{name}: wrong on {what}: row {np.round(probs[row], 3).tolist()} "
                f"should score {want[row]:.4f}, yours scores {got[row]:.4f}.",
                _hint(name, probs, got, want, fn),
            )
    print(f"✓ {name}: right on all {len(cases)} hidden cases.")
    return True


_DISAGREE_HINTS = {
    "least_confidence": (
        "lower the first row's largest probability.",
        "lower the second row's largest probability.",
    ),
    "smallest_margin": (
        "bring the first row's two largest probabilities closer together.",
        "bring the second row's two largest probabilities closer together.",
    ),
    "entropy": (
        "spread the first row's probability over more classes.",
        "spread the second row's probability over more classes, "
        "e.g. the same small share on every class but the favourite.",
    ),
}


def _probability_row(row, label: str, n_classes: int | None) -> np.ndarray:
    """``row`` as one row of ``n_classes`` probabilities; :class:`NotYet` if not."""
    write = "write each row as a list such as [0.5, 0.2, …]."
    arr = _numbers(row, label)
    if isinstance(arr, str):
        raise NotYet(f"{arr}.", write)
    if arr.ndim == 0:
        raise NotYet(
            f"{label} is one number, {arr.item():g}: a row has one probability "
            "per class.",
            write,
        )
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)  # [[...]] or a column: still one row
    if arr.ndim != 1:
        raise NotYet(
            f"{label} has shape {arr.shape}: give one row, a flat list of "
            "probabilities such as [0.5, 0.2, 0.1, 0.1, 0.1].",
            write,
        )
    if n_classes is not None and len(arr) != n_classes:
        raise NotYet(
            f"{label} has {len(arr)} probabilities; the rows of this exercise are "
            f"over {n_classes} classes.",
            f"one probability per class: {n_classes} numbers (a class the row rules "
            "out gets 0).",
        )
    if len(arr) < 2:
        raise NotYet(
            f"{label} has {len(arr)} value: a row has one probability per class.",
            write,
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise NotYet(
            f"{label} = {arr.tolist()}: probabilities are between 0 and 1.", write
        )
    total = arr.sum()
    if abs(total - 100) < 0.5:
        raise NotYet(
            f"{label} sums to {total:g}: probabilities, not percent.",
            "divide every number by 100.",
        )
    if abs(total - 1) > 1e-3:
        raise NotYet(
            f"{label} sums to {total:.4g}, not 1.",
            "the probabilities of one row sum to 1: change one of them.",
        )
    return arr


def check_disagreement(
    first,
    second,
    first_criterion: str = "smallest_margin",
    second_criterion: str = "entropy",
    *,
    n_classes: int | None = 5,
) -> bool:
    """Check that ``first_criterion`` prefers row ``first``, ``second_criterion`` row ``second``.

    The rows may be lists, tuples or arrays of ``n_classes`` probabilities each (5
    in notebook 1's exercise; ``None``: any number, the same in both rows), each
    summing to 1. "Prefers" means a strictly higher uncertainty score (a tie does
    not count). Prints a ``✓`` line with the scores for each criterion that prefers
    its row and returns ``True`` when both do; otherwise raises :class:`NotYet`
    with the scores and a hint for each criterion that prefers the wrong row.
    """
    checks.choice("first_criterion", first_criterion, list(CRITERIA))
    checks.choice("second_criterion", second_criterion, list(CRITERIA))
    if first_criterion == second_criterion:
        raise ValueError(
            f"first_criterion and second_criterion are both {first_criterion!r}: "
            "one criterion cannot prefer both rows"
        )
    if n_classes is not None:
        n_classes = checks.integer("n_classes", n_classes, 2)
    for label, row in (("the first row", first), ("the second row", second)):
        if _is_placeholder(row):
            raise _unwritten(label, row)
    rows = [
        _probability_row(row, label, n_classes)
        for label, row in (("the first row", first), ("the second row", second))
    ]
    if len(rows[0]) != len(rows[1]):
        raise NotYet(
            f"the first row has {len(rows[0])} classes and the second {len(rows[1])}.",
            "give both rows over the same classes.",
        )
    pair = check_probs(rows)
    misses = []
    for criterion, want, other in (
        (first_criterion, 0, 1),
        (second_criterion, 1, 0),
    ):
        scores = CRITERIA[criterion](pair)
        line = (
            f"{criterion}: first {scores[0]:.3f}, second {scores[1]:.3f}"
            f" (should prefer the {('first', 'second')[want]})"
        )
        tie = abs(scores[want] - scores[other]) < 1e-12
        if scores[want] > scores[other] and not tie:
            print(f"✓ {line}")
        elif tie:
            misses.append(
                (
                    line,
                    "the two rows tie on this criterion; one must score strictly "
                    f"higher: {_DISAGREE_HINTS[criterion][want]}",
                )
            )
        else:
            misses.append((line, _DISAGREE_HINTS[criterion][want]))
    if misses:
        raise NotYet(*misses[0], *misses[1:])
    return True


# -- notebook 4: a criterion of your own --------------------------------------------------


def _scores_of(fn, probs, what) -> np.ndarray | tuple[str, str]:
    """The learner's criterion on ``probs``: a float array, or ``(what, hint)``."""
    try:
        with np.errstate(all="ignore"):
            raw = fn(probs.copy())
    except Exception as exc:
        return (
            f"on {what} your function raised {_raised(exc)}.",
            _exception_hint(exc, None),
        )
    if _is_placeholder(raw):
        return f"my_criterion returned {_shown(raw)}.", _NO_RETURN
    got = _numbers(raw, "its result")
    if isinstance(got, str):
        return f"on {what}, {got}.", "return one number per row."
    if got.shape == (len(probs), 1):
        got = got[:, 0]
    if got.shape != (len(probs),):
        return (
            f"on {what} (shape {probs.shape}) your function returned shape "
            f"{got.shape}, not one score per row.",
            _shape_hint(probs, got),
        )
    if not np.all(np.isfinite(got)):
        return (
            f"on {what} your scores contain NaN or inf.",
            "a log or a division meets a probability of 0: keep them away from 0 "
            "(np.log(p + 1e-12), or np.where(p > 0, p, 1.0) before ln avoids ln 0).",
        )
    return got


def _uniform_hint(got: np.ndarray, table: np.ndarray, k: int) -> str:
    """Why the uniform row (row 0 of ``table``) is not the highest score."""
    flipped = -got
    if (
        flipped[0] >= flipped.max() - TOLERANCE
        and flipped[1] <= flipped.min() + TOLERANCE
    ):
        return "higher must mean more uncertain: the sign is flipped."
    if len(np.unique(np.round(got, 9))) <= k + 1:
        return (
            f"your criterion counts or thresholds. With {k} classes every probability "
            f"of the uniform row is exactly 1/{k} = {1 / k:.4g}, so a strict `>` at "
            "that value leaves them all out. Use `>=`, or compare with the row's "
            "favourite (e.g. p >= p1 / 2), which works for any number of classes."
        )
    return (
        f"the uniform row (every class 1/{k}: the model knows nothing) must score "
        "at least as high as every other row."
    )


def check_new_criterion(fn) -> bool:
    """Check that ``fn`` (probabilities -> one score per row) is a usable criterion.

    A criterion of your own must behave like an uncertainty score: the uniform
    row (the model knows nothing) scores highest (ties allowed), a one-hot row (the
    model is sure) lowest, the order of the classes does not matter, and it does not
    give every row the same score. It is tried with 2, 5 and 10 classes. When every
    property holds, prints which of the three classic criteria ranks the rows most
    like yours and returns ``True``; otherwise raises :class:`NotYet` naming the
    first property that fails and a hint.
    """
    if _is_placeholder(fn):
        raise _unwritten("my_criterion", fn)
    if not callable(fn):
        raise TypeError(f"fn must be a function of probs, got {type(fn).__name__}")
    rng = np.random.default_rng(7)
    for k in (2, 5, 10):
        rows = rng.dirichlet(np.full(k, 0.7), size=200)
        table = np.vstack([np.full((1, k), 1 / k), np.eye(k)[:1], rows])
        got = _scores_of(fn, table, f"200 random rows over {k} classes")
        if isinstance(got, tuple):
            raise NotYet(*got)
        orders = (table[:, ::-1], table[:, rng.permutation(k)])
        shuffled = [_scores_of(fn, t, "shuffled classes") for t in orders]
        if any(
            isinstance(other, tuple) or not np.allclose(other, got, atol=1e-9)
            for other in shuffled
        ):
            raise NotYet(
                f"with {k} classes the scores change when the classes are listed in "
                "another order.",
                "use the sorted probabilities (np.sort(p, axis=1)) or the row's "
                "max, never a column by position.",
            )
        if np.ptp(got) < TOLERANCE:
            raise NotYet(
                f"with {k} classes every row gets the same score.",
                "a criterion must rank rows: sure rows low, unsure rows high.",
            )
        if got[0] < got.max() - TOLERANCE:
            worst = table[int(np.argmax(got))]
            raise NotYet(
                f"with {k} classes the uniform row scores {got[0]:.4g}, below "
                f"{np.round(worst, 3).tolist()} ({got.max():.4g}).",
                _uniform_hint(got, table, k),
            )
        if got[1] > got.min() + TOLERANCE:
            raise NotYet(
                f"with {k} classes a one-hot row (the model is sure) is not the "
                "least uncertain.",
                "a sure prediction must get the lowest score.",
            )
    ranks = got[2:].argsort().argsort()
    similar = {
        name: float(np.corrcoef(ranks, ref(rows).argsort().argsort())[0, 1])
        for name, ref in CRITERIA.items()
    }
    closest = max(similar, key=similar.get)
    print(
        "✓ a valid criterion: uniform rows highest, one-hot rows lowest, any class "
        "order.\n  Rank correlation with the classics (10 classes): "
        + ", ".join(f"{n} {c:.2f}" for n, c in similar.items())
        + (
            f"\n  It ranks exactly like {closest}: the same criterion in disguise."
            if similar[closest] > 1 - 1e-9
            else ""
        )
    )
    return True


# -- notebook 2: the split -----------------------------------------------------------------

_SLICE = re.compile(r"^train\[(-?\d*):(-?\d*)\]$")
_PARTS = ("train", "validation", "test", "pool")


#: A slice that is none of the answers (the notebook's own example).
_EXAMPLE = "'train[300:800]'"


def _slice_range(name: str, text, total: int) -> tuple[int, int]:
    """``(start, stop)`` of a TFDS slice string of ``train``; :class:`NotYet` if
    ``text`` is not one."""
    if not isinstance(text, str):
        raise NotYet(
            f"{name}: {text!r} is a {type(text).__name__}, not a slice string.",
            f"each part is a string, such as {_EXAMPLE} (images 300 to 799).",
        )
    compact = text.replace(" ", "")
    if "%" in compact:
        raise NotYet(
            f"{name}: {text!r} counts in percent.",
            f"count images, as {_EXAMPLE} does: the sizes here are not whole "
            f"percentages of the {total} images.",
        )
    if compact == "train":
        raise NotYet(
            f"{name}: {text!r} is the whole split.",
            "give the slice of this part only: 'train[start:stop]'.",
        )
    match = _SLICE.match(compact)
    if not match:
        if re.match(r"^\w+\[", compact):
            raise NotYet(
                f"{name}: {text!r} slices a split that tf_flowers does not have.",
                "tf_flowers has one split, 'train'; every part is a slice of it, "
                "'train[start:stop]'.",
            )
        raise NotYet(
            f"{name}: {text!r} is not a slice.",
            f"TFDS writes 'train[start:stop]', such as {_EXAMPLE}.",
        )
    a, b = match.groups()
    start = int(a) if a else 0
    stop = int(b) if b else total
    start = start + total if start < 0 else start
    stop = stop + total if stop < 0 else stop
    return min(max(start, 0), total), min(max(stop, 0), total)


def _size_hint(name: str, start: int, stop: int, want: int) -> str:
    """Why the slice ``train[start:stop]`` of part ``name`` does not hold ``want`` images."""
    if abs((stop - start) - want) == 1:
        return (
            "off by one: 'train[a:b]' stops before b, so it holds b - a images "
            "(from a to b - 1)."
        )
    if stop == want and start > 0:
        return (
            "the second number is where the slice stops, not how many images it "
            "holds: 'train[a:b]' holds b - a images."
        )
    if name == "pool":
        return "the pool takes every image the first three parts leave."
    return "'train[a:b]' holds b - a images."


def check_slices(slices, sizes: dict[str, int], total: int) -> bool:
    """Check TFDS slice strings for consecutive train/validation/test parts + pool.

    ``slices``: the learner's dict with exactly the keys ``"train"``,
    ``"validation"``, ``"test"`` and ``"pool"``, each a slice string of tf_flowers'
    one split, e.g. ``{"train": "train[:1000]", ...}`` (``"train[0:1000]"``,
    spaces and negative indices are fine); ``sizes``: the wanted sizes of the first
    three; ``total``: the number of examples in ``train``. All right: prints one
    ``✓`` line and returns ``True``; otherwise raises :class:`NotYet` naming the
    first part that is wrong and how. The hints name the mistake and never show a
    slice of the answer.
    """
    if not isinstance(sizes, dict) or set(sizes) != {"train", "validation", "test"}:
        raise ValueError(f"sizes must give train, validation and test, got {sizes!r}")
    total = checks.integer("total", total, 1)
    shape = (
        "a dict with the keys 'train', 'validation', 'test' and 'pool', each a "
        f"slice string such as {_EXAMPLE}"
    )
    if _is_placeholder(slices):
        raise _unwritten("the slices dict", slices, f"{_PLACEHOLDER} Write {shape}.")
    if not isinstance(slices, dict):
        raise NotYet(f"the slices are a {type(slices).__name__}.", f"write {shape}.")
    keys = set(slices)
    if keys != set(_PARTS):
        missing = [p for p in _PARTS if p not in keys]
        extra = sorted(map(str, keys - set(_PARTS)))
        said = (f"missing {missing}" if missing else "") + (
            ("; " if missing and extra else "")
            + (f"unexpected {extra}" if extra else "")
        )
        hint = f"give exactly these four keys: {', '.join(_PARTS)}."
        if any(k in keys for k in ("unlabelled", "unlabeled", "rest")):
            hint = "the unlabelled part is called 'pool'; " + hint
        raise NotYet(f"the keys: {said}.", hint)
    ranges = {name: _slice_range(name, slices[name], total) for name in _PARTS}
    wanted = dict(sizes, pool=total - sum(sizes.values()))
    for name in _PARTS:
        start, stop = ranges[name]
        if stop - start != wanted[name]:
            raise NotYet(
                f"{name}: {slices[name]} holds {max(stop - start, 0)} images, "
                f"not {wanted[name]}.",
                _size_hint(name, start, stop, wanted[name]),
            )
    position = 0
    for name in _PARTS:
        start, stop = ranges[name]
        if start != position:
            later = "overlaps" if start < position else "leaves a gap after"
            raise NotYet(
                f"{name} starts at {start}: it {later} the part before it.",
                "each part starts where the previous one stops; a test set that "
                "overlaps train would measure memory, not generalisation.",
            )
        position = stop
    print(
        "✓ four consecutive parts, no overlap, the right sizes "
        f"(the pool: {wanted['pool']} images)."
    )
    return True


def check_pool_size(answer, sizes: dict[str, int], total: int) -> bool:
    """Check the learner's number of pool images left by ``sizes`` out of ``total``.

    Right: prints one ``✓`` line and returns ``True``; otherwise raises
    :class:`NotYet` naming what the number is instead (the three parts together,
    the whole split, a part forgotten, the article's pool, a share).
    """
    if not isinstance(sizes, dict) or set(sizes) != {"train", "validation", "test"}:
        raise ValueError(f"sizes must give train, validation and test, got {sizes!r}")
    total = checks.integer("total", total, 1)
    taken = sum(sizes.values())
    want = total - taken
    value = _one_number(
        answer,
        "my_pool_size",
        "write the number of pool images, e.g. 1234.",
        "one number: the pool's size.",
    )
    if value == want:
        print(f"✓ the pool holds {want} images.")
        return True
    forgotten = [part for part, n in sizes.items() if value == want + n]
    if value == taken:
        hint = (
            "that is train, validation and test together: the images before the "
            "pool, not the pool itself."
        )
    elif value == total:
        hint = "that is the whole split: the other three parts come out of it too."
    elif forgotten:
        part = forgotten[0]
        hint = (
            f"that counts {part}'s {sizes[part]} images in the pool: they come out "
            "of the split too."
        )
    elif value == total - 2500:
        hint = (
            "that is the article's pool; with these sizes the parts before it end "
            "elsewhere."
        )
    elif 0 < value < 1:
        hint = "a number of images, not a share of the split."
    else:
        hint = (
            f"with a pool of {value:g}, the four parts would hold {taken + value:g} "
            f"images, not the {total} of the split."
        )
    raise NotYet(f"{answer!r} is not the size of the pool.", hint)


# -- notebook 4: the selection ----------------------------------------------------------------


def check_selection(
    selection,
    probs,
    budget: int,
    criterion: str = "least_confidence",
    *,
    mistakes: dict | None = None,
) -> bool:
    """Check the learner's selection against ``select(criterion(probs), budget)``.

    ``selection``: pool positions (rows of ``probs``) as a list, tuple, array or a
    boolean mask. The order does not matter; images whose score ties with the last
    one selected may be swapped. ``mistakes`` optionally maps a hint to a
    probability table that a typical slip would have used instead of ``probs``
    (e.g. the calibrated probabilities): a selection that matches it gets that hint.
    """
    checks.choice("criterion", criterion, list(CRITERIA))
    probs = check_probs(probs)
    budget = checks.integer("budget", budget, 0, len(probs))
    scores = CRITERIA[criterion](probs)
    if _is_placeholder(selection):
        raise _unwritten("your selection", selection)
    mine = _positions(selection, "your selection", len(probs))
    if isinstance(mine, str):
        raise NotYet(
            f"{mine}.",
            f"score every pool image with {criterion}, then keep the top `budget` positions.",
        )
    n_classes = probs.shape[1]
    if len(mine) and len(np.unique(mine)) < len(mine) and mine.max() < n_classes:
        raise NotYet(
            "your selection repeats a few small numbers: they look like class indices.",
            "argmax gives each image's predicted class; the selection is positions "
            "of images: np.argsort(-scores)[:budget] or select(scores, budget).",
        )
    if len(mine) != budget:
        raise NotYet(
            f"you selected {len(mine)} images for a budget of {budget}.",
            "keep exactly the budget: the first `budget` of the ranking.",
        )
    if len(mine) and (mine.min() < 0 or mine.max() >= len(probs)):
        raise NotYet(
            "your selection points outside the pool.",
            f"positions go from 0 to {len(probs) - 1}.",
        )
    if len(np.unique(mine)) != len(mine):
        raise NotYet(
            "your selection holds an image twice.",
            "each position once: the first `budget` of one ranking.",
        )
    want = select(scores, budget)
    if set(mine.tolist()) == set(want.tolist()) or np.array_equal(
        np.sort(scores[mine]), np.sort(scores[want])
    ):
        print(f"✓ the same {budget} images as alwidgets' select({criterion}).")
        return True
    if np.array_equal(
        np.sort(scores[mine]),
        np.sort(scores[np.argsort(scores, kind="stable")[:budget]]),
    ):
        raise NotYet(
            "you selected the images the model is MOST sure about.",
            "higher scores mean more uncertain: sort in decreasing order "
            "(np.argsort(-scores)).",
        )
    for hint, other in (mistakes or {}).items():
        other_scores = CRITERIA[criterion](check_probs(other))
        theirs = select(other_scores, budget)
        if np.array_equal(np.sort(other_scores[mine]), np.sort(other_scores[theirs])):
            raise NotYet("your selection comes from other probabilities.", hint)
    for other, fn in CRITERIA.items():
        if other != criterion:
            other_scores = fn(probs)
            if np.array_equal(
                np.sort(other_scores[mine]),
                np.sort(other_scores[select(other_scores, budget)]),
            ):
                raise NotYet(
                    f"that is the selection of {other}, not {criterion}.",
                    f"score with {criterion}: {_FORMULAS[criterion]}.",
                )
    raise NotYet(
        f"{len(set(mine.tolist()) - set(want.tolist()))} of your {budget} images "
        f"are not among the {budget} most uncertain.",
        f"score every pool image with {criterion}, then keep the top `budget`.",
    )


# -- notebook 3: temperature and the two stages --------------------------------------------------


def check_sharpened(probs, head, x, temperature: float = 0.3) -> bool:
    """Check ``probs``: the softmax of ``head.logits(x) / temperature``.

    Accepts a list or array of shape ``(len(x), n_classes)``, e.g. from
    ``scipy.special.softmax`` or a hand-written softmax with or without the
    row maximum subtracted (as long as it does not overflow).
    """
    if not hasattr(head, "logits"):
        raise TypeError(f"head must be a fitted head, got {type(head).__name__}")
    temperature = checks.number("temperature", temperature, 0, np.inf)
    z = np.asarray(head.logits(x), dtype=np.float64)

    def softmax(v, axis=1):
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    want = softmax(z / temperature)
    if _is_placeholder(probs):
        raise _unwritten("sharp", probs)
    got = _numbers(probs, "sharp")
    if isinstance(got, str):
        raise NotYet(f"{got}.", "compute the softmax of head.logits(x_test) / T.")
    if got.shape != want.shape:
        raise NotYet(
            f"sharp has shape {got.shape}, expected {want.shape}.",
            "one row of class probabilities per test image: softmax over axis=1.",
        )
    if np.allclose(got, want, rtol=0, atol=1e-6):
        print("✓ the over-confident head's probabilities.")
        return True
    hints = [
        (np.isnan(got).any() or np.isinf(got).any(),
         "NaN or inf: np.exp overflowed. Subtract each row's maximum before np.exp "
         "(it does not change the softmax)."),
        (np.allclose(got, softmax(z * temperature), atol=1e-6),
         f"you multiplied by T; divide the logits by T = {temperature}."),
        (np.allclose(got, softmax(z), atol=1e-6),
         f"that is T = 1: divide the logits by T = {temperature} before the softmax."),
        (np.allclose(got, softmax(z / temperature, axis=0), atol=1e-6),
         "the softmax runs over each row (axis=1, the classes), not axis=0."),
        (hasattr(head, "predict_proba")
         and np.allclose(got, np.asarray(head.predict_proba(x)), atol=1e-6),
         "those are the calibrated probabilities; start from head.logits(x_test)."),
        (not np.allclose(got.sum(axis=1), 1, atol=1e-6),
         "each row must sum to 1: divide exp(z / T) by its row sum, after dividing "
         "the logits (not the probabilities) by T."),
    ]  # fmt: skip
    for found, hint in hints:
        if found:
            raise NotYet("sharp is not the softmax of the logits divided by T.", hint)
    raise NotYet(
        "sharp is not the softmax of the logits divided by T.",
        "exp(z / T) / sum(exp(z / T)) over each row, z = head.logits(x_test).",
    )


def check_two_stage(mine, theirs, n_backbone_weights: int | None = None) -> bool:
    """Check that the learner's two-stage model ends at ``theirs``'s weights.

    Both are Keras models (anything with ``get_weights()``) trained from the same
    seed; ``theirs`` by ``backbones.train_two_stage``. On a miss, says whether the
    backbone or the head differs, and the numbers the recipe needs.
    """
    if not hasattr(theirs, "get_weights"):
        raise TypeError(f"theirs must be a Keras model, got {type(theirs).__name__}")
    if _is_placeholder(mine):
        raise _unwritten("your model", mine)
    if not hasattr(mine, "get_weights"):
        raise NotYet(
            f"your model is a {type(mine).__name__}.",
            "pass the Keras model your stage_1 and stage_2 trained.",
        )
    a, b = mine.get_weights(), theirs.get_weights()
    if len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b)
    ):
        print("✓ your two stages end at the same weights as train_two_stage.")
        return True
    recipe = (
        "stage 1: backbone.trainable = False, compile with Adam(1e-3), fit 3 epochs; "
        "stage 2: backbone.trainable = True, compile again with Adam(1e-5), fit 2 "
        "epochs — the loss 'sparse_categorical_crossentropy' both times."
    )
    if len(a) != len(b):
        raise NotYet("your model has other layers.", "start from fresh_run().")
    n = len(a) if n_backbone_weights is None else n_backbone_weights
    backbone_same = all(np.array_equal(x, y) for x, y in zip(a[:n], b[:n]))
    where = "the head" if backbone_same and n < len(a) else "the weights"
    raise NotYet(f"{where} differ from train_two_stage's.", recipe)


# -- notebook 5: retrain, and a budget too large -------------------------------------------------


def check_retrain(
    head, features, pool_indices, pool_labels, n_classes: int, trainer=None
) -> bool:
    """Check the learner's retrained head against ``one_round.retrain``.

    Both heads must give the same test probabilities (to 0.005): trained on the
    training split plus the newly labelled pool images, with the same trainer (the
    order of the rows does not matter). The same: prints one ``✓`` line and returns
    ``True``; otherwise raises :class:`NotYet` naming the slip it recognises.
    """
    from .heads import HeadTrainer
    from .one_round import retrain

    if _is_placeholder(head):
        raise _unwritten("my_head", head)
    if not hasattr(head, "predict_proba"):
        raise NotYet(
            f"my_head is a {type(head).__name__}, not a fitted head.",
            "my_head is what heads.HeadTrainer().fit(x, y, n_classes, validation) "
            "returns.",
        )
    want = retrain(features, pool_indices, pool_labels, n_classes, trainer)
    x_test = features["test"][0]
    try:
        got = np.asarray(head.predict_proba(x_test), dtype=np.float64)
    except Exception as exc:
        raise NotYet(
            f"my_head.predict_proba raised {type(exc).__name__}: {exc}",
            "fit the head on features of the same width as the test features.",
        ) from None
    shape = (len(x_test), n_classes)
    if got.shape != shape:
        raise NotYet(
            f"my_head gives test probabilities of shape {got.shape}, expected {shape}.",
            f"fit it with n_classes = {n_classes}, on the features (not the images), "
            "so that it gives one probability per class for each test image.",
        )

    def same(other) -> bool:
        # Row order changes the optimiser's path, not its optimum: the same data in
        # another order lands within 0.003 of it; every slip below is 0.02 or more away.
        return bool(np.allclose(got, other.predict_proba(x_test), rtol=0, atol=5e-3))

    if same(want):
        print("✓ your head is one_round.retrain's: the same test probabilities.")
        return True
    trainer = trainer or HeadTrainer()
    x_train, y_train = features["train"]
    x_pool, y_pool = features["pool"]
    idx = np.asarray(pool_indices, dtype=np.int64)
    variants = [
        (
            lambda: trainer.fit(x_train, y_train, n_classes, features["validation"]),
            "your head learned from the training split only.",
            "append the new images' features and labels to the training arrays "
            "(np.concatenate) before fitting.",
        ),
        (
            lambda: trainer.fit(
                np.concatenate([x_train, x_pool[idx]]),
                np.concatenate([y_train, np.asarray(pool_labels)]),
                n_classes,
            ),
            "your head was fitted without the validation split.",
            "pass features['validation'] as the fourth argument of fit: it chooses "
            "the L2 strength and the temperature.",
        ),
        (
            lambda: trainer.fit(
                x_pool[idx], np.asarray(pool_labels), n_classes, features["validation"]
            ),
            "your head learned from the new images only.",
            "stack the training split AND the new images (np.concatenate).",
        ),
    ]
    for fit, what, hint in variants:
        try:
            matches = same(fit())
        except Exception:  # a variant that cannot be fitted is not the learner's
            continue
        if matches:
            raise NotYet(what, hint)
    raise NotYet(
        "your head's test probabilities differ from one_round.retrain's.",
        "train split + the new pool images (features and labels in the same order), "
        "the same trainer, the validation split passed as `validation`.",
    )


def check_min_overlap(answer, pool_size: int, budget: int) -> bool:
    """Check the learner's answer: the fewest images two selections of ``budget``
    from a pool of ``pool_size`` must share. Right: prints one ``✓`` line and
    returns ``True``; otherwise raises :class:`NotYet` naming what the number is
    instead."""
    pool_size = checks.integer("pool_size", pool_size, 1)
    budget = checks.integer("budget", budget, 0, pool_size)
    want = max(0, 2 * budget - pool_size)
    value = _one_number(
        answer,
        "my_min_overlap",
        "write a formula in big and len(x_pool).",
        "one number: the fewest images the two selections must share.",
    )
    if value == want:
        print(f"✓ at least {want} images in common, whatever the two strategies do.")
        return True
    hints = {
        pool_size - budget: "that is how many images each selection leaves out.",
        budget: "that is one selection's size; two selections may differ in part.",
        2 * budget: (
            f"that is the two selections' sizes added up, {2 * budget}"
            + (
                f"; the pool holds only {pool_size} images."
                if 2 * budget > pool_size
                else f": in a pool of {pool_size} they can be kept apart."
            )
        ),
        budget / pool_size: "a number of images, not a share of the pool.",
        -want: "the sign is flipped: an overlap counts images, never below 0.",
    }
    if value in hints:
        hint = hints[value]
    elif value < 0:
        hint = "an overlap counts images: it is never below 0."
    elif value < want:
        hint = (
            f"with only {value:g} in common, the two selections together would "
            f"cover {2 * budget - value:g} different images, more than the "
            f"{pool_size} in the pool."
        )
    elif value > budget:
        hint = f"two selections of {budget} images cannot share more than {budget}."
    else:
        hint = (
            f"two selections can share fewer than {value:g}: place them as far "
            "apart as the pool allows and count what they must still share."
        )
    raise NotYet(f"{answer!r} is not the smallest possible overlap.", hint)


# -- notebook 6: the loop ----------------------------------------------------------------------


def _accuracy_list(values, what: str) -> np.ndarray | str:
    arr = _numbers(values, what)
    if isinstance(arr, str):
        return arr
    arr = arr.reshape(-1)
    if len(arr) and not np.all(np.isfinite(arr)):
        return f"{what} holds NaN or inf"
    return arr


def _variant_loop(features, strategy, rounds, batch, trainer, n_classes, slip):
    """The loop with one typical slip, to recognise it in a learner's numbers."""
    from .heads import HeadTrainer

    trainer = trainer or HeadTrainer()
    x_train, y_train = features["train"]
    x_pool, y_pool = features["pool"]
    x_test, y_test = features["test"]
    fn = CRITERIA[strategy]
    picked = np.empty(0, dtype=np.int64)
    accs = []
    for r in range(rounds + 1):
        use = picked[-batch:] if slip == "batch only" and len(picked) else picked
        x = np.concatenate([x_train, x_pool[use]])
        y = np.concatenate([y_train, y_pool[use]])
        head = trainer.fit(x, y, n_classes, features["validation"])
        accs.append(float((head.predict_proba(x_test).argmax(1) == y_test).mean()))
        if r == rounds:
            break
        remaining = np.setdiff1d(np.arange(len(x_pool)), picked)
        if slip == "whole pool":
            new = select(fn(head.predict_proba(x_pool)), batch)
        elif slip == "unmapped":
            new = select(fn(head.predict_proba(x_pool[remaining])), batch)
        elif slip == "most sure":
            new = remaining[select(-fn(head.predict_proba(x_pool[remaining])), batch)]
        else:
            new = remaining[select(fn(head.predict_proba(x_pool[remaining])), batch)]
        picked = np.concatenate([picked, new])
    return np.array(accs)


_LOOP_SLIPS = {
    "whole pool": "each round scores the whole pool again and re-picks images already "
    "labelled: score only `remaining`, the images not yet picked.",
    "unmapped": "select(...) gives positions in `remaining`, not in the pool: "
    "index remaining with them (remaining[select(scores, batch)]).",
    "most sure": "you picked the images the model is MOST sure about: higher scores "
    "mean more uncertain (select keeps the highest).",
    "batch only": "each round trains on the training split plus ALL images picked so "
    "far, not only the latest batch.",
}


def check_loop(
    accuracies,
    features,
    rounds: int,
    batch: int,
    trainer=None,
    *,
    n_classes: int,
    strategy: str = "least_confidence",
) -> bool:
    """Check the learner's multi-round loop against ``many_rounds.simulate``.

    ``accuracies``: the test accuracy after each round's training, round 0 (before
    any pool label) included: ``rounds + 1`` fractions between 0 and 1 (a list,
    tuple or array), starting from the whole training split. The same as the
    library's: prints one ``✓`` line and returns ``True``; otherwise raises
    :class:`NotYet` naming the first round that differs and the slip behind it.
    """
    from .many_rounds import simulate

    rows = simulate(
        features, strategy, rounds, batch, trainer=trainer, n_classes=n_classes
    )
    want = np.array([r["test_accuracy"] for r in rows])
    if _is_placeholder(accuracies):
        raise NotYet(f"your loop returned {_shown(accuracies)}.", _NO_RETURN)
    got = _accuracy_list(accuracies, "your accuracies")
    if isinstance(got, str):
        raise NotYet(f"{got}.", "return the list of test accuracies, one per round.")
    if len(got) == 0:
        raise NotYet(
            "your loop returned no accuracies.",
            "the loop's body is still `...`: append each round's test accuracy.",
        )
    if (
        len(got) <= len(want)
        and np.all(got > 1)
        and np.allclose(got / 100, want[: len(got)], atol=ACCURACY_TOLERANCE)
    ):
        raise NotYet(
            "your accuracies are in percent.",
            "give fractions between 0 and 1 (drop the * 100).",
        )
    if len(got) == rounds and np.allclose(
        got, want[:-1], rtol=0, atol=ACCURACY_TOLERANCE
    ):
        raise NotYet(
            f"{rounds} accuracies: the last round's is missing.",
            "after the last selection, retrain once more and measure.",
        )
    if len(got) == rounds and np.allclose(
        got, want[1:], rtol=0, atol=ACCURACY_TOLERANCE
    ):
        raise NotYet(
            f"{rounds} accuracies: round 0's is missing.",
            "measure once before any pool label (round 0), then after each round.",
        )
    if len(got) != rounds + 1:
        raise NotYet(
            f"{len(got)} accuracies for {rounds} rounds.",
            "measure once before any pool label (round 0), then after each round: "
            "rounds + 1 numbers.",
        )
    wrong = np.flatnonzero(~np.isclose(got, want, rtol=0, atol=ACCURACY_TOLERANCE))
    if not len(wrong):
        print(f"✓ the same {rounds + 1} test accuracies as many_rounds.simulate.")
        return True
    r = int(wrong[0])
    if r == 0:
        raise NotYet(
            f"round 0: yours {got[0]:.4f}, {strategy} loop {want[0]:.4f}.",
            "round 0 trains on the training split alone (with the validation split "
            "passed to trainer.fit), measured on the test split.",
        )
    for slip, hint in _LOOP_SLIPS.items():
        try:
            theirs = _variant_loop(
                features, strategy, rounds, batch, trainer, n_classes, slip
            )
        except Exception:
            continue
        if np.allclose(got, theirs, rtol=0, atol=ACCURACY_TOLERANCE):
            raise NotYet(
                f"round {r}: yours {got[r]:.4f}, {strategy} loop {want[r]:.4f}.", hint
            )
    raise NotYet(
        f"round {r}: yours {got[r]:.4f}, {strategy} loop {want[r]:.4f}.",
        "each round selects from the images not yet picked (the remaining pool), "
        "adds their oracle labels to everything picked before, and retrains from "
        "the training split + all picked images.",
    )


def check_finals(
    finals,
    features,
    budget: int,
    trainer=None,
    *,
    n_classes: int,
    rounds=(1, 2, 5, 10),
    strategy: str = "least_confidence",
) -> bool:
    """Check ``finals``: the final test accuracy when ``budget`` labels are spent in
    ``n`` rounds of ``budget // n``, for each ``n`` in ``rounds``.

    ``finals`` is a dict ``{n: accuracy}`` (keys may be ints or their strings), or a
    list, tuple or array in the order of ``rounds``; accuracies are fractions. All
    right: prints one ``✓`` line and returns ``True``; otherwise raises
    :class:`NotYet` naming the first number of rounds that differs and why.
    """
    from .many_rounds import simulate

    budget = checks.integer("budget", budget, 1)
    rounds = [checks.integer("rounds", n, 1) for n in rounds]
    shape = "a dict {n_rounds: final accuracy} for n_rounds in " + str(tuple(rounds))
    if _is_placeholder(finals):
        raise _unwritten("my_finals", finals, f"{_PLACEHOLDER} Write {shape}.")
    if isinstance(finals, dict):
        try:
            mine = {int(k): v for k, v in finals.items()}
        except (TypeError, ValueError):
            raise NotYet(f"the keys are {list(finals)}.", f"write {shape}.") from None
        if set(mine) != set(rounds):
            raise NotYet(f"the keys are {sorted(mine)}.", f"write {shape}.")
    elif isinstance(finals, (list, tuple, np.ndarray)):
        if len(finals) != len(rounds):
            raise NotYet(
                f"my_finals has {len(finals)} value{'s' * (len(finals) != 1)} for "
                f"{len(rounds)} numbers of rounds {tuple(rounds)}.",
                f"one final accuracy per number of rounds; clearer still, {shape}.",
            )
        mine = dict(zip(rounds, finals))
    else:
        raise NotYet(f"my_finals is a {type(finals).__name__}.", f"write {shape}.")
    runs = {
        n: [
            r["test_accuracy"]
            for r in simulate(
                features, strategy, n, budget // n, trainer=trainer, n_classes=n_classes
            )
        ]
        for n in rounds
    }
    for n in rounds:
        value = _accuracy_list(mine[n], f"the value for {n} rounds")
        if isinstance(value, str):
            raise NotYet(f"{value}.", "one accuracy per number of rounds.")
        want = runs[n]
        if len(value) == len(want) and np.allclose(
            value, want, atol=ACCURACY_TOLERANCE
        ):
            raise NotYet(
                f"the value for {n} rounds is the whole list of accuracies.",
                "keep only the final one: my_loop(...)[-1].",
            )
        if value.size != 1:
            raise NotYet(
                f"the value for {n} rounds has {value.size} numbers.",
                "one accuracy: the last round's, my_loop(...)[-1].",
            )
        v = float(value[0])
        if abs(v - want[-1]) <= ACCURACY_TOLERANCE:
            continue
        if abs(v / 100 - want[-1]) <= ACCURACY_TOLERANCE:
            hint = "give fractions between 0 and 1, not percent."
        elif abs(v - want[0]) <= ACCURACY_TOLERANCE and want[0] != want[-1]:
            hint = "that is round 0 (before any pool label); the final is [-1]."
        else:
            hint = (
                f"spend the budget in {n} rounds of budget // {n} = {budget // n} "
                f"labels: my_loop(features, {n}, budget // {n})[-1]."
            )
        raise NotYet(f"{n} rounds: yours {v:.4f}, the library's {want[-1]:.4f}.", hint)
    print(
        "✓ the same final accuracies as many_rounds.simulate: "
        + ", ".join(f"{n} rounds {runs[n][-1]:.1%}" for n in rounds)
        + "."
    )
    return True


# -- notebook 7: the session's queue --------------------------------------------------------------


def check_queue(queue, session, x_pool) -> bool:
    """Check ``queue``: the session's unlabelled pool items, most uncertain first.

    ``session`` is an :class:`alwidgets.session.ActiveLearningSession` (anything
    with ``head``, ``criterion``, ``labelled()`` and ``queue``); ``x_pool`` its
    pool features. A list, tuple or array is accepted, and items whose scores tie
    may come in any order.
    """
    labelled, _ = session.labelled()
    labelled = np.asarray(labelled, dtype=np.int64)
    n = len(x_pool)
    reference = np.asarray(session.queue, dtype=np.int64)
    scores = CRITERIA[session.criterion](session.head.predict_proba(x_pool))
    if _is_placeholder(queue):
        raise _unwritten("my_queue", queue)
    mine = _positions(queue, "my_queue", n)
    if isinstance(mine, str):
        raise NotYet(f"{mine}.", "a list of pool item numbers, most uncertain first.")
    unlabelled = np.setdiff1d(np.arange(n), labelled)
    if (
        len(mine) == len(unlabelled)
        and set(mine.tolist()) == set(range(len(unlabelled)))
        and not np.array_equal(np.sort(unlabelled), np.arange(len(unlabelled)))
    ):
        raise NotYet(
            "my_queue holds positions in `unlabelled`, not pool items.",
            "map them back: unlabelled[select(scores[unlabelled], len(unlabelled))].",
        )
    if np.isin(mine, labelled).any():
        k = int(np.isin(mine, labelled).sum())
        raise NotYet(
            f"my_queue holds {k} item(s) already labelled.",
            "keep only the unlabelled items: np.setdiff1d(np.arange(len(x_pool)), "
            "session.labelled()[0]).",
        )
    if len(mine) != len(reference) or set(mine.tolist()) != set(reference.tolist()):
        raise NotYet(
            f"my_queue has {len(mine)} items; the session's queue has "
            f"{len(reference)} (every unlabelled pool item once).",
            "rank ALL unlabelled items: select(scores[unlabelled], len(unlabelled)).",
        )
    if np.array_equal(scores[mine], scores[reference]):
        print(
            f"✓ your queue is the session's: {len(mine)} images, item "
            f"{int(mine[0])} first."
        )
        return True
    if np.array_equal(scores[mine][::-1], scores[reference]):
        raise NotYet(
            "my_queue runs from the least uncertain to the most.",
            "most uncertain first: select keeps the highest scores first.",
        )
    for other, fn in CRITERIA.items():
        if other != session.criterion:
            alt = fn(session.head.predict_proba(x_pool))
            if np.array_equal(alt[mine], np.sort(alt[mine])[::-1]):
                raise NotYet(
                    f"my_queue is ranked by {other}.",
                    f"the session ranks by session.criterion = {session.criterion!r}: "
                    "CRITERIA[session.criterion](probs).",
                )
    raise NotYet(
        "my_queue holds the right items in another order.",
        "score the whole pool with session.head.predict_proba(x_pool) and "
        "CRITERIA[session.criterion], then order the unlabelled items with "
        "select(scores[unlabelled], len(unlabelled)).",
    )
