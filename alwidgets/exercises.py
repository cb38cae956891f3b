"""Self-checking exercises: run the learner's answer on hidden cases, explain a miss.

Each check prints one short verdict and returns ``True`` or ``False``. When the
answer is wrong, or raises, the learner gets the case it failed on and a hint,
never a traceback. Asking for a check that does not exist, or passing something
that is not an answer (not a function, not a probability row), raises
``TypeError``/``ValueError`` naming the argument, like the rest of ``alwidgets``.

No TensorFlow is imported here.
"""

from __future__ import annotations

import re

import numpy as np

from . import checks
from .criteria import CRITERIA, check_probs, select

__all__ = [
    "check_criterion",
    "check_disagreement",
    "check_new_criterion",
    "check_slices",
    "check_selection",
    "check_retrain",
    "check_min_overlap",
    "check_loop",
    "hidden_cases",
]

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


def _fail(what: str, hint: str) -> bool:
    print(f"✗ {what}\n  Hint: {hint}")
    return False


def _scores_of(fn, probs, what):
    """The learner's criterion on ``probs``: a float array, or the error it raised."""
    try:
        got = np.asarray(fn(probs.copy()), dtype=np.float64)
    except Exception as exc:
        return f"your function raised {type(exc).__name__} on {what}: {exc}"
    if got.shape != (len(probs),):
        return (
            f"on {what} (shape {probs.shape}) your function returned shape "
            f"{got.shape}: one score per row, reduce over the classes (axis=1)"
        )
    if not np.all(np.isfinite(got)):
        return f"on {what} your scores contain NaN or inf"
    return got


def check_new_criterion(fn) -> bool:
    """Check that ``fn`` (probabilities -> one score per row) is a usable criterion.

    A criterion of your own must behave like an uncertainty score: the uniform
    row (the model knows nothing) scores highest, a one-hot row (the model is
    sure) lowest, the order of the classes does not matter, and it does not give
    every row the same score. Prints which of the three classic criteria ranks the
    rows most like yours; returns whether every property holds.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of probs, got {type(fn).__name__}")
    rng = np.random.default_rng(7)
    for k in (2, 5, 10):
        rows = rng.dirichlet(np.full(k, 0.7), size=200)
        table = np.vstack([np.full((1, k), 1 / k), np.eye(k)[:1], rows])
        got = _scores_of(fn, table, f"200 random rows over {k} classes")
        if isinstance(got, str):
            return _fail("your criterion cannot score a table.", got)
        if np.ptp(got) < TOLERANCE:
            return _fail(
                f"with {k} classes every row gets the same score.",
                "a criterion must rank rows: sure rows low, unsure rows high.",
            )
        if got[0] < got.max() - TOLERANCE:
            worst = table[int(np.argmax(got))]
            return _fail(
                f"with {k} classes the uniform row is not the most uncertain: "
                f"{np.round(worst, 3).tolist()} scores higher.",
                "higher must mean more uncertain; is the sign flipped?",
            )
        if got[1] > got.min() + TOLERANCE:
            return _fail(
                f"with {k} classes a one-hot row (the model is sure) is not the "
                "least uncertain.",
                "a sure prediction must get the lowest score.",
            )
        shuffled = _scores_of(fn, table[:, rng.permutation(k)], "shuffled classes")
        if isinstance(shuffled, str) or not np.allclose(shuffled, got, atol=1e-9):
            return _fail(
                "the scores change when the classes are listed in another order.",
                "use the sorted probabilities (np.sort(p, axis=1)), never a "
                "column by position.",
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


_SLICE = re.compile(r"^train\[(\d*):(\d*)\]$")


def check_slices(slices, sizes: dict[str, int], total: int) -> bool:
    """Check TFDS slice strings for consecutive train/validation/test parts + pool.

    ``slices``: the learner's dict, e.g. ``{"train": "train[:1000]", ...}`` with the
    keys ``train``, ``validation``, ``test`` and ``pool``; ``sizes``: the wanted
    sizes of the first three; ``total``: the number of examples in ``train``.
    """
    if not isinstance(slices, dict):
        raise TypeError(f"slices must be a dict of split -> string, got {slices!r}")
    if not isinstance(sizes, dict) or set(sizes) != {"train", "validation", "test"}:
        raise ValueError(f"sizes must give train, validation and test, got {sizes!r}")
    total = checks.integer("total", total, 1)
    parts = ("train", "validation", "test", "pool")
    if set(slices) != set(parts):
        return _fail(
            f"the keys are {sorted(slices)}.",
            f"give exactly these four: {', '.join(parts)}.",
        )
    ranges = {}
    for name in parts:
        match = _SLICE.match(str(slices[name]).replace(" ", ""))
        if not match:
            return _fail(
                f"{name}: {slices[name]!r} is not a slice of tf_flowers' split.",
                "TFDS writes slices as 'train[start:stop]' (either may be empty).",
            )
        a, b = match.groups()
        start, stop = int(a or 0), min(int(b) if b else total, total)
        ranges[name] = (start, stop)
    wanted = dict(sizes, pool=total - sum(sizes.values()))
    for name in parts:
        start, stop = ranges[name]
        if stop - start != wanted[name]:
            return _fail(
                f"{name}: {slices[name]} holds {max(stop - start, 0)} images, "
                f"not {wanted[name]}.",
                "a slice [a:b] holds b - a images; the pool is everything left.",
            )
    position = 0
    for name in parts:
        start, stop = ranges[name]
        if start != position:
            later = "overlaps" if start < position else "leaves a gap after"
            return _fail(
                f"{name} starts at {start}: it {later} the part before it.",
                "each part starts where the previous one stops; a test set that "
                "overlaps train would measure memory, not generalisation.",
            )
        position = stop
    print("✓ four consecutive parts, no overlap, the right sizes.")
    return True


def check_selection(
    selection, probs, budget: int, criterion: str = "least_confidence"
) -> bool:
    """Check the learner's selection against ``select(criterion(probs), budget)``.

    ``selection``: pool positions (rows of ``probs``). The order does not matter;
    images whose score ties with the last one selected may be swapped.
    """
    checks.choice("criterion", criterion, list(CRITERIA))
    probs = check_probs(probs)
    budget = checks.integer("budget", budget, 0, len(probs))
    scores = CRITERIA[criterion](probs)
    mine = np.asarray(selection).reshape(-1)
    if mine.dtype.kind not in "iu":
        return _fail(
            f"your selection holds {mine.dtype} values, not positions in the pool.",
            "select positions (np.argsort gives them), not the scores themselves.",
        )
    if len(mine) != budget:
        return _fail(
            f"you selected {len(mine)} images for a budget of {budget}.",
            "keep exactly the budget: the first `budget` of the ranking.",
        )
    if len(np.unique(mine)) != len(mine) or mine.min() < 0 or mine.max() >= len(probs):
        return _fail(
            "your selection repeats an image or points outside the pool.",
            f"positions go from 0 to {len(probs) - 1}, each once.",
        )
    want = select(scores, budget)
    if set(mine.tolist()) == set(want.tolist()) or np.array_equal(
        np.sort(scores[mine]), np.sort(scores[want])
    ):
        print(f"✓ the same {budget} images as alwidgets' select({criterion}).")
        return True
    if set(mine.tolist()) == set(np.argsort(scores, kind="stable")[:budget].tolist()):
        return _fail(
            "you selected the images the model is MOST sure about.",
            "higher scores mean more uncertain: sort in decreasing order "
            "(np.argsort(-scores)).",
        )
    return _fail(
        f"{len(set(mine.tolist()) - set(want.tolist()))} of your {budget} images "
        f"are not among the {budget} most uncertain.",
        f"score every pool image with {criterion}, then keep the top `budget`.",
    )


def _test_probs(head, x) -> np.ndarray:
    if not hasattr(head, "predict_proba"):
        raise TypeError(f"head must be a fitted head, got {type(head).__name__}")
    return np.asarray(head.predict_proba(x), dtype=np.float64)


def check_retrain(
    head, features, pool_indices, pool_labels, n_classes: int, trainer=None
) -> bool:
    """Check the learner's retrained head against ``one_round.retrain``.

    Both heads must give the same test probabilities: trained on the training
    split plus the newly labelled pool images, with the same trainer.
    """
    from .heads import HeadTrainer
    from .one_round import retrain

    want = retrain(features, pool_indices, pool_labels, n_classes, trainer)
    x_test = features["test"][0]
    got = _test_probs(head, x_test)
    if got.shape == (len(x_test), n_classes) and np.allclose(
        got, want.predict_proba(x_test), atol=1e-8
    ):
        print("✓ your head is one_round.retrain's: the same test probabilities.")
        return True
    x_train, y_train = features["train"]
    alone = (trainer or HeadTrainer()).fit(
        x_train, y_train, n_classes, features["validation"]
    )
    if got.shape == (len(x_test), n_classes) and np.allclose(
        got, alone.predict_proba(x_test), atol=1e-8
    ):
        return _fail(
            "your head learned from the training split only.",
            "append the new images' features and labels to the training arrays "
            "(np.concatenate) before fitting.",
        )
    return _fail(
        "your head's test probabilities differ from one_round.retrain's.",
        "train split + the new pool images (features and labels in the same order), "
        "the same trainer, the validation split passed as `validation`.",
    )


def check_min_overlap(answer, pool_size: int, budget: int) -> bool:
    """Check the learner's answer: the fewest images two selections of ``budget``
    from a pool of ``pool_size`` must share."""
    pool_size = checks.integer("pool_size", pool_size, 1)
    budget = checks.integer("budget", budget, 0, pool_size)
    want = max(0, 2 * budget - pool_size)
    try:
        ok = int(answer) == want and float(answer) == want
    except (TypeError, ValueError):
        ok = False
    if ok:
        print(f"✓ at least {want} images in common, whatever the two strategies do.")
        return True
    return _fail(
        f"{answer!r} is not the smallest possible overlap.",
        "two selections of `budget` images fit in a pool of `pool_size` without "
        "sharing only if 2 × budget ≤ pool_size; otherwise the excess is shared.",
    )


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
    any pool label) included: ``rounds + 1`` numbers, starting from the whole
    training split.
    """
    from .many_rounds import simulate

    rows = simulate(
        features, strategy, rounds, batch, trainer=trainer, n_classes=n_classes
    )
    want = np.array([r["test_accuracy"] for r in rows])
    try:
        got = np.asarray(accuracies, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError("accuracies must be a list of numbers") from None
    if len(got) == rounds and np.allclose(got, want[:-1]):
        return _fail(
            f"{rounds} accuracies: the last round's is missing.",
            "after the last selection, retrain once more and measure.",
        )
    if len(got) != rounds + 1:
        return _fail(
            f"{len(got)} accuracies for {rounds} rounds.",
            "measure once before any pool label (round 0), then after each round: "
            "rounds + 1 numbers.",
        )
    wrong = np.flatnonzero(~np.isclose(got, want, rtol=0, atol=1e-12))
    if len(wrong):
        r = int(wrong[0])
        hint = (
            "round 0 trains on the training split alone, measured on the test split."
            if r == 0
            else "each round selects from the images not yet picked (the remaining "
            "pool), adds their oracle labels to everything picked before, and "
            "retrains from the training split + all picked images."
        )
        return _fail(
            f"round {r}: yours {got[r]:.4f}, {strategy} loop {want[r]:.4f}.", hint
        )
    print(f"✓ the same {rounds + 1} test accuracies as many_rounds.simulate.")
    return True
