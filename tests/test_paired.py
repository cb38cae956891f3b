"""many_rounds.paired_difference: same seed, same start, difference of AULCs."""

import numpy as np
import pytest

from alwidgets import many_rounds


def _rows(strategy, seed, accs):
    return [
        {
            "strategy": strategy,
            "seed": seed,
            "round": r,
            "labels_used": 10 * r,
            "test_accuracy": a,
        }
        for r, a in enumerate(accs)
    ]


def test_paired_difference_is_seed_by_seed():
    rows = []
    for seed, lift in enumerate((0.02, 0.04, 0.06)):
        rows += _rows("random", seed, [0.5, 0.6, 0.7])
        rows += _rows("least_confidence", seed, [0.5, 0.6 + lift, 0.7 + lift])
    out = many_rounds.paired_difference(rows, "least_confidence")
    # AULC = (a0/2 + a1 + a2/2) / 2 : the lift counts 3/4
    np.testing.assert_allclose(out["differences"], [0.015, 0.03, 0.045])
    assert out["seeds"] == [0, 1, 2]
    assert out["mean"] == pytest.approx(0.03)
    assert out["std"] == pytest.approx(0.015)  # sample standard deviation
    areas = many_rounds.aulc(rows)
    assert areas["random"][1] == pytest.approx(0.6)


def test_paired_difference_refuses_what_it_cannot_pair():
    rows = _rows("random", 0, [0.5, 0.6]) + _rows("entropy", 0, [0.5, 0.7])
    with pytest.raises(ValueError, match="two common seeds"):
        many_rounds.paired_difference(rows, "entropy")
    with pytest.raises(ValueError, match="no rows for strategy 'k_center'"):
        many_rounds.paired_difference(rows, "k_center")


def test_final_metric_and_confidence_interval():
    rows = []
    for seed, lift in enumerate((0.02, 0.04, 0.06)):
        rows += _rows("random", seed, [0.5, 0.6, 0.7])
        rows += _rows("least_confidence", seed, [0.5, 0.6 + lift, 0.7 + lift])
    out = many_rounds.paired_difference(rows, "least_confidence", metric="final")
    np.testing.assert_allclose(out["differences"], [0.02, 0.04, 0.06])
    # 95 % CI half-width: t(2 dof) = 4.303 times std / sqrt(3)
    assert out["ci95"] == pytest.approx(4.303 * 0.02 / np.sqrt(3))
    with pytest.raises(ValueError, match="metric"):
        many_rounds.paired_difference(rows, "least_confidence", metric="best")


def test_t95_table():
    assert many_rounds.t95(4) == pytest.approx(2.776)
    assert many_rounds.t95(11) == pytest.approx(2.228)  # the next smaller entry: wider
    assert many_rounds.t95(100) == pytest.approx(1.96)
    with pytest.raises(ValueError):
        many_rounds.t95(0)
