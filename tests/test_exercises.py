"""The self-checking exercises: every right answer passes, every typical mistake gets
the hint that names it, and nothing the learner hands in ends in a traceback.

Each check is fed a set of *correct variants* (lists, tuples and arrays; ties in any
order; equivalent formulas), which print ``✓`` and return True, and of typical wrong
answers, which raise ``exercises.NotYet`` whose message (``✗ what`` and a hint, all
Jupyter shows) must contain given words.
"""

import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.special

from alwidgets import criteria, exercises


def _entropy(p):
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)


def _top2(p):
    top = np.sort(p, axis=1)
    return top[:, -1], top[:, -2]


RIGHT = {
    "least_confidence": lambda p: 1 - p.max(axis=1),
    "smallest_margin": lambda p: 1 - (_top2(p)[0] - _top2(p)[1]),
    "entropy": _entropy,
}


def _passes(capsys, ok, start="✓"):
    out = capsys.readouterr().out
    assert ok is True, out
    assert out.startswith(start) and "Traceback" not in out
    return out


def _miss(check, *args, **kwargs) -> exercises.NotYet:
    """What ``check(*args, **kwargs)`` raises; the test fails unless it is a miss."""
    with pytest.raises(exercises.NotYet) as info:
        check(*args, **kwargs)
    return info.value


def _fails(capsys, miss, *words):
    """``miss``'s message (the verdict): ``✗`` lines with hints holding ``words``."""
    out = capsys.readouterr().out  # a check may print its ✓ parts before a miss
    text = str(miss)
    assert isinstance(miss, AssertionError), type(miss)
    assert miss._render_traceback_() == text.split("\n"), text
    assert text.startswith("✗") and "\n  Hint: " in text, text
    # never chained to the exception that revealed the mistake
    assert miss.__context__ is None or miss.__suppress_context__, miss.__context__
    assert "Traceback" not in text + out and "✗" not in out, (text, out)
    for word in words:
        assert word in text, (word, text)
    return text


# --- NotYet: a miss without a traceback --------------------------------------------


def test_a_miss_is_an_assertion_error_that_renders_as_its_verdict_only():
    miss = exercises.NotYet("yours scores 0.3.", "the sign is flipped.")
    assert "NotYet" in exercises.__all__ and isinstance(miss, AssertionError)
    assert str(miss) == "✗ yours scores 0.3.\n  Hint: the sign is flipped."
    # IPython's hook: Jupyter shows these lines, and no traceback, in the error area
    assert miss._render_traceback_() == [
        "✗ yours scores 0.3.",
        "  Hint: the sign is flipped.",
    ]
    assert miss.misses == [("yours scores 0.3.", "the sign is flipped.")]
    several = exercises.NotYet("a", "b", ("c", "d"))
    assert several._render_traceback_() == ["✗ a", "  Hint: b", "✗ c", "  Hint: d"]
    again = pickle.loads(pickle.dumps(several))
    assert type(again) is exercises.NotYet and str(again) == str(several)


@pytest.mark.parametrize(
    "args",
    [(None, "hint"), ("what", 2), ("what", "hint", "not a pair"), ("w", "h", ("a", 1))],
)
def test_a_miss_refuses_what_is_not_text(args):
    with pytest.raises(TypeError, match="NotYet takes"):
        exercises.NotYet(*args)


def test_a_passing_check_still_returns_true_for_the_notebooks_assert(capsys):
    assert exercises.check_criterion("entropy", RIGHT["entropy"]) is True
    assert capsys.readouterr().out.startswith("✓ entropy")


def _learners_bug(p):
    scores = -(p * np.log(p)).sum(axis=2)  # the learner's line
    return scores


def test_a_learners_exception_comes_back_as_a_hint_with_their_line(capsys):
    for check, args in (
        (exercises.check_criterion, ("entropy", _learners_bug)),
        (exercises.check_new_criterion, (_learners_bug,)),
    ):
        miss = _miss(check, *args)
        text = _fails(capsys, miss, "AxisError", "axis=1 over the classes")
        # the line that raised, since the traceback is not shown
        assert "in _learners_bug at `scores = -(p * np.log(p)).sum(axis=2)" in text


# --- notebook 1: check_criterion ---------------------------------------------------


def _margin_by_partition(p):
    part = np.partition(p, -2, axis=1)
    return 1 - (part[:, -1] - part[:, -2])


def _entropy_loop(p):
    out = []
    for row in p:
        out.append(-sum(x * np.log(x) for x in row if x > 0))
    return out  # a list


def _entropy_nansum(p):
    return -np.nansum(p * np.log(p), axis=1)


def _entropy_log_where(p):
    logs = np.log(p, where=p > 0, out=np.zeros_like(p))
    return -np.sum(p * logs, axis=1)


CORRECT_CRITERIA = [
    ("least_confidence", RIGHT["least_confidence"]),
    ("least_confidence", lambda p: 1 - np.max(p, axis=-1)),
    ("least_confidence", lambda p: 1 - np.sort(p, axis=1)[:, -1]),
    ("least_confidence", lambda p: [1 - max(row) for row in p]),  # a list
    ("least_confidence", lambda p: tuple(1 - row.max() for row in p)),  # a tuple
    ("least_confidence", lambda p: 1 - p.max(axis=1, keepdims=True)),  # a column
    ("least_confidence", criteria.least_confidence),
    ("smallest_margin", RIGHT["smallest_margin"]),
    ("smallest_margin", _margin_by_partition),
    (
        "smallest_margin",
        lambda p: 1 - np.diff(np.sort(p, axis=1)[:, -2:], axis=1)[:, 0],
    ),
    ("smallest_margin", lambda p: 1 - p.max(1) + np.sort(p, 1)[:, -2]),
    ("smallest_margin", criteria.smallest_margin),
    ("entropy", RIGHT["entropy"]),
    ("entropy", lambda p: -(p * np.log(p + 1e-12)).sum(axis=1)),
    ("entropy", lambda p: -(p * np.log(p + 1e-6)).sum(axis=1)),
    ("entropy", lambda p: -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)),
    ("entropy", _entropy_loop),
    ("entropy", _entropy_nansum),
    ("entropy", _entropy_log_where),
    ("entropy", criteria.entropy),
    # the three ways the NaN hint suggests
    ("entropy", lambda p: -np.where(p > 0, p * np.log(p), 0).sum(axis=1)),
    ("entropy", lambda p: scipy.special.entr(p).sum(axis=1)),
]


@pytest.mark.parametrize(
    "name, fn",
    CORRECT_CRITERIA,
    ids=[f"{n}-{i}" for i, (n, _) in enumerate(CORRECT_CRITERIA)],
)
def test_every_right_criterion_passes(name, fn, capsys):
    out = _passes(capsys, exercises.check_criterion(name, fn))
    assert out.startswith(f"✓ {name}: right on all")


def _second_smallest_margin(p):
    top = np.sort(p, axis=1)
    return 1 - (top[:, -1] - top[:, 1])


def _margin_without_ties(p):  # the largest of the *other* values: ties lost
    out = []
    for row in p:
        values = np.unique(row)
        out.append(1 - (values[-1] - values[-2]))
    return np.array(out)


def _entropy_nan(p):
    return -(p * np.log(p)).sum(axis=1)


def _stub(p):  # the exercise edition's body: `...`, returns None
    ...


def _uses_undefined(p):
    return 1 - probs.max(axis=1)  # noqa: F821


WRONG_CRITERIA = [
    ("least_confidence", _stub, "`return`"),
    ("least_confidence", lambda p: p.max(axis=1), "1 - p1"),
    ("least_confidence", lambda p: 1 - p.max(axis=0), "axis=0"),
    ("least_confidence", lambda p: 1 - p.max(), "one number for the whole table"),
    ("least_confidence", lambda p: 1 - p, "one value per probability"),
    ("least_confidence", lambda p: -(1 - p.max(axis=1)), "sign is flipped"),
    ("least_confidence", lambda p: -p.max(axis=1), "right order"),
    ("least_confidence", lambda p: 1 - p.max(axis=2), "two axes"),
    ("least_confidence", _uses_undefined, "probs"),
    ("smallest_margin", lambda p: _top2(p)[0] - _top2(p)[1], "1 - (p1 - p2)"),
    ("smallest_margin", _second_smallest_margin, "second *largest*"),
    ("smallest_margin", _margin_without_ties, "tie for the top"),
    ("smallest_margin", lambda p: 1 - p.max(axis=1), "least_confidence"),
    (
        "smallest_margin",
        lambda p: 1 - (np.sort(p)[:, -1] - np.sort(p)[:, -3]),
        "formula",
    ),
    ("entropy", _entropy_nan, "0 * ln 0"),
    ("entropy", lambda p: -(p * np.log2(np.where(p > 0, p, 1))).sum(1), "np.log2"),
    ("entropy", lambda p: -(p * np.log10(np.where(p > 0, p, 1))).sum(1), "np.log10"),
    ("entropy", lambda p: _entropy(p) / np.log(p.shape[1]), "normalised"),
    ("entropy", lambda p: -_entropy(p), "sign is flipped"),
    ("entropy", lambda p: 1 - p.max(axis=1), "least_confidence"),
    ("entropy", lambda p: p.sum(axis=1), "the formula is"),
]


@pytest.mark.parametrize(
    "name, fn, hint", WRONG_CRITERIA, ids=[f"{n}-{h}" for n, _, h in WRONG_CRITERIA]
)
def test_a_typical_mistake_fails_with_its_hint(name, fn, hint, capsys):
    out = _fails(capsys, _miss(exercises.check_criterion, name, fn), hint)
    assert out.startswith(f"✗ {name}")


def test_the_entropys_nan_hint_names_0_log_0_not_ties(capsys):
    text = _fails(
        capsys,
        _miss(exercises.check_criterion, "entropy", _entropy_nan),
        "yours scores nan",
        "0 * np.log(0)",
        "np.log(p + 1e-12)",
        "np.where(p > 0",
        "scipy.special.entr",
    )
    assert "tie" not in text  # the case it fails on is not about ties either
    suggested = [
        lambda p: -(p * np.log(p + 1e-12)).sum(axis=1),
        lambda p: -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1),
        lambda p: scipy.special.entr(p).sum(axis=1),
    ]
    for fn in suggested:
        _passes(capsys, exercises.check_criterion("entropy", fn))


def _first_columns(name, m):
    def fn(p):
        return RIGHT[name](p[:, :m])  # a criterion that reads m columns only

    return fn


@pytest.mark.parametrize("name", list(RIGHT))
@pytest.mark.parametrize("m", [4, 5])
def test_a_criterion_that_reads_only_some_classes_fails(name, m, capsys):
    _fails(
        capsys,
        _miss(exercises.check_criterion, name, _first_columns(name, m)),
        f"reads only the first {m} of the",
    )


def test_an_answer_that_raises_is_reported_without_a_traceback(capsys):
    def broken(p):
        raise ZeroDivisionError("oops")

    _fails(
        capsys,
        _miss(exercises.check_criterion, "entropy", broken),
        "ZeroDivisionError",
        "oops",
    )


def test_a_placeholder_instead_of_a_function(capsys):
    _fails(capsys, _miss(exercises.check_criterion, "entropy", None), "`...`")


def test_the_learners_array_is_not_the_hidden_one():
    def mutating(p):
        p[:] = 0
        return 1 - p.max(axis=1)

    with pytest.raises(exercises.NotYet):
        exercises.check_criterion("least_confidence", mutating)
    assert exercises.hidden_cases()[0][1].sum() > 0


def test_hidden_cases_cover_ties_one_hot_and_uniform_rows():
    cases = dict(exercises.hidden_cases())
    for probs in cases.values():
        criteria.check_probs(probs)
    assert any("tie" in what for what in cases)
    assert any("one-hot" in what for what in cases)
    assert any("uniform" in what for what in cases)


@pytest.mark.parametrize(
    "name, fn, error, words",
    [
        ("margin", RIGHT["entropy"], ValueError, "unknown name 'margin'"),
        (3, RIGHT["entropy"], TypeError, "name must be a string"),
        ("entropy", "not a function", TypeError, "fn must be a function"),
    ],
)
def test_a_notebook_bug_names_the_problem(name, fn, error, words):
    with pytest.raises(error, match=words):
        exercises.check_criterion(name, fn)


# --- notebook 1: check_disagreement -------------------------------------------------

D = [0.49, 0.48, 0.01, 0.01, 0.01]
E = [0.50, 0.14, 0.12, 0.12, 0.12]

CORRECT_ROWS = [
    (D, E),
    (tuple(D), tuple(E)),
    (np.array(D), np.array(E)),
    ([D], np.array([E]).T),  # a 1-row table and a column are still one row each
    ([0.5, 0.5, 0, 0, 0], [0.6, 0.1, 0.1, 0.1, 0.1]),  # a tie at the top
    ([0.4, 0.4, 0.2, 0.0, 0.0], [0.45, 0.1375, 0.1375, 0.1375, 0.1375]),
]


@pytest.mark.parametrize("first, second", CORRECT_ROWS)
def test_disagreement_right_answers(first, second, capsys):
    out = _passes(capsys, exercises.check_disagreement(first, second))
    assert out.count("✓") == 2 and "Hint" not in out


WRONG_ROWS = [
    (E, D, ["two largest probabilities closer", "spread the second row"]),
    (D, D, ["tie", "strictly higher"]),
    (D, "abc", ["str"]),
    (D, 0.5, ["one number"]),
    (D, E[:4], ["second row has 4 probabilities", "over 5 classes"]),  # not its sum
    (D, [0.5, 0.5, 0.0, 0.0], ["second row has 4 probabilities", "5 numbers"]),
    (D, [0.5, 0.5, 0.5, 0.0, 0.0], ["sums to 1.5"]),
    (D, [50, 14, 12, 12, 12], ["percent"]),
    (D, [0.6, 0.5, -0.1, 0.0, 0.0], ["between 0 and 1"]),
    (D, [[0.5, 0.5], [0.5, 0.5]], ["one row"]),
    (None, E, ["`...`"]),
]


@pytest.mark.parametrize("first, second, words", WRONG_ROWS)
def test_disagreement_wrong_answers_get_a_hint(first, second, words, capsys):
    _fails(capsys, _miss(exercises.check_disagreement, first, second), *words)


def test_disagreement_needs_the_exercises_5_classes(capsys):
    four = ([0.5, 0.49, 0.005, 0.005], [0.5, 0.2, 0.15, 0.15])  # they do disagree
    _fails(
        capsys,
        _miss(exercises.check_disagreement, *four),
        "the first row has 4 probabilities",
        "over 5 classes",
    )
    _passes(capsys, exercises.check_disagreement(*four, n_classes=4))
    _passes(capsys, exercises.check_disagreement(*four, n_classes=None))


def test_disagreement_prints_what_holds_and_raises_what_does_not(capsys):
    miss = _miss(exercises.check_disagreement, D, [0.3, 0.3, 0.2, 0.1, 0.1])
    out = capsys.readouterr().out
    assert out.startswith("✓ entropy") and "smallest_margin" not in out
    assert str(miss).startswith("✗ smallest_margin") and "entropy" not in str(miss)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"first_criterion": "entropy"}, "both 'entropy'"),
        ({"second_criterion": "margin"}, "unknown"),
        ({"n_classes": 1}, "n_classes must be in"),
    ],
)
def test_disagreement_notebook_bugs_raise(kwargs, words):
    with pytest.raises(ValueError, match=words):
        exercises.check_disagreement(D, E, **kwargs)


def test_importing_exercises_loads_no_tensorflow():
    code = "import sys, alwidgets.exercises; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- notebook 2: check_slices, check_pool_size ---------------------------------------

SIZES = {"train": 1000, "validation": 500, "test": 1000}
RIGHT_SLICES = {
    "train": "train[:1000]",
    "validation": "train[1000:1500]",
    "test": "train[1500:2500]",
    "pool": "train[2500:]",
}
CORRECT_SLICES = [
    RIGHT_SLICES,
    {"train": "train[0:1000]", "validation": "train[1000:1500]",
     "test": "train[1500:2500]", "pool": "train[2500:3670]"},
    {"pool": "train[ 2500 : ]", "test": "train[1500:2500]",
     "validation": "train[1000:1500]", "train": "train[:1000]"},
    dict(RIGHT_SLICES, pool="train[-1170:]"),
    dict(RIGHT_SLICES, pool="train[2500:99999]"),
]  # fmt: skip


@pytest.mark.parametrize("slices", CORRECT_SLICES)
def test_every_right_split_passes(slices, capsys):
    out = _passes(capsys, exercises.check_slices(slices, SIZES, 3670))
    assert "1170" in out


WRONG_SLICES = [
    (dict(RIGHT_SLICES, test="train[:1000]"), ["overlaps"]),  # the article's text
    (dict(RIGHT_SLICES, validation="train[1000:1499]"), ["holds 499 images"]),
    (dict(RIGHT_SLICES, test="train[1600:2600]"), ["gap"]),
    (dict(RIGHT_SLICES, pool="rest"), ["not a slice"]),
    (dict(RIGHT_SLICES, pool="train"), ["whole split"]),
    (dict(RIGHT_SLICES, pool="train[68%:]"), ["percent"]),
    (dict(RIGHT_SLICES, test="test[:1000]"), ["one split"]),
    (dict(RIGHT_SLICES, pool=2500), ["int"]),
    ({"train": "train[:1000]"}, ["missing", "pool"]),
    ({**{k: v for k, v in RIGHT_SLICES.items() if k != "pool"},
      "unlabelled": "train[2500:]"}, ["called 'pool'"]),
    (list(RIGHT_SLICES.values()), ["list", "keys"]),
    (None, ["`...`", "dict"]),
    (..., ["still `...`", "dict"]),
    (dict(RIGHT_SLICES, validation="train[1000:1501]"), ["off by one"]),
    (dict(RIGHT_SLICES, validation="train[1000:500]"), ["where the slice stops"]),
    (dict(RIGHT_SLICES, pool="train[2500:3000]"), ["every image the first three"]),
]  # fmt: skip


@pytest.mark.parametrize("slices, words", WRONG_SLICES)
def test_a_wrong_split_gets_its_hint(slices, words, capsys):
    _fails(capsys, _miss(exercises.check_slices, slices, SIZES, 3670), *words)


SMALLER = {"train": 500, "validation": 250, "test": 1000}
SMALLER_SLICES = {
    "train": "train[:500]",
    "validation": "train[500:750]",
    "test": "train[750:1750]",
    "pool": "train[1750:]",
}
#: Every slice of both answers, as the learner could write them.
ANSWERS = {
    text.replace(" ", "")
    for right in (RIGHT_SLICES, SMALLER_SLICES)
    for text in (*right.values(), *(v.replace("[:", "[0:") for v in right.values()))
}


def _wrong_variants(right):
    for part, text in right.items():
        start, stop = text[6:-1].split(":")
        start = int(start or 0)
        end = int(stop or 3670)
        for wrong in (
            f"train[{start}:{end - 1}]",
            f"train[{start + 1}:{stop}]",
            f"train[{start}:{end - start}]" if start else f"train[1:{end}]",
            f"train[{start + 10}:{end + 10}]",
            f"train[{start}%:]",
            f"test[{start}:{stop}]",
            "train",
            "rest",
            start,
        ):
            yield dict(right, **{part: wrong})
        yield {k: v for k, v in right.items() if k != part}
    yield None
    yield list(right.values())


@pytest.mark.parametrize(
    "right, sizes", [(RIGHT_SLICES, SIZES), (SMALLER_SLICES, SMALLER)]
)
def test_no_split_hint_shows_a_slice_of_the_answer(right, sizes, capsys):
    _passes(capsys, exercises.check_slices(right, sizes, 3670))
    for slices in _wrong_variants(right):
        text = _fails(capsys, _miss(exercises.check_slices, slices, sizes, 3670))
        hint = text.split("\n  Hint: ", 1)[1].replace(" ", "")
        assert not [a for a in ANSWERS if a in hint], (slices, text)


@pytest.mark.parametrize(
    "answer", [1920, 1920.0, np.int64(1920), np.array(1920), [1920], 3670 - 1750]
)
def test_every_right_pool_size_passes(answer, capsys):
    _passes(capsys, exercises.check_pool_size(answer, SMALLER, 3670))


@pytest.mark.parametrize(
    "answer, words",
    [(1170, ["article's pool"]), (1750, ["train, validation and test together"]),
     (0.52, ["not a share"]), ("many", ["str"]), (None, ["`...`"]), ([1, 2], ["2 values"]),
     (3670, ["whole split"]), (2920, ["counts test's 1000 images"]),
     (2420, ["counts train's 500 images"]), (1234, ["would hold 2984 images"])],
)  # fmt: skip
def test_a_wrong_pool_size_gets_its_hint(answer, words, capsys):
    text = _fails(
        capsys, _miss(exercises.check_pool_size, answer, SMALLER, 3670), *words
    )
    hint = text.split("\n  Hint: ", 1)[1]
    assert "1920" not in hint and "1750" not in hint.replace(str(answer), "")


def test_the_slices_check_refuses_a_notebook_bug():
    with pytest.raises(ValueError):
        exercises.check_slices(RIGHT_SLICES, {"train": 1}, 3670)


# --- notebook 4: check_selection, check_new_criterion ---------------------------------

PROBS = np.random.default_rng(1).dirichlet(np.ones(5), size=50)
SCORES = 1 - PROBS.max(axis=1)
BEST = np.argsort(-SCORES)[:10]
TIED = np.vstack([np.full((4, 5), 0.2), PROBS[:16]])  # four rows tie for the top


def _mask(positions, n):
    m = np.zeros(n, dtype=bool)
    m[positions] = True
    return m


CORRECT_SELECTIONS = [
    (BEST, PROBS, 10),
    (BEST[::-1], PROBS, 10),  # any order
    (BEST.tolist(), PROBS, 10),
    (tuple(BEST.tolist()), PROBS, 10),
    (set(BEST.tolist()), PROBS, 10),
    (BEST.astype(np.int32), PROBS, 10),
    (BEST.astype(float), PROBS, 10),
    (np.argsort(SCORES)[-10:], PROBS, 10),  # ascending, then the last 10
    (np.argsort(PROBS.max(axis=1))[:10], PROBS, 10),  # the smallest p1
    (np.argpartition(-SCORES, 10)[:10], PROBS, 10),
    (_mask(BEST, 50), PROBS, 10),  # a boolean mask
    (BEST[:, None], PROBS, 10),  # a column
    ([3, 0], TIED, 2),  # ties at the cut: any two of the four uniform rows
    ([1, 2], TIED, 2),
    (np.array([], dtype=int), PROBS, 0),
]


@pytest.mark.parametrize("selection, probs, budget", CORRECT_SELECTIONS)
def test_every_right_selection_passes(selection, probs, budget, capsys):
    _passes(capsys, exercises.check_selection(selection, probs, budget))


WRONG_SELECTIONS = [
    (np.argsort(SCORES)[:10], ["MOST sure"]),
    (BEST[:9], ["9 images for a budget of 10"]),
    (SCORES[BEST], ["not positions"]),
    (np.r_[BEST[:9], BEST[0]], ["twice"]),
    (np.r_[BEST[:9], 50], ["outside the pool"]),
    (PROBS.argmax(axis=1)[:10], ["class indices"]),
    (criteria.select(criteria.entropy(PROBS), 10), ["entropy"]),
    (np.arange(10), ["not among the 10 most uncertain"]),
    (None, ["`...`"]),
    ("BEST", ["str"]),
    (_mask(BEST, 49), ["mask of 49"]),
]


@pytest.mark.parametrize("selection, words", WRONG_SELECTIONS)
def test_a_wrong_selection_gets_its_hint(selection, words, capsys):
    _fails(capsys, _miss(exercises.check_selection, selection, PROBS, 10), *words)


def test_selection_names_a_slip_the_notebook_expects(capsys):
    sharper = np.exp(np.log(PROBS) / 0.3)
    sharper /= sharper.sum(axis=1, keepdims=True)
    theirs = criteria.select(criteria.least_confidence(sharper), 10)
    assert not set(theirs) == set(BEST)
    ok = _miss(
        exercises.check_selection,
        theirs,
        PROBS,
        10,
        mistakes={"use the T = 1 probabilities": sharper},
    )
    _fails(capsys, ok, "T = 1")


def test_selection_with_another_criterion(capsys):
    right = criteria.select(criteria.smallest_margin(PROBS), 10)
    _passes(capsys, exercises.check_selection(right, PROBS, 10, "smallest_margin"))
    with pytest.raises(ValueError):
        exercises.check_selection(BEST, PROBS, 51)


def _count_at_least(p):  # the notebook's idea, written with >=
    return (p >= 0.1).sum(axis=1)


def _gini(p):
    return 1 - (p**2).sum(axis=1)


CORRECT_NEW = [
    (lambda p: 1 - p.max(axis=1), "same criterion in disguise"),
    (lambda p: np.sort(p, 1)[:, -2] / np.sort(p, 1)[:, -1], "valid"),  # ratio
    (_gini, "valid"),
    (lambda p: (p >= p.max(axis=1, keepdims=True) / 2).sum(axis=1), "valid"),
    (_count_at_least, "valid"),
    (lambda p: list(_gini(p)), "valid"),  # a list
    (lambda p: _gini(p)[:, None], "valid"),  # a column
    (lambda p: -(p * np.log(p + 1e-12)).sum(axis=1), "entropy"),
]


@pytest.mark.parametrize("fn, words", CORRECT_NEW)
def test_every_valid_new_criterion_passes(fn, words, capsys):
    out = _passes(capsys, exercises.check_new_criterion(fn))
    assert words in out


WRONG_NEW = [
    (lambda p: (p > 0.1).sum(axis=1), ["uniform row", "1/10 = 0.1", "`>=`"]),
    (lambda p: p.max(axis=1), ["sign is flipped"]),
    (lambda p: 1 - p[:, 0], ["column by position"]),
    (lambda p: 1 - p.max(1) + 0.5 * (p.max(1) == 1), ["one-hot"]),
    (lambda p: np.zeros(len(p)), ["same score"]),
    (lambda p: p.sum(), ["shape"]),
    (lambda p: -(p * np.log(p)).sum(axis=1), ["NaN", "ln 0"]),
    (_stub, ["`...`"]),
    (None, ["`...`"]),
]


@pytest.mark.parametrize("fn, words", WRONG_NEW)
def test_a_wrong_new_criterion_gets_its_hint(fn, words, capsys):
    _fails(capsys, _miss(exercises.check_new_criterion, fn), *words)


def test_new_criterion_refuses_a_string():
    with pytest.raises(TypeError, match="fn must be a function"):
        exercises.check_new_criterion("entropy")


# --- notebook 3: check_sharpened, check_two_stage --------------------------------------

Z = np.random.default_rng(3).normal(0, 3, size=(40, 5))


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


HEAD = SimpleNamespace(logits=lambda x: Z, predict_proba=lambda x: _softmax(Z / 1.1))


@pytest.mark.parametrize(
    "sharp",
    [
        _softmax(Z / 0.3),
        np.exp(Z / 0.3)
        / np.exp(Z / 0.3).sum(axis=1, keepdims=True),  # no max: fine here
        _softmax(Z / 0.3).tolist(),
        _softmax(Z / 0.3).astype(np.float32),
    ],
)
def test_every_right_sharpened_table_passes(sharp, capsys):
    _passes(capsys, exercises.check_sharpened(sharp, HEAD, None, 0.3))


@pytest.mark.parametrize(
    "sharp, words",
    [
        (_softmax(Z * 0.3), ["multiplied"]),
        (_softmax(Z), ["T = 1"]),
        (_softmax(Z / 0.3, axis=0), ["axis=1"]),
        (_softmax(Z / 1.1), ["calibrated"]),
        (_softmax(Z) / 0.3, ["sum to 1"]),
        (np.full((40, 5), np.nan), ["overflow"]),
        (_softmax(Z / 0.3)[:10], ["shape"]),
        (None, ["`...`"]),
    ],
)
def test_a_wrong_sharpened_table_gets_its_hint(sharp, words, capsys):
    _fails(capsys, _miss(exercises.check_sharpened, sharp, HEAD, None, 0.3), *words)


def _model(*arrays):
    return SimpleNamespace(get_weights=lambda: [np.array(a, float) for a in arrays])


def test_two_stage(capsys):
    theirs = _model([1, 2], [3], [4, 5])
    _passes(capsys, exercises.check_two_stage(_model([1, 2], [3], [4, 5]), theirs))
    ok = _miss(exercises.check_two_stage, _model([1, 2], [3], [4, 6]), theirs, 2)
    _fails(capsys, ok, "the head differ", "Adam(1e-3)", "Adam(1e-5)")
    ok = _miss(exercises.check_two_stage, _model([1, 9], [3], [4, 6]), theirs, 2)
    _fails(capsys, ok, "the weights differ", "compile again")
    _fails(capsys, _miss(exercises.check_two_stage, None, theirs), "not written yet")


# --- notebooks 5 and 6: the data-driven checks --------------------------------------

from alwidgets import heads, many_rounds, one_round  # noqa: E402


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2.0, size=(3, 8))

    def split(n):
        y = rng.integers(0, 3, n)
        return (centres[y] + rng.normal(0, 1.5, (n, 8))).astype(np.float32), y

    return {"train": split(30), "validation": split(40), "test": split(80),
            "pool": split(60)}  # fmt: skip


def test_retrain(feats, capsys):
    idx = np.arange(0, 60, 3)
    y_new = feats["pool"][1][idx]
    x_tr, y_tr = feats["train"]
    x_new = feats["pool"][0][idx]
    val = feats["validation"]
    right = [
        heads.HeadTrainer().fit(np.concatenate([x_tr, x_new]), np.concatenate([y_tr, y_new]), 3, val),
        heads.HeadTrainer().fit(np.vstack((x_tr, x_new)), np.hstack((y_tr, y_new.tolist())), 3, val),
        heads.HeadTrainer().fit(np.concatenate([x_new, x_tr]), np.concatenate([y_new, y_tr]), 3, val),
        one_round.retrain(feats, idx, y_new, 3),
    ]  # fmt: skip
    x_all, y_all = np.concatenate([x_tr, x_new]), np.concatenate([y_tr, y_new])
    shuffled = np.random.default_rng(5).permutation(len(x_all))  # any row order
    right.append(heads.HeadTrainer().fit(x_all[shuffled], y_all[shuffled], 3, val))
    for head in right:
        _passes(capsys, exercises.check_retrain(head, feats, idx, y_new, 3))
    wrong = [
        (heads.HeadTrainer().fit(x_tr, y_tr, 3, val), "training split only"),
        (heads.HeadTrainer().fit(np.concatenate([x_tr, x_new]),
                                 np.concatenate([y_tr, y_new]), 3), "validation"),
        (heads.HeadTrainer().fit(x_new, y_new, 3, val), "new images only"),
        (heads.HeadTrainer().fit(np.concatenate([x_tr, x_new]),
                                 np.concatenate([y_tr, np.roll(y_new, 1)]), 3, val),
         "same order"),
        ("head", "not a fitted head"),
        (None, "`...`"),
    ]  # fmt: skip
    for head, words in wrong:
        _fails(
            capsys, _miss(exercises.check_retrain, head, feats, idx, y_new, 3), words
        )


@pytest.mark.parametrize(
    "answer",
    [80, 80.0, np.int64(80), np.array([80]), 2 * 90 - 100, max(0, 2 * 90 - 100)],
)
def test_every_right_min_overlap_passes(answer, capsys):
    _passes(capsys, exercises.check_min_overlap(answer, 100, 90))


@pytest.mark.parametrize(
    "answer, words",
    [(90, ["one selection's size"]), (10, ["leaves out"]), (180, ["added up", "only 100"]),
     (0.9, ["not a share"]), (-80, ["sign"]), ("many", ["str"]), (None, ["`...`"]),
     (70, ["cover 110 different images", "more than the 100"])],
)  # fmt: skip
def test_a_wrong_min_overlap_gets_its_hint(answer, words, capsys):
    _fails(capsys, _miss(exercises.check_min_overlap, answer, 100, 90), *words)


def test_min_overlap_without_overlap_and_bad_arguments(capsys):
    _passes(capsys, exercises.check_min_overlap(0, 100, 30))
    with pytest.raises(ValueError):
        exercises.check_min_overlap(0, 100, 101)


def _my_loop(feats, rounds, batch, trainer, slip=None):
    x_train, y_train = feats["train"]
    x_pool, y_pool = feats["pool"]
    picked = np.empty(0, dtype=np.int64)
    accs = []
    for r in range(rounds + 1):
        x = np.concatenate([x_train, x_pool[picked]])
        y = np.concatenate([y_train, y_pool[picked]])
        head = trainer.fit(x, y, 3, feats["validation"])
        accs.append(one_round.accuracy(head, *feats["test"]))
        if r == rounds:
            break
        remaining = np.setdiff1d(np.arange(len(x_pool)), picked)
        probs = head.predict_proba(x_pool[remaining])
        chosen = criteria.select(criteria.least_confidence(probs), batch)
        if slip == "unmapped":
            new = chosen
        elif slip == "whole pool":
            new = criteria.select(
                criteria.least_confidence(head.predict_proba(x_pool)), batch
            )
        else:
            new = remaining[chosen]
        picked = np.concatenate([picked, new])
    return accs


@pytest.fixture(scope="module")
def loop_answers(feats):
    trainer = heads.HeadTrainer(l2=1.0)
    return trainer, {slip: _my_loop(feats, 3, 5, trainer, slip) for slip in
                     (None, "unmapped", "whole pool")}  # fmt: skip


def test_every_right_loop_passes(feats, loop_answers, capsys):
    trainer, answers = loop_answers
    right = answers[None]
    for variant in (
        right,
        tuple(right),
        np.array(right),
        np.array(right, np.float32).astype(float),
    ):
        ok = exercises.check_loop(variant, feats, 3, 5, trainer, n_classes=3)
        _passes(capsys, ok)


def test_a_wrong_loop_gets_its_hint(feats, loop_answers, capsys):
    trainer, answers = loop_answers
    right = answers[None]
    kw = dict(n_classes=3)
    wrong = [
        (right[:-1], ["last round"]),
        (right[1:], ["round 0's is missing"]),
        ([100 * a for a in right], ["percent"]),
        ([0.5, 0.6], ["2 accuracies for 3 rounds"]),
        ([], ["`...`"]),
        (None, ["returned None", "`return`"]),
        (["a", {}], ["numbers"]),
        (answers["unmapped"], ["positions in `remaining`"]),
        (answers["whole pool"], ["whole pool"]),
        ([right[0] - 0.1, *right[1:]], ["round 0 trains"]),
    ]
    assert answers["unmapped"] != right and answers["whole pool"] != right
    for answer, words in wrong:
        _fails(
            capsys,
            _miss(exercises.check_loop, answer, feats, 3, 5, trainer, **kw),
            *words,
        )
    assert many_rounds  # the reference the check uses


def test_finals(feats, capsys):
    trainer = heads.HeadTrainer(l2=1.0)
    kw = dict(n_classes=3, rounds=(1, 2))
    runs = {
        n: [r["test_accuracy"] for r in many_rounds.simulate(
            feats, "least_confidence", n, 10 // n, trainer=trainer, n_classes=3)]
        for n in (1, 2)
    }  # fmt: skip
    finals = {n: run[-1] for n, run in runs.items()}
    for right in (finals, {str(n): v for n, v in finals.items()},
                  [finals[1], finals[2]], np.array([finals[1], finals[2]]),
                  {n: np.float64(v) for n, v in finals.items()}):  # fmt: skip
        _passes(capsys, exercises.check_finals(right, feats, 10, trainer, **kw))
    wrong = [
        ({1: runs[1], 2: runs[2]}, ["whole list", "[-1]"]),
        ({n: 100 * v for n, v in finals.items()}, ["percent"]),
        ({1: finals[1]}, ["keys"]),
        (None, ["`...`"]),
        ("x", ["str"]),
        ({1: finals[1], 2: finals[2] + 0.05}, ["budget // 2 = 5"]),
    ]
    if runs[2][0] != runs[2][-1]:
        wrong.append(({1: finals[1], 2: runs[2][0]}, ["round 0"]))
    for answer, words in wrong:
        _fails(
            capsys,
            _miss(exercises.check_finals, answer, feats, 10, trainer, **kw),
            *words,
        )


# --- notebook 7: check_queue ---------------------------------------------------------

QPROBS = np.vstack(
    [np.full((3, 4), 0.25), np.random.default_rng(5).dirichlet(np.ones(4), size=27)]
)


def _session(criterion="least_confidence", labelled=(4, 7, 11)):
    items = np.array(labelled, dtype=np.int64)
    scores = criteria.CRITERIA[criterion](QPROBS)
    rest = np.setdiff1d(np.arange(len(QPROBS)), items)
    queue = rest[criteria.select(scores[rest], len(rest))].tolist()
    return SimpleNamespace(
        head=SimpleNamespace(predict_proba=lambda x: QPROBS),
        criterion=criterion,
        labelled=lambda: (items, np.zeros(len(items), dtype=np.int64)),
        queue=queue,
    )


def test_every_right_queue_passes(capsys):
    session = _session()
    right = session.queue
    ties_swapped = [right[1], right[0], *right[2:]]  # the three uniform rows tie
    assert (
        criteria.least_confidence(QPROBS)[right[0]]
        == criteria.least_confidence(QPROBS)[right[1]]
    )
    for queue in (right, tuple(right), np.array(right), np.array(right, np.int32),
                  ties_swapped):  # fmt: skip
        _passes(capsys, exercises.check_queue(queue, session, QPROBS))
    entropy_session = _session("entropy")
    _passes(
        capsys, exercises.check_queue(entropy_session.queue, entropy_session, QPROBS)
    )


def test_a_wrong_queue_gets_its_hint(capsys):
    session = _session()
    right = session.queue
    scores = criteria.least_confidence(QPROBS)
    rest = np.setdiff1d(np.arange(len(QPROBS)), [4, 7, 11])
    wrong = [
        (right[::-1], ["least uncertain to the most"]),
        (criteria.select(scores, len(QPROBS)).tolist(), ["already labelled"]),
        (
            criteria.select(scores[rest], len(rest)).tolist(),
            ["positions in `unlabelled`"],
        ),
        (right[:-1], ["26 items"]),
        (_session("entropy").queue, ["ranked by entropy"]),
        (sorted(right), ["another order"]),
        (None, ["not written yet", "`...`"]),
        (scores[right], ["not positions"]),
    ]
    for queue, words in wrong:
        _fails(capsys, _miss(exercises.check_queue, queue, session, QPROBS), *words)


# --- every check: the placeholder, and the mistakes the data-driven checks name -------


@pytest.mark.parametrize("placeholder", [None, ...], ids=["None", "Ellipsis"])
def test_every_check_given_the_placeholder_says_to_replace_it(
    placeholder, feats, capsys
):
    idx = np.arange(0, 60, 3)
    y_new = feats["pool"][1][idx]
    trainer = heads.HeadTrainer(l2=1.0)
    session = _session()
    calls = [
        (exercises.check_criterion, ("entropy", placeholder)),
        (exercises.check_disagreement, (placeholder, E)),
        (exercises.check_disagreement, (D, placeholder)),
        (exercises.check_new_criterion, (placeholder,)),
        (exercises.check_slices, (placeholder, SIZES, 3670)),
        (exercises.check_pool_size, (placeholder, SMALLER, 3670)),
        (exercises.check_selection, (placeholder, PROBS, 10)),
        (exercises.check_sharpened, (placeholder, HEAD, None, 0.3)),
        (exercises.check_two_stage, (placeholder, _model([1]))),
        (exercises.check_retrain, (placeholder, feats, idx, y_new, 3)),
        (exercises.check_min_overlap, (placeholder, 100, 90)),
        (exercises.check_finals, (placeholder, feats, 10, trainer)),
        (exercises.check_queue, (placeholder, session, QPROBS)),
    ]
    shown = "None" if placeholder is None else "`...`"
    for check, args in calls:
        kwargs = (
            {"n_classes": 3, "rounds": (1, 2)} if "finals" in check.__name__ else {}
        )
        text = _fails(capsys, _miss(check, *args, **kwargs))
        assert f"not written yet (it is still {shown})" in text, (check, text)
        assert "replace None (or the `...`" in text, (check, text)
    # the loop is a function the learner completes: its `...` body returns None
    text = _fails(
        capsys,
        _miss(exercises.check_loop, placeholder, feats, 3, 5, trainer, n_classes=3),
    )
    assert f"your loop returned {shown}" in text and "`return` line" in text


def _stub_function(p):
    # Write your code here.
    ...


@pytest.mark.parametrize(
    "check",
    [
        exercises.check_new_criterion,
        lambda fn: exercises.check_criterion("entropy", fn),
    ],
)
def test_a_function_still_at_its_placeholder_says_to_write_its_return(check, capsys):
    _fails(capsys, _miss(check, _stub_function), "returned None", "`return` line")


def test_retrain_names_a_head_of_the_wrong_width(feats, capsys):
    idx = np.arange(0, 60, 3)
    y_new = feats["pool"][1][idx]
    x, y = feats["train"]
    two = heads.HeadTrainer().fit(x, np.minimum(y, 1), 2, None)
    miss = _miss(exercises.check_retrain, two, feats, idx, y_new, 3)
    _fails(capsys, miss, "shape (80, 2), expected (80, 3)", "n_classes = 3")


def test_loop_and_finals_name_a_wrong_length(feats, loop_answers, capsys):
    trainer, answers = loop_answers
    too_many = [100 * a for a in answers[None]] + [50.0]  # longer than the rounds
    miss = _miss(exercises.check_loop, too_many, feats, 3, 5, trainer, n_classes=3)
    _fails(capsys, miss, "5 accuracies for 3 rounds")
    miss = _miss(
        exercises.check_finals, [0.5], feats, 10, trainer, n_classes=3, rounds=(1, 2)
    )
    _fails(capsys, miss, "1 value for 2 numbers of rounds")


# --- in a real kernel: the verdict, and no traceback ----------------------------------

MISS_CELL = (
    'assert exercises.check_criterion("entropy", lambda p: -(p * np.log(p)).sum(1))'
)
BUG_CELL = """\
def mine(p):
    return p.sum(axis=2)


exercises.check_criterion("least_confidence", mine)"""
DEMO_CELL = """\
try:
    exercises.check_criterion("smallest_margin", lambda p: 1 - p.max(axis=1))
except exercises.NotYet as miss:
    print(miss)"""
PASS_CELL = (
    'assert exercises.check_criterion("least_confidence", lambda p: 1 - p.max(1))'
)


def test_a_miss_in_a_real_kernel_shows_its_verdict_and_no_traceback(tmp_path):
    """What Jupyter shows is the error output's ``traceback`` field: the verdict."""
    import importlib.util

    import nbformat

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "editions", root / "tools/editions.py"
    )
    editions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(editions)  # and tools/notebook_runner.py, as it does
    nb = nbformat.v4.new_notebook()
    sources = ["import numpy as np\nfrom alwidgets import exercises", MISS_CELL,
               BUG_CELL, DEMO_CELL, PASS_CELL]  # fmt: skip
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for cell in nb.cells[1:3]:
        cell.metadata["tags"] = ["check"]
    path = tmp_path / "misses.ipynb"
    nbformat.write(nb, path)
    run = editions.notebook_runner.execute(path, timeout=120, allow_errors=True)
    cells = run.check("misses.ipynb").cells
    errors = [[o for o in c.outputs if o.output_type == "error"] for c in cells]
    assert [len(e) for e in errors] == [0, 1, 1, 0, 0], run.log
    for (error,), where in ((errors[1], "entropy: wrong on"), (errors[2], "mine")):
        assert error.ename == "NotYet", error
        lines = error.traceback  # all the front end shows
        assert len(lines) == 2 and lines[0].startswith("✗ ") and where in lines[0]
        assert lines[1].startswith("  Hint: ")
        assert error.evalue == "\n".join(lines)
        assert not any("Traceback" in line or "File " in line for line in lines)
        assert not any("\x1b[" in line for line in lines)  # no coloured frames
    # the learner's own line, from the cell, since no traceback shows it
    assert "in mine at `return p.sum(axis=2)`" in errors[2][0].traceback[0]
    demo = "".join(o.get("text", "") for o in cells[3].outputs)
    assert demo.startswith("✗ smallest_margin: wrong on") and "Hint:" in demo
    assert "".join(o.get("text", "") for o in cells[4].outputs).startswith("✓")
    report = [
        {"id": c.get("id"), "tags": list(c.metadata.get("tags", [])),
         "error": e[0].ename if e else None}
        for c, e in zip(cells, errors)
    ]  # fmt: skip
    assert editions.problems(report, "exercises") == []  # misses where expected
    assert editions.not_misses(report, "exercises") == []
    assert len(editions.problems(report, "solutions")) == 2  # and failures there
    report[1]["error"] = "TypeError"  # not a check's miss: still named
    assert editions.problems(report, "exercises") == []
    assert editions.not_misses(report, "exercises") == [
        f"check cell {report[1]['id']} raised TypeError, not a check's miss"
    ]
