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


# --- the data-driven checks of notebooks 02 and 04-06 -------------------------------

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


def test_new_criterion(capsys):
    assert exercises.check_new_criterion(lambda p: 1 - p.max(axis=1))
    assert "same criterion in disguise" in capsys.readouterr().out
    ratio = lambda p: np.sort(p, 1)[:, -2] / np.sort(p, 1)[:, -1]  # noqa: E731
    assert exercises.check_new_criterion(ratio)
    out = capsys.readouterr().out
    assert "✓ a valid criterion" in out and "disguise" not in out
    assert not exercises.check_new_criterion(lambda p: p.max(axis=1))  # sign flipped
    assert "uniform row" in capsys.readouterr().out
    assert not exercises.check_new_criterion(lambda p: 1 - p[:, 0])  # one column
    assert not exercises.check_new_criterion(lambda p: np.zeros(len(p)))
    assert not exercises.check_new_criterion(lambda p: p.sum())  # one number
    assert "shape" in capsys.readouterr().out
    with pytest.raises(TypeError, match="fn must be a function"):
        exercises.check_new_criterion("entropy")


SIZES = {"train": 1000, "validation": 500, "test": 1000}
RIGHT_SLICES = {
    "train": "train[:1000]",
    "validation": "train[1000:1500]",
    "test": "train[1500:2500]",
    "pool": "train[2500:]",
}


def test_slices(capsys):
    assert exercises.check_slices(RIGHT_SLICES, SIZES, 3670)
    article_text = dict(RIGHT_SLICES, test="train[:1000]")  # the article's text
    assert not exercises.check_slices(article_text, SIZES, 3670)
    assert "overlaps" in capsys.readouterr().out
    off_by_one = dict(RIGHT_SLICES, validation="train[1000:1499]")
    assert not exercises.check_slices(off_by_one, SIZES, 3670)
    assert "holds 499 images" in capsys.readouterr().out
    assert not exercises.check_slices(dict(RIGHT_SLICES, pool="rest"), SIZES, 3670)
    assert not exercises.check_slices({"train": "train[:1000]"}, SIZES, 3670)
    with pytest.raises(TypeError):
        exercises.check_slices(["train[:1000]"], SIZES, 3670)


def test_selection(capsys):
    probs = np.random.default_rng(1).dirichlet(np.ones(5), size=50)
    scores = 1 - probs.max(axis=1)
    right = np.argsort(-scores)[:10]
    assert exercises.check_selection(right, probs, 10)
    assert exercises.check_selection(right[::-1], probs, 10)  # any order
    assert not exercises.check_selection(np.argsort(scores)[:10], probs, 10)
    assert "MOST sure" in capsys.readouterr().out
    assert not exercises.check_selection(right[:9], probs, 10)
    assert not exercises.check_selection(scores[right], probs, 10)  # scores, not idx
    assert not exercises.check_selection(np.r_[right[:9], right[0]], probs, 10)
    assert not exercises.check_selection(np.arange(10), probs, 10)
    right_margin = criteria.select(criteria.smallest_margin(probs), 10)
    assert exercises.check_selection(right_margin, probs, 10, "smallest_margin")
    with pytest.raises(ValueError):
        exercises.check_selection(right, probs, 51)


def test_retrain(feats, capsys):
    idx = np.arange(0, 60, 3)
    y_new = feats["pool"][1][idx]
    mine = heads.HeadTrainer().fit(
        np.concatenate([feats["train"][0], feats["pool"][0][idx]]),
        np.concatenate([feats["train"][1], y_new]),
        3,
        feats["validation"],
    )
    assert exercises.check_retrain(mine, feats, idx, y_new, 3)
    forgot = heads.HeadTrainer().fit(*feats["train"], 3, feats["validation"])
    assert not exercises.check_retrain(forgot, feats, idx, y_new, 3)
    assert "training split only" in capsys.readouterr().out
    shuffled = heads.HeadTrainer().fit(
        np.concatenate([feats["train"][0], feats["pool"][0][idx]]),
        np.concatenate([feats["train"][1], np.roll(y_new, 1)]),
        3,
        feats["validation"],
    )
    assert not exercises.check_retrain(shuffled, feats, idx, y_new, 3)
    with pytest.raises(TypeError, match="fitted head"):
        exercises.check_retrain("head", feats, idx, y_new, 3)
    assert one_round  # the reference the check uses


def test_min_overlap(capsys):
    assert exercises.check_min_overlap(80, 100, 90)
    assert exercises.check_min_overlap(0, 100, 30)
    assert not exercises.check_min_overlap(90, 100, 90)
    assert not exercises.check_min_overlap("many", 100, 90)
    with pytest.raises(ValueError):
        exercises.check_min_overlap(0, 100, 101)


def _my_loop(feats, rounds, batch, trainer, drop_last=False):
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
        new = remaining[criteria.select(criteria.least_confidence(probs), batch)]
        picked = np.concatenate([picked, new])
    return accs[:-1] if drop_last else accs


def test_loop(feats, capsys):
    trainer = heads.HeadTrainer(l2=1.0)
    kw = dict(n_classes=3)
    assert exercises.check_loop(
        _my_loop(feats, 3, 5, trainer), feats, 3, 5, trainer, **kw
    )
    assert not exercises.check_loop(
        _my_loop(feats, 3, 5, trainer, drop_last=True), feats, 3, 5, trainer, **kw
    )
    assert "last round" in capsys.readouterr().out
    assert not exercises.check_loop([0.5, 0.6], feats, 3, 5, trainer, **kw)
    with pytest.raises(TypeError):
        exercises.check_loop(["a", {}], feats, 3, 5, trainer, **kw)
    assert many_rounds  # the reference the check uses
