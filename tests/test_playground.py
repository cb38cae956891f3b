import numpy as np
import pytest

from alwidgets import CriteriaPlayground, entropy, least_confidence, smallest_margin


def test_scores_follow_set_probs():
    pg = CriteriaPlayground(list("abcde"))
    np.testing.assert_allclose(pg.probs, 0.2)
    row = np.array([0.45, 0.44, 0.05, 0.03, 0.03])
    pg.set_probs(row)
    assert pg.scores["smallest margin"] == pytest.approx(smallest_margin([row])[0])
    assert pg.scores["entropy"] == pytest.approx(entropy([row])[0])
    assert "0.990" in pg._view.value  # the rendered view shows the new margin score


def test_moving_a_slider_keeps_the_row_normalised():
    pg = CriteriaPlayground(list("abcde"), probs=[0.4, 0.3, 0.1, 0.1, 0.1])
    pg._sliders[0].value = 0.8  # what the front-end does when a learner drags
    p = pg.probs
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(0.8)
    # the others keep their proportions 3:1:1:1
    np.testing.assert_allclose(p[1:] / p[1:].sum(), [0.5, 1 / 6, 1 / 6, 1 / 6])
    assert pg.scores["least confidence"] == pytest.approx(least_confidence([p])[0])
    pg._sliders[0].value = 1.0
    pg._sliders[0].value = 0.5  # the others were all 0: they share the rest evenly
    np.testing.assert_allclose(pg.probs, [0.5, 0.125, 0.125, 0.125, 0.125])


def test_bad_input_changes_nothing():
    pg = CriteriaPlayground(list("abc"), probs=[0.5, 0.3, 0.2])
    for bad in ([0.5, 0.6, 0.1], [0.5, 0.5], [[0.2, 0.8]], ["x", "y", "z"]):
        with pytest.raises((ValueError, TypeError)):
            pg.set_probs(bad)
    np.testing.assert_allclose(pg.probs, [0.5, 0.3, 0.2])


@pytest.mark.parametrize(
    "names, error", [(["a"], ValueError), (["a", "a"], ValueError), ("abc", TypeError)]
)
def test_bad_class_names(names, error):
    with pytest.raises(error):
        CriteriaPlayground(names)
