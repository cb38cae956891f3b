"""The self-checking exercises: right answers pass, typical mistakes get their hint."""

import subprocess
import sys

import numpy as np
import pytest

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


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_right_answer_passes(name, capsys):
    assert exercises.check_criterion(name, RIGHT[name]) is True
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {name}: right on all")


@pytest.mark.parametrize("name", sorted(criteria.CRITERIA))
def test_the_library_passes_its_own_check(name, capsys):
    assert exercises.check_criterion(name, criteria.CRITERIA[name])


def test_an_epsilon_inside_the_log_is_accepted(capsys):
    assert exercises.check_criterion(
        "entropy", lambda p: -(p * np.log(p + 1e-12)).sum(axis=1)
    )


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
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(p * np.log(p)).sum(axis=1)


WRONG = [
    ("least_confidence", lambda p: p.max(axis=1), "1 - p1"),
    ("least_confidence", lambda p: 1 - p.max(axis=0), "axis=1"),
    ("least_confidence", lambda p: 1 - p.max(), "axis=1"),
    ("least_confidence", lambda p: -(1 - p.max(axis=1)), "sign is flipped"),
    ("smallest_margin", lambda p: _top2(p)[0] - _top2(p)[1], "1 - (p1 - p2)"),
    ("smallest_margin", _second_smallest_margin, "second *largest*"),
    ("smallest_margin", _margin_without_ties, "tie for the top"),
    ("smallest_margin", lambda p: 1 - p.max(axis=1), "least_confidence"),
    ("entropy", _entropy_nan, "0 * ln 0"),
    ("entropy", lambda p: -(p * np.log2(np.where(p > 0, p, 1))).sum(1), "np.log2"),
    ("entropy", lambda p: -_entropy(p), "sign is flipped"),
    ("entropy", lambda p: 1 - p.max(axis=1), "least_confidence"),
    ("entropy", lambda p: p.sum(axis=1), "the formula is"),
]


@pytest.mark.parametrize("name, fn, hint", WRONG, ids=[f"{n}-{h}" for n, _, h in WRONG])
def test_a_typical_mistake_fails_with_its_hint(name, fn, hint, capsys):
    assert exercises.check_criterion(name, fn) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {name}")
    assert "Hint:" in out and hint in out
    assert "Traceback" not in out


def test_an_answer_that_raises_is_reported_without_a_traceback(capsys):
    def broken(p):
        raise ZeroDivisionError("oops")

    assert exercises.check_criterion("entropy", broken) is False
    out = capsys.readouterr().out
    assert "raised ZeroDivisionError" in out and "oops" in out
    assert "Traceback" not in out


def test_the_learners_array_is_not_the_hidden_one():
    seen = []

    def mutating(p):
        seen.append(p)
        p[:] = 0
        return 1 - p.max(axis=1)

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
def test_bad_input_names_the_problem(name, fn, error, words):
    with pytest.raises(error, match=words):
        exercises.check_criterion(name, fn)


D = [0.49, 0.48, 0.01, 0.01, 0.01]
E = [0.50, 0.14, 0.12, 0.12, 0.12]


def test_disagreement_right_answer(capsys):
    assert exercises.check_disagreement(D, E) is True
    out = capsys.readouterr().out
    assert out.count("✓") == 2 and "Hint" not in out


def test_disagreement_swapped_rows_fail_with_hints(capsys):
    assert exercises.check_disagreement(E, D) is False
    out = capsys.readouterr().out
    assert out.count("✗") == 2
    assert "two largest probabilities closer" in out
    assert "spread the second row" in out


@pytest.mark.parametrize(
    "first, second, kwargs, error, words",
    [
        (D, "abc", {}, TypeError, "second must be a row"),
        (D, 0.5, {}, TypeError, "second must be a row"),
        ([D], E, {}, ValueError, "first must be one row"),
        (D, E[:4], {}, ValueError, "first has 5 classes and second 4"),
        (D, [0.5, 0.5, 0.5, 0.0, 0.0], {}, ValueError, "row 1 sums to 1.5"),
        (D, E, {"first_criterion": "entropy"}, ValueError, "both 'entropy'"),
        (D, E, {"second_criterion": "margin"}, ValueError, "unknown"),
    ],
)
def test_disagreement_bad_input(first, second, kwargs, error, words):
    with pytest.raises(error, match=words):
        exercises.check_disagreement(first, second, **kwargs)


def test_importing_exercises_loads_no_tensorflow():
    code = "import sys, alwidgets.exercises; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
