"""Self-checking exercises: run the learner's answer on hidden cases, explain a miss.

Each check prints one short verdict and returns ``True`` or ``False``. When the
answer is wrong, or raises, the learner gets the case it failed on and a hint,
never a traceback. Asking for a check that does not exist, or passing something
that is not an answer (not a function, not a probability row), raises
``TypeError``/``ValueError`` naming the argument, like the rest of ``alwidgets``.

No TensorFlow is imported here.
"""

from __future__ import annotations

import numpy as np

from . import checks
from .criteria import CRITERIA, check_probs

__all__ = ["check_criterion", "check_disagreement", "hidden_cases"]

#: How close the learner's scores must be to ``alwidgets.criteria``'s.
TOLERANCE = 1e-6

_FORMULAS = {
    "least_confidence": "1 - p1, with p1 = p.max(axis=1)",
    "smallest_margin": "1 - (p1 - p2), p1 and p2 the two largest of each row",
    "entropy": "-(p * ln p).sum(axis=1), counting 0 * ln 0 as 0",
}


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
                    [0.35, 0.35, 0.2, 0.1, 0.0],
                    [0.6, 0.2, 0.1, 0.1, 0.0],
                    [0.1, 0.4, 0.4, 0.1, 0.0],
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


def _hint(name: str, probs: np.ndarray, got: np.ndarray, want: np.ndarray) -> str:
    """The most likely mistake behind ``got`` (same shape as ``want``)."""
    if np.isnan(got).any():
        if name == "entropy":
            return (
                "NaN appears where a probability is 0: 0 * ln 0 must count as 0 "
                "(take the log of np.where(p > 0, p, 1.0))."
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
    for other, fn in CRITERIA.items():
        if other != name and _close(got, fn(probs)):
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
    return f"the formula is {_FORMULAS[name]}."


def check_criterion(name: str, fn) -> bool:
    """Check the learner's criterion ``fn`` against ``alwidgets.criteria.<name>``.

    ``fn`` takes an ``(n_samples, n_classes)`` array of probabilities and returns
    one score per row. It runs on :func:`hidden_cases` (ties, one-hot rows,
    uniform rows, 2 to 10 classes); prints a one-line verdict, with the case and
    a hint on a miss, and returns whether every case matched.
    """
    checks.choice("name", name, list(CRITERIA))
    if not callable(fn):
        raise TypeError(f"fn must be a function of probs, got {type(fn).__name__}")
    reference = CRITERIA[name]
    cases = hidden_cases()
    for what, probs in cases:
        want = reference(probs)
        try:
            got = np.asarray(fn(probs.copy()), dtype=np.float64)
        except Exception as exc:  # the learner's bug: report it, don't dump it
            print(
                f"✗ {name}: your function raised {type(exc).__name__} on "
                f"{what}: {exc}\n  Hint: work on the whole table at once; "
                f"the formula is {_FORMULAS[name]}."
            )
            return False
        if got.shape != want.shape:
            print(
                f"✗ {name}: on {what} (shape {probs.shape}) your function returned "
                f"shape {got.shape}, expected {want.shape}.\n  Hint: one score "
                "per row: reduce over the classes, axis=1."
            )
            return False
        if not _close(got, want):
            row = int(np.argmax(~np.isclose(got, want, rtol=0, atol=TOLERANCE)))
            print(
                f"✗ {name}: wrong on {what}: row {np.round(probs[row], 3).tolist()} "
                f"should score {want[row]:.4f}, yours scores {got[row]:.4f}.\n"
                f"  Hint: {_hint(name, probs, got, want)}"
            )
            return False
    print(f"✓ {name}: right on all {len(cases)} hidden cases.")
    return True


def check_disagreement(
    first,
    second,
    first_criterion: str = "smallest_margin",
    second_criterion: str = "entropy",
) -> bool:
    """Check that ``first_criterion`` prefers row ``first``, ``second_criterion`` row ``second``.

    "Prefers" means a strictly higher uncertainty score. Prints the scores and a
    hint when a criterion prefers the wrong row; returns whether both hold.
    """
    checks.choice("first_criterion", first_criterion, list(CRITERIA))
    checks.choice("second_criterion", second_criterion, list(CRITERIA))
    if first_criterion == second_criterion:
        raise ValueError(
            f"first_criterion and second_criterion are both {first_criterion!r}: "
            "one criterion cannot prefer both rows"
        )
    rows = []
    for label, row in (("first", first), ("second", second)):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise TypeError(
                f"{label} must be a row of probabilities (a list or 1-D array), "
                f"got {type(row).__name__}"
            )
        if np.ndim(row) != 1:
            raise ValueError(
                f"{label} must be one row of probabilities, got shape {np.shape(row)}"
            )
        rows.append(row)
    if len(rows[0]) != len(rows[1]):
        raise ValueError(
            f"first has {len(rows[0])} classes and second {len(rows[1])}: "
            "give both rows over the same classes"
        )
    try:
        pair = check_probs(rows)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"first (row 0) and second (row 1): {exc}") from None
    ok = True
    for criterion, want, other in (
        (first_criterion, 0, 1),
        (second_criterion, 1, 0),
    ):
        scores = CRITERIA[criterion](pair)
        verdict = "✓" if scores[want] > scores[other] else "✗"
        print(
            f"{verdict} {criterion}: first {scores[0]:.3f}, second {scores[1]:.3f}"
            f" (should prefer the {('first', 'second')[want]})"
        )
        if verdict == "✗":
            ok = False
            print(f"  Hint: {_DISAGREE_HINTS[criterion][want]}")
    return ok


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
